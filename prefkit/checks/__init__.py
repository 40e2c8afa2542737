"""Checks run by ``prefkit validate``: schema, LLaMA-Factory acceptance, content and exact token lengths."""
