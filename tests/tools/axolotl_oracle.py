"""axolotl's own length rules run on rows: the oracle for prefkit's axolotl target.

    .venv/bin/python tests/tools/axolotl_oracle.py --wheel .cache/wheels/axolotl-0.19.0-py3-none-any.whl
        --model TOK_DIR --rows ROWS.jsonl:TYPE:RL [...] --sequence-len N [N ...] --strategy drop|truncate|raise [...]

The source comes from the released wheel (``pip download --no-deps axolotl==0.19.0``, scripts/setup.sh; a full
install pulls CUDA stacks). From ``axolotl/utils/data/rl.py`` the functions ``_drop_long_sequences``,
``_raise_on_long_sequences`` and ``_truncate_long_sequences_rl`` are taken as written (by their syntax tree, so that
the module's imports of the whole trainer are not run), with ``RLType`` from ``utils/schemas/enums.py`` the same way.
The dataset types are the wheel's own modules: ``prompt_strategies/dpo/chatml.py``, ``kto/chatml.py`` and
``dpo/chat_template.py`` (its two helpers from ``utils.chat_templates`` / ``utils.schemas.utils`` stand in for the
config axolotl validates: the tokenizer's own chat template, legacy field names already resolved). The rows are
loaded with ``datasets`` and driven as ``_load_split`` drives them: ``map`` with the type's transform, then per
strategy ``map(truncate)`` + ``filter(drop)``, ``filter(drop)``, or ``filter(raise)`` (here one row at a time, to say
which rows raise).

Prints one JSON line per (rows, strategy, sequence_len, row): {"rows", "strategy", "sequence_len", "index", "dropped",
"raises", "error" (a transform or empty-field error), "prompt", "chosen", "rejected" / "completion" (token counts of
the transformed texts), "chosen_after", "rejected_after" / "completion_after" (of what axolotl keeps)}.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import sys
import tempfile
import types
import zipfile
from functools import partial
from typing import Any

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-axolotl-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
INDEX = "__oracle_index__"
FILES = ("axolotl/utils/data/rl.py", "axolotl/utils/schemas/enums.py", "axolotl/prompt_strategies/dpo/chatml.py",
         "axolotl/prompt_strategies/kto/chatml.py", "axolotl/prompt_strategies/dpo/chat_template.py")


def definitions(path: str, names: tuple[str, ...], namespace: dict[str, Any]) -> dict[str, Any]:
    """The named top-level functions and classes of a source file, executed in ``namespace``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    body = [node for node in tree.body if getattr(node, "name", None) in names]
    assert {n.name for n in body} == set(names), [n.name for n in body]  # type: ignore[attr-defined]
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), namespace)
    return namespace


def load_module(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def load_source(wheel: str) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="prefkit-axolotl-src-")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(folder, FILES)
    path = lambda f: os.path.join(folder, f)  # noqa: E731
    from enum import Enum

    rl_type = definitions(path(FILES[1]), ("RLType",), {"Enum": Enum})["RLType"]
    rules = definitions(path(FILES[0]), ("_drop_long_sequences", "_raise_on_long_sequences",
                                         "_truncate_long_sequences_rl"), {"Any": Any, "RLType": rl_type})
    # the two config helpers chat_template.default imports (the rest of axolotl stays unimported)
    helpers = types.ModuleType("axolotl.utils.chat_templates")
    helpers.extract_chat_template_args = lambda cfg, ds_cfg: ("tokenizer_default", None)  # type: ignore[attr-defined]
    helpers.get_chat_template = lambda user_choice, jinja_template, tokenizer: tokenizer.chat_template  # type: ignore
    legacy = types.ModuleType("axolotl.utils.schemas.utils")
    legacy.handle_legacy_message_fields_logic = lambda ds_cfg: ds_cfg  # type: ignore[attr-defined]
    sys.modules.update({"axolotl.utils.chat_templates": helpers, "axolotl.utils.schemas.utils": legacy})
    return {"RLType": rl_type, **{k: rules[k] for k in rules if k.startswith("_")},
            "dpo.chatml": load_module("axolotl_dpo_chatml", path(FILES[2])),
            "kto.chatml": load_module("axolotl_kto_chatml", path(FILES[3])),
            "dpo.chat_template": load_module("axolotl_dpo_chat_template", path(FILES[4]))}


