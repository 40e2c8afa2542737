"""LLaMA-Factory's own pairs for a LLaVA dataset: per row, the kept prompt, chosen and rejected lengths and the runs
of image tokens in the kept prompt (adjacent images make one run; fewer image tokens where cutoff_len cuts into an
image).

    python tests/tools/llava_lengths.py DATASET_DIR NAME MODEL_DIR CUTOFF_LEN [CUTOFF_LEN ...]

Run with the python of .venv (LLaMA-Factory 0.9.5): the processor is LLaMA-Factory's own (load_tokenizer), the
template is llava. One JSON line per cutoff and row (with its "cutoff"), in get_dataset's order.
"""

import contextlib
import io
import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")
IGNORE_INDEX = -100


def runs(ids: list[int], token: int) -> list[int]:
    out, last = [], None
    for i, t in enumerate(ids):
        if t == token:
            if last == i - 1:
                out[-1] += 1
            else:
                out.append(1)
            last = i
    return out


def main() -> None:
    dataset_dir, name, model, cutoffs = sys.argv[1], sys.argv[2], sys.argv[3], [int(c) for c in sys.argv[4:]]
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer
    from transformers import Seq2SeqTrainingArguments

    model_args = ModelArguments(model_name_or_path=model)
    loaded = load_tokenizer(model_args)
    tokenizer, processor = loaded["tokenizer"], loaded["processor"]
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    for cutoff in cutoffs:
        data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, template="llava", cutoff_len=cutoff,
                                  overwrite_cache=True)
        template = get_template_and_fix_tokenizer(tokenizer, data_args)
        training_args = Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(prefix="prefkit-out-"), report_to="none")
        with contextlib.redirect_stdout(io.StringIO()):
            module = get_dataset(template, model_args, data_args, training_args, stage="rm", tokenizer=tokenizer,
                                 processor=processor)
        for row in module["train_dataset"]:
            prompt = sum(1 for label in row["chosen_labels"] if label == IGNORE_INDEX)
            print(json.dumps({"cutoff": cutoff, "prompt_kept": prompt,
                              "chosen_kept": len(row["chosen_input_ids"]) - prompt,
                              "rejected_kept": len(row["rejected_input_ids"]) - prompt,
                              "image_runs": runs(row["chosen_input_ids"][:prompt], image_id)}))


if __name__ == "__main__":
    main()
