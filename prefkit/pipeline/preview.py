"""``prefkit convert --preview N``: the first records of the inputs as they would be written, each field with the
source column its value came from (prefkit.readers.trace), writing nothing.

>>> import json, tempfile
>>> d = tempfile.mkdtemp()
>>> _ = open(f"{d}/v.jsonl", "w").write(json.dumps({"input": "2+2?", "output_1": "4", "output_2": "5", "label": 1}))
>>> from prefkit.readers import ReadOptions
>>> from prefkit.writers import get_writer
>>> options = ReadOptions(mapping={"prompt": "input", "response_a": "output_1", "response_b": "output_2",
...                                "verdict": "label"}, verdicts={"a": ["1"], "b": ["2"], "tie": [], "failed": []})
>>> print(render(preview([f"{d}/v.jsonl"], 1, "pairwise", get_writer("sharegpt"), options)[0]))
record 0 of v.jsonl:
  prompt   <- input: '2+2?'
  chosen   <- output_1 (label=1): '4'
  rejected <- output_2: '5'
"""

from __future__ import annotations

from dataclasses import replace as with_

from ..io.sample import readable, sample_rows
from ..readers import get_reader
from ..readers.base import ReadOptions
from ..readers.hints import unread
from ..readers.trace import Previewed, render, show_rows
from ..writers import Writer
from .flow import Input, source_rows

__all__ = ["Previewed", "preview", "render", "show_rows", "unread_notes"]

def preview(inputs: list[str], n: int, fmt: str, writer: Writer, options: ReadOptions) -> list[Previewed]:
    """The first ``n`` input records of ``inputs`` converted (a record may give several rows: they are shown
    together), with where each field came from."""
    shown: list[Previewed] = []
    for path in inputs:
        rows, name = source_rows(path, fmt, options)
        shown += show_rows(rows, get_reader(name), writer, with_(options, format=name), n - len(shown))
        if len(shown) >= n:
            break
    return shown


def unread_notes(first: Input, options: ReadOptions) -> list[str]:
    """The columns a run leaves unread in the first records of its first input (path and format: a ``--map``
    column, one that looks like an answer, the answers' scores), one note each (prefkit.readers.hints.unread); none
    when it cannot tell."""
    try:
        rows, name = source_rows(*first, options)
        sample = readable(sample_rows(rows))
        return unread(sample, name, with_(options, format=name)) if sample else []
    except Exception:  # a note is advice: reading the sample again must never fail the run
        return []
