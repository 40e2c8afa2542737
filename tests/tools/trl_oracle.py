"""TRL's own dataset preparation run on rows: the oracle for prefkit's TRL target (token counts, cuts, drops).

Run with the python of a venv that has TRL (it need not have prefkit):
    .venv/bin/python     tests/tools/trl_oracle.py --model TOK_DIR --rows ROWS... --method dpo|kto [options]  # TRL 0.24
    .venv-trl/bin/python tests/tools/trl_oracle.py --model TOK_DIR --rows ROWS... --method dpo|kto [options]  # TRL 1.x
Options (each passed to TRL's own DPOConfig/KTOConfig only when given, so the defaults are TRL's):
    --max-length N|none  --max-prompt-length P|none  --max-completion-length C|none (0.24 only; 1.x has neither)
    --truncation-mode keep_end|keep_start (DPO both; KTO 0.24 only)  --batch-size B (per_device_train_batch_size:
    the KTO KL batches)  --loss-type T  --each (every row is its own dataset: for files that mix row shapes; the
    KTO KL pairs are then each row's own completion)  --ids (add the token ids)
ROWS: JSON lines, a JSON list, a .parquet file, or a save_to_disk folder, loaded with `datasets` as a TRL user does.

Prints one JSON line per TRL row, in input order:
  dpo: {"index", "prompt", "chosen", "rejected", "prompt_kept", "prompt_kept_rejected", "chosen_kept",
        "rejected_kept", "dropped"}
  kto: {"index", "label", "position", "prompt", "completion", "prompt_kept", "completion_kept", "dropped",
        "kl_index", "kl_label", "kl_completion", "kl_prompt_kept", "kl_completion_kept"}
"index" is the input row (a paired row given to KTO gives two TRL rows: label true, then false); "prompt",
"chosen", "rejected", "completion" are TRL's token counts before any cut (0.24: before max_prompt_length and
max_completion_length too); the *_kept counts are what reaches the model: "prompt_kept" with the chosen (KTO: the
only) sequence, "prompt_kept_rejected" with the rejected one (they differ under keep_end). "dropped" is false or
why TRL removed the row ("prompt_fills_max_length", TRL 1.x, silently). KTO: "position" is the row's place in
TRL's dataset, "kl_*" the mismatched completion TRL pairs with this row's prompt for the KL term (null without
KL). A row TRL's code raises on: {"index", "error"} with --each; otherwise one {"error"} line and exit status 1.
An option this TRL's config lacks (1.x: max_prompt_length, max_completion_length; KTO: truncation_mode): one
{"error"} line, exit status 2. TRL's version and the config values used go to stderr. With --ids the lines also
carry the uncut ids ("prompt_ids", "chosen_ids", "rejected_ids" / "completion_ids"; 1.x DPO: "input_ids_kept").
tests/tools/trl_oracle_check.py compares this script's kept counts with TRL's real trainers built on a tiny model.

How each version is driven (see docs/notes/trl-tokenization.md):
  1.x  DPO: DPOTrainer._prepare_dataset (unbound, with a stand-in `self` carrying the tokenizer), then TRL's
       DataCollatorForPreference on each row alone (truncation happens there, at batch time).
       KTO: KTOTrainer._prepare_dataset likewise, then DataCollatorForUnpairedPreference on each row.
  0.24 `from trl import DPOTrainer` fails beside transformers 5: transformers' `_is_package_available` returns a
       tuple, which TRL's import_utils takes as "mergekit is installed". The oracle sets those flags to the tuple's
       first item before importing the trainers (no stub module). DPO: DPOTrainer._prepare_dataset (unbound; it
       calls the static tokenize_row), TRL's DataCollatorForPreference, then DPOTrainer.concatenated_forward with a
       stand-in model that stops at the model call: the oracle reads the truncated attention and loss masks from
       that frame (0.24 truncates there, at forward time). KTO: the pipeline KTOTrainer.__init__ runs inline
       (maybe_extract_prompt, maybe_unpair_preference_dataset, maybe_apply_chat_template, _tokenize,
       _process_tokens, _get_kl_dataset), each TRL's own function, called in __init__'s order with its arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from types import SimpleNamespace
from typing import Any

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-trl-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INDEX = "__oracle_index__"


def _limit(text: str) -> int | None:
    return None if text.lower() in ("none", "null") else int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="tokenizer folder")
    p.add_argument("--rows", required=True, nargs="+", help="one or more files (several: each line names its file)")
    p.add_argument("--method", choices=["dpo", "kto"], required=True)
    # TRL config options: absent from the namespace unless given, so that TRL's own defaults apply
    for opt, kind in (("--max-length", _limit), ("--max-prompt-length", _limit), ("--max-completion-length", _limit),
                      ("--truncation-mode", str), ("--batch-size", int), ("--loss-type", str)):
        p.add_argument(opt, type=kind, default=argparse.SUPPRESS)
    p.add_argument("--each", action="store_true", help="every row is its own dataset")
    p.add_argument("--ids", action="store_true", help="add the token ids to each line")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------- loading
def load_rows(path: str, each: bool):
    """The rows as `datasets` loads them for a TRL user: one Dataset, or one per row with --each."""
    import datasets

    datasets.disable_progress_bars()
    if os.path.isdir(path):
        ds = datasets.load_from_disk(path)
        ds = ds["train"] if isinstance(ds, datasets.DatasetDict) else ds
    elif path.endswith(".parquet"):
        ds = datasets.load_dataset("parquet", data_files=path, split="train")
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # JSON lines end at "\n" only: str.splitlines would cut a row at U+2028, U+0085 ... inside its strings
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.split("\n") if x.strip()]
        if each:
            return [datasets.Dataset.from_list([r]).add_column(INDEX, [i]) for i, r in enumerate(rows)]
        ds = datasets.load_dataset("json", data_files=path, split="train")
    if each:
        return [ds.select([i]).add_column(INDEX, [i]) for i in range(len(ds))]
    return [ds.add_column(INDEX, list(range(len(ds))))]


def trl_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("trl")


def is_v0() -> bool:
    return int(trl_version().split(".")[0]) == 0


def fix_v0_import_flags() -> list[str]:
    """TRL 0.24 beside transformers 5: `_is_package_available` returns (bool, version), a truthy tuple, so
    `is_mergekit_available()` is True and `trl.trainer.callbacks` imports the absent mergekit. Keep the bool."""
    import trl.import_utils as iu

    fixed = []
    for name, value in list(vars(iu).items()):
        if name.startswith("_") and name.endswith("_available") and isinstance(value, tuple):
            setattr(iu, name, bool(value[0]))
            fixed.append(name)
    return fixed


CONFIG_OPTIONS = {"max_length": "max_length", "max_prompt_length": "max_prompt_length",
                  "max_completion_length": "max_completion_length", "truncation_mode": "truncation_mode",
                  "batch_size": "per_device_train_batch_size", "loss_type": "loss_type"}


def make_config(kind: str, a: argparse.Namespace, **override: Any):
    """TRL's own DPOConfig/KTOConfig with only the options given (TypeError: an option this TRL lacks)."""
    from trl import DPOConfig, KTOConfig

    kw = {field: getattr(a, opt) for opt, field in CONFIG_OPTIONS.items() if hasattr(a, opt)}
    kw.update(override)
    cls = DPOConfig if kind == "dpo" else KTOConfig
    return cls(output_dir=tempfile.mkdtemp(prefix="prefkit-trl-out-"), report_to="none", use_cpu=True, **kw)


