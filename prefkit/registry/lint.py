"""``prefkit register --check``: lint a whole dataset_info.json, one line per problem.

Checks: the schema (known keys and types: LLaMA-Factory silently ignores unknown ones), that every
``file_name`` exists inside the dataset dir, that mapped columns are present in the file's first
records, that the role/content tags are those the messages use, and that LLaMA-Factory's acceptance
rules keep the first records of a preference (ranking or KTO) dataset.
"""

from __future__ import annotations

import os
from typing import Any

from ..checks.acceptance import Attr, LoaderFailure, align
from ..checks.schema_files import errors as schema_errors
from ..errors import PrefkitError, RegistryError, unexpected
from ..io.sample import readable, sample_rows
from ..vocab import SHAREGPT_TAGS
from .info import get_entry, info_path, load

DEFAULT_TAGS = {tag: SHAREGPT_TAGS[tag] for tag in ("role_tag", "content_tag")}


def check(dataset_dir: str) -> list[str]:
    path = info_path(dataset_dir)
    if not os.path.exists(path):
        return [f"{path}: no such file"]
    info = load(dataset_dir)
    problems = [f"{path}: {name}: {msg}" if name != "(record)" else f"{path}: {msg}"
                for name, msg in schema_errors("dataset_info", info)]
    for name in info:
        try:
            entry = get_entry(dataset_dir, name, info)
        except RegistryError:
            continue  # a malformed entry: the schema problems above name it
        if isinstance(entry.get("file_name"), str):
            problems += [f"{path}: {name}: {p}" for p in _check_file(dataset_dir, entry)]
    return problems


def check_entry(dataset_dir: str, entry: dict[str, Any]) -> list[str]:
    """The problems of one entry: its schema and its file."""
    problems = [f"{where}: {msg}" if where != "(record)" else msg
                for where, msg in schema_errors("dataset_info", {"entry": entry})]
    problems = [p.removeprefix("entry.").removeprefix("entry: ") for p in problems]
    if isinstance(entry.get("file_name"), str):
        problems += _check_file(dataset_dir, entry)
    return problems


def _check_file(dataset_dir: str, entry: dict[str, Any]) -> list[str]:
    file_name = entry["file_name"]
    target = os.path.normpath(os.path.join(dataset_dir, file_name))
    if os.path.relpath(target, dataset_dir).startswith(os.pardir):
        return [f"file_name {file_name!r} points outside the dataset dir"]
    if os.path.isdir(target):
        return []  # a folder of files: LLaMA-Factory loads them all; columns are not sampled
    if not os.path.isfile(target):
        return [f"file_name {file_name!r} does not exist in {dataset_dir}"]
    try:
        records = [r.data for r in readable(sample_rows(target))]
    except PrefkitError as err:
        return [f"file_name {file_name!r}: {err}"]
    if not records:
        return [f"file_name {file_name!r}: no readable records"]
    problems = []
    columns = entry.get("columns") or {}
    if not columns:  # LLaMA-Factory's defaults by formatting
        formatting = entry.get("formatting", "alpaca")
        columns = {"messages": "conversations"} if formatting != "alpaca" else {"prompt": "instruction"}
    for field, column in columns.items():
        if not any(column in r for r in records):
            problems.append(f"column {column!r} (columns.{field}) is not in the first {len(records)} records")
    messages_column = columns.get("messages")
    if entry.get("formatting") in ("sharegpt", "openai") and messages_column:
        tags = {**DEFAULT_TAGS, **(entry.get("tags") or {})}
        first = next((r[messages_column] for r in records if isinstance(r.get(messages_column), list)
                      and r[messages_column]), None)
        if first and isinstance(first[0], dict):
            for tag in ("role_tag", "content_tag"):
                if tags[tag] not in first[0]:
                    problems.append(f"tags.{tag} is {tags[tag]!r} but messages have keys "
                                    f"{', '.join(sorted(first[0]))}")
    return problems + acceptance(entry, records, target)


def acceptance(entry: dict[str, Any], records: list[dict[str, Any]], path: str) -> list[str]:
    """A problem when LLaMA-Factory would drop (or fail on) any of the sampled records of a preference dataset."""
    attr = Attr.from_entry(entry)
    if attr.stage == "none":
        return []  # not a preference dataset: nothing of the pairwise/KTO rules applies
    dropped: list[str] = []
    for i, record in enumerate(records):
        try:
            aligned = align(record, attr)
        except LoaderFailure as failure:
            dropped.append(f"record {i}: {failure.path}: {failure}")
            continue
        except Exception as err:  # a value no rule foresaw: that record's problem, not the command's end
            dropped.append(f"record {i}: {': '.join(unexpected(err))}")
            continue
        if aligned.drop:
            dropped.append(f"record {i}: {aligned.drop}: {aligned.drop_message}")
    if not dropped:
        return []
    share = f"every sampled record ({len(records)})" if len(dropped) == len(records) else \
        f"{len(dropped)} of the first {len(records)} records"
    return [f"LLaMA-Factory would drop {share} of {path} ({dropped[0]}); see every record with: prefkit validate {path}"]
