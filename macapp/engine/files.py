"""Small file helpers every engine module shares: the data home, atomic writes and synced line logs.

A write goes to a temporary file beside the target and is renamed over it, so a crash never
leaves half a file where a whole one is expected; a log only grows, one synced line at a time.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import platformdirs
import yaml

from . import bundle

RESOURCES = bundle.resources()


def data_home() -> Path:
    """Where Tailor keeps runs and the demo model (`TAILOR_HOME` overrides it)."""
    override = os.environ.get("TAILOR_HOME")
    home = Path(override) if override else Path(platformdirs.user_data_dir("Tailor", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_yaml_atomic(path: Path, data) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def atomic_target(path: Path) -> Path:
    """A temporary sibling path for writers that take a file name (e.g. safetensors)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.tmp{path.suffix}")


def file_digest(path: Path) -> dict:
    """A file's size and SHA-256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def read_lines(path: Path) -> list[dict]:
    """The whole lines of a log. A last line without its end (being written now, or cut short by a kill) is left out,
    and so is such a line that a later append closed; the file is never changed, since the worker may be writing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    found = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line cut short by a kill, ended by the next append
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def append_line(path: Path, record: dict) -> None:
    """Add one JSON line to a log in a single write, and sync it: a kill never loses a whole one. After a line a kill
    cut short the new one starts on a line of its own, so it is read whole."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(handle).st_size
        if size and os.pread(handle, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(handle, line)
        os.fsync(handle)
    finally:
        os.close(handle)
