"""Scores from a reward model trained by ``prefkit train --method rm``, served by LLaMA-Factory's API
(``prefkit judge --reward-model-config infer.yaml``).

LLaMA-Factory serves a value-head model when the inference YAML says ``stage: rm`` (prefkit train writes it for
an RM); its ``POST /v1/score/evaluation`` takes ``{"model", "messages": [text, ...]}`` and returns one score per
text: the value head at the last token of ``tokenizer(text, add_special_tokens=False)`` (chat/hf_engine.py
``_get_scores``), the token where the pairwise RM trainer reads a chosen or rejected score (train/rm/trainer.py).

What the model was trained on is the pairwise processor's sequence (data/processor/pairwise.py): the ids of
``template.encode_oneturn(prompt + [answer], system)``, eos appended for ``efficient_eos`` templates, truncated
to the training ``cutoff_len`` by ``infer_seqlen``. So each (prompt, answer) is rendered here with LLaMA-Factory's
own template code (prefkit.targets.tokens, the same that ``prefkit validate`` measures pairs with) into those ids,
and the text sent is their decoding, checked to tokenize back to exactly the same ids. Where it does not (an
answer that starts with a newline, which BPE merges with the template's own newline; a cut that splits a
character), the score is still sent and given, and the answer is counted in ``token_mismatch``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PrefkitError, UsageError
from ..serving.serve import TEMPLATE_ARGS
from .client import Chat, RequestFailed, in_parallel

if TYPE_CHECKING:
    from .candidates import Candidates

BATCH = 16  # texts per score request at most (all the answers of one prompt, in chunks)
IN_FLIGHT = 2  # LLaMA-Factory's HF engine scores one request at a time (MAX_CONCURRENT): one queued is enough
TIMEOUT = 600.0  # seconds per score request: a batch of long answers on a CPU
VALUE_HEAD_FILES = ("value_head.safetensors", "value_head.bin")


@dataclass
class Rendered:
    text: str  # what is sent to the score endpoint
    ids: list[int]  # the ids the RM's training would see for this prompt + answer
    truncated: bool  # cut to cutoff_len as the pairwise processor cuts
    exact: bool  # tokenizer(text, add_special_tokens=False) gives exactly ``ids``


class RewardRenderer:
    """(prompt, answer) -> the text whose tokens are the RM's training sequence, for the YAML's model and template."""

    def __init__(self, config: dict[str, Any], trust_remote_code: bool = False, where: str = "the YAML") -> None:
        from dataclasses import fields

        from ..targets.lf import lf_templates
        from ..targets.tokens import load_tokenizer

        model, template = config.get("model_name_or_path"), config.get("template")
        if not model or not template:
            raise UsageError(f"{where}: needs model_name_or_path and template (the RM's training template)")
        cutoff = config.get("cutoff_len")
        if cutoff is not None and (not isinstance(cutoff, int) or isinstance(cutoff, bool) or cutoff < 1):
            raise UsageError(f"{where}: cutoff_len {cutoff!r}: give a number of tokens")
        self.cutoff_len: int | None = cutoff
        lf = lf_templates()
        if template not in lf.templates:
            raise UsageError(f"{where}: LLaMA-Factory has no template {template!r}")
        # as LLaMA-Factory's server does: the tokenizer of model_name_or_path, fixed by the template and its arguments
        known = {f.name for f in fields(lf.data_arguments)}
        extra = {k: config[k] for k in TEMPLATE_ARGS if k in config and k in known}
        self.tokenizer = load_tokenizer(str(model), trust_remote_code)
        self.template = lf.get_template_and_fix_tokenizer(self.tokenizer, lf.data_arguments(
            template=str(template), cutoff_len=cutoff or 1 << 30, **extra))

    def ids(self, prompt: list[dict[str, str]], answer: str) -> tuple[list[int], list[int]]:
        """Prompt and answer ids as LLaMA-Factory's pairwise processor builds the chosen sequence (before truncation)."""
        system = prompt[0]["content"] if prompt and prompt[0]["role"] == "system" else None
        turns = [{"role": m["role"], "content": m["content"]} for m in prompt if m["role"] != "system"]
        prompt_ids, answer_ids = self.template.encode_oneturn(self.tokenizer, turns + [
            {"role": "assistant", "content": answer}], system, None)
        if self.template.efficient_eos:
            answer_ids = answer_ids + [self.tokenizer.eos_token_id]
        return list(prompt_ids), list(answer_ids)

    def render(self, prompt: list[dict[str, str]], answer: str) -> Rendered:
        from ..targets.lf import infer_seqlen

        prompt_ids, answer_ids = self.ids(prompt, answer)
        truncated = False
        if self.cutoff_len is not None:  # one answer: the pair's "max(chosen, rejected)" is this answer
            source, target = infer_seqlen(len(prompt_ids), len(answer_ids), self.cutoff_len)
            truncated = (source, target) != (len(prompt_ids), len(answer_ids))
            prompt_ids, answer_ids = prompt_ids[:source], answer_ids[:target]
        ids = prompt_ids + answer_ids
        text = self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        exact = self.tokenizer(text, add_special_tokens=False)["input_ids"] == ids
        return Rendered(text, ids, truncated, exact)


