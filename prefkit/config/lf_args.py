"""LLaMA-Factory's arguments that change what its trainer reads, with their defaults per release.

The tables copy ``DataArguments`` (``hparams/data_args.py``) and the few ``ModelArguments`` / training arguments
that the data path reads; ``tests/test_config.py`` compares them with the dataclasses of each installed release.
"""

from __future__ import annotations

from typing import Any

RELEASES = ("0.9.3", "0.9.5")
DEFAULT_RELEASE = "0.9.5"  # when LLaMA-Factory is not installed here

_DATA_093: dict[str, Any] = {
    "template": None, "dataset": None, "eval_dataset": None, "dataset_dir": "data", "media_dir": None,
    "cutoff_len": 2048, "train_on_prompt": False, "mask_history": False, "streaming": False, "buffer_size": 16384,
    "mix_strategy": "concat", "interleave_probs": None, "overwrite_cache": False, "preprocessing_batch_size": 1000,
    "preprocessing_num_workers": None, "max_samples": None, "eval_num_beams": None, "ignore_pad_token_for_loss": True,
    "val_size": 0.0, "eval_on_each_dataset": False, "packing": None, "neat_packing": False, "tool_format": None,
    "default_system": None, "enable_thinking": True, "tokenized_path": None, "data_shared_file_system": False,
}
DATA_ARGUMENTS: dict[str, dict[str, Any]] = {
    "0.9.3": _DATA_093,
    "0.9.5": {**_DATA_093, "preserve_thinking": False},
}
MIX_STRATEGIES = {"0.9.3": ("concat", "interleave_under", "interleave_over"),
                  "0.9.5": ("concat", "interleave_under", "interleave_over", "interleave_once")}

# ModelArguments / FinetuningArguments / Seq2SeqTrainingArguments that the data path reads (same in both releases).
OTHER_ARGUMENTS: dict[str, Any] = {
    "model_name_or_path": None, "trust_remote_code": False, "image_max_pixels": 768 * 768,
    "image_min_pixels": 32 * 32, "stage": "sft", "pref_loss": "sigmoid", "seed": 42, "do_train": False,
}

# Data arguments that change nothing prefkit measures, and why (said once in the report, never ignored).
NO_EFFECT = {
    "train_on_prompt": "changes SFT labels only: pairwise and KTO rows are the same",
    "mask_history": "changes SFT labels only: pairwise and KTO rows are the same",
    "overwrite_cache": "the preprocessing cache, not the rows",
    "preprocessing_batch_size": "how rows are batched, not which",
    "preprocessing_num_workers": "how rows are processed, not which",
    "ignore_pad_token_for_loss": "the loss, not the rows",
    "eval_num_beams": "generation at eval, not the rows",
    "data_shared_file_system": "where the cache lives, not the rows",
    "buffer_size": "the streaming shuffle buffer, not the rows",
    "eval_on_each_dataset": "how eval datasets are reported, not the rows",
}
# Data arguments that change what is trained and that prefkit does not model.
NOT_MODELLED = {
    "packing": "packs rows into cutoff_len sequences (SFT)",
    "neat_packing": "packs rows into cutoff_len sequences (SFT)",
    "tool_format": "renders tools in another format: lengths of rows with tools may differ",
    "default_system": "adds a system prompt to rows without one: prompt lengths may differ",
    "tokenized_path": "LLaMA-Factory loads the tokenized rows saved there instead of the dataset",
    "eval_dataset": "eval rows are read from other datasets; validate them on their own",
}
PREFERENCE_STAGES = {"dpo": "rm", "rm": "rm", "kto": "kto"}  # stage -> get_dataset's stage (rm: pairwise)


def installed_release() -> str | None:
    """The installed LLaMA-Factory's release, when it is one of RELEASES' lines (0.9.3, 0.9.5), else None."""
    from importlib import metadata

    try:
        version = metadata.version("llamafactory")
    except metadata.PackageNotFoundError:
        return None
    return next((r for r in RELEASES if version == r or version.startswith(r + ".")), version)
