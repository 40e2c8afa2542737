"""Read, lint and atomically update a LLaMA-Factory ``dataset_info.json``.

Updates hold a lock file beside it (``.dataset_info.json.lock``) and replace the file with a renamed
temporary copy, so concurrent registrations all land and readers never see a half-written file. Every
other entry and the key order are kept.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/pairs.jsonl", "w").write('{"instruction": "hi", "chosen": "a", "rejected": "b"}\\n')
>>> register("my_pairs", f"{d}/pairs.jsonl", d)["columns"]
{'prompt': 'instruction', 'chosen': 'chosen', 'rejected': 'rejected'}
"""

from __future__ import annotations

import json
import os
import tempfile
from itertools import islice
from typing import Any

from filelock import FileLock, Timeout

from .errors import InputError, RegistryError
from .readers.sharegpt import OPENAI_TAGS
from .sources import iter_rows

DATA_CONFIG = "dataset_info.json"
LOCK_TIMEOUT = 60.0


def info_path(dataset_dir: str) -> str:
    return os.path.join(dataset_dir, DATA_CONFIG)


def load(dataset_dir: str) -> dict[str, Any]:
    """The registry as a dict (empty when the file does not exist yet)."""
    path = info_path(dataset_dir)
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except json.JSONDecodeError as err:
        raise RegistryError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from None
    except OSError as err:
        raise RegistryError(f"{path}: cannot read ({err.strerror})") from None
    if not isinstance(info, dict):
        raise RegistryError(f"{path}: expected a JSON object of dataset entries")
    return info


def _save(dataset_dir: str, info: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".dataset_info.", suffix=".tmp", dir=dataset_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, info_path(dataset_dir))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def relative_file_name(path: str, dataset_dir: str) -> str:
    """``path`` relative to the dataset dir, which LLaMA-Factory joins it to; it must lie inside."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(dataset_dir))
    if rel.startswith(os.pardir):
        raise RegistryError(f"{path}: the file is outside the dataset dir {dataset_dir}; write it inside "
                            "so LLaMA-Factory finds it")
    return rel.replace(os.sep, "/")


def update(dataset_dir: str, name: str, entry: dict[str, Any], force: bool = False) -> str:
    """Add or replace one entry. Returns "added", "unchanged" or "replaced"."""
    if not name or any(c.isspace() for c in name):
        raise RegistryError(f"dataset name {name!r}: use a name without blanks")
    if not os.path.isdir(dataset_dir):
        raise RegistryError(f"{dataset_dir}: the dataset dir does not exist")
    lock = FileLock(os.path.join(dataset_dir, f".{DATA_CONFIG}.lock"), timeout=LOCK_TIMEOUT)
    try:
        with lock:
            info = load(dataset_dir)
            old = info.get(name)
            if old == entry:
                return "unchanged"
            if old is not None and not force:
                raise RegistryError(f"{info_path(dataset_dir)}: a different entry named {name!r} exists; "
                                    "choose another name or pass --force to replace it")
            info[name] = entry
            _save(dataset_dir, info)
            return "added" if old is None else "replaced"
    except Timeout:
        raise RegistryError(f"{info_path(dataset_dir)}: still locked after {LOCK_TIMEOUT:.0f} s by another process") from None


# --- entries for files prefkit did not write --------------------------------------------------------

SAMPLE = 20
# The tags an entry needs for role/content messages (observation/function tags keep their defaults).
ENTRY_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")


def detect_entry(path: str, dataset_dir: str, kind: str | None = None) -> dict[str, Any]:
    """The dataset_info entry for an existing file, from the keys of its first records.

    ``kind`` (sharegpt, alpaca or kto) forces the layout; columns are still taken from the records.
    """
    try:
        rows = [r.data for r in islice(iter_rows(path), SAMPLE) if r.error is None and isinstance(r.data, dict)]
    except InputError as err:
        raise RegistryError(str(err)) from None
    if not rows:
        raise RegistryError(f"{path}: no records to detect the format from")
    first = rows[0]
    messages_key = next((k for k in ("conversations", "messages") if isinstance(first.get(k), list)), None)
    label_key = next((k for k in ("kto_tag", "label") if isinstance(first.get(k), bool)), None)
    if kind is None:
        if messages_key and label_key:
            kind = "kto"
        elif messages_key and "chosen" in first and "rejected" in first:
            kind = "sharegpt"
        elif "instruction" in first and isinstance(first.get("chosen"), str):
            kind = "alpaca"
        else:
            raise RegistryError(f"{path}: cannot tell the format from keys {', '.join(sorted(first)[:8])}; "
                                "pass --format sharegpt|alpaca|kto")
    entry: dict[str, Any] = {"file_name": relative_file_name(path, dataset_dir)}
    if kind == "alpaca":
        entry["formatting"] = "alpaca"
        entry["ranking"] = True
        columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                   "system": "system", "history": "history"}
        entry["columns"] = {k: v for k, v in columns.items() if any(v in r for r in rows)}
        return entry
    if messages_key is None:
        raise RegistryError(f"{path}: no 'conversations' or 'messages' list in the first record")
    entry["formatting"] = "sharegpt"
    if kind == "sharegpt":
        entry["ranking"] = True
        columns = {"messages": messages_key, "chosen": "chosen", "rejected": "rejected"}
    elif kind == "kto":
        if label_key is None:
            raise RegistryError(f"{path}: no boolean 'kto_tag' or 'label' in the first record")
        columns = {"messages": messages_key, "kto_tag": label_key}
    else:
        raise RegistryError(f"unknown --format {kind!r}; choose sharegpt, alpaca or kto")
    for optional in ("system", "tools"):
        if any(optional in r for r in rows):
            columns[optional] = optional
    entry["columns"] = columns
    messages = first[messages_key]
    if messages and isinstance(messages[0], dict) and "role" in messages[0]:
        entry["tags"] = {tag: OPENAI_TAGS[tag] for tag in ENTRY_TAGS}
    return entry


def register(name: str, file: str, dataset_dir: str, force: bool = False, kind: str | None = None,
             entry: dict[str, Any] | None = None) -> dict[str, Any]:
    """Register ``file`` under ``name`` in ``dataset_dir``/dataset_info.json and return the entry.

    ``entry`` is the exact entry when prefkit wrote the file; otherwise it is detected from the file.
    """
    if not os.path.isfile(file):
        raise RegistryError(f"{file}: no such file")
    entry = entry if entry is not None else detect_entry(file, dataset_dir, kind)
    update(dataset_dir, name, entry, force=force)
    return entry


def entry_for_output(writer: Any, output: str, dataset_dir: str | None, register: str | None = None,
                     force: bool = False) -> dict[str, Any]:
    """The dataset_info entry of a file a writer just wrote (``file_name`` relative to ``dataset_dir``
    when given), registered under ``register`` in ``dataset_dir`` when asked."""
    entry = writer.entry(relative_file_name(output, dataset_dir) if dataset_dir else os.path.basename(output))
    if register and dataset_dir:
        update(dataset_dir, register, entry, force=force)
    return entry
