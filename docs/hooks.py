"""mkdocs hook: the site's home page is the README, with its links into docs/ made relative to the site."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 - mkdocs' hook signature
    if page.file.src_uri != "index.md":
        return markdown
    with open(README, encoding="utf-8") as f:
        return re.sub(r"\]\(docs/", "](", f.read())
