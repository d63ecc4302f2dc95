"""Helpers the tests share: run the real `tailor` command, write data files.

Kept apart from conftest so test modules can import them.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tailor(*args, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `tailor` command in its own process."""
    return subprocess.run([sys.executable, "-m", "macapp", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=kwargs.pop("cwd", REPO), **kwargs)


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path
