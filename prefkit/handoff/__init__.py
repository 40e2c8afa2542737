"""Hand-off to LLaMA-Factory: training YAMLs, the llamafactory-cli runner, inference YAMLs."""
