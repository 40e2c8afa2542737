"""Read, lint and atomically update a LLaMA-Factory ``dataset_info.json`` (and v1's ``dataset_info.yaml``).

Updates hold a lock file beside it (``.dataset_info.json.lock``) and replace the file with a renamed
temporary copy, so concurrent registrations all land and readers never see a half-written file. Every
other entry and the key order are kept. ``version="v1"`` does the same for the YAML of LLaMA-Factory's v1
data engine (``USE_V1=1``), whose entries are ``NAME: {path, source, converter, weight?, size?}``.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/pairs.jsonl", "w").write('{"instruction": "hi", "chosen": "a", "rejected": "b"}\\n')
>>> detect_entry(f"{d}/pairs.jsonl", d)["columns"]
{'prompt': 'instruction', 'chosen': 'chosen', 'rejected': 'rejected'}
>>> update(d, "my_pairs", detect_entry(f"{d}/pairs.jsonl", d)), sorted(load(d))
('added', ['my_pairs'])
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from filelock import FileLock, Timeout

from ..errors import InputError, RegistryError, UsageError
from ..io import files as io
from ..io.run import Run, read_only
from ..io import sample as sampled
from ..io.sources import open_input
from ..vocab import OPENAI_TAGS

DATA_CONFIG = "dataset_info.json"
REGISTRIES = {"v0": DATA_CONFIG, "v1": "dataset_info.yaml"}  # LLaMA-Factory's data engines and their registries
FILE_KEY = {"v0": "file_name", "v1": "path"}  # the entry key that names the data file
LOCK_TIMEOUT = 60.0


def info_path(dataset_dir: str, version: str = "v0") -> str:
    return os.path.join(dataset_dir, REGISTRIES[version])


def load(dataset_dir: str, version: str = "v0") -> dict[str, Any]:
    """The registry as a dict (empty when the file does not exist yet)."""
    path = info_path(dataset_dir, version)
    if not os.path.exists(path):
        return {}
    try:
        with open_input(path) as f:  # a regular file only: a FIFO cannot hang it
            raw = f.read()
        info = _parse(raw.decode("utf-8"), version)
    except RegistryError as err:
        raise RegistryError(f"{path}: {err}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: not UTF-8 text (LLaMA-Factory reads it as UTF-8); re-save it as UTF-8") from None
    except json.JSONDecodeError as err:
        raise RegistryError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from None
    except RecursionError:
        raise RegistryError(f"{path}: nested too deep to read") from None
    except OSError as err:
        raise RegistryError(f"{path}: cannot read ({err.strerror})") from None
    if version == "v1" and info is None:
        return {}  # an empty YAML file
    if not isinstance(info, dict):
        raise RegistryError(f"{path}: expected {'a JSON object' if version == 'v0' else 'a YAML mapping'} of "
                            "dataset entries")
    return info


def _parse(text: str, version: str) -> Any:
    if version == "v0":
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RegistryError(f"{where}invalid YAML ({getattr(err, 'problem', None) or err})") from None


def _dumps(info: dict[str, Any], version: str, changed: dict[str, Any], path: str) -> bytes:
    """The registry's new bytes: v0's JSON whole; v1's YAML edited in place (:func:`yaml_edit`)."""
    if version == "v0":
        return io.json_bytes(info)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    return yaml_edit(text, changed)


def yaml_edit(text: str, changed: dict[str, Any]) -> bytes:
    """``text`` (a v1 dataset YAML) with the ``changed`` entries put in, through a round-trip YAML library: the
    user's comments, key order, quoting and other entries stay as written; a new entry goes at the end.

    >>> print(yaml_edit("# mine\\nold: {path: a.jsonl}  # keep\\n", {"new": {"path": "b.jsonl"}}).decode(), end="")
    # mine
    old: {path: a.jsonl}  # keep
    new:
      path: b.jsonl
    """
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long path
    data = yaml.load(text) if text.strip() else None
    if data is None:
        data = {}
    for name, entry in changed.items():
        data[name] = entry
    out = StringIO()
    yaml.dump(data, out)
    return out.getvalue().encode("utf-8")


