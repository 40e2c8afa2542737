"""Faults found by probing the CLI with odd values: each bad value is one record's finding or one clear line with
the right exit code, never a traceback or an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rich.markup
import typer.main

from conftest import fixture, write_jsonl
from prefkit import validate
from prefkit.checks.acceptance import Aligned, Attr, LoaderFailure, align
from prefkit.cli import app
from prefkit.create.prompts import messages_of, prompt_of, read_prompts
from prefkit.create.verdicts import parse_score
from prefkit.errors import InputError, UsageError
from prefkit.io.sources import iter_rows
from prefkit.label.connection import check_dataset_name
from prefkit.targets.base import Parsed, RowCheck, attempt_lengths
from prefkit.targets.tokens import refuse_remote_code, remote_code

OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"}


def _pair(messages=None, chosen_role="assistant"):
    return {"messages": messages or [{"role": "user", "content": "Q?"}],
            "chosen": {"role": chosen_role, "content": "good"}, "rejected": {"role": "assistant", "content": "bad"}}


def _registered(tmp_path: Path, rows: list, formatting: str) -> str:
    write_jsonl(tmp_path / "pairs.jsonl", rows)
    entry = {"file_name": "pairs.jsonl", "formatting": formatting, "ranking": True, "tags": OPENAI_TAGS,
             "columns": {"messages": "messages", "chosen": "chosen", "rejected": "rejected"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps({"pairs": entry}))
    return str(tmp_path)


def _errors(report) -> set[tuple[str, int | None, str]]:
    return {(f.code, f.index, f.path) for f in report.findings.by_level("error")}


# 1. score-mode judge replies


@pytest.mark.parametrize("reply, score", [
    ("Good. Rating: [[8]]", 8.0),
    ("Rating: [[8]]. Once more: Rating: [[8]]", 8.0),  # the same marker repeated
    ("[[7]] or [[7.0]]", 7.0),  # the same value
    ("First [[3]], on reflection [[8]]", None),  # two different ratings: unparsed, not the last one
    ("[[0]]", None),
    ("no marker", None),
])
def test_a_reply_with_two_different_ratings_is_unparsed(reply, score):
    assert parse_score(reply) == score


# 2. a prompt message whose role is not text


@pytest.mark.parametrize("role", [["user"], {"name": "user"}, 3, True])
def test_a_role_that_is_not_text_is_a_bad_prompt(tmp_path, role):
    bad = {"role": role, "content": "Q?"}
    assert prompt_of({"messages": [bad]}) == "bad_prompt"
    assert prompt_of({"prompt": [bad]}) == "bad_prompt"
    assert messages_of({"prompt": [bad]}) is None  # judge.read_candidates' call: a counted skip, no TypeError
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": [bad]}, {"prompt": "Hi"}, {"messages": [bad]},
                                                     {"other": 1}])
    found = list(read_prompts(path))
    assert found[0] == (0, "bad_prompt") and found[2] == (2, "bad_prompt") and found[3] == (3, "no_prompt")
    assert found[1].messages == [{"role": "user", "content": "Hi"}]


def test_an_empty_prompt_is_no_prompt():
    assert prompt_of({"messages": [{"role": "system", "content": ""}]}) == "no_prompt"
    assert prompt_of({"messages": [{"role": "assistant", "content": "A"}]}) == "no_prompt"
    assert prompt_of("not a row") == "no_prompt"


# 3. validate of the OpenAI role/content layout: odd message fields are findings of their record


@pytest.mark.parametrize("formatting", ["sharegpt", "openai"])
def test_odd_message_fields_are_findings_and_the_run_goes_on(tmp_path, formatting):
    rows = [
        _pair(),                                                                        # 0 clean
        _pair([{"role": ["user"], "content": "Q?"}]),                                    # 1 a role that is a list
        _pair(chosen_role=["assistant"]),                                               # 2 an answer's role: a list
        _pair(chosen_role={"x": 1}),                                                    # 3 ... an object
        _pair([{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]},
               {"role": "tool", "content": "42"}]),                                     # 4 a tool call, no function
        _pair([{"role": "system", "content": 5}, {"role": "user", "content": "Q?"}]),  # 5 a system that is a number
        _pair([{"role": "user", "content": "Another?"}]),                               # 6 clean
    ]
    dataset_dir = _registered(tmp_path, rows, formatting)
    report = validate("pairs", dataset_dir)  # no exception: every record was checked
    assert report.records == 7
    found = _errors(report)
    assert not {code for code, _, _ in found} & {"unexpected_value", "too_deep"}
    assert ("breaks_loader", 2, "chosen.role") in found and ("breaks_loader", 3, "chosen.role") in found
    if formatting == "openai":  # the openai converter looks every role up, reads tool calls, appends to the system
        assert {("breaks_loader", 1, "messages[0].role"), ("breaks_loader", 4, "messages[1].tool_calls"),
                ("breaks_loader", 5, "messages[0].content")} <= found
    else:  # sharegpt compares the role with its tags: out of order; tool_calls are not read
        assert ("bad_role_order", 1, "messages[0].role") in found
        assert not [f for f in found if f[1] == 4 and f[0] != "schema"]
    assert not [f for f in found if f[1] in (0, 6) and f[0] != "registry"]


def test_align_raises_only_loader_failures_for_odd_roles():
    attr = Attr.from_entry({"formatting": "openai", "ranking": True, "tags": OPENAI_TAGS,
                            "columns": {"messages": "messages", "chosen": "chosen", "rejected": "rejected"}})
    for row in (_pair([{"role": ["user"], "content": "Q?"}]), _pair(chosen_role=["assistant"]),
                _pair([{"role": "user", "content": "Q?"}, {"role": "assistant", "tool_calls": "call"}])):
        with pytest.raises(LoaderFailure, match="role|tool call"):
            align(row, attr)
    assert align(_pair(), attr).drop is None


def test_validate_cli_reports_odd_roles_as_findings(tmp_path, cli):
    dataset_dir = _registered(tmp_path, [_pair(), _pair(chosen_role=["assistant"])], "openai")
    result = cli("validate", "pairs", "--dataset-dir", dataset_dir, "--report-json", tmp_path / "r.json")
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    errors = json.loads((tmp_path / "r.json").read_text())["errors"]
    assert {(e["code"], e["index"]) for e in errors} >= {("breaks_loader", 1)}


class _Counted:
    """A stand-in for a row's lengths: its prompt turns, nothing dropped."""

    drop = None

    def __init__(self, prompt: int) -> None:
        self.prompt = prompt

    def problems(self) -> list:
        return []


