"""Every registered kind (prefkit/kinds.py) is usable and documented: its spec loads and names itself, its line of
help is shown by the option that picks it, and the docs page of its kind names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from prefkit import kinds
from prefkit.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Where each kind is chosen (command path, option) and the page that documents the kinds of its group.
CHOSEN = {"readers": (("convert",), "--from", "formats.md"), "writers": (("convert",), "--to", "formats.md"),
          "targets": (("validate",), "--target", "targets.md"), "executors": (("convert",), "--executor", "scaling.md"),
          "labelers": (("label", "push"), "--backend", "commands/label.md")}
ALL = [pytest.param(group, kind, id=f"{group}:{kind.name}") for group in kinds.GROUPS for kind in kinds.BUILTIN[group]]


def option_help(path: tuple[str, ...], option: str) -> str:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    param = next(p for p in command.params if option in p.opts)
    return " ".join((param.help or "").split())


def test_every_group_has_a_place_to_be_chosen():
    assert set(CHOSEN) == set(kinds.GROUPS) == set(kinds.BUILTIN)


@pytest.mark.parametrize("group, kind", ALL)
def test_a_kind_loads_and_its_spec_has_its_name(group, kind):
    spec = kind.load()
    assert kind.help and kind.builtin
    assert getattr(spec, "name", kind.name) == kind.name


@pytest.mark.parametrize("group, kind", ALL)
def test_the_option_that_picks_a_kind_shows_its_help(group, kind):
    path, option, _ = CHOSEN[group]
    shown = option_help(path, option)
    assert f"{kind.name}: {' '.join(kind.help.split())}".replace("\\[", "[") in shown.replace("\\[", "[")


@pytest.mark.parametrize("group, kind", ALL)
def test_the_docs_of_its_group_name_it(group, kind):
    page = (DOCS / CHOSEN[group][2]).read_text()
    assert re.search(rf"`(?:{CHOSEN[group][1]} )?{re.escape(kind.name)}`", page), \
        f"docs/{CHOSEN[group][2]} does not name `{kind.name}`"


def test_an_unknown_name_lists_the_choices():
    with pytest.raises(Exception, match="choose one of local, ray"):
        kinds.find("executors", "spark")
