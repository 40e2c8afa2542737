"""Run LLaMA-Factory's own converter on a registered dataset and print, per row, what it made of it.

    python tests/tools/lf_align.py DATASET_DIR NAME [NAME ...]

One JSON line per row: {"name", "index", "prompt", "response", "system", "tools", "images", "kept"}, where
kept applies the pairwise/feedback processors' filter (odd prompt length, at least two responses).
Run with the python of a venv that has llamafactory; it need not have prefkit.
"""

import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def main() -> None:
    dataset_dir, names = sys.argv[1], sys.argv[2:]
    from llamafactory.data.loader import _load_single_dataset
    from llamafactory.data.parser import get_dataset_list
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    for name in names:
        attr = get_dataset_list([name], dataset_dir)[0]
        data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, overwrite_cache=True)
        training_args = Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none")
        model_args = ModelArguments(model_name_or_path="unused")
        dataset = _load_single_dataset(attr, model_args, data_args, training_args)
        for index, row in enumerate(dataset):
            kept = len(row["_prompt"]) % 2 == 1 and len(row["_response"]) >= 2
            print(json.dumps({"name": name, "index": index, "prompt": row["_prompt"], "response": row["_response"],
                              "system": row["_system"], "tools": row["_tools"], "images": row["_images"],
                              "kept": kept}, ensure_ascii=False))


if __name__ == "__main__":
    main()