def _measure(rows: list[Aligned]) -> list[_Counted]:
    """A stand-in for TokenCounter.measure: LLaMA-Factory's formatter raises on a content that is not text."""
    for row in rows:
        if not all(isinstance(m["content"], str) for m in row.prompt + row.response):
            raise RuntimeError(f"Expected a string, got {row.prompt[-1]['content']!r}")
    return [_Counted(len(row.prompt)) for row in rows]


def test_a_row_the_template_raises_on_is_isolated_from_its_block():
    good = Aligned([{"role": "user", "content": "Q"}], [{"role": "assistant", "content": "A"}] * 2, "", "")
    bad = Aligned([{"role": "user", "content": 5}], good.response, "", "")
    kept = [RowCheck(i, Parsed(row, row)) for i, row in enumerate((good, bad, good))]
    attempt_lengths(_measure, kept)
    assert [r.lengths and r.lengths.prompt for r in kept] == [1, None, 1]
    assert [(f.code, f.index) for r in kept for f in r.findings] == [("breaks_loader", 1)]
    assert kept[1].outcome == "breaks_loader"


def test_token_lengths_of_a_row_with_a_number_for_text(tmp_path, qwen_tokenizer):
    rows = [_pair(), _pair([{"role": "system", "content": 5}, {"role": "user", "content": "Q?"}]),
            {**_pair(), "chosen": {"role": "assistant", "content": 7}}, _pair([{"role": "user", "content": "R?"}])]
    report = validate(write_jsonl(tmp_path / "p.jsonl", rows), model=qwen_tokenizer, template="qwen", cutoff_len=64)
    assert {("breaks_loader", 1), ("breaks_loader", 2)} <= {(f.code, f.index) for f in report.findings.items}
    assert report.tokens is not None and report.tokens["pairs"] == 2


# 4. too deep nesting


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_a_record_nested_too_deep_is_too_deep(tmp_path, layout):
    good = _pair()
    deep = "[" * 100000 + "]" * 100000
    path = tmp_path / f"deep.{layout}"
    if layout == "jsonl":
        path.write_text(json.dumps(good) + "\n" + deep + "\n")
    else:
        path.write_text("[" + json.dumps(good) + "," + deep + "]")
    report = validate(str(path), layout="sharegpt")
    assert report.records == 2
    assert ("too_deep", 1, "") in _errors(report) and not [f for f in report.findings.items if f.code == "invalid_json"]
    assert report.would_drop == [{"index": 1, "code": "too_deep", "path": "", "message": "unreadable"}]


# 5. a Parquet file with a corrupt data page


