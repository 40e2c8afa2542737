"""Compare prefkit's image token counts and image spans with LLaMA-Factory's own get_dataset(stage="rm"), row by
row, in one process (no torchvision: the processor is assembled by hand around Qwen2VLImageProcessorPil).

    python tests/tools/image_tokens_parity.py SPEC.json

SPEC: {"dataset_dir", "model" (a folder with the tokenizer and preprocessor_config.json), "datasets": [names in
dataset_dir/dataset_info.json], "configs": [{"template", "cutoff_len", "image_max_pixels", "image_min_pixels",
"preprocessor": {overrides of preprocessor_config.json}}], "failing": [names], "too_thin": [[width, height]]}.

Per config, one JSON line {"config", "rows", "images", "count_mismatches", "span_mismatches", "id_mismatches",
"cut_rows", "cut_mismatches", "truncated", "lf_rows"}: prefkit's per-image counts (prefkit.images.tokens.image_tokens on the
stored size) against the runs of <|image_pad|> in LLaMA-Factory's chosen and rejected input ids; prefkit's spans
(from a compact rendering: each placeholder as <|vision_start|><|vision_end|>, LLaMA-Factory's template) and its
whole ids with the image tokens inserted against LLaMA-Factory's ids; and, with truncation, the kept prompt length
(prefkit's infer_seqlen) and the first image cut (first_cut_image) against what LLaMA-Factory kept. "lf_rows" holds
LLaMA-Factory's own facts per row, for the test to hold prefkit validate's --lengths against: the kept prompt,
chosen and rejected lengths, and the runs of image tokens in the kept prompt (one per image, the last one short or
missing where cutoff_len cuts into an image). Then one line
{"failing": {name: [prefkit's finding codes, LLaMA-Factory's exception or "ok", image tokens in its chosen labels]},
"too_thin": [[prefkit, LLaMA-Factory] resized size or error, per extreme size]}.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
from types import SimpleNamespace

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")

IGNORE_INDEX = -100


def build_processor(model: str, tokenizer, model_args, overrides: dict):
    """Qwen2VLProcessor without torchvision: AutoProcessor refuses, so set its parts by hand (ENVIRONMENT.md)."""
    from llamafactory.model.patcher import patch_processor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

    with open(os.path.join(model, "preprocessor_config.json")) as f:
        config = {**json.load(f), **overrides}
    kwargs = {k: v for k, v in config.items() if k not in ("image_processor_type", "processor_class")}
    processor = Qwen2VLProcessor.__new__(Qwen2VLProcessor)
    processor.image_processor = Qwen2VLImageProcessorPil(**kwargs)
    processor.tokenizer = tokenizer
    processor.image_token, processor.video_token = "<|image_pad|>", "<|video_pad|>"
    # images never touch it; the Qwen3-VL plugin reads its merge_size
    processor.video_processor = SimpleNamespace(merge_size=kwargs.get("merge_size", 2))
    patch_processor(processor, tokenizer, model_args)
    return processor, config


def lf_dataset(spec: dict, datasets: list[str], config: dict, tokenizer):
    """LLaMA-Factory's own tokenized pairs for these datasets under one config; the processor's config."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    model_args = ModelArguments(model_name_or_path=spec["model"], image_max_pixels=config["image_max_pixels"],
                                image_min_pixels=config["image_min_pixels"])
    data_args = DataArguments(dataset=",".join(datasets), dataset_dir=spec["dataset_dir"], template=config["template"],
                              cutoff_len=config["cutoff_len"], overwrite_cache=True)
    processor, processor_config = build_processor(spec["model"], tokenizer, model_args, config.get("preprocessor", {}))
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    training_args = Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(prefix="prefkit-out-"), report_to="none")
    with contextlib.redirect_stdout(io.StringIO()):  # get_dataset prints an example
        module = get_dataset(template, model_args, data_args, training_args, stage="rm", tokenizer=tokenizer,
                             processor=processor)
    return module["train_dataset"], template, processor_config


