"""Compare prefkit's lengths with LLaMA-Factory's get_dataset on every text reasoning template, in one process.

    python tests/tools/reasoning_parity.py DATASET_DIR TOKENIZER_DIR CUTOFF[,CUTOFF...] SETTING[,SETTING...] [TEMPLATES]

DATASET_DIR registers "pairs" (sharegpt ranking) and "kto" (sharegpt with kto_tag). The templates are those of the
installed LLaMA-Factory's registry whose class is a ReasoningTemplate, less the multimodal ones (a plugin other than
the base one: get_dataset stops with "Processor was not found" without an image processor). A SETTING is
``true``, ``false`` or ``null`` (enable_thinking) with ``+preserve`` for preserve_thinking (0.9.5; a release without it
skips those). Prints {"version", "templates", "skipped"}, then one line per (dataset, template, setting, cutoff):
{"version", "dataset", "template", "setting", "cutoff", "rows" (LLaMA-Factory's), "kept" (prefkit's), "render",
"n_mismatches", "mismatches" (first few: TokenCounter against get_dataset), "n_lengths_mismatches",
"lengths_mismatches" (validate's --lengths lines against get_dataset), "n_kl_mismatches" (KTO: the KL example, this
prompt with the previous record's answer), "truncated"}.
"""

import dataclasses
import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SETTINGS = {"true": True, "false": False, "null": None}


def parse_setting(setting: str) -> tuple[bool | None, bool]:
    think, _, preserve = setting.partition("+")
    return SETTINGS[think], preserve == "preserve"


def reasoning_templates() -> tuple[list[str], list[str]]:
    """(text templates, multimodal ones skipped) whose class is a ReasoningTemplate."""
    from llamafactory.data.template import TEMPLATES, ReasoningTemplate

    found = [(n, type(t.mm_plugin).__name__ == "BasePlugin") for n, t in TEMPLATES.items()
             if isinstance(t, ReasoningTemplate)]
    return [n for n, text in found if text], [n for n, text in found if not text]


def lengths_lines(dataset_dir: str, name: str, tokenizer_dir: str, template: str, cutoff: int, enable: bool | None,
                  preserve: bool, kto: bool) -> list[list]:
    """What validate's --lengths lines say of each kept row (as get_dataset's rows read), in order."""
    from prefkit import validate

    out = os.path.join(tempfile.mkdtemp(prefix="prefkit-reasoning-"), "lengths.jsonl")
    validate(name, dataset_dir=dataset_dir, model=tokenizer_dir, template=template, cutoff_len=cutoff, lengths_path=out,
             enable_thinking=enable, preserve_thinking=preserve)
    with open(out) as f:
        rows = [json.loads(line) for line in f]
    return [[r["prompt_kept"], r["answer_kept"], r["desirable"]] if kto else
            [r["prompt_kept"], r["chosen_kept"], r["rejected_kept"]] for r in rows if "dropped" not in r]


def lf_row(row: dict, kto: bool) -> list:
    if kto:
        source = sum(1 for label in row["labels"] if label == -100)
        return [source, len(row["input_ids"]) - source, row["kto_tags"]]
    source = sum(1 for label in row["chosen_labels"] if label == -100)
    return [source, len(row["chosen_input_ids"]) - source, len(row["rejected_input_ids"]) - source,
            row["chosen_input_ids"][source:] == row["rejected_input_ids"][source:]]


def cached_tokenizers() -> dict:
    """prefkit's tokenizer loaded once per template: its fix for one template is idempotent, so a tokenizer that
    template fixed before is the one a fresh load and fix give (and the Rust tokenizer's load is the slow part)."""
    from prefkit.targets import lf

    cache: dict = {"template": None}
    load = lf.load_counting_tokenizer

    def cached(model: str, trust_remote_code: bool = False):
        key = (model, cache["template"])
        if key not in cache:
            cache[key] = load(model, trust_remote_code)
        return cache[key]

    lf.load_counting_tokenizer = cached
    return cache