def _corrupt_parquet(tmp_path: Path) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"instruction": f"question {i} " + "x" * 40, "chosen": f"good {i}", "rejected": f"bad {i}"}
            for i in range(300)]
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100, compression="NONE", use_dictionary=False)
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)  # row group 1's instructions
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 64] = b"\xff" * 64  # garbles the length prefixes of its strings
    path.write_bytes(bytes(data))
    return path


def test_a_corrupt_parquet_page_names_the_file_and_the_row_group(tmp_path, cli):
    path = _corrupt_parquet(tmp_path)
    with pytest.raises(InputError, match=r"pairs\.parquet: row group 1 of 3 \(records 100-199\) cannot be read"):
        sum(1 for _ in iter_rows(str(path)))
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert f"{path}: row group 1 of 3" in result.output and "internal error" not in result.output


# 6. hf:// in validate


def test_validate_of_an_hf_dataset_says_to_convert_it_first(cli):
    result = cli("validate", "hf://datasets/org/name")
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "hf:// is an input of prefkit convert" in line and "no such file" not in line
    with pytest.raises(UsageError, match="convert it to a file first"):
        validate("hf://datasets/org/name", dataset_dir="/nonexistent")


# 7. auto_map in a model folder's processor configs


@pytest.mark.parametrize("name", ["processor_config.json", "preprocessor_config.json"])
def test_remote_code_in_a_processor_config_is_refused(tmp_path, name):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    (tmp_path / name).write_text(json.dumps({"auto_map": {"AutoProcessor": "processing_x.XProcessor"}}))
    assert remote_code(str(tmp_path)) == f"{name} (AutoProcessor)"
    with pytest.raises(UsageError, match=f"auto_map in {name} \\(AutoProcessor\\).*--trust-remote-code"):
        refuse_remote_code(str(tmp_path), trust_remote_code=False)
    refuse_remote_code(str(tmp_path), trust_remote_code=True)
    assert remote_code(str(tmp_path), tokenizer_only=True) is None  # AutoTokenizer reads neither processor file


# 8. help texts with square brackets


def _help_texts():
    def walk(command):
        yield command.help or ""
        for param in getattr(command, "params", []):
            yield getattr(param, "help", None) or ""
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    return list(walk(typer.main.get_command(app)))


def test_help_shows_square_brackets(cli):
    result = cli("convert", "--help")
    assert result.exit_code == 0
    assert "prefkit[scale]" in result.output and "NAME[@REVISION]" in result.output
    lost = [text for text in _help_texts() if rich.markup.render(text).plain != text.replace("\\[", "[")]
    assert not lost  # every help text shows all its brackets: one that rich reads as a tag is written "\\["


# 9. Argilla dataset names and an empty --register


@pytest.mark.parametrize("name", ["../escape", "a,b", "", "-x", "a b"])
def test_a_bad_argilla_dataset_name_is_refused_before_anything(tmp_path, cli, name):
    with pytest.raises(UsageError, match="--dataset: dataset name"):
        check_dataset_name(name)
    (tmp_path / "in").mkdir()
    source = write_jsonl(tmp_path / "in" / "pairs.jsonl", [{"prompt": "Q", "chosen": "a", "rejected": "b"}])
    server = ("--api-url", "http://127.0.0.1:9", "--api-key", "k")  # nothing listens there
    for args in (("label", "push", source, "--dataset", name), ("label", "status", "--dataset", name),
                 ("label", "pull", "--dataset", name, "-o", tmp_path / "out.jsonl")):
        result = cli(*args, *server)
        assert result.exit_code == 2 and "--dataset: dataset name" in result.output, result.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["in", "pairs.jsonl"]  # no rejects file anywhere


def test_an_empty_register_name_is_a_usage_error(tmp_path, cli):
    (tmp_path / "data").mkdir()
    result = cli("convert", fixture("dpo_en_demo.sample.json"), "-o", tmp_path / "data" / "out.json",
                 "--register", "", "--dataset-dir", tmp_path / "data")
    assert result.exit_code == 2 and "dataset name '' is empty" in result.output, result.output
    assert not list((tmp_path / "data").iterdir())
    result = cli("label", "pull", "--dataset", "ok", "-o", tmp_path / "data" / "pulled.json", "--register", "",
                 "--dataset-dir", tmp_path / "data", "--api-url", "http://127.0.0.1:9", "--api-key", "k")
    assert result.exit_code == 2 and "dataset name '' is empty" in result.output, result.output
    assert not [p for p in (tmp_path / "data").iterdir() if not p.name.endswith(".lock")]
