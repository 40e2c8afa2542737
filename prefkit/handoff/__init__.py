"""Hand-off to LLaMA-Factory: ``prefkit train`` (training YAML, the llamafactory-cli run, inference YAMLs), ``serve``
(its OpenAI-compatible API, started and stopped cleanly) and ``eval`` (the trained model against its base)."""
