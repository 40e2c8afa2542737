"""``--from ratings``: a prompt with several completions, each with a score (UltraFeedback-like).

Accepted shapes (field names can be changed with ``--map``):

- ``{"prompt": "...", "completions": [{"response": "...", "score": 8.5}, ...]}``: the prompt may also
  be ``instruction`` or ``question``, or a list of role/content messages; each completion's text is
  ``response`` / ``text`` / ``output`` / ``content``, its score ``score`` / ``overall_score`` / ``rating``;
- ``{"prompt": "...", "responses": ["...", ...], "scores": [8.5, ...]}``: parallel lists.

Pairs are made by ``--pairing`` (see prefkit.readers.pairing). A completion with no numeric score is left out
and counted (``unscored_completion``); a prompt whose distinct answers all have the same score is rejected as
``tie`` (as the pairwise reader rejects equal ``score_a``/``score_b``), one left with no pair otherwise
(``no_pairs``). An ``images`` / ``image`` column (paths relative to the input file's folder) gives the prompt's
images, as do ``image_url`` parts of prompt messages. ``--to kto`` is not offered: scores have no absolute
desirable/undesirable line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..io.sources import Row
from ..records import Message, Note, PreferencePair
from . import pairing
from .base import Item, ReadOptions, RowProblem, assistant, get, image_paths, number, per_row, provenance, text, user
from .image_parts import merged
from .sharegpt import OPENAI_TAGS, read_messages, user_images
from .spec import ReaderSpec

TEXT_KEYS = ("response", "text", "output", "content", "completion")
SCORE_KEYS = ("score", "overall_score", "rating", "reward")


def prompt_messages(value: Any, field: str, row: Row, options: ReadOptions) -> tuple[str, list[Message], list[str]]:
    """(system, messages, images) from a prompt string or a list of role/content messages; a ``system`` column of
    ``row`` is the system prompt when the messages have none. The images are the ``images`` / ``image`` column's,
    or those the user messages' image parts name (with ``<image>`` placeholders where the parts were)."""
    system, messages, inline = "", None, []
    if isinstance(value, list):
        value, inline = user_images(value, OPENAI_TAGS, field)
        system, messages = read_messages(value, OPENAI_TAGS, field)
    column = get(row, options, "system", required=False)
    if column is not None and not system:
        system = text(column, "system")
    images = merged(image_paths(get(row, options, "images", "images", "image", required=False), "images"), inline)
    return system or "", messages if messages is not None else [user(text(value, field))], images


def _score(value: Any, where: str) -> float | None:
    """A number, or a numeric string (CSV cells); None when unscored. NaN and infinities are refused."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return number(value, where)


def candidates(row: Row, options: ReadOptions) -> list[tuple[str, float | None]]:
    completions = get(row, options, "completions", "completions", required=False)
    if completions is not None:
        if not isinstance(completions, list):
            raise RowProblem("bad_type", "completions: expected a list")
        text_key, score_key = options.mapping.get("response"), options.mapping.get("score")
        out = []
        for i, c in enumerate(completions):
            if not isinstance(c, dict):
                raise RowProblem("bad_type", f"completions[{i}]: expected an object")
            tk = text_key or next((k for k in TEXT_KEYS if k in c), None)
            if tk is None or tk not in c:
                raise RowProblem("missing_field", f"completions[{i}]: no text field ({'/'.join(TEXT_KEYS)})")
            sk = score_key or next((k for k in SCORE_KEYS if k in c), None)
            out.append((text(c[tk], f"completions[{i}].{tk}"), _score(c.get(sk), f"completions[{i}].{sk}") if sk else None))
        return out
    responses = get(row, options, "responses", "responses", "answers")
    scores = get(row, options, "scores", "scores", "ratings")
    if not isinstance(responses, list) or not isinstance(scores, list):
        raise RowProblem("bad_type", "responses and scores must be lists")
    if len(responses) != len(scores):
        raise RowProblem("bad_type", f"{len(responses)} responses but {len(scores)} scores")
    return [(text(r, f"responses[{i}]"), _score(s, f"scores[{i}]")) for i, (r, s) in enumerate(zip(responses, scores))]


def _convert(row: Row, options: ReadOptions) -> Iterator[Item]:
    if options.kto:
        raise RowProblem("no_kto_signal", "ratings have no desirable/undesirable label; convert to pairs instead")
    system, prompt, images = prompt_messages(get(row, options, "prompt", "prompt", "instruction", "question"),
                                             "prompt", row, options)
    scored = candidates(row, options)
    unscored = sum(1 for _, s in scored if s is None)
    made = pairing.pairs([(t, s) for t, s in scored if s is not None], options.pairing, options.min_margin)
    if not made:
        _refuse_tie([(t, s) for t, s in scored if s is not None])
        raise RowProblem("no_pairs", f"{len(scored)} completion(s), {len(scored) - unscored} scored: "
                                     "no two distinct answers with different scores")
    if unscored:
        yield Note("unscored_completion", unscored)
    score_of = {t: s for t, s in scored if s is not None}
    for good, bad, _ in made:
        yield PreferencePair(system=system, prompt=prompt, chosen=assistant(good), rejected=assistant(bad), images=images,
                             chosen_score=score_of[good], rejected_score=score_of[bad],
                             provenance=provenance(row, "ratings"))


def _refuse_tie(scored: list[tuple[str, float]]) -> None:
    """Two or more distinct answers (blank ones are never candidates), all with one score: a tie."""
    answers = {" ".join(t.split()) for t, _ in scored if t.strip()}
    scores = {s for t, s in scored if t.strip()}
    if len(answers) > 1 and len(scores) == 1:
        raise RowProblem("tie", f"{len(answers)} distinct answers, all with score {scores.pop():g}: a tie, no pair")


read = per_row("ratings", _convert)


def sniff(record: dict[str, Any]) -> bool:
    comps = record.get("completions")
    if isinstance(comps, list) and comps and isinstance(comps[0], dict):
        return any(k in comps[0] for k in SCORE_KEYS)
    return isinstance(record.get("responses"), list) and isinstance(record.get("scores"), list)


SPEC = ReaderSpec(
    "ratings", read, sniff,
    fields=("prompt", "system", "responses", "completions", "scores", "response", "score", "images"),
    needs=(("prompt", ("prompt", "instruction", "question")), ("responses", ("responses", "answers")),
           ("scores", ("scores", "ratings"))),
)
