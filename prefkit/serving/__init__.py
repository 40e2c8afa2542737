"""A model behind LLaMA-Factory's OpenAI-compatible API: ``serve.py`` (``llamafactory-cli api``: start, probe, stop)
and ``image_parts.py`` (a prompt's images as ``image_url`` parts). create (generate, judge) and handoff (eval) both
use it, and it uses neither."""
