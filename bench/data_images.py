"""Benchmark: peak RSS of `prefkit convert` on records that carry large `data:` URL images.

    .venv/bin/python bench/data_images.py [--counts 1,4,12,24] [--mb 20]

Builds (in bench/out/) a JSONL file per count, each record one distinct image of --mb MB (random bytes behind a PNG
signature) as a base64 `data:` URL, then converts each in a fresh process (`prefkit convert F -o OUT.jsonl -q`) and
prints the peak RSS (ru_maxrss of the child). Each image is written to `<stem>_images/` as soon as it is decoded, so
the peak should not grow with the count. glibc's adaptive mmap threshold can make freed 20 MB blocks linger as heap;
the second column (MALLOC_MMAP_THRESHOLD_=1 MiB) shows the figures without that allocator effect.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out", "data_images")
PREFKIT = [sys.executable, "-c", "from prefkit.cli import main; main()"]


def build(count: int, mb: int) -> str:
    path = os.path.join(OUT, f"images_{count}x{mb}mb.jsonl")
    if not os.path.exists(path):
        with open(path, "w") as f:
            for i in range(count):
                data = b"\x89PNG\r\n\x1a\n" + os.urandom(mb << 20)
                row = {"conversations": [{"from": "human", "value": f"<image>Question {i}?"}],
                       "chosen": {"from": "gpt", "value": "a"}, "rejected": {"from": "gpt", "value": "b"},
                       "images": ["data:image/png;base64," + base64.b64encode(data).decode()]}
                f.write(json.dumps(row) + "\n")
    return path


def peak_mb(source: str, env: dict[str, str]) -> float:
    """The peak RSS (MB) of one convert process, from its own rusage (os.wait4)."""
    out = os.path.join(OUT, "out.jsonl")
    shutil.rmtree(os.path.join(OUT, "out_images"), ignore_errors=True)
    child = subprocess.Popen([*PREFKIT, "convert", source, "-o", out, "-q"], env={**os.environ, **env})
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"convert {source} exited {child.returncode}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1,4,12,24")
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    results = []
    for count in sorted(int(c) for c in args.counts.split(",")):
        source = build(count, args.mb)
        default, fixed = peak_mb(source, {}), peak_mb(source, {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)})
        results.append({"records": count, "image_mb": args.mb, "peak_rss_mb": round(default),
                        "peak_rss_mb_fixed_mmap_threshold": round(fixed)})
        print(f"{count:>4} records x {args.mb} MB: peak RSS {default:,.0f} MB ({fixed:,.0f} MB with a fixed mmap "
              "threshold)")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
