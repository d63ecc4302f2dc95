"""Numbers and places said right in a person's words: "1 example", "84 examples", and "this Mac" only on a Mac.

Plain text only, shared by the engine, the command line and the window.
"""

import sys

THIS_COMPUTER = "this Mac" if sys.platform == "darwin" else "this computer"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """n and the noun, singular for one: count(1, "training example") is "1 training example"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def json_kind(value) -> str:
    """What a JSON value is, in words: "text", "a list", "a JSON object", "a number", "true or false" or
    "empty (null)"."""
    if value is None:
        return "empty (null)"
    return {dict: "a JSON object", list: "a list", str: "text", bool: "true or false"}.get(type(value), "a number")


QUOTED_CHARS = 60  # a message shows a value's start, this long: a 10 MB value must not become a 10 MB message


def start_of(text: str, chars: int = QUOTED_CHARS) -> str:
    """The start of a text a message quotes: the whole when short, else its first `chars` characters and "…"."""
    return text if len(text) <= chars else text[:chars] + "\u2026"
