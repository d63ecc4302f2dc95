"""How answers are scored and summed up: the custom check, exact match, contains, similarity, and the summary.

Plain Python, so the window can show scores without loading MLX; evaluation.py produces them.
"""

import math
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..errors import InputError

# key, label, higher is better (None: neither)
METRICS = (("loss", "Loss on the expected answers", False), ("perplexity", "Perplexity", False),
           ("check", "Passes the check", True), ("exact", "Exact match", True),
           ("contains", "Contains the expected answer", True), ("similarity", "Similarity to the expected", True),
           ("length", "Answer length (tokens)", None))
SHARES = ("check", "exact", "contains", "similarity")
SHORT_LABELS = {"loss": "Loss", "check": "Check", "exact": "Exact", "contains": "Contains",
                "similarity": "Similarity", "length": "Tokens"}


@dataclass
class Check:
    """A custom check every answer must pass: `ends_with` a text, or match a regular expression (`regex`)."""

    kind: str
    value: str

    def __post_init__(self):
        if self.kind not in ("ends_with", "regex") or not self.value:
            raise InputError(f"A check is 'ends_with' or 'regex' with a text; got {self.kind!r} {self.value!r}.")
        if self.kind == "regex":
            try:
                self.pattern = re.compile(self.value)
            except re.error as error:
                raise InputError(f"The check's regular expression {self.value!r} is not valid: {error}. "
                                 "Fix the pattern, or check the ending instead.") from None

    def passes(self, answer: str) -> bool:
        if self.kind == "ends_with":
            return answer.rstrip().endswith(self.value.rstrip())
        return self.pattern.search(answer) is not None

    def describe(self) -> str:
        return f"ends with {self.value!r}" if self.kind == "ends_with" else f"matches /{self.value}/"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "description": self.describe()}


def normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def answer_scores(answer: str, expected: str | None, check: Check | None, tokenizer) -> dict:
    scores = {"answer": answer, "length": len(tokenizer.encode(answer, add_special_tokens=False))}
    if check is not None:
        scores["check"] = check.passes(answer)
    if expected is not None:
        scores["exact"] = normalized(answer) == normalized(expected)
        scores["contains"] = normalized(expected) in normalized(answer)
        scores["similarity"] = round(SequenceMatcher(None, answer.strip(), expected.strip(), autojunk=False).ratio(), 4)
    return scores


def _mean(values) -> float | None:
    values = [float(v) for v in values]
    return sum(values) / len(values) if values else None


def summarize(rows: list[dict]) -> dict:
    """One side's figures over all its scored items; a figure without data is left out."""
    summary = {"count": len(rows)}
    tokens = sum(r.get("loss_tokens", 0) for r in rows)
    if tokens:
        summary["loss"] = sum(r["loss_sum"] for r in rows if "loss_sum" in r) / tokens
        summary["perplexity"] = math.exp(min(summary["loss"], 50.0))
    for key in (*SHARES, "length"):
        mean = _mean(r[key] for r in rows if key in r)
        if mean is not None:
            summary[key] = mean
    return summary


def difference(base: dict, tuned: dict) -> dict:
    return {key: tuned[key] - base[key] for key, _, _ in METRICS if key in base and key in tuned}


def figure(key: str, value) -> str:
    """A score as a person reads it: shares in percent, losses with three decimals."""
    if value is None:
        return "\u2013"
    if key in SHARES:
        return f"{value:.0%}"
    return f"{value:.1f}".removesuffix(".0") if key == "length" else f"{value:.3f}"


def points_text(value: float) -> str:
    """A change of a share in percentage points: "+10 points", "-1 point", "no change"."""
    points = round(value * 100)
    return "no change" if not points else f"{points:+d} point{'s' if abs(points) != 1 else ''}"


def change_text(key: str, value: float) -> str:
    """A difference tuned - base: shares in percentage points."""
    if key in SHARES:
        return points_text(value)
    return f"{'+' if value > 0 else ''}{figure(key, value)}"


def summary_rows(summary: dict, check: dict | None = None) -> list[tuple[str, str, bool | None]]:
    """(key, label, higher is better) of each figure both sides have; the check is named by what it checks."""
    return [(key, f"Answer {check['description']}" if key == "check" and check else label, better)
            for key, label, better in METRICS if key in summary["base"] and key in summary["tuned"]]


def item_keys(items: list[dict]) -> list[str]:
    """The scores shown for each prompt: those any prompt has (perplexity is a figure of the whole set)."""
    return [key for key, _, _ in METRICS if key != "perplexity" and any(key in item["base"] for item in items)]


def pair(item: dict, key: str) -> tuple[str, float] | None:
    """One prompt's score on both sides as "original \u2192 fine-tuned", and the change it sorts by; None without it."""
    if key not in item["base"]:
        return None
    values = [item[side][key] for side in ("base", "tuned")]
    shown = ["\u2713" if v is True else "\u2717" if v is False else figure(key, v) for v in values]
    return f"{shown[0]} \u2192 {shown[1]}", float(values[1]) - float(values[0])