def source_rows(spec: dict, datasets: list[str]) -> list[tuple[dict, dict]]:
    """(registry entry, row) for every row, in get_dataset's order."""
    with open(os.path.join(spec["dataset_dir"], "dataset_info.json")) as f:
        info = json.load(f)
    out = []
    for name in datasets:
        with open(os.path.join(spec["dataset_dir"], info[name]["file_name"])) as f:
            out += [(info[name], row) for row in json.load(f)]
    return out


def prefkit_row(entry: dict, row: dict, spec: dict, config: dict, processor_config: dict, template, tokenizer) -> dict:
    """prefkit's view of one row: per-image counts, the compact ids, spans, and lengths."""
    from prefkit.checks.acceptance import Attr, align
    from prefkit.images.checks import RowLayout, check_row_images
    from prefkit.images.tokens import VISION_END, VISION_START, QwenVLImageConfig, image_tokens, spans_from_markers

    images = check_row_images(row, RowLayout.from_entry(entry), spec["dataset_dir"])
    image_config = QwenVLImageConfig.from_dict(processor_config)
    counts = [image_tokens(w, h, image_config, config["image_max_pixels"], config["image_min_pixels"])
              for w, h in images.sizes]
    aligned = align(row, Attr.from_entry(entry))
    compact = [{**m, "content": m["content"].replace("<image>", VISION_START + VISION_END)} for m in aligned.prompt]
    encoded = [template.encode_oneturn(tokenizer, compact + [answer], aligned.system, aligned.tools)
               for answer in aligned.response[:2]]
    prompt_ids = encoded[0][0]
    start_id = tokenizer.convert_tokens_to_ids(VISION_START)
    markers = [i for i, t in enumerate(prompt_ids) if t == start_id]
    return {"findings": images.findings, "counts": counts, "spans": spans_from_markers(markers, counts),
            "prompt_ids": prompt_ids, "answer_ids": [e[1] for e in encoded], "markers": markers}


def expanded(prompt_ids: list[int], markers: list[int], counts: list[int], pad_id: int) -> list[int]:
    """The compact prompt ids with each image's tokens put back after its <|vision_start|>."""
    out, last = [], 0
    for marker, count in zip(markers, counts):
        out += prompt_ids[last:marker + 1] + [pad_id] * count
        last = marker + 1
    return out + prompt_ids[last:]


def compare(spec: dict, config: dict, tokenizer) -> dict:
    from prefkit.images.tokens import IMAGE_PAD, first_cut_image, image_spans
    from prefkit.targets.lf import infer_seqlen

    dataset, template, processor_config = lf_dataset(spec, spec["datasets"], config, tokenizer)
    rows = source_rows(spec, spec["datasets"])
    assert len(dataset) == len(rows), (len(dataset), len(rows))
    pad_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    result = {"config": config, "rows": len(rows), "images": 0, "count_mismatches": [], "span_mismatches": [],
              "id_mismatches": [], "cut_rows": 0, "cut_mismatches": [], "truncated": 0, "lf_rows": []}
    for index, ((entry, row), lf) in enumerate(zip(rows, dataset)):
        result["lf_rows"].append(lf_facts(lf, pad_id))
        ours = prefkit_row(entry, row, spec, config, processor_config, template, tokenizer)
        result["images"] += len(ours["counts"])
        prompt_len = len(ours["prompt_ids"]) + sum(ours["counts"])
        source_len, target_len = infer_seqlen(prompt_len, max(map(len, ours["answer_ids"])), config["cutoff_len"])
        full_prompt = expanded(ours["prompt_ids"], ours["markers"], ours["counts"], pad_id)
        cut = first_cut_image(ours["spans"], source_len)
        result["truncated"] += source_len < prompt_len or target_len < max(map(len, ours["answer_ids"]))
        result["cut_rows"] += cut is not None
        for side, answer_ids in zip(("chosen", "rejected"), ours["answer_ids"]):
            lf_ids, lf_labels = lf[f"{side}_input_ids"], lf[f"{side}_labels"]
            lf_source = next((i for i, label in enumerate(lf_labels) if label != IGNORE_INDEX), len(lf_labels))
            lf_runs = image_spans(lf_ids[:lf_source], pad_id)
            if source_len == prompt_len:  # whole prompt: every image, every id
                if [e - s for s, e in lf_runs] != ours["counts"]:
                    result["count_mismatches"].append([index, side, ours["counts"], [e - s for s, e in lf_runs]])
                if [list(s) for s in lf_runs] != [list(s) for s in ours["spans"]]:
                    result["span_mismatches"].append([index, side, ours["spans"], lf_runs])
                if lf_ids != full_prompt + answer_ids[:target_len]:
                    result["id_mismatches"].append([index, side])
            lf_cut = next((i for i, span in enumerate(ours["spans"]) if i >= len(lf_runs) or tuple(lf_runs[i]) != tuple(span)),
                          None)
            if (lf_source, lf_cut) != (source_len, cut) or lf_ids[:lf_source] != full_prompt[:source_len]:
                result["cut_mismatches"].append([index, side, [source_len, cut], [lf_source, lf_cut]])
    return result


