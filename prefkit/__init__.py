"""prefkit: create, validate and hand off preference datasets for LLaMA-Factory.

The Python API mirrors the CLI::

    import prefkit
    report = prefkit.convert(["votes.jsonl"], "data/votes.json", fmt="pairwise", to="sharegpt",
                             register="votes", dataset_dir="data")
    prefkit.register("other", "data/other.json", "data")
    report = prefkit.validate("votes", dataset_dir="data", model="Qwen/Qwen2.5-7B-Instruct", cutoff_len=2048)
"""

from .convert import ConvertReport, convert
from .errors import PrefkitError
from .readers import READERS, ReadOptions, register_reader
from .records import KtoExample, Message, PreferencePair, Provenance, Reject
from .registry import register
from .validate import ValidationReport, validate

__version__ = "0.1.0"
__all__ = ["ConvertReport", "KtoExample", "Message", "PreferencePair", "PrefkitError", "Provenance", "READERS",
           "ReadOptions", "Reject", "ValidationReport", "convert", "register", "register_reader", "validate"]
