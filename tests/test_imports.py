"""prefkit's modules import each other without cycles (imports inside functions count: they hide a cycle, they do
not remove it), and so do its folders (each top-level module counts as a folder of its own). The three cycles
listed are older than this test and are to go with the house issue; any other cycle fails it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "prefkit"
KNOWN: list[set[str]] = []


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The prefkit modules one module imports, wherever in it."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in known and m != name}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_new_import_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert graph["prefkit.pipeline.validate"] and graph["prefkit.targets"]  # the graph is read
    new = [sorted(c) for c in cycles(graph) if c not in KNOWN]
    assert new == []


def folder(module: str) -> str:
    """A module's folder under prefkit/ (``prefkit.create``); a top-level module (``prefkit.api``) is its own."""
    return ".".join(module.split(".")[:2])


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The imports between folders: one folder imports another when any of its modules imports one of the other's."""
    folders: dict[str, set[str]] = {}
    for name, imported in graph.items():
        folders.setdefault(folder(name), set()).update(folder(m) for m in imported if folder(m) != folder(name))
    return folders


def test_no_import_cycle_between_folders():
    known = modules()
    graph = folder_graph({name: imports(name, path, known) for name, path in known.items()})
    assert "prefkit.create" in graph["prefkit.handoff"]  # the graph is read: eval answers and judges through create
    assert [sorted(c) for c in cycles(graph)] == []


def test_a_folder_cycle_is_found():
    graph = {"prefkit.a.x": {"prefkit.b.y"}, "prefkit.b.y": set(), "prefkit.b.z": {"prefkit.a"}, "prefkit.a": set(),
             "prefkit.api": {"prefkit.a.x"}}
    assert cycles(folder_graph(graph)) == [{"prefkit.a", "prefkit.b"}]


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_private_name_is_imported_from_another_module():
    known = modules()
    private = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private += [f"{name}: {alias.name}" for alias in node.names if alias.name.startswith("_")]
    assert private == []


def test_validate_loads_no_reader_record_or_jsonschema():
    """validate's checks of a clean file need none of convert's readers, the pydantic records or jsonschema (built
    only for a row the compiled schema check fails): ~300 ms of every validate run."""
    import subprocess
    import sys

    code = ("import sys; from prefkit.pipeline import validate; from prefkit.targets import TARGETS; TARGETS.specs(); "
            "from prefkit.checks.schema import row_schema; from prefkit.checks.acceptance import Attr; "
            "row_schema(Attr.from_entry({'file_name': 'x.json', 'formatting': 'sharegpt', 'ranking': True})); "
            "print(sorted(m for m in ('prefkit.records', 'prefkit.readers', 'jsonschema') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT.parent).stdout.strip()
    assert loaded == "[]"
