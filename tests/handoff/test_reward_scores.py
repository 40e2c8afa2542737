"""prefkit judge --reward-model-config: a tiny RM trained by prefkit train --method rm, served by LLaMA-Factory's
API, scores every answer; the served score of each (prompt, answer) equals the one LLaMA-Factory's pairwise RM
training computes for the same pair (its own get_dataset(stage="rm") encoding, its value-head model)."""

import json
import math
import subprocess

import pytest
import yaml

from conftest import ROOT, load_output, write_jsonl
from prefkit import convert
from prefkit.create.judge import judge
from prefkit.errors import UsageError

LONG = " ".join(f"Step {i}: add the next number to the running total." for i in range(40))  # ~480 tokens > cutoff 256
CANDIDATES = [
    {"prompt": [{"role": "user", "content": "What is the capital of France?"}],
     "responses": ["Paris.", "The capital of France is Paris, a city on the Seine.", "London"], "generator": {"model": "g1"}},
    {"prompt": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a prime number."}],
     "responses": ["7", "Seven is prime; so is 11."], "generator": {"model": "g2"}},
    {"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "Tell me a joke about 猫."}],
     "responses": ["Why did the 猫 sit on the computer? To keep an eye on the mouse! 🐭", "No."], "generator": {"model": "g1"}},
    {"prompt": [{"role": "user", "content": "Add the numbers from 1 to 40, showing each step."}],
     "responses": [LONG, "820"], "generator": {"model": "g2"}},
]



@pytest.mark.llamafactory
@pytest.mark.slow
def test_served_reward_scores_equal_llamafactory_training_scores(trained_reward, tmp_path):
    from prefkit.create.reward import RewardRenderer

    _, result, _ = trained_reward
    infer = result.infer_configs[0]
    config = yaml.safe_load(open(infer))
    assert config["stage"] == "rm" and config["cutoff_len"] == 256  # LLaMA-Factory serves scores only with stage rm
    cands = write_jsonl(tmp_path / "cands.jsonl", CANDIDATES)
    report = judge(cands, str(tmp_path / "scored.jsonl"), reward_model_config=infer)
    rows = load_output(tmp_path / "scored.jsonl")
    assert report.mode == "score" and report.judge_model == "out" and report.unscored == 0 and report.pairs == 9
    assert report.usage["requests_sent"] == 4 and report.usage["answers"] == 9  # one request per prompt
    assert report.usage["truncated"] == 1 and report.usage["token_mismatch"] == 0
    assert [r["responses"] for r in rows] == [c["responses"] for c in CANDIDATES]
    assert all(isinstance(s, float) and math.isfinite(s) for r in rows for s in r["scores"])
    assert len({s for r in rows for s in r["scores"]}) == 9

    data = tmp_path / "data"
    data.mkdir()
    done = convert([str(tmp_path / "scored.jsonl")], str(data / "scored.json"), fmt="ratings", register="scored",
                   dataset_dir=str(data))
    assert done.pairs_written == 4 and done.rejected == 0  # best vs worst of each prompt
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "tests" / "tools" / "lf_reward_scores.py"),
                           infer, str(data), "scored"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = json.loads(proc.stdout.splitlines()[-1])["pairs"]
    renderer = RewardRenderer(config)
    gaps = []
    for row, pair in zip(rows, reference, strict=True):
        scores = row["scores"]
        for side, k in (("chosen", scores.index(max(scores))), ("rejected", scores.index(min(scores)))):
            # the text prefkit sent tokenizes to the ids LLaMA-Factory trains on, and scores the same
            assert renderer.render(row["prompt"], row["responses"][k]).ids == pair[f"{side}_ids"]
            gaps.append(abs(scores[k] - pair[f"{side}_score"]))
    assert len(gaps) == 8 and max(gaps) < 1e-4, gaps
    print(f"served vs training-time scores: max |difference| {max(gaps):.2e} over {len(gaps)} answers")


@pytest.mark.model
def test_rendering_counts_truncation_and_texts_that_do_not_tokenize_back(qwen_tokenizer):
    from prefkit.create.reward import RewardRenderer

    renderer = RewardRenderer({"model_name_or_path": qwen_tokenizer, "template": "qwen", "cutoff_len": 64})
    prompt = [{"role": "user", "content": "Hi"}]
    plain = renderer.render(prompt, "Hello there.")
    assert plain.exact and not plain.truncated
    assert plain.text.endswith("<|im_start|>assistant\nHello there.<|im_end|>\n")  # qwen: no eos appended
    assert "You are Qwen" in plain.text  # the template's default system, as in training
    # BPE merges the template's newline with the answer's: no text gives the training ids, and that is counted
    assert not renderer.render(prompt, "\n\nHello").exact
    long = renderer.render(prompt, LONG)
    assert long.truncated and long.exact and len(long.ids) == 64


def test_a_chat_model_yaml_or_a_folder_without_value_head_is_refused(tmp_path):
    cands = write_jsonl(tmp_path / "cands.jsonl", CANDIDATES[:1])
    chat = tmp_path / "infer.yaml"
    chat.write_text("model_name_or_path: m\ntemplate: qwen\nadapter_name_or_path: out\nfinetuning_type: lora\n")
    with pytest.raises(UsageError, match="stage: rm"):
        judge(cands, str(tmp_path / "s.jsonl"), reward_model_config=str(chat))
    (tmp_path / "adapter").mkdir()
    no_head = tmp_path / "rm.yaml"
    no_head.write_text(f"model_name_or_path: m\ntemplate: qwen\nadapter_name_or_path: {tmp_path / 'adapter'}\nstage: rm\n")
    with pytest.raises(UsageError, match="no value head"):
        judge(cands, str(tmp_path / "s.jsonl"), reward_model_config=str(no_head))
    assert not (tmp_path / "s.jsonl").exists()


def test_an_rm_infer_yaml_says_stage_rm_and_carries_the_template_arguments(tmp_path):
    from prefkit.handoff.infer import write_infer_configs
    from prefkit.handoff.train_config import build_config

    rm = build_config("m", "d", "data", method="rm", template="qwen", cutoff_len=512, output_dir=str(tmp_path / "rm"),
                      overrides={"default_system": "Be brief."})
    infer, base = (yaml.safe_load(open(p)) for p in write_infer_configs(rm))
    assert (infer["stage"], infer["cutoff_len"], infer["adapter_name_or_path"]) == ("rm", 512, str(tmp_path / "rm"))
    assert "stage" not in base and infer["default_system"] == base["default_system"] == "Be brief."
    dpo = build_config("m", "d", "data", method="dpo", template="qwen", output_dir=str(tmp_path / "dpo"))
    assert not {"stage", "cutoff_len", "default_system"} & set(yaml.safe_load(open(write_infer_configs(dpo)[0])))
