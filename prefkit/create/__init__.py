"""Pairs created with models: the OpenAI-compatible client, generate (answers), judge (verdicts in both
orders, scores), the verdict rules, reward-model scores and the prompts of any input."""