def main() -> None:
    dataset_dir, tokenizer_dir, cutoffs, settings, *only = sys.argv[1:]
    import llamafactory
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_dataset_processor, _get_merged_dataset
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import AutoTokenizer, Seq2SeqTrainingArguments

    from prefkit.checks.acceptance import Aligned, Attr, align
    from prefkit.io.sources import iter_rows
    from prefkit.registry.info import load
    from prefkit.targets.lf import TokenCounter

    version = llamafactory.__version__
    templates, skipped = reasoning_templates()
    templates = [t for t in templates if not only or t in only[0].split(",")]  # a fifth argument: only these
    has_preserve = "preserve_thinking" in {f.name for f in dataclasses.fields(DataArguments)}
    print(json.dumps({"version": version, "templates": templates, "skipped": skipped}), flush=True)
    training_args = Seq2SeqTrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none")
    model_args = ModelArguments(model_name_or_path=tokenizer_dir)
    info = load(dataset_dir)
    ours_cache = cached_tokenizers()
    lf_tokenizers = {}
    for name in ("pairs", "kto"):
        attr = Attr.from_entry(info[name])
        kto = attr.stage == "kto"
        stage = "kto" if kto else "rm"
        rows = [align(row.data, attr) for row in iter_rows(os.path.join(dataset_dir, info[name]["file_name"]))]
        kept = [r for r in rows if r.drop is None]
        kl_rows = [Aligned(r.prompt, rows[i - 1].response, r.system, r.tools) for i, r in enumerate(rows)
                   if r.drop is None]
        merged = None  # LLaMA-Factory's loader and converter: what get_dataset preprocesses
        for template in templates:
            tokenizer = lf_tokenizers.get(template) or AutoTokenizer.from_pretrained(tokenizer_dir)
            lf_tokenizers[template] = tokenizer  # each template fixes its own (idempotently)
            ours_cache["template"] = template
            for setting in settings.split(","):
                enable, preserve = parse_setting(setting)
                if preserve and not has_preserve:
                    continue
                for cutoff in map(int, cutoffs.split(",")):
                    thought_args = {"enable_thinking": enable, **({"preserve_thinking": preserve} if has_preserve else {})}
                    data_args = DataArguments(dataset=name, dataset_dir=dataset_dir, template=template,
                                              cutoff_len=cutoff, overwrite_cache=True, **thought_args)
                    lf_template = get_template_and_fix_tokenizer(tokenizer, data_args)
                    if merged is None:
                        merged = _get_merged_dataset(data_args.dataset, model_args, data_args, training_args, stage)
                    # get_dataset maps this processor over the merged rows in batches of 1,000 (one batch here);
                    # its datasets.map fingerprints the tokenizer (seconds a call), so it runs once per dataset
                    batch = _get_dataset_processor(data_args, stage, lf_template, tokenizer, None).preprocess_dataset(
                        merged[:])
                    lf_rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
                    same_as_get_dataset = None
                    if template == templates[0] and setting == settings.split(",")[0] and cutoff == int(
                            cutoffs.split(",")[0]):
                        module = get_dataset(lf_template, model_args, data_args, training_args, stage=stage,
                                             tokenizer=tokenizer)
                        same_as_get_dataset = [dict(r) for r in module["train_dataset"]] == lf_rows
                    theirs = [lf_row(row, kto) for row in lf_rows]
                    counter = TokenCounter(tokenizer_dir, template, cutoff, kto=kto, enable_thinking=enable,
                                           preserve_thinking=preserve)
                    ours = counter.measure(kept)
                    mine = [[p.prompt_kept, p.answer_kept, p.desirable] if kto else
                            [p.prompt_kept, p.chosen_kept, p.rejected_kept, p.identical_after_truncation] for p in ours]
                    lines = lengths_lines(dataset_dir, name, tokenizer_dir, template, cutoff, enable, preserve, kto)
                    mismatches = [{"index": i, "llamafactory": lf, "prefkit": pk} for i, (lf, pk) in
                                  enumerate(zip(theirs, mine)) if lf != pk]
                    line_mismatches = [{"index": i, "llamafactory": lf[:3], "prefkit validate": pk} for i, (lf, pk) in
                                       enumerate(zip(theirs, lines)) if lf[:3] != pk]
                    kl_mismatches = []
                    if kto:
                        kl_ours = counter.measure(kl_rows)
                        for i, (row, kl) in enumerate(zip(lf_rows, kl_ours)):
                            source = sum(1 for label in row["kl_labels"] if label == -100)
                            if [source, len(row["kl_input_ids"]) - source] != [kl.prompt_kept, kl.answer_kept]:
                                kl_mismatches.append(i)
                    print(json.dumps({
                        "version": version, "dataset": name, "template": template, "setting": setting,
                        "cutoff": cutoff, "rows": len(theirs), "kept": len(mine), "lines": len(lines),
                        "render": counter.render, "n_mismatches": len(mismatches), "mismatches": mismatches[:3],
                        "n_lengths_mismatches": len(line_mismatches), "lengths_mismatches": line_mismatches[:3],
                        "n_kl_mismatches": len(kl_mismatches), "truncated": sum(p.truncated for p in ours),
                        "trained": sum(sum(r[:2] if kto else r[:3]) for r in theirs),
                        "same_as_get_dataset": same_as_get_dataset}), flush=True)


if __name__ == "__main__":
    main()