def check_reward_config(config: dict[str, Any], config_path: str) -> None:
    """An RM's inference YAML: ``stage: rm`` (else LLaMA-Factory serves a chat model without a value head and
    refuses to score) and, for a local folder, the trained value head (else LLaMA-Factory scores with a random one)."""
    if config.get("stage") != "rm":
        raise UsageError(f"{config_path}: not a reward model's inference YAML (stage: {config.get('stage', 'absent')}); "
                         "LLaMA-Factory scores only with stage: rm. prefkit train --method rm writes such an infer.yaml; "
                         "for your own YAML add 'stage: rm'")
    adapters = config.get("adapter_name_or_path")
    head = str(adapters).split(",")[-1].strip() if adapters else str(config.get("model_name_or_path") or "")
    if os.path.isdir(head) and not any(os.path.isfile(os.path.join(head, f)) for f in VALUE_HEAD_FILES):
        raise UsageError(f"{config_path}: {head} has no value head ({' or '.join(VALUE_HEAD_FILES)}); LLaMA-Factory "
                         "would score with an untrained one. Point the YAML at the output of prefkit train --method rm")


def score_with_reward_model(config_path: str, rows: list[Candidates], trust_remote_code: bool = False
                            ) -> tuple[list[list[float | None | Exception]], dict[str, Any], str]:
    """Serve ``config_path`` (an RM's infer.yaml) and score every answer of ``rows``: one list per row, in the row's
    response order (a float, None for a non-finite score, or the RequestFailed of a request that failed for good);
    the usage ({"requests_sent", ..., "answers", "truncated", "token_mismatch"}); the model's name."""
    from ..serving.serve import read_config, serving

    if not os.path.isfile(config_path):
        raise UsageError(f"{config_path}: no such file")
    config = read_config(config_path)
    check_reward_config(config, config_path)
    renderer = RewardRenderer(config, trust_remote_code, config_path)
    rendered = [[renderer.render(r.prompt, answer) for answer in r.responses] for r in rows]
    work = [(i, start) for i, r in enumerate(rendered) for start in range(0, len(r), BATCH)]
    results: list[list[float | None | Exception]] = [[None] * len(r) for r in rendered]
    with serving(config_path, trust_remote_code=trust_remote_code) as server:
        chat = Chat(server.base_url, server.model, server.api_key, timeout=TIMEOUT)

        def score(item: tuple[int, int]) -> list[float | None]:
            i, start = item
            texts = [x.text for x in rendered[i][start:start + BATCH]]
            body = {"model": server.model, "messages": texts}
            reply = chat.call(lambda: chat.client.post("/score/evaluation", cast_to=object, body=body))
            scores = reply.get("scores") if isinstance(reply, dict) else None
            if not isinstance(scores, list) or len(scores) != len(texts):
                chat.usage.count("failed", "bad_response")
                raise RequestFailed("bad_response", f"expected {len(texts)} scores, got {str(reply)[:200]}")
            return [float(s) if isinstance(s, (int, float)) and math.isfinite(s) else None for s in scores]

        for (i, start), got in in_parallel(score, work, IN_FLIGHT):
            if isinstance(got, Exception) and not isinstance(got, RequestFailed):
                raise PrefkitError(f"scoring with {config_path} failed: {type(got).__name__}: {got}") from got
            for k in range(start, min(start + BATCH, len(rendered[i]))):
                results[i][k] = got if isinstance(got, Exception) else got[k - start]
    usage = {**chat.usage.to_json(), "answers": sum(map(len, rendered)),
             "truncated": sum(x.truncated for r in rendered for x in r),
             "token_mismatch": sum(not x.exact for r in rendered for x in r)}
    return results, usage, server.model
