"""Numbers and places said right in a person's words: "1 example", "84 examples", and "this Mac" only on a Mac.

Plain text only, shared by the engine, the command line and the window.
"""

import sys

THIS_COMPUTER = "this Mac" if sys.platform == "darwin" else "this computer"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """n and the noun, singular for one: count(1, "training example") is "1 training example"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
