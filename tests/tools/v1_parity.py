"""Compare prefkit's v1 predictions with LLaMA-Factory v1's own DataEngine, batching and RM loss, row by row.

    python tests/tools/v1_parity.py YAML TOKENIZER_DIR MODEL_DIR NAME:TEMPLATE:CUTOFF|NAME:raises [...]

Run in the directory the YAML's paths are relative to (as llamafactory-cli runs). Needs LLaMA-Factory 0.9.5 (v1)
with torch and torchdata, and prefkit. For each NAME:TEMPLATE:CUTOFF it builds v1's DataEngine on the entry NAME,
its Renderer for the template, and its BatchGenerator (micro batch 1, the default), and reads each sample's
batch: the packed length left after the cut, the chosen (token type 1) and rejected (2) tokens left, the
supervised tokens (labels != -100, as compute_valid_tokens counts them), and what the RM trainer's own
compute_loss does with it (MODEL_DIR: a tiny model, loaded by v1's ModelEngine as run_rm does): a loss, or the
ValueError "No valid RM pairs found". The whole renderings (Renderer.process_samples) and the prompt's rendering
give the untruncated lengths. prefkit's side is `prefkit validate NAME --lengths` (torch-free, as users run it)
and the library's validate() in this process (v1 imported for real). Prints one JSON line per config:
{"name", "template", "cutoff", "rows", "n_mismatches", "mismatches": [first few], "n_api_mismatches", "dropped": {code: n},
"rm_errors", "truncated", "rejected_answer_cut", "api_rejected_answer_cut"}. For NAME:raises it prints {"name",
"raised": the exception's type or null}: whether v1's DataEngine and Renderer.process_samples (qwen3_nothink)
raise on the entry's first row.
"""

import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="prefkit-hf-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


class _Trainer:
    """What RMTrainer.compute_loss reads of the trainer: the model and the device."""

    def __init__(self, model, device) -> None:
        self.model, self.device = model, device


