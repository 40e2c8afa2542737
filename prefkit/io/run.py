"""The run harness: every command declares here each file it reads and writes and each process it starts.

- **Declared files** are checked the moment they are declared, against everything declared before: no output is
  an input, another output, a folder (for a file) or a file (for a folder), LLaMA-Factory's ``dataset_info.json``
  (only the registry writes it), inside a folder output (which is replaced whole) or inside an input folder (a
  datasets folder, FastChat's answers folder: every file in it is read); its folder exists.
- **Every file counts, whatever made its name**: outputs derived from another name (the PNG beside an HTML, a
  ``<stem>_images/`` folder, the registry's lock) are declared like the ones the user named, and so are inputs a
  reader discovers while it reads (:meth:`Run.found`: the images an entry points to, a judge layout's files),
  which are checked against every output, declared before or after.
- **Folders**: an output folder this run makes (:meth:`Run.holder`, eval's ``--output-dir``) is removed again
  when the run fails and leaves nothing in it: a failed run leaves no file or folder it did not have before.
- **Replaced outputs** (:meth:`Run.rows`, :meth:`Run.json`, :meth:`Run.folder`) are written to temporary files or
  folders beside their targets and renamed together by :meth:`Run.commit`, after a last check that every target
  can be replaced (write permission, marked read-only). Until then no target changes; on any other way out the
  temporaries are removed.
- **Appended outputs** (:meth:`Run.append`: generate's and judge's resumable results) grow a line at a time; a
  line cut short by an interruption is removed and a missing final newline added before the next one.
- **Processes** (:meth:`Run.spawn`) die with prefkit, whatever way it ends (prefkit.io.processes).
- Inside ``with Run()``, SIGTERM and SIGHUP end the run like Ctrl-C: temporaries removed, children stopped.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with Run() as run:
...     rows = run.rows("-o", os.path.join(d, "pairs.jsonl"))
...     rows.write({"a": 1})
...     report = run.json("--report-json", os.path.join(d, "report.json"))
...     report.value = {"rows": 1}
...     run.commit()
>>> sorted(os.listdir(d))
['pairs.jsonl', 'report.json']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from errno import EDQUOT, EFBIG, EIO, ENOSPC, EROFS
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson

from ..errors import InputError, UsageError
from . import files as io
from . import processes
from .sources import check_regular

WRITE_ERRORS = (ENOSPC, EDQUOT, EFBIG, EIO, EROFS)  # a write that failed: the OSError may name no file

# What interrupted or failed runs had already appended ("N in PATH"): the CLI's last words say it is kept.
kept: list[str] = []
FOUND_PATHS = 100_000  # names of discovered inputs remembered as given (beyond it: one stat each)
_active: list[Run] = []  # the runs in progress in this process, innermost last


def found(path: str, note: str) -> str:
    """Declare an input discovered while reading (see :meth:`Run.found`) with the run in progress, if any: readers
    and checks call this without being handed the run."""
    if _active:
        _active[-1].found(path, note)
    return path


def _identity(path: str) -> tuple[Any, ...]:
    """The same for two names of one file: (device, inode) when it exists, else the resolved path."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", real)


