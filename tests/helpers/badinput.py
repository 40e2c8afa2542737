"""A corpus of malformed inputs and path mix-ups, built on the fly (nothing large is committed).

Each case is one command run on files it lays out in a folder: every reader gets one file per kind of
damage (the damage applied at every field path of a valid record, one damaged record each, between two
good ones), in JSON and JSONL; plus broken containers, broken registries and outputs that name inputs.
Each case pins its exit code and its reject reasons (validate: finding codes), derived by rules below from
the kind of damage. ``tests/test_badinput.py`` runs them all and checks those and the promises: no internal
error, no traceback, the accounting balanced, and no input or previous output changed by a failed run.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# One valid record per reader.
VALID: dict[str, dict[str, Any]] = {
    "sharegpt": {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey"},
                                   {"from": "human", "value": "How are you?"}],
                 "chosen": {"from": "gpt", "value": "Fine, thanks."}, "rejected": {"from": "gpt", "value": "Go away."},
                 "system": "Be kind."},
    "alpaca": {"instruction": "Say hi", "input": "politely", "chosen": "Hello!", "rejected": "No.",
               "history": [["q", "a"]], "system": "s"},
    "openai": {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Weather?"},
                            {"role": "assistant", "content": None, "tool_calls": [
                                {"id": "c1", "type": "function",
                                 "function": {"name": "w", "arguments": "{\"city\": \"Paris\"}"}}]},
                            {"role": "tool", "content": "{\"t\": 18}"}],
               "chosen": {"role": "assistant", "content": "18 C."}, "rejected": {"role": "assistant", "content": "?"},
               "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]},
    "hh-rlhf": {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: No."},
    "oasst": {"message_tree_id": "t1", "prompt": {
        "message_id": "m0", "text": "Question?", "role": "prompter", "emojis": {"+1": 2},
        "replies": [{"message_id": "m1", "text": "Good answer", "role": "assistant", "rank": 0, "replies": [
                        {"message_id": "m3", "text": "More?", "role": "prompter", "replies": [
                            {"message_id": "m4", "text": "Yes", "role": "assistant", "rank": 0},
                            {"message_id": "m5", "text": "No", "role": "assistant", "rank": 1}]}]},
                    {"message_id": "m2", "text": "Bad answer", "role": "assistant", "rank": 1, "replies": []}]}},
    "ratings": {"prompt": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital?"}],
                "completions": [{"response": "Tokyo", "score": 9.5}, {"response": "Kyoto", "score": 2},
                                {"response": "Osaka", "score": 4}]},
    "pairwise": {"prompt": "2+2?", "response_a": "4", "response_b": "5", "winner": "model_a",
                 "votes": ["a", "a", "b"]},
    "openai-logs": {"request": {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Oil?"}]},
                    "response": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Weekly."}},
                                             {"index": 1, "message": {"role": "assistant", "content": "Never."}}]},
                    "feedback": {"scores": [9, 3], "thumbs": ["up", "down"], "preferred": 0}},
    "trl": {"prompt": [{"role": "user", "content": "Sky?"}], "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}]},
}

NAN = float("nan")


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# What a damaged value becomes. Raw JSON text for values json.dumps cannot write as such.
DAMAGE: dict[str, Callable[[Any], Any]] = {
    "null": lambda v: None,
    "list_of_list": lambda v: [["x"]],
    "object": lambda v: {"a": {"b": 1}},
    "int": lambda v: 7,
    "bool": lambda v: True,
    "string": lambda v: "text",
    "empty_string": lambda v: "",
    "empty_list": lambda v: [],
    "float_400_digits": lambda v: RawJSON("1" + "0" * 400 + ".5"),
    "int_400_digits": lambda v: RawJSON("9" * 400),
    "int_5000_digits": lambda v: RawJSON("7" * 5000),
    "nan": lambda v: RawJSON("NaN"),
    "infinity": lambda v: RawJSON("-Infinity"),
    "deep_10000": lambda v: RawJSON("[" * 10000 + "]" * 10000),
    "deep_300": lambda v: _deep(300),
    "typed_parts": lambda v: [{"type": "text", "text": "part one "}, {"type": "text", "text": "part two"}]
    if isinstance(v, str) else v,
    "image_part": lambda v: [{"type": "image_url", "image_url": {"url": "x"}}] if isinstance(v, str) else v,
    "control_chars": lambda v: "a\x00b\x1bc" if isinstance(v, str) else v,
    "lone_surrogate": lambda v: "a\ud800" if isinstance(v, str) else v,  # JSON's "\ud800": no Unicode text
    "list_of_strings": lambda v: ["a", "b"],
}


@dataclass(frozen=True)
class RawJSON:
    """JSON text written as is (numbers and constants json.dumps would not write)."""

    text: str


def dumps(value: Any) -> str:
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value inside ``value`` (dict keys and list indices), the root excluded."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def damaged(record: dict[str, Any], path: tuple, damage: Callable[[Any], Any]) -> Any:
    out = copy.deepcopy(record)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = damage(parent[path[-1]])
    return out


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes]  # relative path -> content
    args: list[str]  # CLI arguments; "{dir}" is replaced by the case folder
    outputs: list[str] = field(default_factory=list)  # paths the run may write (all others must not change)
    exit_code: int = 0
    # The reject reasons written (convert, register) or the finding codes printed (validate); None: none.
    reasons: frozenset[str] | None = None
    balanced: str | None = None  # a --report-json path whose accounting must balance
    must_fail: bool = False  # a path mix-up: exit 2 and nothing written
    bug: str | None = None  # a known product bug: exit_code and reasons say what is right, the run differs


def _set(words: str) -> frozenset[str] | None:
    return frozenset(words.split()) or None


# What each damage is expected to give, as a rule: a generic part, a reader-specific part, two known bugs.
# Damages caught while parsing give one reason, whatever the reader and the field.
PARSE_REASON = {"nan": "non_finite_number", "infinity": "non_finite_number", "deep_10000": "too_deep",
                "float_400_digits": "number_out_of_range", "int_5000_digits": "number_out_of_range",
                "lone_surrogate": "invalid_unicode"}
ROLE_READERS = {"sharegpt", "openai", "oasst", "ratings", "openai-logs", "trl"}  # a role tag at some path
CHAT_READERS = ROLE_READERS - {"oasst"}  # lists of role/content message objects
LISTS = {"list_of_list", "deep_300", "image_part", "list_of_strings"}
# Per reader: damages (space-separated; "*" all) -> reasons added, or removed with a leading "-".
SPECIFIC: dict[str, dict[str, str]] = {
    "sharegpt": {"empty_string empty_list": "empty_response", "empty_list": "bad_message_count"},
    "openai": {"empty_string empty_list": "empty_response", "empty_list": "bad_message_count", "null": "empty_prompt",
               "control_chars": "bad_type"},  # messages[2] has content null: a damaged role fails on that first
    "alpaca": {"empty_string": "empty_response"},
    "hh-rlhf": {"string empty_string control_chars": "malformed_transcript", "string empty_string null": "-bad_type"},
    "oasst": {"empty_string empty_list": "no_ranked_replies", "empty_string": "empty_prompt",
              "int_400_digits": "number_out_of_range"},
    "ratings": {"empty_list": "no_pairs", "int_400_digits": "number_out_of_range"},
    "pairwise": {"*": "unknown_verdict", "empty_string null": "-unknown_verdict split_vote",
                 "string empty_string null": "-bad_type", "list_of_strings": "split_vote bad_role_order",
                 "empty_string empty_list": "empty_prompt", "empty_string": "empty_response", "empty_list": "no_verdict",
                 "image_part typed_parts": "missing_field",
                 # a response may be a message object or a list of one: an object or part lacks the message keys
                 "object": "missing_field", "image_part": "-bad_type"},
    "openai-logs": {"*": "missing_field unknown_feedback", "control_chars image_part typed_parts": "-missing_field",
                    "null bool": "-unknown_feedback", "bool": "contradictory_label", "object": "no_feedback",
                    "empty_string": "identical_responses", "int_400_digits": "number_out_of_range"},
    "trl": {"empty_string empty_list": "empty_response", "empty_list list_of_strings": "multi_message_answer",
            "string empty_string typed_parts image_part": "-bad_type", "null": "bad_role_order -missing_field"},
}
# Known bugs (what is pinned is right; the run gives unexpected_value instead): none at present.
BUGS: dict[str, tuple[set[str], str]] = {}


def reader_expect(reader: str, damage: str) -> tuple[int, frozenset[str] | None]:
    """(exit code, reject reasons) of a convert of ``reader`` records damaged by ``damage`` at every path."""
    if reader == "oasst" and damage in ("bool", "null"):
        return 1, None  # --to kto, and VALID's oasst replies have no +1/-1 votes: every row rejected, none written
    if reader == "pairwise" and damage == "int":
        return 2, None  # numeric verdicts (7) need --verdict: a usage error before any row
    if damage in PARSE_REASON:
        return 0, frozenset({PARSE_REASON[damage]})
    reasons = set() if damage == "control_chars" else {"bad_type"}  # control characters keep a string a string
    if reader in ROLE_READERS:
        reasons.add("bad_role")  # any change to a role tag
    if damage == "null" or (damage == "object" and reader in CHAT_READERS):  # an object lacks the message keys
        reasons.add("missing_field")
    if reader in CHAT_READERS:
        if damage in LISTS:
            # a message content of non-text parts; an image part is read as an image in a user turn, refused elsewhere
            reasons.add("image_not_in_user_turn" if damage == "image_part" else "unsupported_content")
        if damage in ("string", "empty_string", "list_of_strings"):
            reasons.add("bad_role_order")  # a bare string in a message list reads as an assistant turn
        if damage in ("empty_string", "empty_list"):
            reasons.add("empty_prompt")
    words = [w for damages, ws in SPECIFIC[reader].items() if damages == "*" or damage in damages.split()
             for w in ws.split()]
    reasons |= {w for w in words if not w.startswith("-")}
    reasons -= {w[1:] for w in words if w.startswith("-")}
    return 0, frozenset(reasons) or None


def _records_file(reader: str, damage_name: str, ext: str) -> str:
    good = VALID[reader]
    rows = [good] + [damaged(good, p, DAMAGE[damage_name]) for p in paths(good)] + [good]
    if ext == "jsonl":
        return "".join(dumps(r) + "\n" for r in rows)
    return "[\n" + ",\n".join(dumps(r) for r in rows) + "\n]\n"


def reader_cases() -> Iterator[Case]:
    for reader in VALID:
        for damage_name in DAMAGE:
            for ext in ("jsonl", "json"):
                name = f"{reader}-{damage_name}.{ext}"
                to = "kto" if damage_name in ("bool", "null") and reader in ("openai-logs", "oasst") else "sharegpt"
                exit_code, reasons = reader_expect(reader, damage_name)
                bug = BUGS[reader][1] if reader in BUGS and damage_name in BUGS[reader][0] else None
                yield Case(f"convert/{name}", {f"in.{ext}": _records_file(reader, damage_name, ext)},
                           ["convert", "{dir}/in." + ext, "--from", reader, "--to", to, "-o", "{dir}/out.jsonl",
                            "--report-json", "{dir}/report.json"],
                           outputs=["out.jsonl", "out.rejects.jsonl", "report.json"], exit_code=exit_code,
                           reasons=reasons, balanced="report.json", bug=bug)


SHAREGPT_ROW = VALID["sharegpt"]
GOOD_JSONL = json.dumps(SHAREGPT_ROW) + "\n"
ENTRY = {"file_name": "d.jsonl", "formatting": "sharegpt", "ranking": True,
         "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "system": "system"}}


# Containers convert refuses as a whole (exit 2); the others give a file with at most one bad row.
UNREADABLE = {"truncated_array.json", "missing_comma.json", "top_level_object.json", "empty.json", "blank.jsonl",
              "utf16.jsonl", "latin1.jsonl", "binary.jsonl", "header_only.csv", "not_parquet.parquet", "unknown.txt"}
BAD_ROW = {"trailing_after_array.json": "trailing_content", "garbage_after_array.json": "trailing_content",
           "nan_in_array.json": "non_finite_number", "nan_in_lines.jsonl": "non_finite_number",
           "deep_in_array.json": "too_deep", "deep_in_lines.jsonl": "too_deep",
           "bigint_in_array.json": "number_out_of_range", "number_rows.jsonl": "not_an_object",
           "unclosed_quote.csv": "unparsable_row", "extra_cells.csv": "unparsable_row"}
# validate's code for a reject reason, where they differ (README: both break LLaMA-Factory's loader).
VALIDATE_CODE = {"trailing_content": "breaks_loader", "not_an_object": "invalid_json"}


def container_cases() -> Iterator[Case]:
    good = dumps(SHAREGPT_ROW)
    files: dict[str, str | bytes] = {
        "trailing_after_array.json": f"[{good}]\n{{\"extra\": 1}}\n",
        "garbage_after_array.json": f"[{good}] trailing words",
        "truncated_array.json": f"[{good}, {good[:40]}",
        "missing_comma.json": f"[{good} {good}]",
        "top_level_object.json": good,
        "empty.json": "",
        "blank.jsonl": "\n\n  \n",
        "bom.jsonl": "\ufeff" + good + "\n" + good + "\n",
        "bom.json": f"\ufeff[{good}]",
        "crlf.jsonl": good + "\r\n" + good + "\r\n",
        "utf16.jsonl": (good + "\n").encode("utf-16"),
        "latin1.jsonl": (good.replace("Hi", "Caf\u00e9") + "\n").encode("latin-1"),
        "binary.jsonl": bytes(range(256)) * 4,
        "nan_in_array.json": f"[{good}, {{\"x\": NaN}}, {good}]",
        "nan_in_lines.jsonl": f"{good}\n{{\"x\": NaN}}\n{good}\n",
        "deep_in_array.json": "[" + good + ", " + "[" * 10000 + "]" * 10000 + ", " + good + "]",
        "deep_in_lines.jsonl": good + "\n" + "[" * 10000 + "]" * 10000 + "\n" + good + "\n",
        "bigint_in_array.json": f"[{good}, {{\"x\": {'9' * 5000}}}, {good}]",
        "number_rows.jsonl": "1\n\"text\"\n[1, 2]\nnull\n" + good + "\n",
        "unclosed_quote.csv": 'prompt,response_a,response_b,winner\n"a,b,c,model_a\nq2,x,y,model_b\nq3,x,y,model_a\n',
        "extra_cells.csv": "prompt,response_a,response_b,winner\nq,x,y,model_a,extra\nq2,x,y,model_b\n",
        "header_only.csv": "prompt,response_a,response_b,winner\n",
        "bom.csv": "\ufeffprompt,response_a,response_b,winner\nq,x,y,model_a\n",
        "not_parquet.parquet": b"PAR1 not really",
        "unknown.txt": "hello",
    }
    for name, content in files.items():
        ext = name.rsplit(".", 1)[1]
        fmt = "pairwise" if ext == "csv" else "auto"
        reason = BAD_ROW.get(name)
        exit_code = 2 if name in UNREADABLE else 0
        yield Case(f"container/{name}", {f"in.{ext}": content},
                   ["convert", "{dir}/in." + ext, "--from", fmt, "-o", "{dir}/out.jsonl", "--report-json",
                    "{dir}/report.json"], outputs=["out.jsonl", "out.rejects.jsonl", "report.json"],
                   exit_code=exit_code, reasons=_set(reason or ""), balanced="report.json")
        # validate reports the bad row under its loader code (an error: exit 1), and two copies of the good
        # row as duplicate_pair (warning) and duplicate_prompt (info). A CSV has no sharegpt conversations.
        codes = {VALIDATE_CODE.get(reason, reason)} if reason else set()
        if isinstance(content, str) and content.count(good) >= 2:
            codes |= {"duplicate_pair", "duplicate_prompt"}
        refused = exit_code or ext == "csv"
        yield Case(f"validate/{name}", {f"in.{ext}": content}, ["validate", "{dir}/in." + ext, "--format", "sharegpt"],
                   exit_code=2 if refused else 1 if reason else 0, reasons=None if refused else frozenset(codes) or None)


def registry_cases() -> Iterator[Case]:
    entries: dict[str, str | bytes] = {
        "entry_string": json.dumps({"d": "d.jsonl"}),
        "columns_list": json.dumps({"d": {**ENTRY, "columns": ["conversations"]}}),
        "tags_list": json.dumps({"d": {**ENTRY, "tags": ["role"]}}),
        "file_name_int": json.dumps({"d": {**ENTRY, "file_name": 3}}),
        "file_name_outside": json.dumps({"d": {**ENTRY, "file_name": "../../etc/passwd"}}),
        "ranking_string": json.dumps({"d": {**ENTRY, "ranking": "yes"}}),
        "top_level_list": json.dumps([ENTRY]),
        "invalid_json": '{"d": {',
        "latin1": json.dumps({"d": {**ENTRY, "description": "caf\u00e9"}}, ensure_ascii=False).encode("latin-1"),
        "utf16": json.dumps({"d": ENTRY}).encode("utf-16"),
        "empty": "",
        "nan": '{"d": {"file_name": "d.jsonl", "num_samples": NaN}}',
    }
    # A registry that cannot be read stops every command (2). A bad entry 'd' stops validate of d (2) except a
    # NaN num_samples, a finding (1); --check reports it (1); adding another entry is not blocked by it (0).
    unreadable = {"top_level_list", "invalid_json", "latin1", "utf16", "empty"}
    for name, info in entries.items():
        files = {"data/dataset_info.json": info, "data/d.jsonl": GOOD_JSONL}
        bad = 2 if name in unreadable else None
        nan = name == "nan"  # d has no formatting: alpaca defaults, not a preference dataset
        yield Case(f"registry/validate-{name}", files, ["validate", "d", "--dataset-dir", "{dir}/data"],
                   exit_code=1 if nan else 2, reasons=_set("registry not_a_preference_dataset not_pairwise") if nan else None)
        yield Case(f"registry/check-{name}", files, ["register", "--check", "--dataset-dir", "{dir}/data"],
                   exit_code=bad or 1)
        yield Case(f"registry/register-{name}", files,
                   ["register", "new", "--file", "{dir}/data/d.jsonl", "--dataset-dir", "{dir}/data"],
                   outputs=["data/dataset_info.json"], exit_code=bad or 0)
        yield Case(f"registry/convert-register-{name}", {**files, "in.jsonl": GOOD_JSONL},
                   ["convert", "{dir}/in.jsonl", "-o", "{dir}/data/new.jsonl", "--register", "new", "--dataset-dir",
                    "{dir}/data"], outputs=["data/new.jsonl", "data/dataset_info.json"], exit_code=bad or 0)


def mixup_cases() -> Iterator[Case]:
    base = {"in.jsonl": GOOD_JSONL * 2, "out.json": "[]\n", "data/dataset_info.json": json.dumps({"d": ENTRY}),
            "data/d.jsonl": GOOD_JSONL}
    convert = ["convert", "{dir}/in.jsonl", "-o", "{dir}/out.json"]
    mixups = {
        "rejects_is_input": convert + ["--rejects", "{dir}/in.jsonl"],
        "report_is_input": convert + ["--report-json", "{dir}/in.jsonl"],
        "rejects_is_output": convert + ["--rejects", "{dir}/out.json"],
        "report_is_output": convert + ["--report-json", "{dir}/out.json"],
        "report_is_rejects": convert + ["--rejects", "{dir}/r.jsonl", "--report-json", "{dir}/r.jsonl"],
        "output_is_registry": ["convert", "{dir}/in.jsonl", "-o", "{dir}/data/dataset_info.json"],
        "output_is_registered_input": ["convert", "{dir}/data/d.jsonl", "-o", "{dir}/data/d.jsonl"],
        "output_through_symlink": convert[:2] + ["-o", "{dir}/link.json"],  # link.json -> in.jsonl
        "register_conflict": ["convert", "{dir}/in.jsonl", "-o", "{dir}/data/d.jsonl", "--register", "d",
                              "--dataset-dir", "{dir}/data"],
        "register_conflict_new_file": ["convert", "{dir}/in.jsonl", "-o", "{dir}/data/other.jsonl", "--register", "d",
                                       "--dataset-dir", "{dir}/data"],
        "validate_report_is_dataset": ["validate", "{dir}/data/d.jsonl", "--report-json", "{dir}/data/d.jsonl"],
        "validate_html_is_dataset": ["validate", "{dir}/data/d.jsonl", "--html", "{dir}/data/d.jsonl"],
        "validate_report_is_registry": ["validate", "d", "--dataset-dir", "{dir}/data", "--report-json",
                                        "{dir}/data/dataset_info.json"],
        "output_dir_missing": ["convert", "{dir}/in.jsonl", "-o", "{dir}/nowhere/out.json"],
        "input_is_dir": ["convert", "{dir}/data", "-o", "{dir}/x.json"],
        "output_is_dir": ["convert", "{dir}/in.jsonl", "-o", "{dir}/data"],
    }
    for name, args in mixups.items():
        yield Case(f"mixup/{name}", dict(base), args, exit_code=2, must_fail=True)
    # A rejects file given as input: its default rejects path is the input itself.
    yield Case("mixup/default_rejects_is_input", {"x.rejects.jsonl": GOOD_JSONL},
               ["convert", "{dir}/x.rejects.jsonl", "-o", "{dir}/x.jsonl"], exit_code=2, must_fail=True)


def all_cases() -> list[Case]:
    return [*reader_cases(), *container_cases(), *registry_cases(), *mixup_cases()]


def lay_out(case: Case, root: Path) -> None:
    for rel, content in case.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
    if case.name == "mixup/output_through_symlink":
        (root / "link.json").symlink_to(root / "in.jsonl")