def _by_index(ds) -> dict[int, dict[str, Any]]:
    return {row[INDEX]: row for row in ds}


# ---------------------------------------------------------------------------------------------- DPO
def dpo_v1(ds, tok, cfg, full_cfg, ids: bool) -> list[dict[str, Any]]:
    from trl.trainer.dpo_trainer import DataCollatorForPreference, DPOTrainer

    if tok.pad_token is None:  # DPOTrainer.__init__
        tok.pad_token = tok.eos_token
    this = SimpleNamespace(_tokenizer=tok)
    full = _by_index(DPOTrainer._prepare_dataset(this, ds, tok, full_cfg, "train"))  # max_length=None: no filter
    kept = _by_index(DPOTrainer._prepare_dataset(this, ds, tok, cfg, "train"))
    collator = DataCollatorForPreference(pad_token_id=tok.pad_token_id, max_length=cfg.max_length,
                                         truncation_mode=cfg.truncation_mode)
    out = []
    for i in sorted(full):
        r = full[i]
        line: dict[str, Any] = {"index": i, "prompt": len(r["prompt_ids"]), "chosen": len(r["chosen_ids"]),
                                "rejected": len(r["rejected_ids"])}
        if i in kept:
            k = kept[i]
            assert k["prompt_ids"] == r["prompt_ids"]
            b = collator([{key: k[key] for key in ("prompt_ids", "chosen_ids", "rejected_ids")}])
            attn, comp = b["attention_mask"], b["completion_mask"]
            line.update(prompt_kept=int(attn[0].sum() - comp[0].sum()),
                        prompt_kept_rejected=int(attn[1].sum() - comp[1].sum()),
                        chosen_kept=int(comp[0].sum()), rejected_kept=int(comp[1].sum()), dropped=False)
            if ids:
                line["input_ids_kept"] = [b["input_ids"][j][attn[j].bool()].tolist() for j in (0, 1)]
        else:
            assert cfg.max_length is not None and len(r["prompt_ids"]) >= cfg.max_length
            line.update(prompt_kept=0, prompt_kept_rejected=0, chosen_kept=0, rejected_kept=0,
                        dropped="prompt_fills_max_length")
        if ids:
            line.update(prompt_ids=r["prompt_ids"], chosen_ids=r["chosen_ids"], rejected_ids=r["rejected_ids"])
        out.append(line)
    return out


