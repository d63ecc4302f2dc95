"""A person's own picks of the better answer, kept with the run: shown blind as A and B, appended to one file as made,
and read back as chosen/rejected pairs that a preference training can learn from.

Plain Python (no MLX): the window writes picks as they are made; the verdict compares them with the judge's.
"""

import hashlib
import json
import time
from pathlib import Path

from ..files import append_line, read_lines, write_text_atomic

PICKS_FILE = "picks.jsonl"
PAIRS_FILE = "picked_pairs.jsonl"  # the picks as pairs to teach by choosing
FEWEST_TO_TEACH = 4  # picks that chose an answer: fewer do not make one batch
CHOICES = {"A": "A is better", "B": "B is better", "same": "As good", "both_bad": "Both bad"}
OUTCOME = {"tuned": "tuned", "base": "base", "same": "tie", "both_bad": "tie"}  # a pick as a judge's outcome


def answers_key(prompt: str, base: str, tuned: str) -> str:
    """Which question and which two answers a pick or a verdict is about: the same key for the same texts."""
    joined = "\x1f".join((prompt, base.strip(), tuned.strip()))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


def blind_order(key: str) -> tuple[str, str]:
    """The sides shown as A and B for a pair: random-looking, but the same each time the pair is shown."""
    return ("tuned", "base") if int(key[:8], 16) % 2 else ("base", "tuned")


def record(prompt: str, answers: dict, shown: tuple[str, str], choice: str, expected: str | None = None,
           where: str = "scores") -> dict:
    """A pick as kept: `choice` of CHOICES on answers shown as A = shown[0], B = shown[1]."""
    if choice not in CHOICES:
        raise ValueError(f"a pick is one of {', '.join(CHOICES)}")
    better = {"A": shown[0], "B": shown[1]}.get(choice, choice)
    return {"key": answers_key(prompt, answers["base"], answers["tuned"]), "prompt": prompt, "expected": expected,
            "base": answers["base"].strip(), "tuned": answers["tuned"].strip(), "shown": list(shown),
            "choice": choice, "better": better, "where": where, "time": time.time()}


def add(run_dir, pick: dict) -> None:
    """Append one pick to the run's picks file, on disk before this returns (a later pick of the same pair wins)."""
    append_line(Path(run_dir) / PICKS_FILE, pick)


def read(run_dir) -> dict[str, dict]:
    """The latest pick of each pair, by key; a line cut short by a crash is passed over."""
    if not run_dir:
        return {}
    return {pick["key"]: pick for pick in read_lines(Path(run_dir) / PICKS_FILE) if "key" in pick}


def preference_pairs(run_dir) -> list[dict]:
    """The picks that chose one answer, as {"prompt", "chosen", "rejected"} records (TRL's preference format)."""
    pairs = []
    for pick in read(run_dir).values():
        if pick["better"] in ("base", "tuned"):
            other = "base" if pick["better"] == "tuned" else "tuned"
            pairs.append({"prompt": pick["prompt"], "chosen": pick[pick["better"]], "rejected": pick[other]})
    return pairs


def write_pairs(run_dir) -> Path:
    """The picks that chose one answer, written beside them as a file of pairs, for a run that teaches by choosing."""
    path = Path(run_dir) / PAIRS_FILE
    write_text_atomic(path, "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in preference_pairs(run_dir)))
    return path
