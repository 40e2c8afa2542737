"""Compare prefkit's exact lengths with LLaMA-Factory's own get_dataset, row by row, in one process.

    python tests/tools/lengths_parity.py DATASET_DIR NAME TOKENIZER_DIR TEMPLATE:CUTOFF [TEMPLATE:CUTOFF ...]

Needs llamafactory and prefkit in the running python. Prints one JSON line per TEMPLATE:CUTOFF:
{"version", "template", "cutoff", "rows", "mismatches": [first few], "truncated", "identical_after_truncation"}.
"""

import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


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
        mismatches = []
        for i, (mine, row) in enumerate(zip(ours, module["train_dataset"], strict=True)):
            source = sum(1 for label in row["chosen_labels"] if label == -100)
            lf = [source, len(row["chosen_input_ids"]) - source, len(row["rejected_input_ids"]) - source,
                  row["chosen_input_ids"][source:] == row["rejected_input_ids"][source:]]
            pk = [mine.prompt_kept, mine.chosen_kept, mine.rejected_kept, mine.identical_after_truncation]
            if lf != pk:
                mismatches.append({"index": i, "llamafactory": lf, "prefkit": pk})
        print(json.dumps({"version": llamafactory.__version__, "template": template, "cutoff": cutoff,
                          "rows": len(ours), "mismatches": mismatches[:5], "n_mismatches": len(mismatches),
                          "truncated": sum(p.truncated for p in ours),
                          "identical_after_truncation": sum(p.identical_after_truncation for p in ours)}), flush=True)


if __name__ == "__main__":
    main()
