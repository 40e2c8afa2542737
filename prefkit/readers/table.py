"""The readers by ``--from`` name, built from their specs (``SPEC`` of each reader module, named in prefkit/kinds.py;
a package adds one through an entry point ``prefkit.readers``): the readers, the sniffers auto-detection tries, the
fields ``--map`` can point at and what a record needs; :func:`register_reader` adds one of your own.

Every spec is loaded here, at import: detection tries every sniffer, and the tables are imported by name.

>>> spec_of("fastchat-judge").discovers is not None, "pairwise" in SNIFFERS, list(READERS)[:2]
(True, True, ['fastchat-judge', 'arena-hard'])
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import UsageError
from ..io.sample import SAMPLE_RECORDS as SNIFF_RECORDS  # noqa: F401  (exported: the one sample size)
from ..kinds import Kind, kinds
from .base import Reader
from .mapping import columns_of
from .spec import Detailed, Needs, ReaderSpec, Sniff


def load(kind: Kind) -> ReaderSpec:
    """The spec a reader kind names; a UsageError that names it when it cannot be loaded or is no ReaderSpec."""
    where = "" if kind.builtin else f" (entry point prefkit.readers {kind.name} = {kind.where})"
    try:
        spec = kind.load()
    except Exception as err:
        raise UsageError(f"--from {kind.name}: its reader cannot be loaded{where}: {type(err).__name__}: {err}") from err
    if not isinstance(spec, ReaderSpec) or spec.name != kind.name:
        raise UsageError(f"--from {kind.name}: {kind.where} is not a prefkit.readers.spec.ReaderSpec named "
                         f"{kind.name!r}{where}")
    return spec


SPECS: dict[str, ReaderSpec] = {kind.name: load(kind) for kind in kinds("readers")}  # in detection order
READERS: dict[str, Reader] = {name: spec.read for name, spec in SPECS.items()}
# Most specific first: auto-detection takes the first format that fits as many sampled records as any.
SNIFFERS: dict[str, Sniff] = {name: spec.sniff for name, spec in SPECS.items() if spec.sniff is not None}
# The logical fields each reader looks up, which `--map FIELD=COLUMN` can point at another column.
MAP_FIELDS: dict[str, tuple[str, ...]] = {name: spec.fields for name, spec in SPECS.items() if spec.fields}
# A record fits a format when each of these fields has one of its keys; what auto-detection's hints use.
NEEDS: dict[str, Needs] = {name: spec.needs for name, spec in SPECS.items() if spec.needs}
FORMATS = (*READERS, "auto")


def register_reader(name: str, reader: Reader, sniff: Sniff | None = None) -> None:
    """Make ``reader`` available as ``--from name`` (and to auto-detection when ``sniff`` is given)."""
    SPECS[name] = ReaderSpec(name, reader, sniff)
    READERS[name] = reader
    if sniff is not None:
        SNIFFERS[name] = sniff


def check_mapping(mapping: dict[str, str], fmt: str = "auto") -> None:
    """Refuse a ``--map`` field that the reader (or, with ``auto``, every reader) does not look up, and two fields
    mapped to one column (readers/mapping.py)."""
    columns_of(mapping)
    known = MAP_FIELDS.get(fmt) or sorted({f for fields in MAP_FIELDS.values() for f in fields})
    if fmt not in MAP_FIELDS and fmt != "auto":
        return  # a reader registered by the user reads what it likes
    for name in mapping:
        if name not in known:
            which = f"--from {fmt} has no field" if fmt != "auto" else "no reader has a field"
            raise UsageError(f"--map {name}=...: {which} {name!r}; fields: {', '.join(known)}")


def _unknown(name: str) -> UsageError:
    return UsageError(f"unknown format {name!r} for --from; choose one of {', '.join((*READERS, 'auto'))}")


def get_reader(name: str) -> Reader:
    if name not in READERS:
        raise _unknown(name)
    return READERS[name]


def spec_of(name: str) -> ReaderSpec:
    """The spec of reader ``name`` (a reader put in READERS by hand has one without hooks)."""
    if name not in READERS:
        raise _unknown(name)
    return SPECS[name] if name in SPECS else ReaderSpec(name, READERS[name])


def extra_inputs(inputs: list[str], fmt: str) -> list[str]:
    """The files besides ``inputs`` that reading them reads too (a judge layout's questions and answers), from the
    specs of the readers that may read them: ``fmt``'s, or with ``auto`` every reader's."""
    specs = list(SPECS.values()) if fmt == "auto" else [spec_of(fmt)]
    hooks = dict.fromkeys(s.discovers for s in specs if s.discovers is not None)  # one call per distinct hook
    return list(dict.fromkeys(f for path in inputs for discovers in hooks for f in discovers(path)))


def after_run(formats: Iterable[str], detailed: Detailed, where: str) -> None:
    """The post-run checks of the readers that read the run (``formats``: each source's), each once."""
    for name in dict.fromkeys(formats):
        check = spec_of(name).after
        if check is not None:
            check(detailed, where)
