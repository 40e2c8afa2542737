"""OpenRLHF's own RewardDataset run on rows: the oracle for prefkit's OpenRLHF target.

    .venv/bin/python tests/tools/openrlhf_oracle.py --wheel .cache/wheels/openrlhf-0.11.2-*.whl --model TOK_DIR
        --rows ROWS.jsonl --max-len N [N ...] --method dpo|rm [--method ...]

The source comes from the released wheel (``pip download --no-deps openrlhf==0.11.2``, scripts/setup.sh): the wheel's
``openrlhf/datasets/reward_dataset.py``, ``datasets/utils.py`` and ``utils/utils.py`` are imported as they are; only
the package ``__init__`` files (which import the trainers, deepspeed, ray) are replaced by empty packages. The rows
are loaded with ``datasets``, and ``RewardDataset(dataset, tokenizer, max_len, strategy, is_dpo=...)`` is built with a
stand-in ``strategy`` whose ``args.data`` carries what train_dpo.py / train_rm.py would: ``prompt_key`` "prompt" when
the rows have one, ``chosen_key``/``rejected_key``, ``apply_chat_template`` when the texts are message lists.
Every row's ``__getitem__`` is called; the tokenizer is wrapped to see each text it is given (to tell whether the
EOS overwrote another token).

Prints one JSON line per (method, max_len, row): {"method", "max_len", "index", "dropped", "prompt_ids_len" (DPO:
the ``extra`` of the row), "chosen_sequence_kept", "rejected_sequence_kept", "chosen_eos_forced",
"rejected_eos_forced", "chosen_ids", "rejected_ids"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import types
import zipfile
from types import SimpleNamespace

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-openrlhf-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_source(wheel: str):
    """openrlhf.datasets.reward_dataset from the wheel, with empty packages above it."""
    folder = tempfile.mkdtemp(prefix="prefkit-openrlhf-src-")
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.endswith(("openrlhf/datasets/reward_dataset.py",
                                                        "openrlhf/datasets/utils.py", "openrlhf/utils/utils.py"))]
        assert len(names) == 3, names
        z.extractall(folder, names)
    root = os.path.join(folder, names[0].split("openrlhf/datasets/")[0], "openrlhf")
    for package, path in (("openrlhf", root), ("openrlhf.datasets", f"{root}/datasets"),
                          ("openrlhf.utils", f"{root}/utils")):
        module = types.ModuleType(package)
        module.__path__ = [path]
        sys.modules[package] = module
    import importlib

    return importlib.import_module("openrlhf.datasets.reward_dataset")


class Watching:
    """The tokenizer, noting each text it tokenizes with truncation (the sequences of __getitem__)."""

    def __init__(self, tok) -> None:
        self.__dict__["_tok"], self.__dict__["seen"] = tok, []

    def __call__(self, text, **kwargs):
        self.seen.append(text)
        return self._tok(text, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __setattr__(self, name, value):
        setattr(self._tok, name, value)


def run(reward_dataset, ds, tokenizer, strategy, method: str, max_len: int):
    """One line per row of ``ds``: what OpenRLHF's RewardDataset makes of it."""
    tok = Watching(tokenizer)
    kept = reward_dataset.RewardDataset(ds, tok, max_len, strategy, is_dpo=method == "dpo", num_processors=1)
    # which rows its filter kept (it keeps their order): OpenRLHF's own process_data on each row
    survived = [i for i in range(len(ds)) if kept.process_data(ds[i])["prompt"] is not None]
    assert len(survived) == len(kept), (len(survived), len(kept))
    by_row = dict(zip(survived, range(len(kept)), strict=True))
    for i in range(len(ds)):
        line = {"method": method, "max_len": max_len, "index": i, "dropped": i not in by_row}
        if i in by_row:
            tok.seen.clear()
            chosen_ids, _, rejected_ids, _, extra = kept[by_row[i]]
            for side, ids, text in (("chosen", chosen_ids, tok.seen[0]), ("rejected", rejected_ids, tok.seen[1])):
                raw = tok._tok(text, add_special_tokens=False)["input_ids"][:max_len]
                line[f"{side}_sequence_kept"] = int(ids.shape[-1])
                line[f"{side}_eos_forced"] = raw[-1] != tok.eos_token_id
                line[f"{side}_ids"] = ids[0].tolist()
            if method == "dpo":
                line["prompt_ids_len"] = int(extra)
        yield line


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--wheel", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rows", required=True, nargs="+", help="JSON lines files, each its own dataset")
    p.add_argument("--max-len", type=int, nargs="+", required=True)
    p.add_argument("--method", choices=["dpo", "rm"], action="append", required=True)
    a = p.parse_args()
    reward_dataset = load_source(a.wheel)
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    for rows in a.rows:
        ds = datasets.load_dataset("json", data_files=rows, split="train")
        first = ds[0]
        data = SimpleNamespace(prompt_key="prompt" if "prompt" in ds.column_names else None, chosen_key="chosen",
                               rejected_key="rejected", apply_chat_template=isinstance(first["chosen"], list),
                               tokenizer_chat_template=None)
        strategy = SimpleNamespace(args=SimpleNamespace(data=data))
        for method in a.method:
            for max_len in a.max_len:
                for line in run(reward_dataset, ds, AutoTokenizer.from_pretrained(a.model), strategy, method, max_len):
                    print(json.dumps({"rows": rows, **line}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
