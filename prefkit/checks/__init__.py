"""Row checks of ``prefkit validate`` that no trainer owns: JSON Schemas (files, full and fast), LLaMA-Factory's
acceptance rules as its converter applies them, content checks, and the findings they report."""
