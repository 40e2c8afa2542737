"""prefkit generate and judge against the real tiny model served by LLaMA-Factory's OpenAI-compatible API."""

import pytest

from conftest import load_output
from prefkit.create.generate import generate
from prefkit.create.judge import judge
from prefkit.serving.serve import serving


@pytest.mark.llamafactory
@pytest.mark.slow
def test_generate_from_the_served_model_then_judge_with_it(trained, tmp_path):
    data, result, _ = trained
    infer, base = result.infer_configs
    out = tmp_path / "cands.jsonl"
    report = generate("pairs_eval", str(out), model_config=infer, dataset_dir=str(data), n=3, max_tokens=12,
                      concurrency=2, temperature=1.0)
    assert report.failed == {} and report.generated == report.prompts > 0
    assert report.usage["requests_sent"] >= report.prompts and report.usage["completion_tokens"] > 0
    rows = load_output(out)
    assert all(len(r["responses"]) == 3 and r["generator"]["model"] == "out" for r in rows)
    again = generate("pairs_eval", str(out), model_config=infer, dataset_dir=str(data), n=3)
    assert again.usage["requests_sent"] == 0 and again.already_complete == report.prompts  # no server started
    with serving(base) as judge_server:  # a random model as judge: whatever it says is counted, never guessed
        judged = judge(str(out), str(tmp_path / "j.jsonl"), judge_url=judge_server.base_url,
                       judge_model=judge_server.model, max_tokens=8, concurrency=2)
    total = sum(judged.verdicts.values())
    assert total == judged.pairs > 0 and judged.usage["requests_sent"] == 2 * judged.pairs
    assert len(load_output(tmp_path / "j.jsonl")) == judged.pairs
