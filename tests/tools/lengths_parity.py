"""Compare prefkit's exact lengths with LLaMA-Factory's own get_dataset, row by row, in one process.

    python tests/tools/lengths_parity.py DATASET_DIR NAME TOKENIZER_DIR TEMPLATE:CUTOFF [TEMPLATE:CUTOFF ...]

Needs llamafactory and prefkit in the running python. prefkit's lengths are taken twice: from
TokenCounter in this process (torch imported, as in a library user's process) and from the `prefkit
validate --lengths` command (torch-free, as users run it). Prints one JSON line per TEMPLATE:CUTOFF:
{"version", "template", "cutoff", "render" (TokenCounter's renderer: "prefkit" or "llamafactory"), "rows",
"mismatches": [first few], "cli_mismatches", "truncated", "identical_after_truncation"}.

A KTO dataset (the entry has a kto_tag column) is compared with get_dataset(stage="kto"): the rows
LLaMA-Factory keeps must be the ones prefkit does not drop, and [prompt_kept, answer_kept, kto_tag] must be
equal. The KL example of each (which prefkit does not report) is compared with prefkit's lengths of the
same prompt with the previous record's answer ("kl_mismatches"; the data fits one preprocessing batch). The
line also has "dropped" (rows prefkit drops), and after the configs one line {"version", "broken_row_error",
"broken_dataset_dir"}: what get_dataset raises on a copy (registered there as "broken") whose first record's
messages are broken.
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
    """[prompt_kept, chosen_kept, rejected_kept, identical_after_truncation] per measured row (KTO:
    [prompt_kept, answer_kept, desirable]), from the CLI."""
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
    return [[r["prompt_kept"], r["answer_kept"], r["desirable"]] if "answer" in r else
            [r["prompt_kept"], r["chosen_kept"], r["rejected_kept"], r["index"] in identical]
            for r in rows if "dropped" not in r]


def main() -> None:
    dataset_dir, name, tokenizer_dir, *configs = sys.argv[1:]
    import llamafactory
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import AutoTokenizer, Seq2SeqTrainingArguments

    from prefkit.checks.acceptance import Aligned, Attr, align
    from prefkit.io.sources import iter_rows
    from prefkit.registry.info import load
    from prefkit.targets.lf import TokenCounter

    entry = load(dataset_dir)[name]
    attr = Attr.from_entry(entry)
    kto = attr.stage == "kto"
    rows = [align(row.data, attr) for row in iter_rows(os.path.join(dataset_dir, entry["file_name"]))]
    pairs = [p for p in rows if p.drop is None]
    assert kto or len(pairs) == len(rows), "use a dataset LLaMA-Factory keeps whole"
    # the KL example: this prompt with the previous record's answer (the first record takes the last one's)
    assert not kto or len(rows) <= 1000, "the KL check needs one preprocessing batch (preprocessing_batch_size)"
    kl_rows = [Aligned(p.prompt, rows[i - 1].response, p.system, p.tools) for i, p in enumerate(rows) if p.drop is None]
    for config in configs:
        template, cutoff = config.split(":")
        cutoff = int(cutoff)
        counter = TokenCounter(tokenizer_dir, template, cutoff)
        ours = counter.measure_kto(pairs) if kto else counter.measure(pairs)
        kl_ours = counter.measure_kto(kl_rows) if kto else []
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, template=template, cutoff_len=cutoff,
                                  overwrite_cache=True)
        lf_template = get_template_and_fix_tokenizer(tokenizer, data_args)
        module = get_dataset(lf_template, ModelArguments(model_name_or_path=tokenizer_dir), data_args,
                             Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"),
                             stage="kto" if kto else "rm", tokenizer=tokenizer)
        mismatches, cli_mismatches, kl_mismatches = [], [], []
        from_cli = cli_lengths(dataset_dir, name, tokenizer_dir, template, cutoff)
        for i, (mine, cli, row) in enumerate(zip(ours, from_cli, module["train_dataset"], strict=True)):
            if kto:
                source = sum(1 for label in row["labels"] if label == -100)
                lf = [source, len(row["input_ids"]) - source, row["kto_tags"]]
                pk = [mine.prompt_kept, mine.answer_kept, mine.desirable]
                kl_source = sum(1 for label in row["kl_labels"] if label == -100)
                kl_lf, kl_pk = [kl_source, len(row["kl_input_ids"]) - kl_source], [kl_ours[i].prompt_kept,
                                                                                     kl_ours[i].answer_kept]
                if kl_lf != kl_pk:
                    kl_mismatches.append({"index": i, "llamafactory": kl_lf, "prefkit": kl_pk})
            else:
                source = sum(1 for label in row["chosen_labels"] if label == -100)
                lf = [source, len(row["chosen_input_ids"]) - source, len(row["rejected_input_ids"]) - source,
                      row["chosen_input_ids"][source:] == row["rejected_input_ids"][source:]]
                pk = [mine.prompt_kept, mine.chosen_kept, mine.rejected_kept, mine.identical_after_truncation]
            if lf != pk:
                mismatches.append({"index": i, "llamafactory": lf, "prefkit": pk})
            if lf != cli:
                cli_mismatches.append({"index": i, "llamafactory": lf, "prefkit validate": cli})
        print(json.dumps({"version": llamafactory.__version__, "template": template, "cutoff": cutoff,
                          "render": counter.render,
                          "rows": len(ours), "mismatches": mismatches[:5], "n_mismatches": len(mismatches),
                          "cli_mismatches": cli_mismatches[:5], "n_cli_mismatches": len(cli_mismatches),
                          **({"dropped": len(rows) - len(pairs), "kl_mismatches": kl_mismatches[:5],
                              "n_kl_mismatches": len(kl_mismatches)} if kto else {}),
                          "truncated": sum(p.truncated for p in ours),
                          "identical_after_truncation": 0 if kto else sum(p.identical_after_truncation for p in ours)}),
              flush=True)
    if kto:
        error, copy = broken_row_error(dataset_dir, name, tokenizer_dir, template)
        print(json.dumps({"version": llamafactory.__version__, "broken_row_error": error, "broken_dataset_dir": copy}),
              flush=True)


def broken_row_error(dataset_dir: str, name: str, tokenizer_dir: str, template: str) -> tuple[str | None, str]:
    """The exception get_dataset(stage="kto") raises on a copy of the dataset whose first record has its
    roles out of order (the converter empties it; None if nothing is raised), and the copy's folder."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import AutoTokenizer, Seq2SeqTrainingArguments

    from prefkit.io.sources import iter_rows
    from prefkit.registry.info import load

    entry = load(dataset_dir)[name]
    copy = tempfile.mkdtemp(prefix="prefkit-broken-")
    rows = [row.data for row in iter_rows(os.path.join(dataset_dir, entry["file_name"]))]
    messages = rows[0][entry["columns"]["messages"]]
    messages.insert(0, dict(messages[-1]))  # an assistant turn first: roles out of order
    with open(os.path.join(copy, "broken.json"), "w") as f:
        json.dump(rows, f)
    with open(os.path.join(copy, "dataset_info.json"), "w") as f:
        json.dump({"broken": {**entry, "file_name": "broken.json"}}, f)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    data_args = DataArguments(dataset="broken", dataset_dir=copy, template=template, cutoff_len=1024, overwrite_cache=True)
    try:
        get_dataset(get_template_and_fix_tokenizer(tokenizer, data_args), ModelArguments(model_name_or_path=tokenizer_dir),
                    data_args, Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"), stage="kto",
                    tokenizer=tokenizer)
    except Exception as err:  # what the run would die of
        cause = err
        while cause.__cause__ is not None or cause.__context__ is not None:  # datasets wraps a worker's error
            cause = cause.__cause__ or cause.__context__
        return type(cause).__name__, copy
    return None, copy


if __name__ == "__main__":
    main()
