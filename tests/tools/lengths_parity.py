"""Compare prefkit's exact lengths with LLaMA-Factory's own get_dataset, row by row, in one process.

    python tests/tools/lengths_parity.py DATASET_DIR NAME TOKENIZER_DIR TEMPLATE:CUTOFF [TEMPLATE:CUTOFF ...]

Needs llamafactory and prefkit in the running python. prefkit's lengths are taken twice: from
TokenCounter in this process (torch imported, as in a library user's process) and from the `prefkit
validate --lengths` command (torch-free, as users run it). Prints one JSON line per TEMPLATE:CUTOFF:
{"version", "template", "cutoff", "rows", "mismatches": [first few], "cli_mismatches", "truncated",
"identical_after_truncation"}.
"""

import json
import os
import subprocess
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def cli_lengths(dataset_dir: str, name: str, tokenizer_dir: str, template: str, cutoff: int) -> list[list]:
    """[prompt_kept, chosen_kept, rejected_kept, identical_after_truncation] per row, from the CLI."""
    out = tempfile.mkdtemp(prefix="prefkit-parity-")
    prefkit = os.path.join(os.path.dirname(sys.executable), "prefkit")
    proc = subprocess.run([prefkit, "validate", name, "--dataset-dir", dataset_dir, "--model", tokenizer_dir,
                           "--template", template, "--cutoff-len", str(cutoff), "--lengths", f"{out}/lengths.jsonl",
                           "--report-json", f"{out}/report.json", "-q"], capture_output=True, text=True)
    if proc.returncode not in (0, 1):  # 1: the data has errors (pairs identical after truncation)
        raise SystemExit(f"prefkit validate failed: {proc.stderr[-2000:]}")
    with open(f"{out}/report.json") as f:
        identical = {e["index"] for e in json.load(f)["errors"] if e["code"] == "identical_after_truncation"}
    with open(f"{out}/lengths.jsonl") as f:
        rows = [json.loads(line) for line in f]
    return [[r["prompt_kept"], r["chosen_kept"], r["rejected_kept"], r["index"] in identical] for r in rows]


def main() -> None:
    dataset_dir, name, tokenizer_dir, *configs = sys.argv[1:]
    import llamafactory
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import AutoTokenizer, Seq2SeqTrainingArguments

    from prefkit.checks.acceptance import Attr, align
    from prefkit.checks.lengths import TokenCounter
    from prefkit.registry import load
    from prefkit.sources import iter_rows

    entry = load(dataset_dir)[name]
    attr = Attr.from_entry(entry)
    pairs = [align(row.data, attr) for row in iter_rows(os.path.join(dataset_dir, entry["file_name"]))]
    assert all(p.drop is None for p in pairs), "use a dataset LLaMA-Factory keeps whole"
    for config in configs:
        template, cutoff = config.split(":")
        cutoff = int(cutoff)
        ours = TokenCounter(tokenizer_dir, template, cutoff).measure(pairs)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, template=template, cutoff_len=cutoff,
                                  overwrite_cache=True)
        lf_template = get_template_and_fix_tokenizer(tokenizer, data_args)
        module = get_dataset(lf_template, ModelArguments(model_name_or_path=tokenizer_dir), data_args,
                             Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"), stage="rm",
                             tokenizer=tokenizer)
        mismatches, cli_mismatches = [], []
        from_cli = cli_lengths(dataset_dir, name, tokenizer_dir, template, cutoff)
        for i, (mine, cli, row) in enumerate(zip(ours, from_cli, module["train_dataset"], strict=True)):
            source = sum(1 for label in row["chosen_labels"] if label == -100)
            lf = [source, len(row["chosen_input_ids"]) - source, len(row["rejected_input_ids"]) - source,
                  row["chosen_input_ids"][source:] == row["rejected_input_ids"][source:]]
            pk = [mine.prompt_kept, mine.chosen_kept, mine.rejected_kept, mine.identical_after_truncation]
            if lf != pk:
                mismatches.append({"index": i, "llamafactory": lf, "prefkit": pk})
            if lf != cli:
                cli_mismatches.append({"index": i, "llamafactory": lf, "prefkit validate": cli})
        print(json.dumps({"version": llamafactory.__version__, "template": template, "cutoff": cutoff,
                          "rows": len(ours), "mismatches": mismatches[:5], "n_mismatches": len(mismatches),
                          "cli_mismatches": cli_mismatches[:5], "n_cli_mismatches": len(cli_mismatches),
                          "truncated": sum(p.truncated for p in ours),
                          "identical_after_truncation": sum(p.identical_after_truncation for p in ours)}), flush=True)


if __name__ == "__main__":
    main()