def start_cli(yaml_dir: str, config: str, tokenizer_dir: str) -> tuple[subprocess.Popen, str]:
    """`prefkit validate --lengths` for one NAME:TEMPLATE:CUTOFF, started now (they run while v1 is imported)."""
    name, template, cutoff = config.split(":")
    out = os.path.join(tempfile.mkdtemp(prefix="prefkit-v1-parity-"), "lengths.jsonl")
    prefkit = os.path.join(os.path.dirname(sys.executable), "prefkit")
    return subprocess.Popen([prefkit, "validate", name, "--dataset-dir", yaml_dir, "--model", tokenizer_dir,
                             "--template", template, "--cutoff-len", cutoff, "--lengths", out, "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out


def cli_lengths(started: tuple[subprocess.Popen, str]) -> list[dict]:
    proc, out = started
    _, stderr = proc.communicate(timeout=600)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"prefkit validate failed: {stderr[-2000:]}")
    with open(out) as f:
        return [json.loads(line) for line in f]


def prefkit_view(row: dict, cutoff: int) -> list:
    """[prompt, chosen answer, rejected prompt, rejected answer, packed kept, chosen side kept, rejected side kept,
    supervised kept, dropped]"""
    chosen_side = min(row["prompt"] + row["chosen"], cutoff)
    return [row["prompt"], row["chosen"], row["rejected_prompt"], row["rejected"], row["sequence_kept"], chosen_side,
            row["sequence_kept"] - chosen_side, row["supervised_kept"], row.get("dropped")]


def main() -> None:
    yaml_path, tokenizer_dir, model_dir, *configs = sys.argv[1:]
    yaml_dir = os.path.dirname(yaml_path) or "."
    cli = {config: start_cli(yaml_dir, config, tokenizer_dir) for config in configs if not config.endswith(":raises")}
    import torch
    from llamafactory.v1.config.arg_utils import ModelClass
    from llamafactory.v1.config.model_args import ModelArguments
    from llamafactory.v1.core.data_engine import DataEngine
    from llamafactory.v1.core.model_engine import ModelEngine
    from llamafactory.v1.core.utils.batching import BatchGenerator
    from llamafactory.v1.core.utils.rendering import Renderer
    from llamafactory.v1.trainers.rm_trainer import RMTrainer
    from llamafactory.v1.utils.helper import compute_valid_tokens
    from omegaconf import OmegaConf
    from transformers import AutoProcessor

    from prefkit.pipeline.validate import validate

    engines = {}
    processor = AutoProcessor.from_pretrained(tokenizer_dir)  # as v1's ModelEngine loads it
    model = ModelEngine(ModelArguments(model=model_dir, model_class=ModelClass.CLS)).model  # as run_rm loads it
    trainer = _Trainer(model.eval(), torch.device("cpu"))
    def engine_of(name: str) -> DataEngine:
        if name not in engines:
            single = os.path.join(tempfile.mkdtemp(prefix="prefkit-v1-yaml-"), "dataset_info.yaml")
            OmegaConf.save({name: OmegaConf.load(yaml_path)[name]}, single)  # DataEngine loads every entry of a YAML
            engines[name] = DataEngine(single)
        return engines[name]

    for config in configs:
        if config.endswith(":raises"):
            name = config.split(":")[0]
            try:
                Renderer("qwen3_nothink", processor).process_samples([engine_of(name)[0]])
                raised = None
            except Exception as err:  # what the run would die of
                raised = type(err).__name__
            print(json.dumps({"name": name, "raised": raised}), flush=True)
            continue
        name, template, cutoff = config.split(":")
        cutoff = int(cutoff)
        engine = engine_of(name)
        renderer = Renderer(template, processor)
        generator = BatchGenerator(engine, renderer, micro_batch_size=1, cutoff_len=cutoff, batching_workers=0,
                                   pin_memory=False)
        order = list(iter(generator._data_provider.sampler))  # the sampler's order (seeded) is the batches' order
        facts: dict[int, list] = {}
        rm_errors = 0
        for index, batches in zip(order, generator, strict=True):
            (batch,) = batches
            sample = engine[index]
            whole = renderer.process_samples([sample])[0]
            types = whole["token_type_ids"]
            prompt = len(renderer.render_messages(sample["chosen_messages"][:-1], sample.get("tools"))["input_ids"])
            rejected_prompt = len(renderer.render_messages(sample["rejected_messages"][:-1],
                                                           sample.get("tools"))["input_ids"])
            kept_types = batch["token_type_ids"][0]
            supervised = compute_valid_tokens([batch])
            with torch.no_grad():
                try:
                    RMTrainer.compute_loss(trainer, batch)
                    rm = None
                except ValueError as err:  # "No valid RM pairs found in this micro-batch"
                    rm, rm_errors = str(err), rm_errors + 1
            dropped = "v1_no_supervised_tokens" if supervised == 0 else "v1_no_rejected_tokens" if rm else None
            facts[index] = [prompt, types.count(1) - prompt, rejected_prompt, types.count(2) - rejected_prompt,
                            batch["input_ids"].shape[1], int((kept_types == 1).sum()), int((kept_types == 2).sum()),
                            supervised, dropped]
        assert sorted(facts) == list(range(len(engine))), "micro batch 1 with drop_last: every sample once"
        ours = cli_lengths(cli[config])
        api = validate(name, yaml_dir, model=tokenizer_dir, template=template,
                       cutoff_len=cutoff, lengths_path=os.path.join(tempfile.mkdtemp(), "lengths.jsonl"))
        api_drops = {d["index"]: d["code"] for d in api.would_drop}
        api_answer_cut = sum(f.code == "v1_rejected_answer_cut" for f in api.findings.items)
        mismatches, api_mismatches = [], []
        for i, row in enumerate(ours):
            mine = prefkit_view(row, cutoff)
            if mine != facts[i]:
                mismatches.append({"index": i, "llamafactory": facts[i], "prefkit": mine})
            if api_drops.get(i) != facts[i][-1]:
                api_mismatches.append({"index": i, "llamafactory": facts[i][-1], "validate()": api_drops.get(i)})
        dropped: dict[str, int] = {}
        for fact in facts.values():
            if fact[-1]:
                dropped[fact[-1]] = dropped.get(fact[-1], 0) + 1
        print(json.dumps({"name": name, "template": template, "cutoff": cutoff, "rows": len(ours),
                          "n_mismatches": len(mismatches), "mismatches": mismatches[:5], "n_api_mismatches": len(api_mismatches),
                          "api_mismatches": api_mismatches[:5], "dropped": dropped, "rm_errors": rm_errors,
                          "truncated": sum(f[4] < f[0] + f[1] + f[2] + f[3] for f in facts.values()),
                          "rejected_answer_cut": sum(0 < f[6] <= f[2] for f in facts.values()),
                          "api_rejected_answer_cut": api_answer_cut}),
              flush=True)


if __name__ == "__main__":
    main()
