"""Every file prefkit writes goes through this module.

- Which files a command writes, and the checks that nothing it writes is an input or another output, live in
  the run harness (prefkit.io.run), which writes through this module.
- :class:`AtomicFile` writes to a temporary file beside the target (``make_temp``), then fsyncs and
  renames it over the target: readers never see half a file, the target's mode is kept (new files get
  the umask's), and a symlinked target is written through (the link stays a link).
- Temporary files are removed on any exit, SIGTERM included; those of a crashed run are removed the
  next time prefkit writes beside them.
- :class:`Outputs` holds several files and replaces them together, after the last check has passed.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> with Outputs() as outs:
...     rows = outs.rows(os.path.join(d, "pairs.json"))
...     rows.write({"a": 1})
...     outs.commit()
>>> open(os.path.join(d, "pairs.json")).read()
'[\\n{"a":1}\\n]\\n'
"""

from __future__ import annotations

import atexit
import filecmp
import io
import json
import os
import reprlib
import secrets
import shutil
import signal
import stat
import threading
from types import FrameType, TracebackType
from collections.abc import Callable
from typing import IO, Any

import orjson

from ..errors import InputError

TEMP_PREFIX = ".prefkit-"
REGISTRY_NAME = "dataset_info.json"
_live: set[str] = set()  # this process's temporary files
_handlers_installed = False


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_live() -> None:
    for tmp in list(_live):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _live.discard(tmp)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _remove_live()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_handlers() -> None:
    """Remove this process's temporary files at exit and on SIGTERM or SIGHUP (where those are not handled or
    ignored already), then end by the signal as before."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_remove_live)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def alive(pid: int, probe: Callable[[int, int], None] = os.kill) -> bool:
    """Whether a process (``probe=os.killpg``: a process group) exists, ours or not."""
    try:
        probe(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_name(name: str) -> str:
    """The prefix of this process's temporary files for ``name`` (a file or a staged folder)."""
    return f"{TEMP_PREFIX}{name}.{os.getpid()}."


def make_temp(directory: str, prefix: str) -> tuple[int, str]:
    """``tempfile.mkstemp``, with the name recorded for removal before the file exists: a signal that ends the run
    at any moment leaves no temporary file behind (mkstemp's name is known only once the file is made)."""
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{secrets.token_hex(4)}.tmp")
        _live.add(path)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600), path
        except FileExistsError:
            _live.discard(path)
        except OSError:
            _live.discard(path)
            raise
    raise FileExistsError(f"{directory}: no free temporary name for {prefix}")


def remove_stale(directory: str) -> list[str]:
    """Remove the temporary files and staged folders that dead prefkit runs left in ``directory``."""
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if not (entry.startswith(TEMP_PREFIX) and entry.endswith(".tmp")):
            continue
        parts = entry[len(TEMP_PREFIX):-len(".tmp")].split(".")  # NAME.PID.RANDOM
        if len(parts) >= 3 and parts[-2].isdigit() and not alive(int(parts[-2])):
            path = os.path.join(directory, entry)
            try:
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
                removed.append(entry)
            except OSError:
                pass
    return removed


def named(err: OSError, path: str) -> OSError:
    """``err`` naming ``path`` when it names no file (a write or flush that fails on a full disk names none)."""
    if not err.filename:
        err.filename = path
    return err


class NamedWriter(io.BufferedWriter):
    """A buffered binary file whose OS errors name ``shown`` (the file the user asked for, not a temporary one)."""

    def __init__(self, raw: io.RawIOBase, size: int, shown: str) -> None:
        super().__init__(raw, size)
        self.shown = shown

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as err:
            raise named(err, self.shown) from None

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as err:
            raise named(err, self.shown) from None


def open_named(path: str, mode: str = "ab", size: int = io.DEFAULT_BUFFER_SIZE) -> NamedWriter:
    """``open(path, mode)`` for writing bytes, its OS errors naming ``path``."""
    try:
        return NamedWriter(io.FileIO(path, mode), size, path)
    except OSError as err:
        raise named(err, path) from None