def get_entry(dataset_dir: str, name: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry ``name``, checked for the shapes prefkit relies on (a RegistryError names the field)."""
    info = load(dataset_dir) if info is None else info
    where = f"{info_path(dataset_dir)}: {name}"
    if name not in info:
        raise RegistryError(f"no dataset {name!r} in {info_path(dataset_dir)} (register it first)")
    entry = info[name]
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected an object with file_name, formatting and columns, "
                            f"got {type(entry).__name__}")
    for key, kind in (("file_name", str), ("formatting", str), ("columns", dict), ("tags", dict), ("ranking", bool)):
        if key in entry and not isinstance(entry[key], kind):
            raise RegistryError(f"{where}.{key}: expected {kind.__name__}, got {type(entry[key]).__name__}")
    for key in ("columns", "tags"):
        for field, value in (entry.get(key) or {}).items():
            if value is not None and not isinstance(value, str):
                raise RegistryError(f"{where}.{key}.{field}: expected a column name, got {type(value).__name__}")
    return entry


def relative_file_name(path: str, dataset_dir: str) -> str:
    """``path`` relative to the dataset dir, which LLaMA-Factory joins it to; it must lie inside."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(dataset_dir))
    if rel.startswith(os.pardir):
        raise RegistryError(f"{path}: the file is outside the dataset dir {dataset_dir}; write it inside "
                            "so LLaMA-Factory finds it")
    return rel.replace(os.sep, "/")


def check_name(name: str) -> None:
    """Refuse a name LLaMA-Factory would misread: ``dataset: a,b`` is two datasets, and a name is a key of
    dataset_info.json, not a path."""
    bad = next((c for c in name if c.isspace() or not c.isprintable() or c in ",/\\"), None)
    if not name or bad is not None or name in (".", "..") or name.startswith("-"):
        what = "is empty" if not name else f"has {bad!r}" if bad else "is not a name"
        raise RegistryError(f"dataset name {name!r} {what}: LLaMA-Factory splits names at commas and prefkit "
                            "refuses blanks, slashes and control characters; use letters, digits, '_', '-' and '.'")


class Editor:
    """The registry of one dataset dir, loaded under its lock: check changes first, then save them."""

    def __init__(self, dataset_dir: str, version: str = "v0") -> None:
        self.dataset_dir, self.version = dataset_dir, version
        self.info = load(dataset_dir, version)
        self.changed = False
        self.puts: dict[str, Any] = {}  # the entries put, by name (v1's YAML is edited with these only)

    def check(self, name: str, entry: dict[str, Any], force: bool = False) -> str:
        """What putting ``entry`` would do ("added", "unchanged" or "replaced"); raises on a conflict."""
        check_name(name)
        old = self.info.get(name)
        if old == entry:
            return "unchanged"
        if old is not None and not force:
            raise RegistryError(f"{info_path(self.dataset_dir, self.version)}: a different entry named {name!r} "
                                "exists; choose another name or pass --force to replace it")
        return "added" if old is None else "replaced"

    def put(self, name: str, entry: dict[str, Any], force: bool = False) -> str:
        status = self.check(name, entry, force)
        if status != "unchanged":
            self.info[name] = entry
            self.puts[name] = entry
            self.changed = True
        return status


def check_editable(dataset_dir: str, version: str = "v0") -> None:
    """The registry can be edited: its folder exists and is writable, and the file (if any) is writable and
    valid. Checked before its lock file is made, so a registration that fails here leaves no new file."""
    path = info_path(dataset_dir, version)
    if not os.path.isdir(dataset_dir):
        raise RegistryError(f"{dataset_dir}: the dataset dir does not exist")
    if read_only(dataset_dir):
        raise RegistryError(f"{path}: cannot write in {dataset_dir} (read-only folder); nothing was changed")
    if os.path.exists(path) and read_only(path):
        raise RegistryError(f"{path}: is read-only; nothing was changed")
    load(dataset_dir, version)


@contextmanager
def editing(dataset_dir: str, version: str = "v0", run: Run | None = None) -> Iterator[Editor]:
    """Hold the registry's lock; what the block put is saved atomically when it ends without an error. With
    ``run`` the run's outputs are committed together with it, still under the lock.

    The lock file (``.dataset_info.json.lock``, empty) stays after the run, on purpose: flock locks the file's
    inode, not its name. A process that opened it before it was removed would lock the removed inode while a
    later one creates and locks a new file of the same name, and both would edit the registry at once. filelock
    keeps its Unix lock files for this reason (tox-dev/filelock#574), and a check of the link count after locking
    fails on NFS, where a removed open file is only renamed (.nfsXXXX)."""
    path = info_path(dataset_dir, version)
    check_editable(dataset_dir, version)  # before the lock file is made: a failed run leaves no new file
    lock = FileLock(os.path.join(dataset_dir, f".{REGISTRIES[version]}.lock"), timeout=LOCK_TIMEOUT)
    try:
        with lock:
            editor = Editor(dataset_dir, version)
            yield editor
            change = (path, _dumps(editor.info, version, editor.puts, path)) if editor.changed else None
            if run is not None:
                run.commit(registry=change)
            elif change:
                io.write_bytes(*change)
    except Timeout:
        raise RegistryError(f"{path}: still locked after {LOCK_TIMEOUT:.0f} s by another process") from None
    except PermissionError as err:  # the lock file cannot be made: nothing was changed
        raise RegistryError(f"{path}: cannot lock it ({err.strerror.lower()}); nothing was changed") from None


def update(dataset_dir: str, name: str, entry: dict[str, Any], force: bool = False) -> str:
    """Add or replace one entry. Returns "added", "unchanged" or "replaced"."""
    check_name(name)
    with editing(dataset_dir) as editor:
        return editor.put(name, entry, force)


# --- entries for files prefkit did not write --------------------------------------------------------

# The tags an entry needs for role/content messages (observation/function tags keep their defaults).
ENTRY_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")


def sample(path: str) -> list[dict[str, Any]]:
    """The first readable records of a file (prefkit.io.sample), a RegistryError when it cannot be read."""
    try:
        return sampled.sample(path)
    except InputError as err:
        raise RegistryError(str(err)) from None


def messages_key(record: dict[str, Any]) -> str | None:
    return next((k for k in ("conversations", "messages") if isinstance(record.get(k), list)), None)


def label_key(record: dict[str, Any]) -> str | None:
    return next((k for k in ("kto_tag", "label") if isinstance(record.get(k), bool)), None)


# LLaMA-Factory's layouts of a file prefkit did not write, most specific first, told apart by its first record.
LAYOUTS: tuple[tuple[str, sampled.Predicate], ...] = (
    ("kto", lambda r: messages_key(r) and label_key(r)),
    ("sharegpt", lambda r: messages_key(r) and "chosen" in r and "rejected" in r),
    ("alpaca", lambda r: "instruction" in r and isinstance(r.get("chosen"), str)),
)


def detect_entry(path: str, dataset_dir: str, layout: str | None = None) -> dict[str, Any]:
    """The dataset_info entry for an existing file, from the keys of its first records.

    ``layout`` (sharegpt, alpaca or kto) forces the layout; columns are still taken from the records.
    """
    rows = sample(path)
    if not rows:
        raise RegistryError(f"{path}: no records to detect the format from")
    first = rows[0]
    messages, label = messages_key(first), label_key(first)
    if layout is None:
        layout = sampled.detect(LAYOUTS, rows[:1])  # the first record decides, as it does a file's target
        if layout is None:
            raise RegistryError(f"{path}: cannot tell the format from keys {', '.join(sorted(first)[:8])}; "
                                "pass --layout sharegpt|alpaca|kto")
    entry: dict[str, Any] = {"file_name": relative_file_name(path, dataset_dir)}
    if layout == "alpaca":
        entry["formatting"] = "alpaca"
        entry["ranking"] = True
        columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                   "system": "system", "history": "history", "images": "images"}
        entry["columns"] = {k: v for k, v in columns.items() if any(v in r for r in rows)}
        return entry
    if messages is None:
        raise RegistryError(f"{path}: no 'conversations' or 'messages' list in the first record")
    entry["formatting"] = "sharegpt"
    if layout == "sharegpt":
        entry["ranking"] = True
        columns = {"messages": messages, "chosen": "chosen", "rejected": "rejected"}
    elif layout == "kto":
        if label is None:
            raise RegistryError(f"{path}: no boolean 'kto_tag' or 'label' in the first record")
        columns = {"messages": messages, "kto_tag": label}
    else:
        raise RegistryError(f"unknown layout {layout!r}; choose sharegpt, alpaca or kto")
    for optional in ("system", "tools", "images"):
        if any(optional in r for r in rows):
            columns[optional] = optional
    entry["columns"] = columns
    turns = first[messages]
    if turns and isinstance(turns[0], dict) and "role" in turns[0]:
        entry["tags"] = {tag: OPENAI_TAGS[tag] for tag in ENTRY_TAGS}
    return entry


