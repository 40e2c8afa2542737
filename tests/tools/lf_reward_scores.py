"""A reward model's scores as LLaMA-Factory's pairwise RM training computes them, in one process.

    python tests/tools/lf_reward_scores.py INFER_YAML DATASET_DIR NAME

The pairs of the registered dataset NAME are encoded by LLaMA-Factory's own ``get_dataset(stage="rm")``
(the pairwise processor, with the template and cutoff_len of the RM's inference YAML), the model is loaded as
the RM workflow loads it (``load_model(..., add_valuehead=True)``: base, adapter, value head), and each
sequence's score is read as ``PairwiseTrainer.compute_loss`` reads it: the value at the last attended token.
Prints one JSON line: {"pairs": [{"chosen_ids", "chosen_score", "rejected_ids", "rejected_score"}, ...]}.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def main() -> None:
    infer_yaml, dataset_dir, name = sys.argv[1:]
    import torch
    import yaml
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_infer_args
    from llamafactory.model import load_model, load_tokenizer
    from transformers import Seq2SeqTrainingArguments

    with open(infer_yaml, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    model_args, data_args, finetuning_args, _ = get_infer_args({**config, "dataset": name, "dataset_dir": dataset_dir,
                                                                "overwrite_cache": True})
    assert finetuning_args.stage == "rm"
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args,
                         Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none"), stage="rm",
                         **tokenizer_module)
    model = load_model(tokenizer, model_args, finetuning_args, is_trainable=False, add_valuehead=True)
    model.eval()
    pairs = []
    with torch.no_grad():
        for row in module["train_dataset"]:
            pair = {}
            for side in ("chosen", "rejected"):
                ids = torch.tensor([row[f"{side}_input_ids"]])
                mask = torch.tensor([row[f"{side}_attention_mask"]])
                _, _, values = model(input_ids=ids, attention_mask=mask, return_dict=True, use_cache=False)
                score = values.gather(dim=-1, index=(mask.sum(dim=-1, keepdim=True) - 1))
                pair[f"{side}_ids"] = row[f"{side}_input_ids"]
                pair[f"{side}_score"] = float(score.squeeze())
            pairs.append(pair)
    print(json.dumps({"pairs": pairs}), flush=True)


if __name__ == "__main__":
    main()
