"""LLaMA-Factory's chat templates and model table, loaded without torch.

Token counting does not come here when it can help it: :mod:`prefkit.targets.lf_render` renders the templates of
the LLaMA-Factory releases prefkit ships descriptions for without importing LLaMA-Factory at all. This loader is
the path for the rest (a release or a template class prefkit does not know), and for the reward-score code that
runs the templates on real ids (``prefkit.create.reward``).

``import llamafactory.data.template`` first runs ``llamafactory/__init__`` (0.9.3: torch, trl, peft),
``llamafactory/data/__init__`` (the collator and loader: torch) and the multimodal plugins (torch,
torchaudio, image processors), and ``extras.constants`` takes two file names from peft (torch again).
The templates need none of it; with transformers in its tokenizer-only mode too, ``prefkit validate``
runs without torch: about 3 s and 280 MB less on 6,000 pairs. :func:`load` imports the
template, data_args and constants modules with those package ``__init__`` files skipped and with small
stand-ins for the multimodal plugin module and ``peft.utils``, then takes every module it added back out
of ``sys.modules``, so a later ordinary ``import llamafactory.data`` in the same process is the real one.
If anything is not as expected it falls back to the ordinary import; the token-length parity tests
compare the result with LLaMA-Factory's own ``get_dataset`` on both supported versions.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LlamaFactoryTemplates:
    templates: dict[str, Any]  # TEMPLATES
    get_template_and_fix_tokenizer: Any
    data_arguments: type  # DataArguments
    default_template: dict[str, str]  # DEFAULT_TEMPLATE
    supported_models: dict[str, Any]  # SUPPORTED_MODELS


class _NoMultimodal:
    """Stands in for a multimodal plugin: text-only encoding never calls one."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"prefkit loaded LLaMA-Factory's templates without multimodal plugins (called {name})")


@functools.cache
def load() -> LlamaFactoryTemplates:
    if "llamafactory.data" in sys.modules:  # already imported: nothing to save
        return _ordinary()
    try:
        return _light()
    except Exception:  # a LLaMA-Factory layout this loader does not know
        return _ordinary()


def _ordinary() -> LlamaFactoryTemplates:
    from llamafactory.data.template import TEMPLATES, get_template_and_fix_tokenizer
    from llamafactory.extras.constants import DEFAULT_TEMPLATE, SUPPORTED_MODELS
    from llamafactory.hparams import DataArguments

    return LlamaFactoryTemplates(TEMPLATES, get_template_and_fix_tokenizer, DataArguments, DEFAULT_TEMPLATE,
                                 SUPPORTED_MODELS)


def stand_in_module(name: str, path: list[str] | None = None) -> types.ModuleType:
    """An empty module (a package with ``path``) to put in ``sys.modules`` in place of one not to import."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=path is not None)
    if path is not None:
        module.__path__ = module.__spec__.submodule_search_locations = path
    return module


def _light() -> LlamaFactoryTemplates:
    spec = importlib.util.find_spec("llamafactory")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llamafactory is not installed")
    root = list(spec.submodule_search_locations)[0]
    before = set(sys.modules)
    stand_ins: dict[str, types.ModuleType] = {}
    importlib.import_module("transformers.utils")  # before the stand-ins: it looks for the real peft
    for package in ("llamafactory", "llamafactory.data", "llamafactory.hparams", "llamafactory.extras"):
        stand_ins[package] = stand_in_module(package, [os.path.join(root, *package.split(".")[1:])])
    plugins = stand_ins["llamafactory.data.mm_plugin"] = stand_in_module("llamafactory.data.mm_plugin")
    plugins.get_mm_plugin = lambda *args, **kwargs: _NoMultimodal()
    if "peft" not in sys.modules:  # only these two names are taken from it (checkpoint file names)
        stand_ins["peft"], utils = stand_in_module("peft", []), stand_in_module("peft.utils")
        utils.SAFETENSORS_WEIGHTS_NAME, utils.WEIGHTS_NAME = "adapter_model.safetensors", "adapter_model.bin"
        stand_ins["peft.utils"] = stand_ins["peft"].utils = utils
    sys.modules.update(stand_ins)
    try:
        template = importlib.import_module("llamafactory.data.template")
        constants = importlib.import_module("llamafactory.extras.constants")
        data_args = importlib.import_module("llamafactory.hparams.data_args")
        return LlamaFactoryTemplates(template.TEMPLATES, template.get_template_and_fix_tokenizer,
                                     data_args.DataArguments, constants.DEFAULT_TEMPLATE, constants.SUPPORTED_MODELS)
    finally:
        for name in set(sys.modules) - before:
            if name.split(".")[0] in ("llamafactory", "peft"):
                del sys.modules[name]