class _Stop(Exception):
    pass


class _StopModel:
    """Stands in for the model in DPOTrainer.concatenated_forward: the call is where 0.24 has truncated."""

    def __call__(self, *args: Any, **kwargs: Any):
        raise _Stop


def _v0_truncate(forward, this, batch) -> tuple[Any, Any]:
    """(attention_mask, loss_mask) as DPOTrainer.concatenated_forward (0.24) hands them to the model."""
    try:
        forward(this, _StopModel(), batch)
    except _Stop as stop:
        tb = stop.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is forward.__code__:
                loc = tb.tb_frame.f_locals
                return loc["attention_mask"], loc["loss_mask"]
            tb = tb.tb_next
    raise RuntimeError("concatenated_forward did not reach the model call")


def dpo_v0(ds, tok, cfg, full_cfg, ids: bool) -> list[dict[str, Any]]:
    from trl.trainer.dpo_trainer import DataCollatorForPreference, DPOTrainer

    if tok.pad_token is None:  # DPOTrainer.__init__ (0.24): pad_token falls back to eos
        tok.pad_token = tok.eos_token
    prep = SimpleNamespace(tokenize_row=DPOTrainer.tokenize_row, is_vision_model=False)
    full = _by_index(DPOTrainer._prepare_dataset(prep, ds, tok, full_cfg, "train"))  # no prompt/completion cut
    cut = _by_index(DPOTrainer._prepare_dataset(prep, ds, tok, cfg, "train"))
    # The attributes concatenated_forward reads, set as DPOTrainer.__init__ sets them for a decoder-only model
    this = SimpleNamespace(concatenated_inputs=DPOTrainer.concatenated_inputs, pad_token_id=tok.pad_token_id,
                           aux_loss_enabled=False, is_encoder_decoder=False, max_length=cfg.max_length,
                           truncation_mode=cfg.truncation_mode, use_logits_to_keep=False, padding_free=False)
    collator = DataCollatorForPreference(pad_token_id=tok.pad_token_id)
    out = []
    for i in sorted(full):
        r, k = full[i], cut[i]
        batch = collator([{key: k[key] for key in ("prompt_input_ids", "chosen_input_ids", "rejected_input_ids")}])
        attn, loss = _v0_truncate(DPOTrainer.concatenated_forward, this, batch)
        line: dict[str, Any] = {"index": i, "prompt": len(r["prompt_input_ids"]), "chosen": len(r["chosen_input_ids"]),
                                "rejected": len(r["rejected_input_ids"]),
                                "prompt_kept": int(attn[0].sum() - loss[0].sum()),
                                "prompt_kept_rejected": int(attn[1].sum() - loss[1].sum()),
                                "chosen_kept": int(loss[0].sum()), "rejected_kept": int(loss[1].sum()),
                                "dropped": False}
        if ids:
            line.update(prompt_ids=r["prompt_input_ids"], chosen_ids=r["chosen_input_ids"],
                        rejected_ids=r["rejected_input_ids"])
        out.append(line)
    return out


# ---------------------------------------------------------------------------------------------- KTO
def _kl_source(position: int, n: int, batch: int) -> int:
    """The position whose completion TRL pairs with `position`'s prompt: the +1 rotation inside each batch of
    `batch` rows of a batched `map` (0.24 `_get_kl_dataset`, 1.x `add_kl_completion_ids`). Checked by the callers."""
    start = position - position % batch
    end = min(start + batch, n)
    return end - 1 if position == start else position - 1


