"""The documentation cannot drift from the app: the CLI reference page is what the app says of itself."""

import typer

from conftest import ROOT
from prefkit.cli import app
from prefkit.cli.reference import commands, reference

PAGE = ROOT / "docs" / "reference" / "cli.md"


def test_the_cli_reference_page_is_up_to_date():
    assert PAGE.read_text(encoding="utf-8") == reference(app), \
        "docs/reference/cli.md is out of date: run `make docs` (python -m prefkit.cli.reference docs/reference/cli.md)"


def test_every_command_and_option_is_in_the_reference():
    page = PAGE.read_text(encoding="utf-8")
    missing = []
    for full, command in commands(typer.main.get_command(app)):
        if f"## `{full}`" not in page:
            missing.append(full)
        section = page.split(f"## `{full}`", 1)[-1].split("\n## ", 1)[0]
        missing += [f"{full} {name}" for p in command.params if p.param_type_name == "option" and not p.hidden
                    for name in p.opts if f"`{name}" not in section and f", {name}" not in section]
    assert not missing, f"not in docs/reference/cli.md: {missing}"


def test_the_readme_is_a_landing_page_that_links_existing_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 12 * 1024
    import re

    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links and all((ROOT / link).is_file() for link in links), [link for link in links if not (ROOT / link).is_file()]