def transform_fn(src: dict[str, Any], kind: str, rl: str, tokenizer: Any):
    """The type's transform as axolotl's loader builds it (``load(type, cfg, dataset_idx)``), with the tokenizer."""
    family, name = kind.split(".")
    cfg = {"datasets": [{"type": kind}], "rl": rl}
    module = src[f"{'kto' if rl == 'kto' else 'dpo'}.{family}"]
    made = getattr(module, name)(cfg, dataset_idx=0)
    fn, kwargs = made if isinstance(made, tuple) else (made, {})
    return partial(fn, tokenizer=tokenizer) if "tokenizer" in fn.__code__.co_varnames else fn, kwargs


def run(src: dict[str, Any], rows: str, kind: str, rl_name: str, tokenizer: Any, strategy: str, limit: int):
    import datasets

    rl = src["RLType"](rl_name)
    ds = datasets.load_dataset("json", data_files=rows, split="train")
    ds = ds.add_column(INDEX, list(range(len(ds))))
    fn, kwargs = transform_fn(src, kind, rl_name, tokenizer)
    mapped = ds.map(fn, remove_columns=kwargs.get("remove_columns"))
    sides = ("completion",) if rl_name == "kto" else ("chosen", "rejected")
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    rule = partial(src["_drop_long_sequences"], rl=rl, tokenizer=tokenizer, sequence_len=limit)
    kept: dict[int, dict[str, Any]] = {}
    lines = {}
    for row in mapped:
        i = row[INDEX]
        line = {"index": i, **{k: count(row[k]) for k in ("prompt", *sides) if row.get(k)}}
        try:
            if strategy == "raise":
                line["raises"] = False
                try:
                    src["_raise_on_long_sequences"](row, rl=rl, tokenizer=tokenizer, sequence_len=limit)
                except ValueError as err:
                    if "exceeds configured sequence_len" not in str(err):
                        raise
                    line["raises"] = True
            else:
                rule(row)  # an empty field raises here, before any filter
        except ValueError as err:
            line["error"] = str(err)
        lines[i] = line
    if strategy == "truncate":
        truncate = partial(src["_truncate_long_sequences_rl"], rl=rl, tokenizer=tokenizer, sequence_len=limit)
        good = mapped.filter(lambda r: "error" not in lines[r[INDEX]])
        kept = {r[INDEX]: r for r in good.map(truncate).filter(rule)}
    elif strategy == "drop":
        kept = {r[INDEX]: r for r in mapped.filter(lambda r: "error" not in lines[r[INDEX]]).filter(rule)}
    else:
        kept = {i: r for r in mapped if not (line := lines[(i := r[INDEX])]).get("raises") and "error" not in line}
    for i, line in lines.items():
        line["dropped"] = i not in kept and "error" not in line and not line.get("raises")
        if i in kept:
            line.update({f"{k}_after": count(kept[i][k]) for k in sides})
        yield line


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--wheel", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rows", required=True, nargs="+", help="FILE:TYPE:RL, e.g. rows.jsonl:chatml.intel:dpo")
    p.add_argument("--sequence-len", type=int, nargs="+", required=True)
    p.add_argument("--strategy", action="append", choices=["drop", "truncate", "raise"], required=True)
    a = p.parse_args()
    src = load_source(a.wheel)
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tokenizer = AutoTokenizer.from_pretrained(a.model)
    for spec in a.rows:
        rows, kind, rl = spec.rsplit(":", 2)
        for strategy in a.strategy:
            for limit in a.sequence_len:
                for line in run(src, rows, kind, rl, tokenizer, strategy, limit):
                    print(json.dumps({"rows": rows, "strategy": strategy, "sequence_len": limit, **line}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