def _kto_line(index: int, label: bool, position: int | None, counts: tuple[int, int], kept: tuple[int, int] | None,
              kl: tuple[int, bool, int, int, int] | None) -> dict[str, Any]:
    line: dict[str, Any] = {"index": index, "label": label, "position": position, "prompt": counts[0],
                            "completion": counts[1], "prompt_kept": 0, "completion_kept": 0,
                            "dropped": "prompt_fills_max_length" if kept is None else False}
    if kept is not None:
        line.update(prompt_kept=kept[0], completion_kept=kept[1])
    names = ("kl_index", "kl_label", "kl_completion", "kl_prompt_kept", "kl_completion_kept")
    line.update(dict(zip(names, kl if kl is not None else (None,) * 5, strict=True)))
    return line


def kto_v1(ds, tok, cfg, full_cfg, ids: bool) -> list[dict[str, Any]]:
    from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference, KTOTrainer

    if tok.pad_token is None:  # KTOTrainer.__init__
        tok.pad_token = tok.eos_token
    calculate_kl = cfg.loss_type not in ["apo_zero_unpaired"]  # KTOTrainer.__init__
    this = SimpleNamespace(_tokenizer=tok, calculate_KL=calculate_kl, desirable_weight=cfg.desirable_weight,
                           undesirable_weight=cfg.undesirable_weight)
    full = list(KTOTrainer._prepare_dataset(SimpleNamespace(**{**vars(this), "calculate_KL": False}), ds, tok,
                                            full_cfg, "eval"))  # max_length=None: no filter
    rows = list(KTOTrainer._prepare_dataset(this, ds, tok, cfg, "train"))
    collator = DataCollatorForUnpairedPreference(pad_token_id=tok.pad_token_id, max_length=cfg.max_length)
    key = lambda r: (r[INDEX], bool(r["label"]))  # noqa: E731 (a paired row becomes two: label true, then false)
    counts = {key(r): (len(r["prompt_ids"]), len(r["completion_ids"])) for r in full}
    lines, n, batch = [], len(rows), cfg.per_device_train_batch_size
    for pos, row in enumerate(rows):
        b = collator([{f: row[f] for f in ("prompt_ids", "completion_ids", "KL_completion_ids", "label") if f in row}])

        def part(prefix: str, b=b) -> tuple[int, int]:
            attn, comp = b[f"{prefix}attention_mask"][0], b[f"{prefix}completion_mask"][0]
            return int(attn.sum() - comp.sum()), int(comp.sum())

        kl = None
        if calculate_kl:
            src = rows[_kl_source(pos, n, batch)]
            assert row["KL_completion_ids"] == src["completion_ids"], "KL rotation differs from TRL's"
            kl = (src[INDEX], bool(src["label"]), len(src["completion_ids"]), *part("KL_"))
        line = _kto_line(row[INDEX], bool(row["label"]), pos, counts[key(row)], part(""), kl)
        if ids:
            line.update(prompt_ids=row["prompt_ids"], completion_ids=row["completion_ids"])
        lines.append(line)
    present = {key(r) for r in rows}
    for r in full:  # the rows the filter removed
        if key(r) not in present:
            assert cfg.max_length is not None and len(r["prompt_ids"]) >= cfg.max_length
            lines.append(_kto_line(r[INDEX], bool(r["label"]), None, counts[key(r)], None, None))
    return lines