def lf_facts(lf: dict, pad_id: int) -> dict:
    """What LLaMA-Factory kept of one pair: prompt, chosen and rejected lengths, and the image token runs of the
    kept prompt."""
    from prefkit.images.tokens import image_spans

    out = {}
    for side in ("chosen", "rejected"):
        labels = lf[f"{side}_labels"]
        source = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(labels))
        out["prompt"] = source  # the same for both sides
        out[side] = len(labels) - source
    out["runs"] = [e - s for s, e in image_spans(lf["chosen_input_ids"][:out["prompt"]], pad_id)]
    return out


def failing(spec: dict, tokenizer) -> dict:
    """Each one-row dataset of spec["failing"]: prefkit's finding codes, what get_dataset does with it, and how many
    image tokens land in LLaMA-Factory's chosen labels."""
    from prefkit.images.checks import RowLayout, check_row_images
    from prefkit.images.tokens import IMAGE_PAD

    config = spec["configs"][0]
    pad_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    out = {}
    for name in spec.get("failing", []):
        (entry, row), = source_rows(spec, [name])
        codes = sorted({code for code, *_ in check_row_images(row, RowLayout.from_entry(entry), spec["dataset_dir"]).findings})
        try:
            dataset, _, _ = lf_dataset(spec, [name], config, tokenizer)
            outcome, in_labels = "ok", sum(t == pad_id for t in dataset[0]["chosen_labels"])
        except Exception as e:  # what stops LLaMA-Factory's run
            outcome, in_labels = f"{type(e).__name__}: {str(e)[:200]}", None
        out[name] = [codes, outcome, in_labels]
    return out


def too_thin(sizes: list[list[int]], config: dict) -> list[list[str]]:
    """prefkit's lf_preprocess_size and LLaMA-Factory's Qwen2VLPlugin._preprocess_image on extreme sizes: the size
    each gives, or the error each raises."""
    from llamafactory.data.mm_plugin import get_mm_plugin
    from PIL import Image

    from prefkit.images.tokens import lf_preprocess_size

    plugin = get_mm_plugin("qwen2_vl", image_token="<|image_pad|>", video_token="<|video_pad|>")
    limits = {"image_max_pixels": config["image_max_pixels"], "image_min_pixels": config["image_min_pixels"]}
    out = []
    for width, height in sizes:
        try:
            ours = "{}x{}".format(*lf_preprocess_size(width, height, **limits))
        except ValueError as e:
            ours = f"{type(e).__name__}: {e}"
        try:
            image = plugin._preprocess_image(Image.new("RGB", (width, height)), **limits)
            theirs = f"{image.width}x{image.height}"
        except ValueError as e:
            theirs = f"{type(e).__name__}: {e}"
        out.append([ours, theirs])
    return out


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    import llamafactory
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    for config in spec["configs"]:
        print(json.dumps({"version": llamafactory.__version__, **compare(spec, config, tokenizer)}), flush=True)
    print(json.dumps({"failing": failing(spec, tokenizer), "too_thin": too_thin(spec.get("too_thin", []), spec["configs"][0])}),
          flush=True)


if __name__ == "__main__":
    main()
