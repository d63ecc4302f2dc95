"""Questions read out of a model's free-written list, and near-duplicates kept out: the first stage of making data
from a topic or from documents. Plain text work, no model.
"""

import re
from difflib import SequenceMatcher

# Openings that spread a model's questions over what people really ask, one per request in turn.
STARTERS = ("How do I", "Can I", "What is the difference between", "Why does", "What should I do if",
            "Is it a good idea to", "When should I", "What happens if", "How can I tell whether",
            "What is the best way to", "Is it normal that", "How long does it take to")
LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]+|\(?\d{1,3}[.):]|Q\d*[.:)]|Question\s*\d*[.:)])\s*", re.IGNORECASE)
SHORTEST, LONGEST = 8, 400
SAME_WORDS, SAME_TEXT = 0.8, 0.9


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def parse(text: str) -> list[str]:
    """The questions in a model's answer: one per line, with list marks and quotes taken off; lines too short or too
    long to be a question, and lead-ins ("Here are ten questions:"), left out."""
    found = []
    for line in text.splitlines():
        line = LIST_MARK.sub("", line).strip().strip("\"'\u201c\u201d*").strip()
        if SHORTEST <= len(line) <= LONGEST and len(_words(line)) >= 2 and not line.endswith(":"):
            found.append(line)
    return found


class Distinct:
    """Questions kept so far; `add` refuses one that says the same as a kept one in other words or order."""

    def __init__(self, kept=()):
        self.kept: list[str] = []
        self._shapes: list[tuple[set, str]] = []
        for question in kept:
            self.add(question)

    def _similar(self, words: set, text: str) -> bool:
        for other_words, other_text in self._shapes:
            overlap = len(words & other_words) / max(len(words | other_words), 1)
            if overlap >= SAME_WORDS or SequenceMatcher(None, text, other_text).ratio() >= SAME_TEXT:
                return True
        return False

    def add(self, question: str) -> bool:
        words = _words(question)
        shape = (set(words), " ".join(words))
        if not words or self._similar(*shape):
            return False
        self.kept.append(question)
        self._shapes.append(shape)
        return True