def kto_v0(ds, tok, cfg, full_cfg, ids: bool) -> list[dict[str, Any]]:
    import datasets
    from trl.data_utils import maybe_apply_chat_template, maybe_extract_prompt, maybe_unpair_preference_dataset
    from trl.trainer.kto_trainer import _get_kl_dataset, _process_tokens, _tokenize

    # KTOTrainer.__init__ (0.24): the limits it derives from the config for a decoder-only model
    max_length = cfg.max_length if cfg.max_length is not None else 512
    max_prompt_length = cfg.max_prompt_length if cfg.max_prompt_length is not None else 128
    calculate_kl = cfg.loss_type not in ["apo_zero_unpaired"]
    batch = cfg.per_device_train_batch_size
    if calculate_kl and batch <= 1:
        raise ValueError("Actual (not effective) batch size must be > 1. KTO will not work properly because the KL "
                         "term will be equivalent to the implied reward.")

    # __init__'s steps, in its order, with its arguments
    ds = ds.map(maybe_extract_prompt)
    if "chosen" in ds.column_names and "rejected" in ds.column_names:
        # 0.24's _unpair_row keeps no other column (a paired dataset with one more column fails there): unpair a
        # stand-in of the same shape with TRL's function to learn where each row went, and put the index back.
        index = ds[INDEX]
        shadow = datasets.Dataset.from_dict({"prompt": index, "chosen": index, "rejected": index})
        ds = maybe_unpair_preference_dataset(ds.remove_columns(INDEX))
        ds = ds.add_column(INDEX, maybe_unpair_preference_dataset(shadow)["prompt"])
    else:
        ds = maybe_unpair_preference_dataset(ds)
    ds = ds.map(maybe_apply_chat_template, fn_kwargs={"tokenizer": tok})
    ds = ds.map(_tokenize, batched=True, fn_kwargs={"tokenizer": tok})
    fn_kwargs = {"prefix": "", "is_encoder_decoder": False, "tokenizer": tok, "max_length": max_length,
                 "truncation_mode": cfg.truncation_mode, "label_pad_token_id": cfg.label_pad_token_id,
                 "max_prompt_length": max_prompt_length, "max_completion_length": None}
    train = ds.map(_process_tokens, fn_kwargs=fn_kwargs)
    if calculate_kl:
        rotated = train.map(_get_kl_dataset, batched=True, batch_size=batch)
        kl = rotated.map(_process_tokens, fn_kwargs={**fn_kwargs, "prefix": "KL_"},
                         remove_columns=[c for c in rotated.column_names if c in train.column_names])
        train = datasets.concatenate_datasets([train, kl], axis=1)
        rotated_answers = rotated["answer_input_ids"]
    # The counts before any cut: TRL's _process_tokens with limits that cut nothing (the BOS/EOS it adds stay)
    big = 1 << 40
    full = list(ds.map(_process_tokens, fn_kwargs={**fn_kwargs, "max_length": big, "max_prompt_length": big}))
    rows = list(train)

    def part(r: dict[str, Any], prefix: str = "") -> tuple[int, int]:
        p, c = r[f"{prefix}prompt_input_ids"], r[f"{prefix}completion_input_ids"]
        return len(p), len(c) - len(p)

    lines, n = [], len(rows)
    for pos, row in enumerate(rows):
        kl = None
        if calculate_kl:
            s = _kl_source(pos, n, batch)
            assert rotated_answers[pos] == rows[s]["answer_input_ids"], "KL rotation differs from TRL's"
            kl = (rows[s][INDEX], bool(rows[s]["label"]), part(full[s])[1], *part(row, "KL_"))
        line = _kto_line(row[INDEX], bool(row["label"]), pos, part(full[pos]), part(row), kl)
        if ids:
            line.update(prompt_ids=full[pos]["prompt_input_ids"],
                        completion_ids=full[pos]["completion_input_ids"][len(full[pos]["prompt_input_ids"]):])
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------- main
def run(a: argparse.Namespace) -> int:
    v0 = is_v0()
    if v0:
        fix_v0_import_flags()
    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(a.model)
    try:
        cfg = make_config(a.method, a)
    except TypeError as exc:  # e.g. max_prompt_length on TRL 1.x
        print(json.dumps({"error": f"TRL {trl_version()} {a.method.upper()}Config: {exc}"}), flush=True)
        return 2
    # The same config without the cuts, for TRL's counts before any cut (0.24 KTO: see kto_v0)
    no_cut = {"max_length": None} if not v0 else (
        {"max_prompt_length": None, "max_completion_length": None} if a.method == "dpo" else {})
    full_cfg = make_config(a.method, a, **no_cut)
    settings = {k: getattr(cfg, k, "absent") for k in ("max_length", "max_prompt_length", "max_completion_length",
                                                       "truncation_mode", "padding_free", "per_device_train_batch_size",
                                                       "loss_type")}
    print(f"trl_oracle: trl {trl_version()} transformers {transformers.__version__} {a.method} {json.dumps(settings)}",
          file=sys.stderr)
    fn = {("dpo", True): dpo_v0, ("dpo", False): dpo_v1, ("kto", True): kto_v0, ("kto", False): kto_v1}[(a.method, v0)]
    for rows in a.rows:  # one process for several files: TRL is imported once
        lines: list[dict[str, Any]] = []
        for ds in load_rows(rows, a.each):
            try:
                lines.extend(fn(ds, tok, cfg, full_cfg, a.ids))
            except AssertionError:  # the oracle's own consistency checks: a bug here, not TRL's answer
                raise
            except Exception as exc:  # noqa: BLE001 - what TRL raises on the data is the result
                msg = f"{type(exc).__name__}: {exc}"[:1000]
                if not a.each:
                    print(json.dumps({"error": msg, "rows": rows}, ensure_ascii=False), flush=True)
                    return 1
                lines.append({"index": ds[0][INDEX], "error": msg})
        lines.sort(key=lambda x: (x["index"], not x.get("label", True)))
        for line in lines:
            print(json.dumps({**line, "rows": rows} if len(a.rows) > 1 else line, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(run(parse_args()))
