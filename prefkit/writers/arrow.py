"""The Arrow schema of each writer's rows, for ``-o FILE.parquet`` (one type per column: optional columns
are nullable, and Parquet holds TRL's tool definitions and tool-call arguments as JSON text)."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError


def schema(writer: str) -> Any:
    import pyarrow as pa

    text = pa.string()
    sharegpt_msg = pa.struct([("from", text), ("value", text)])
    role_msg = pa.struct([("role", text), ("content", text)])
    call = pa.struct([("type", text), ("function", pa.struct([("name", text), ("arguments", text)]))])
    trl_msgs = pa.list_(pa.struct([("role", text), ("content", text), ("tool_calls", pa.list_(call))]))
    fields: dict[str, list[tuple[str, Any]]] = {
        "sharegpt": [("conversations", pa.list_(sharegpt_msg)), ("chosen", sharegpt_msg), ("rejected", sharegpt_msg),
                     ("tools", text)],
        "kto": [("conversations", pa.list_(sharegpt_msg)), ("kto_tag", pa.bool_()), ("tools", text)],
        "alpaca": [("instruction", text), ("chosen", text), ("rejected", text), ("system", text),
                   ("history", pa.list_(pa.list_(text)))],
        "trl": [("prompt", trl_msgs), ("chosen", trl_msgs), ("rejected", trl_msgs), ("tools", text)],
        "trl-kto": [("prompt", trl_msgs), ("completion", trl_msgs), ("label", pa.bool_()), ("tools", text)],
        "lf-v1": [("chosen", pa.list_(role_msg)), ("rejected", pa.list_(role_msg)), ("tools", text)],
    }
    if writer not in fields:
        raise UsageError(f"--to {writer} writes JSON only (.json or .jsonl), not Parquet")
    return pa.schema(fields[writer] + [("images", pa.list_(text))])  # image paths, on the rows that have images
