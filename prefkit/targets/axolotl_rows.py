"""axolotl's dataset ``type``s (``prompt_strategies/dpo`` and ``kto`` of 0.19.0): each turns a row into the plain
texts axolotl measures and hands to TRL (``prompt``, ``chosen``, ``rejected``; KTO: ``prompt``, ``completion``).

``chatml.intel`` (DPO and KTO): ``system``, ``question`` and the answers, wrapped in ChatML by hand.
``chatml.prompt_pairs`` (DPO and KTO): the same with ``prompt`` for ``question``.
``chat_template.default`` (DPO): ``messages`` rendered with the tokenizer's chat template and the generation prompt;
each answer rendered after a dummy user turn, from where its content starts, right-stripped.
"""

from __future__ import annotations

from typing import Any

DPO_TYPES = ("chat_template.default", "chatml.intel", "chatml.prompt_pairs")
KTO_TYPES = ("chatml.intel", "chatml.prompt_pairs")
QUESTION = {"chatml.intel": "question", "chatml.prompt_pairs": "prompt"}
DUMMY = {"role": "user", "content": "[[dummy_message]]"}


def chatml_prompt(system: Any, question: Any) -> str:
    head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
    return f"{head}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def needed(kind: str, kto: bool) -> tuple[str, ...]:
    """The columns a type reads."""
    if kind == "chat_template.default":
        return ("messages", "chosen", "rejected")
    return (QUESTION[kind], "completion") if kto else (QUESTION[kind], "chosen", "rejected")


def message(value: Any) -> dict[str, Any]:
    """chat_template.default's answer: a string, a message, or a list whose last message is the answer."""
    chosen = {"role": "assistant", "content": value} if isinstance(value, str) else \
        value if isinstance(value, dict) else value[-1]
    return {"role": chosen["role"], "content": chosen["content"]}


def transform(row: dict[str, Any], kind: str, kto: bool, tokenizer: Any = None) -> dict[str, Any]:
    """The texts axolotl's transform gives for one row."""
    if kind != "chat_template.default":
        out = {"prompt": chatml_prompt(row.get("system"), row[QUESTION[kind]])}
        answers = ("completion",) if kto else ("chosen", "rejected")
        return {**row, **out, **{k: f"{row[k]}<|im_end|>" for k in answers}}
    messages = row["messages"]
    messages = [{"role": "user", "content": messages}] if isinstance(messages, str) else \
        [{"role": m["role"], "content": m["content"]} for m in messages]
    render = tokenizer.apply_chat_template
    out = {"prompt": render(messages, add_generation_prompt=True, tokenize=False)}
    for side in ("chosen", "rejected"):
        answer = message(row[side])
        text = render([DUMMY, answer], add_generation_prompt=False, tokenize=False)
        out[side] = text[text.find(answer["content"]):].rstrip()
    return out