def _inside(path: str, folder: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def read_only(path: str) -> bool:
    """Marked read-only (no write bit at all, which even root is told to respect here) or not writable by us."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not mode & 0o222 or not os.access(path, os.W_OK)


@dataclass
class Declared:
    option: str  # "-o", "--rejects", "the input", "the registry", "lock of dataset_info.json" ...
    path: str
    kind: str  # input | file | folder | append | registry | lock | holder
    note: str = ""  # a discovered input: where it was found ("an image of record 3")

    @property
    def name(self) -> str:
        if self.kind in ("input", "registry"):
            return f"{self.option} {self.path}" + (f" ({self.note})" if self.note else "")
        return f"the {self.option} {'folder' if self.kind in ('folder', 'holder') else 'file'}"

    @property
    def holds(self) -> bool:
        """Whether files inside it belong to it: a folder output, or an input folder (every file in it is read)."""
        return self.kind == "folder" or (self.kind == "input" and os.path.isdir(self.path))


class PendingJson:
    """A JSON document (a report) declared now and written at commit, when ``value`` is set."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.value: Any = None


class StagedFolder:
    """A folder output built in ``tmp`` (beside the target) and renamed over it at commit."""

    def __init__(self, option: str, path: str) -> None:
        self.option, self.path = option, path
        parent, name = os.path.split(os.path.abspath(path))
        self.tmp = tempfile.mkdtemp(prefix=io.temp_name(name), suffix=".tmp", dir=parent)
        self.committed = False

    def commit(self) -> None:
        parent, name = os.path.split(os.path.abspath(self.path))
        old = None
        if os.path.isdir(self.path):
            old = tempfile.mkdtemp(prefix=io.temp_name(name), suffix=".tmp", dir=parent)
            os.replace(self.path, os.path.join(old, name))
        os.chmod(self.tmp, 0o777 & ~io.current_umask())
        os.replace(self.tmp, self.path)
        self.committed = True
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if not self.committed:
            shutil.rmtree(self.tmp, ignore_errors=True)


class AppendFile:
    """A JSONL output that grows a line at a time (resumable work). :meth:`open` first removes a last line cut
    short by an interruption and ends a complete last line that lacks its newline."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file: Any = None
        self.count = 0  # rows written by this run

    def repair(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            start = size  # where the last line begins: read back a block at a time to the newline before it
            while start > 0:
                block = min(start, 1 << 20)
                f.seek(start - block)
                chunk = f.read(block)
                if start == size and chunk.endswith(b"\n"):
                    return  # the file ends with a whole line
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    start = start - block + cut + 1
                    break
                start -= block
            f.seek(start)
            try:
                orjson.loads(f.read())
            except ValueError:  # the line being written when the last run ended
                f.truncate(start)
            else:
                f.write(b"\n")

    def open(self) -> AppendFile:
        self.repair()
        self.file = io.open_named(self.path, "ab")  # a full disk names the file
        return self

    def write(self, row: Any) -> None:
        """One row, flushed at once: an interruption loses at most the rows in flight. The file is opened (and
        made) at the first row, so a run that fails before any result leaves no file behind."""
        if self.file is None:
            self.open()
        self.file.write(io.dumps(row) + b"\n")
        self.file.flush()
        self.count += 1

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()


def appended_rows(path: str) -> Iterator[tuple[int, Any]]:
    """The rows an :class:`AppendFile` holds, numbered from 1 (what a resumed run already has): a complete line that
    is not JSON is None; a last line without its newline (the one an interrupted run was writing) is left out, as
    :meth:`AppendFile.repair` removes it before the next row. Nothing for a missing file."""
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                if not line.endswith(b"\n"):
                    return
                yield number, None


class Run:
    """One command's files and processes (see the module's doc). ``inputs`` are declared first."""

    def __init__(self, inputs: Iterable[str] = ()) -> None:
        self.declared: list[Declared] = []
        self.outputs = io.Outputs()
        self.json_files: list[PendingJson] = []
        self.folders: list[StagedFolder] = []
        self.appends: list[AppendFile] = []
        self.children: list[tuple[Any, int, float]] = []  # (process, first signal, grace)
        self.found_inputs: dict[tuple[Any, ...], Declared] = {}  # inputs readers discovered, by identity
        self._found_paths: set[str] = set()  # their names as given (a cache: one stat per distinct name)
        self.made: list[str] = []  # folders this run made (Run.holder), outermost first
        self.committed = False
        self._stack = ExitStack()
        for path in inputs:
            self.input(path)

    # --- declarations ------------------------------------------------------------------------------
    def input(self, path: str) -> str:
        """An input, refused at once when it is a FIFO, a device or a socket (sources.check_regular)."""
        if not path.startswith("hf://"):
            check_regular(path)
            self._declare(Declared("the input", path, "input"))
        return path

    def found(self, path: str, note: str) -> str:
        """An input a reader discovered (``note``: where, "an image of record 3"), checked against every output,
        those declared later included."""
        if path.startswith("hf://") or path in self._found_paths:
            return path
        key = _identity(path)
        if key in self.found_inputs:
            return path
        new = Declared("the input", path, "input", note)
        if new.holds:  # a folder whose files are all read: few, checked like any input
            self._declare(new)
            return path
        for old in self.declared:
            if old.kind != "input":
                self._collide(old, new)
        self.found_inputs[key] = new
        if len(self._found_paths) < FOUND_PATHS:
            self._found_paths.add(path)
        return path

    def registry(self, path: str) -> str:
        """The one ``dataset_info.json`` (or v1 YAML) this run may update, and its lock file beside it."""
        self._declare(Declared("the registry", path, "registry"))
        folder, name = os.path.split(path)
        self._declare(Declared(f"lock of {path}", os.path.join(folder, f".{name}.lock"), "lock"))
        return path

    def holder(self, option: str, path: str) -> str:
        """A folder that will hold this run's outputs (eval's ``--output-dir``), made now if missing and removed
        again if the run fails and leaves nothing in it."""
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{option} {path}: is a file; name a folder")
        self._declare(Declared(option, path, "holder"))
        missing = []
        top = os.path.abspath(path)
        while not os.path.exists(top):
            missing.append(top)
            top = os.path.dirname(top)
        if missing and read_only(top):
            raise InputError(f"{option} {path}: cannot make it in {top} (read-only folder)")
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except OSError as err:
                raise InputError(f"{option} {path}: cannot make {folder} ({(err.strerror or str(err)).lower()})") from None
            self.made.append(folder)
        return path

    def rows(self, option: str, path: str, lines: bool = False, schema: Any = None) -> io.RowFile:
        """JSON rows (Parquet for a .parquet path) that replace ``path`` at commit."""
        self._declare(Declared(option, path, "file"))
        return self.outputs.rows(path, lines, schema)

    def json(self, option: str, path: str | None) -> PendingJson:
        """A JSON document (a report) written at commit once its ``value`` is set; ``path`` None: not written."""
        pending = PendingJson(path or "")
        if path:
            self._declare(Declared(option, path, "file"))
            self.json_files.append(pending)
        return pending

    def file(self, option: str, path: str) -> io.AtomicFile:
        """Any other file that replaces ``path`` at commit (HTML, an image)."""
        self._declare(Declared(option, path, "file"))
        return self.outputs.add(io.AtomicFile(path))

    def folder(self, option: str, path: str, foreign: Callable[[list[str]], list[str]] = list) -> StagedFolder:
        """A folder built beside ``path`` and renamed over it at commit. An existing ``path`` must be empty or hold
        no file that ``foreign(names)`` returns (what this output does not write): never a file prefkit did not
        write."""
        if os.path.isfile(path):
            raise UsageError(f"{option} {path}: is a file; name a folder")
        self._declare(Declared(option, path, "folder"))
        if os.path.isdir(path):
            foreign = sorted(foreign(os.listdir(path)))
            if foreign:
                raise UsageError(f"{option} {path}: holds files that {option} did not write ({', '.join(foreign[:3])}); "
                                 "name a new or empty folder")
        self._writable_folder(option, path)
        staged = StagedFolder(option, path)
        self.folders.append(staged)
        return staged

    def unstage(self, staged: StagedFolder) -> None:
        """Give up a folder output: it is not written, and what was there stays."""
        staged.discard()
        self.folders.remove(staged)

    def append(self, option: str, path: str) -> AppendFile:
        """A JSONL file grown a line at a time (checked like the others; open it when the work starts)."""
        self._declare(Declared(option, path, "append"))
        if os.path.exists(path) and read_only(path):
            raise InputError(f"{option} {path}: is read-only")
        appended = AppendFile(path)
        self.appends.append(appended)
        return appended

    def _writable_folder(self, option: str, path: str) -> None:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise InputError(f"{option} {path}: the folder {folder} does not exist")
        if read_only(folder):
            raise InputError(f"{path}: cannot write in {folder} (read-only folder)")

    def _declare(self, new: Declared) -> None:
        """Refuse ``new`` if it collides with anything declared before (see the module's doc)."""
        if new.kind in ("file", "append", "lock"):
            if os.path.isdir(new.path):
                raise UsageError(f"{new.option} {new.path}: is a folder; name a file")
            if os.path.basename(os.path.realpath(new.path)) == io.REGISTRY_NAME:
                raise UsageError(f"{new.option} {new.path}: that is LLaMA-Factory's dataset registry; prefkit "
                                 "changes it only through --register")
            if new.kind != "lock":  # made only when the registry is edited, once it is known editable
                self._writable_folder(new.option, new.path)
        for old in self.declared:
            if not (old.kind == "input" and new.kind == "input"):
                self._collide(old, new)
        if new.kind not in ("input", "registry"):
            key = _identity(new.path)
            for found in self.found_inputs.get(key, None), *self._inside_found(new):
                if found is not None:
                    self._collide(found, new)
        self.declared.append(new)

    def _inside_found(self, new: Declared) -> list[Declared]:
        """The discovered inputs inside a folder output (one pass over them, at its declaration)."""
        if new.kind != "folder":
            return []
        return [found for found in self.found_inputs.values() if _inside(found.path, new.path)]

    @staticmethod
    def _collide(old: Declared, new: Declared) -> None:
        """UsageError when ``old`` and ``new`` cannot both be: one file, or one inside a folder the other holds (an
        output folder holding files it did not write, a file written into a folder whose files are all read)."""
        if "holder" in (old.kind, new.kind):  # a folder of outputs: only its identity with an input matters
            if not ({old.kind, new.kind} & {"input", "registry"} and _identity(old.path) == _identity(new.path)):
                return
        subject, other = (old, new) if new.kind in ("input", "registry") else (new, old)  # name the output
        if _identity(old.path) == _identity(new.path):
            what = "is also"
        elif other.holds and _inside(subject.path, other.path):
            what = "is inside"
        elif subject.holds and _inside(other.path, subject.path):
            what = "holds"
        else:
            return
        raise UsageError(f"{subject.option} {subject.path}: {what} {other.name}; write it elsewhere")

    # --- processes ---------------------------------------------------------------------------------
    def spawn(self, command: list[str], first_signal: int, grace: float, **popen: Any) -> Any:
        """A child process (its own group, dying with prefkit), stopped by ``first_signal`` then SIGKILL after
        ``grace`` seconds when the run ends, whatever way."""
        child = processes.spawn(command, **popen)
        self.children.append((child, first_signal, grace))
        return child

    def stop_children(self) -> None:
        while self.children:
            child, first, grace = self.children.pop()
            processes.stop_group(child, first, grace)

    # --- commit ------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """The last checks before the first rename: every target can be replaced."""
        for item in self.declared:
            if item.kind in ("file", "folder", "registry"):
                if item.kind != "folder" and os.path.exists(item.path) and read_only(item.path):
                    raise InputError(f"{item.path}: is read-only; nothing was changed")
                self._writable_folder(item.option, item.path)

    def commit(self, registry: tuple[str, bytes] | None = None) -> None:
        """Write the reports, then replace every output together (with ``registry``: (path, bytes) too)."""
        staged = [(p.path, io.json_bytes(p.value)) for p in self.json_files if p.value is not None]
        for path, data in staged + ([registry] if registry else []):
            self.outputs.add(io.AtomicFile(path)).file.write(data)  # type: ignore[union-attr]
        self.preflight()
        self.outputs.commit()
        for staged in self.folders:
            staged.commit()
        self.committed = True

    # --- the way in and out -------------------------------------------------------------------------
    def __enter__(self) -> Run:
        kept.clear()
        self._stack.enter_context(processes.stop_on_signals())
        _active.append(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            kept.extend(f"{a.count} in {a.path}" for a in self.appends if a.count)
        if self in _active:
            _active.remove(self)
        try:
            self.stop_children()
        finally:
            for appended in self.appends:
                appended.close()
            for staged in self.folders:
                staged.discard()
            self.outputs.__exit__(exc_type, exc, tb)
            if not self.committed:
                self._unmake()
            self._stack.__exit__(exc_type, exc, tb)
        self._name_target(exc)

    def _unmake(self) -> None:
        """Remove the folders this run made, innermost first, where nothing was left in them."""
        for folder in reversed(self.made):
            try:
                os.rmdir(folder)
            except OSError:
                return  # it holds something (results kept from an interrupted run): it stays, and so do its parents

    def _name_target(self, exc: BaseException | None) -> None:
        """An OSError about one of the run's temporary files or folders (or an output, as io.files names it) names
        its target instead; a failed write that names no file (a full disk) names the outputs being written."""
        if not isinstance(exc, OSError):
            return
        if not exc.filename:
            writing = [f.path for f in self.outputs.files] + [f.path for f in self.folders] + \
                [a.path for a in self.appends if a.file is not None]
            if exc.errno in WRITE_ERRORS and writing:
                raise InputError(f"{' or '.join(writing)}: cannot write it ({(exc.strerror or str(exc)).lower()})") \
                    from None
            return
        targets = {f.tmp: f.path for f in self.outputs.files} | {f.tmp: f.path for f in self.folders}
        where = next((path for tmp, path in targets.items() if str(exc.filename).startswith(tmp)), None)
        if where is None and exc.filename in {f.path for f in self.outputs.files}:
            where = exc.filename
        if where:
            raise InputError(f"{where}: cannot write it ({(exc.strerror or str(exc)).lower()})") from None
