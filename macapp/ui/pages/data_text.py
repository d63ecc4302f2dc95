"""How data reads on the Data step: a record's value in a table cell, a mapped column by its name, the part of an
example a problem is about, and the line of a file that a problem is on.
"""

import itertools
import json
import re
from pathlib import Path

from ...engine.errors import SHEET, place

CELL_CHARS = 160


def cell_text(value) -> str:
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        text = "   ".join(f"{m.get('role', '?')}: {m['content']}" for m in value)  # a chat, as people read it
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "\u2026"


def column_words(spec: str) -> str:
    """A mapped column as a person reads it: “Comment”, or “instruction” with “input” for a template."""
    names = re.findall(r"{([^{}]+)}", spec) or [spec]
    return " with ".join(f"\u201c{name}\u201d" for name in names)


def read_line(path: str, number: int, limit: int = 4000) -> str:
    """Line `number` (1-based) of a text file, shortened, for showing where a problem is."""
    try:
        with open(path, "rb") as handle:
            line = next(itertools.islice(handle, number - 1, None), b"")
    except OSError as error:
        return f"(cannot read it: {error})"
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + f"\u2026 ({len(text):,} characters)"


FIELD_WORDS = {"prompt": "the question", "completion": "the answer", "text": "the text", "messages": "the conversation"}


def field_words(field: str) -> str:
    """The part of an example a problem is about, as a person says it: "messages[1].content" is "message 2's text"."""
    found = re.fullmatch(r"messages\[(\d+)\](?:\.(\w+))?", field)
    if found:
        part = {"content": "text", "role": "role (user or assistant)"}.get(found[2], found[2])
        return f"message {int(found[1]) + 1}" + (f"'s {part}" if part else "")
    return FIELD_WORDS.get(field, f"\u201c{field}\u201d")


def where_words(file: str, line: int | None, unit: str) -> str:
    """Where a problem is, as a person reads it: "chats.jsonl, line 5", "book.xlsx, sheet “Emails”, row 14"."""
    name = Path(file).name
    if line is None or unit.startswith(SHEET):
        return place(name, line, unit)
    return f"{name}, {unit} {line}"


def problem_text(problem: dict) -> str:
    """A problem's message as the Problems list shows it: a sentence, the places it names as where_words says them."""
    message = problem["message"].replace(str(Path(problem["file"]).parent) + "/", "")
    message = re.sub(r"(\S+\.\w+):(\d+)", r"\1, line \2", message)
    field = f"{field_words(problem['field'])}: " if problem.get("field") else ""
    text = field + message
    return text[:1].upper() + text[1:]