def registered_file(output: str, dataset_dir: str, version: str = "v0") -> str:
    """How an entry names ``output``: v0 joins ``file_name`` to the dataset dir; v1 loads ``path`` from the
    directory llamafactory-cli runs in (written relative to the current one, absolute when outside it)."""
    if version == "v0":
        return relative_file_name(output, dataset_dir)
    rel = os.path.relpath(os.path.abspath(output))
    return os.path.abspath(output) if rel.startswith(os.pardir) else rel.replace(os.sep, "/")


def output_entry(writer: Any, output: str, dataset_dir: str | None) -> dict[str, Any] | None:
    """The registry entry of a file the writer writes (None for pairs to label, which are no dataset)."""
    if writer.registry is None:
        return None
    return writer.entry(registered_file(output, dataset_dir, writer.registry) if dataset_dir else os.path.basename(output))


def commit_registered(run: Run, entry: dict[str, Any] | None, version: str | None, dataset_dir: str | None,
                      register: str | None = None, force: bool = False) -> None:
    """Commit the run's outputs and, when asked, register ``entry`` under ``register``: the name is checked under
    the registry's lock before any file is replaced, so a conflict changes nothing."""
    if not (register and dataset_dir and entry is not None and version):
        run.commit()
        return
    with editing(dataset_dir, version, run) as editor:
        editor.put(register, entry, force)


def precheck_registration(dataset_dir: str | None, register: str | None, output: str, force: bool = False,
                          version: str = "v0") -> None:
    """Before any work: the registry is readable and the name is free, or already names this file. Only None
    means "do not register": an empty ``--register ""`` is a bad name, not a skipped registration."""
    if register is None:
        return
    check_name(register)
    if not dataset_dir:
        raise UsageError("--register needs --dataset-dir")
    file_name = registered_file(output, dataset_dir, version)
    check_editable(dataset_dir, version)
    old = load(dataset_dir, version).get(register)
    if old is not None and not force and (not isinstance(old, dict) or old.get(FILE_KEY[version]) != file_name):
        raise RegistryError(f"{info_path(dataset_dir, version)}: a different entry named {register!r} exists; "
                            "choose another name or pass --force to replace it")
