"""Check trl_oracle.py against TRL's real trainers: DPOTrainer / KTOTrainer built with a tiny model.

    <venv>/bin/python tests/tools/trl_oracle_check.py MODEL_DIR --model TOK_DIR --rows ROWS --method dpo|kto [...]
The options after MODEL_DIR are trl_oracle.py's (no --each: a trainer takes one dataset). The trainer prepares
the dataset itself; the rows it keeps are then cut by its own data_collator (1.x) or by its own
concatenated_forward, stopped at the model call (0.24), and the kept counts are compared with what trl_oracle.py
prints for the same options. Prints "OK <method> <rows kept> rows" (exit 0) or "MISMATCH ..." (exit 1).
MODEL_DIR: e.g. the tests' tiny Qwen2 (.cache/tiny-qwen2). Costs a model load and a reference-model copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import trl_oracle as o  # noqa: E402


def trainer_counts(model_dir: str, a) -> list[dict]:
    v0 = o.is_v0()
    if v0:
        o.fix_v0_import_flags()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(a.model)
    cfg = o.make_config(a.method, a, bf16=False)
    (ds,) = o.load_rows(a.rows, False)
    if v0 and a.method == "kto" and "chosen" in ds.column_names:
        ds = ds.remove_columns(o.INDEX)  # 0.24 cannot unpair a dataset that has another column
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if not hasattr(model, "warnings_issued"):  # KTOTrainer 0.24 writes it; transformers 5 models lack it
        model.warnings_issued = {}
    from trl import DPOTrainer, KTOTrainer

    tr = (DPOTrainer if a.method == "dpo" else KTOTrainer)(model=model, args=cfg, train_dataset=ds,
                                                         processing_class=tok)
    real = []
    for pos, row in enumerate(tr.train_dataset):
        if a.method == "dpo":
            keys = ("prompt_input_ids", "chosen_input_ids", "rejected_input_ids") if v0 else \
                ("prompt_ids", "chosen_ids", "rejected_ids")
            batch = tr.data_collator([{k: row[k] for k in keys}])
            if v0:
                attn, comp = o._v0_truncate(type(tr).concatenated_forward, tr, batch)
            else:
                attn, comp = batch["attention_mask"], batch["completion_mask"]
            real.append({"index": row[o.INDEX], "prompt_kept": int(attn[0].sum() - comp[0].sum()),
                         "prompt_kept_rejected": int(attn[1].sum() - comp[1].sum()),
                         "chosen_kept": int(comp[0].sum()), "rejected_kept": int(comp[1].sum())})
            continue
        d = {"position": pos}
        if v0:
            for pre in ("", "KL_"):
                p, c = row[f"{pre}prompt_input_ids"], row[f"{pre}completion_input_ids"]
                d[f"{pre.lower()}prompt_kept"], d[f"{pre.lower()}completion_kept"] = len(p), len(c) - len(p)
        else:
            batch = tr.data_collator([{k: row[k] for k in ("prompt_ids", "completion_ids", "KL_completion_ids",
                                                           "label")}])
            for pre in ("", "KL_"):
                attn, comp = batch[f"{pre}attention_mask"][0], batch[f"{pre}completion_mask"][0]
                d[f"{pre.lower()}prompt_kept"] = int(attn.sum() - comp.sum())
                d[f"{pre.lower()}completion_kept"] = int(comp.sum())
        real.append(d)
    return real


def main() -> int:
    model_dir, argv = sys.argv[1], sys.argv[2:]
    a = o.parse_args(argv)
    real = trainer_counts(model_dir, a)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "trl_oracle.py"), *argv], capture_output=True, text=True)
    oracle = [x for x in map(json.loads, proc.stdout.splitlines()) if x.get("dropped") is False]
    key = "index" if a.method == "dpo" else "position"
    oracle.sort(key=lambda x: x[key])
    bad: list = [f"rows kept: oracle {len(oracle)}, trainer {len(real)}"] if len(oracle) != len(real) else []
    for r, x in zip(real, oracle, strict=False):
        bad += [(r[key], k, x.get(k), v) for k, v in r.items() if x.get(k) != v]
    print("OK" if not bad else "MISMATCH", a.method, len(real), "rows", *bad[:10])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
