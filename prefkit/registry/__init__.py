"""LLaMA-Factory's dataset registry: reading, linting and atomically updating dataset_info.json (and v1's
dataset_info.yaml), and LLaMA-Factory's vocabulary (tags, roles) below readers, checks and writers."""
