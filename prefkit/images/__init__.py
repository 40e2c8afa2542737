"""Image pairs for LLaMA-Factory v0 datasets: resolving and decoding image files, per-record image checks,
and the exact image token counts of LLaMA-Factory's Qwen2-VL plugin (no torch, no torchvision)."""
