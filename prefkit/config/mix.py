"""What LLaMA-Factory makes of the rows it reads: ``max_samples`` per dataset (``data/loader.py``), the mix of several
datasets (``merge_dataset`` in ``data/data_utils.py``: concat, or ``datasets.interleave_datasets`` with the training
seed) and the eval split (``split_dataset``: ``train_test_split(test_size=val_size, seed=seed)``).

>>> mix_counts({"a": 5, "b": 3}, "concat", None, 42)
{'a': 5, 'b': 3}
>>> eval_rows(100, 0.1), eval_rows(100, 7), eval_rows(100, 0.0)
(10, 7, 0)
"""

from __future__ import annotations

import sys
from math import ceil
from typing import Any

from ..errors import UsageError

STOPPING = {"interleave_under": "first_exhausted", "interleave_over": "all_exhausted",
            "interleave_once": "all_exhausted_without_replacement"}


def read_rows(rows: int, max_samples: int | None) -> int:
    """The rows of one dataset that LLaMA-Factory reads: the first ``max_samples``."""
    return rows if max_samples is None else min(max_samples, rows)


def mix_counts(sizes: dict[str, int], strategy: str, probs: list[float] | None, seed: int,
               release: str = "0.9.5") -> dict[str, int]:
    """Each dataset's rows in the mix (repeats counted), built by ``datasets.interleave_datasets`` itself on index
    rows, so the seed draws as it does in the run."""
    if len(sizes) == 1 or strategy == "concat":
        return dict(sizes)
    stopping = STOPPING.get(strategy) if release != "0.9.3" else \
        ("first_exhausted" if strategy.endswith("under") else "all_exhausted")  # 0.9.3's rule
    try:
        from datasets import Dataset, interleave_datasets
    except ImportError:
        raise UsageError(f"mix_strategy {strategy}: counting the mix needs the datasets package "
                         "(pip install 'prefkit[hf]')") from None
    halted = "torch" in sys.modules and sys.modules["torch"] is None  # tokenizer-only mode (targets.tokens)
    if halted:  # datasets' fingerprinting imports torch when its name is in sys.modules
        del sys.modules["torch"]
    try:
        parts = [Dataset.from_dict({"d": [i] * n}) for i, n in enumerate(sizes.values())]
        mixed = interleave_datasets(parts, probabilities=probs, seed=seed, stopping_strategy=stopping)  # type: ignore[arg-type]
    except ValueError as err:
        raise UsageError(f"mix_strategy {strategy}: datasets refuses the mix ({err})") from None
    finally:
        if halted:
            sys.modules["torch"] = None  # type: ignore[assignment]
    counts = [0] * len(sizes)
    for d in mixed["d"]:
        counts[d] += 1
    return dict(zip(sizes, counts, strict=True))


def eval_rows(rows: int, val_size: float) -> int:
    """The rows ``val_size`` holds out (a fraction, or a count above 1), as ``train_test_split`` counts them; a
    ValueError with datasets' reason when it refuses."""
    if val_size <= 1e-6:
        return 0
    test: Any = int(val_size) if val_size > 1 else val_size  # LLaMA-Factory's split_dataset
    if isinstance(test, float):
        if not 0 < test < 1:
            raise ValueError(f"test_size={test} should be either positive and smaller than the number of samples "
                             f"{rows} or a float in the (0, 1) range")
        n_test = ceil(test * rows)
    else:
        if not 0 < test < rows:
            raise ValueError(f"test_size={test} should be either positive and smaller than the number of samples "
                             f"{rows} or a float in the (0, 1) range")
        n_test = test
    if rows - n_test <= 0:
        raise ValueError(f"With n_samples={rows}, test_size={test}, the resulting train set will be empty")
    return n_test
