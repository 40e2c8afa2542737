"""Benchmark `prefkit generate` and `prefkit judge` against LLaMA-Factory's API on this machine (CPU): requests/s
with 1 and 4 requests in flight, the tiny Qwen2 model (.cache/tiny-qwen2, built by the tests) as policy and as
judge, plus the scripted judges' consistency figures (tests/helpers/fake_openai.py).

    .venv/bin/python bench/create.py [--prompts 24] [--n 4] [--max-tokens 32]

Prints a table and writes bench/out/create.json. The tiny model's answers are noise: the figures measure the
path (HTTP, the API's queue, prefkit's client), not a model's quality.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def main() -> None:
    from helpers.fake_openai import Script, always_a, prefers_longer, scripted_server
    from prefkit.create.generate import generate
    from prefkit.create.judge import judge
    from prefkit.serving.serve import serving
    from prefkit.handoff.train_config import dump_yaml

    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    model = os.path.join(ROOT, ".cache", "tiny-qwen2")
    if not os.path.exists(os.path.join(model, "config.json")):
        raise SystemExit("build the tiny model first (make test, or the demo)")
    os.environ.update(HF_HUB_OFFLINE="1", DISABLE_VERSION_CHECK="1", TOKENIZERS_PARALLELISM="false")
    work = tempfile.mkdtemp(prefix="prefkit-bench-create-")
    with open(os.path.join(ROOT, "tests", "fixtures", "dpo_en_demo.sample.json"), encoding="utf-8") as f:
        rows = json.load(f)
    prompts = os.path.join(work, "prompts.jsonl")
    with open(prompts, "w", encoding="utf-8") as f:
        for i in range(args.prompts):
            question = rows[i % len(rows)]["conversations"][-1]["value"][:300]
            f.write(json.dumps({"prompt": f"({i}) {question}"}) + "\n")
    infer = os.path.join(work, "infer.yaml")
    dump_yaml({"model_name_or_path": model, "template": "qwen", "infer_backend": "huggingface"}, infer)
    results = []
    with serving(infer) as server:
        for concurrency in (1, 4):
            out = os.path.join(work, f"cands{concurrency}.jsonl")
            g = generate(prompts, out, base_url=server.base_url, model=server.model, n=args.n,
                         max_tokens=args.max_tokens, concurrency=concurrency)
            results.append({"what": "generate", "concurrency": concurrency, "requests": g.usage["requests_sent"],
                            "seconds": g.seconds, "requests_per_s": g.requests_per_s,
                            "completion_tokens": g.usage["completion_tokens"]})
            j = judge(out, os.path.join(work, f"judged{concurrency}.jsonl"), judge_url=server.base_url,
                      judge_model=server.model, max_tokens=16, concurrency=concurrency)
            results.append({"what": "judge (tiny model)", "concurrency": concurrency,
                            "requests": j.usage["requests_sent"], "seconds": j.seconds,
                            "requests_per_s": j.requests_per_s, "verdicts": j.verdicts})
    for name, reply in (("always A", always_a), ("prefers longer", prefers_longer)):
        with scripted_server(Script(reply)) as url:
            j = judge(os.path.join(work, "cands4.jsonl"), os.path.join(work, "scripted.jsonl"), judge_url=url,
                      judge_model=name, concurrency=4)
        results.append({"what": f"judge (scripted: {name})", "concurrency": 4, "requests": j.usage["requests_sent"],
                         "seconds": j.seconds, "requests_per_s": j.requests_per_s, "verdicts": j.verdicts,
                         "consistent_share": j.consistent_share, "position_bias": j.position_bias})
    print(f"{'what':30} {'conc':>4} {'requests':>8} {'s':>7} {'req/s':>7}  verdicts / consistency")
    for r in results:
        extra = f"{r.get('verdicts', '')} {r.get('consistent_share', '')} {r.get('position_bias', '')}".strip()
        print(f"{r['what']:30} {r['concurrency']:>4} {r['requests']:>8} {r['seconds']:>7} "
              f"{r['requests_per_s'] or 0:>7}  {extra}")
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "create.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
