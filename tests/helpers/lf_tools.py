"""Running a tests/tools script under a LLaMA-Factory venv and reading the JSON lines it prints."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def tool_lines(python: Path | str, tool: str, *args: str, prefix: str = '{"version"', timeout: int = 900) -> list[dict[str, Any]]:
    """The JSON lines (starting with ``prefix``) that ``tests/tools/<tool>`` prints; its exit status must be 0."""
    proc = subprocess.run([str(python), str(TOOLS / tool), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith(prefix)]