class AtomicFile:
    """A binary file written beside ``path`` and renamed over it by :meth:`commit` (or on a clean exit
    when ``autocommit``); on any other exit the temporary file is removed and ``path`` is untouched."""

    def __init__(self, path: str, autocommit: bool = True) -> None:
        self.path = path
        self.target = os.path.realpath(path)  # write through a symlink; the link stays
        self.autocommit = autocommit
        self.file: IO[bytes] | None = None
        self.tmp = ""
        self.committed = False
        self.discarded = False

    def open(self) -> AtomicFile:
        directory, name = os.path.split(self.target)
        if not os.path.isdir(directory):
            raise InputError(f"{self.path}: the folder {directory} does not exist")
        install_handlers()
        remove_stale(directory)
        try:
            fd, self.tmp = make_temp(directory, temp_name(name))
        except OSError as err:
            raise InputError(f"{self.path}: cannot write in {directory} ({err.strerror.lower()})") from None
        self.file = NamedWriter(io.FileIO(fd, "wb"), 1 << 20, self.path)  # a full disk names the target
        return self

    def __enter__(self) -> AtomicFile:
        return self.open()

    def finish(self) -> None:
        """Flush and fsync the temporary file (complete, not yet renamed)."""
        if self.file is not None and not self.file.closed:
            self.file.flush()
            try:
                os.fsync(self.file.fileno())
            except OSError as err:
                raise named(err, self.path) from None
            self.file.close()

    def same_as_target(self) -> bool:
        """Whether the finished temporary file holds exactly the target's bytes."""
        self.finish()
        return os.path.isfile(self.target) and filecmp.cmp(self.tmp, self.target, shallow=False)

    def commit(self) -> None:
        """Flush, fsync and rename over the target, keeping the target's mode."""
        if self.committed or self.discarded or self.file is None:
            return
        self.finish()
        try:
            mode = stat.S_IMODE(os.stat(self.target).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
        try:
            os.chmod(self.tmp, mode)
            os.replace(self.tmp, self.target)
        except OSError as err:  # name the target, never the temporary file
            raise InputError(f"{self.path}: cannot replace it ({(err.strerror or str(err)).lower()})") from None
        _live.discard(self.tmp)
        self.committed = True

    def discard(self) -> None:
        """Remove the temporary file; the target stays as it was."""
        self.discarded = not self.committed
        if self.file is not None and not self.file.closed:
            try:
                self.file.close()
            except OSError:  # its last flush failed (a full disk): the file is closed, and goes
                pass
        if self.tmp in _live:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            _live.discard(self.tmp)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and self.autocommit:
                self.commit()
        finally:
            self.discard()


def dumps(value: Any) -> bytes:
    """One JSON value as compact bytes. Values orjson refuses (integers past 64 bits, nesting past 255
    levels) go through the standard library; what neither can write becomes its shortened repr."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:  # ASCII escapes keep lone surrogates writable
        return json.dumps(value, allow_nan=False, separators=(",", ":"), default=str).encode()
    except (ValueError, RecursionError, TypeError):
        short = reprlib.Repr()
        short.maxlevel, short.maxstring, short.maxother = 20, 2000, 2000
        return orjson.dumps({"unserializable": short.repr(value)})


class RowFile(AtomicFile):
    """JSON rows: ``.json`` gets one array (one element a line), anything else (or ``lines=True``) one
    object a line."""

    def __init__(self, path: str, lines: bool = False, autocommit: bool = True) -> None:
        super().__init__(path, autocommit)
        self.array = not lines and path.lower().endswith(".json")
        self.count = 0

    def open(self) -> RowFile:
        super().open()
        if self.array:
            self._write(b"[")
        return self

    def _write(self, data: bytes) -> None:
        assert self.file is not None
        self.file.write(data)

    def write(self, row: Any) -> None:
        self.write_bytes(dumps(row))

    def write_bytes(self, data: bytes) -> None:
        """Write one already serialised JSON value."""
        if self.array:
            self._write(b"\n" if self.count == 0 else b",\n")
            self._write(data)
        else:
            self._write(data + b"\n")
        self.count += 1

    def finish(self) -> None:
        if self.array and self.file is not None and not self.file.closed:
            self._write(b"\n]\n" if self.count else b"]\n")
        super().finish()


class ParquetRows(RowFile):
    """Rows as Parquet with a fixed Arrow schema, written a row group at a time (memory stays flat): each
    group's JSON lines go through pyarrow's JSON reader, so a row that does not fit the schema is an error."""

    GROUP_BYTES = 16 << 20  # JSON bytes per row group

    def __init__(self, path: str, schema: Any, autocommit: bool = True) -> None:
        super().__init__(path, lines=True, autocommit=autocommit)
        self.schema = schema
        self._buffer = bytearray()
        self._writer: Any = None

    def write_bytes(self, data: bytes) -> None:
        self._buffer += data
        self._buffer += b"\n"
        self.count += 1
        if len(self._buffer) >= self.GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.json as pj
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.file, self.schema)
        if not self._buffer:
            return
        options = pj.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="error")
        read = pj.ReadOptions(block_size=max(1 << 20, len(self._buffer) + 1))  # a block holds every row
        table = pj.read_json(pa.BufferReader(bytes(self._buffer)), read_options=read, parse_options=options)
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))
        self._buffer.clear()

    def finish(self) -> None:
        if self.file is not None and not self.file.closed:
            self._flush()
            self._writer.close()  # writes the footer; the file object stays open for fsync
        super().finish()


class Outputs:
    """Files written together: each to its temporary file, all renamed by :meth:`commit`; on an
    exception (or without a commit) none of the targets changes."""

    def __init__(self) -> None:
        self.files: list[AtomicFile] = []

    def __enter__(self) -> Outputs:
        return self

    def add(self, file: AtomicFile) -> AtomicFile:
        file.autocommit = False
        self.files.append(file.open())
        return file

    def rows(self, path: str, lines: bool = False, schema: Any = None) -> RowFile:
        """JSON rows, or Parquet for a ``.parquet`` path (``schema``: its Arrow schema)."""
        parquet = path.lower().endswith(".parquet")
        out = ParquetRows(path, schema, autocommit=False) if parquet else RowFile(path, lines, autocommit=False)
        self.files.append(out.open())
        return out

    def commit(self) -> None:
        for file in self.files:  # every file complete (a full disk fails here) before the first rename
            file.finish()
        for file in self.files:
            file.commit()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for file in self.files:
            file.discard()


def write_bytes(path: str, data: bytes) -> None:
    with AtomicFile(path) as out:
        assert out.file is not None
        out.file.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def json_bytes(value: Any) -> bytes:
    """Indented JSON with a final newline (reports, summaries, the registry)."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(path: str, value: Any) -> None:
    write_bytes(path, json_bytes(value))
