"""The local judge: each held-out question's two answers shown to a judge model twice, their order swapped; a pair is
won only when both orders agree, so a judge that favours a position gives ties, not wins.

Replies are appended to the run's judgements file as they come, so a judging cut off (a lost server, a stop) goes on
where it left off and never asks about a pair twice. Plain Python: the judge is a model server or an MLX model that
data making's `chat_sources.connect` loads in the worker (judge_choice.py says which).
"""

import hashlib
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

from .. import words
from ..data.chat_sources import Refused, ServerLost, ServerTrouble, connect
from ..errors import RunFailed
from ..files import append_line, read_lines
from ..runs import events as ev
from ..runs.run_state import duration_words
from .judge_choice import REPLY_TOKENS, Judge
from .picks import answers_key

JUDGEMENTS_FILE = "judgements.jsonl"
SYSTEM = "You are a careful, impartial judge. You compare two answers to the same question and say which is better."
REQUEST = ("Question:\n{prompt}\n\n{example}What matters: {criteria}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}\n\n"
           "Which answer is better by what matters? Reply with one line, \u201cBetter: 1\u201d, \u201cBetter: 2\u201d "
           "or \u201cBetter: same\u201d, then one short sentence saying why.")
EXAMPLE = "A good answer looks like this example:\n{expected}\n\n"
VERDICT = re.compile(r"better\W{0,6}(?:answer\W{0,4})?(1|2|same|tie|neither|both|equal)\b", re.IGNORECASE)
BARE = re.compile(r"^\W*(?:answer\s*)?(1|2|same|tie)\W*$", re.IGNORECASE)
SWAPPED = "The judge chose differently when the order was swapped, so the two count as as good."


def request(prompt: str, expected: str | None, first: str, second: str, criteria: str) -> list[dict]:
    example = EXAMPLE.format(expected=expected.strip()) if expected and expected.strip() else ""
    text = REQUEST.format(prompt=prompt.strip(), example=example, criteria=criteria, first=first.strip() or "(empty)",
                          second=second.strip() or "(empty)")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def read_reply(text: str) -> tuple[str | None, str]:
    """("1", "2" or "same", the reason) from a judge's reply; (None, what it said) when it names no choice."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    found = VERDICT.search(text) or (BARE.match(lines[0]) if lines else None)
    if not found:
        return None, words.start_of(" ".join(text.split()), 200)
    choice = found.group(1).lower()
    choice = choice if choice in ("1", "2") else "same"
    rest = " ".join((text[:found.start()] + " " + text[found.end():]).split()).strip(" .:*-\u2014")
    return choice, words.start_of(rest, 200)


def winner(choice: str | None, order: int) -> str | None:
    """The side a choice names, for order 0 (base shown first) or 1 (tuned first); "tie" for same; None unread."""
    if choice is None:
        return None
    if choice == "same":
        return "tie"
    return ("base", "tuned")[(choice == "2") != (order == 1)]


def outcome(first: dict, second: dict) -> dict:
    """One question's verdict from its two judgements: a side only when both orders name it."""
    sides = [winner(first["choice"], 0), winner(second["choice"], 1)]
    if None in sides:  # what the judge said instead of a choice
        unread = first if first["choice"] is None else second
        return {"outcome": "none", "reason": "The judge's reply could not be read: " + unread["reason"]}
    if sides[0] != sides[1]:
        return {"outcome": "tie", "reason": SWAPPED}
    return {"outcome": sides[0], "reason": first["reason"] or second["reason"]}


def _orders(item: dict) -> tuple:
    """The two answers of a question as the judge sees them: the original first (order 0), then the tuned first."""
    return (item["base"], item["tuned"]), (item["tuned"], item["base"])


def _call_key(judge: Judge, item: dict, first: str, second: str) -> str:
    text = "\x1f".join((judge.name, judge.criteria, item["prompt"], item.get("expected") or "", first, second))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class Judgements:
    """The judge's replies kept in the run folder, one line each, appended and synced as they come (a line a crash
    cut short is passed over: that pair is asked again)."""

    def __init__(self, path: Path):
        self.path, self.lock = Path(path), threading.Lock()
        self.replies = {reply["key"]: reply for reply in read_lines(self.path) if "key" in reply}

    def add(self, reply: dict) -> None:
        with self.lock:
            append_line(self.path, reply)
            self.replies[reply["key"]] = reply


def judge_items(items: list[dict], judge: Judge, store: Path, report=lambda event: None,
                should_stop=lambda: False) -> list[dict]:
    """{"outcome", "reason"} for each item ({"prompt", "expected", "base", "tuned"}), asking the judge only about
    the orders not already kept in `store`."""
    kept = Judgements(store)
    calls = []
    for item in items:
        for first, second in _orders(item):
            key = _call_key(judge, item, first, second)
            if key not in kept.replies:
                calls.append((key, request(item["prompt"], item.get("expected"), first, second, judge.criteria)))
    if calls:
        _ask_all(calls, judge, kept, len(items), report, should_stop)
    verdicts = []
    for item in items:
        replies = [kept.replies[_call_key(judge, item, first, second)] for first, second in _orders(item)]
        verdicts.append({**outcome(*replies), "key": answers_key(item["prompt"], item["base"], item["tuned"])})
    return verdicts


def _ask_all(calls: list, judge: Judge, kept: Judgements, questions: int, report, should_stop) -> None:
    """Ask the judge every call: the first alone, to estimate the time, then the rest `judge.workers` at a time."""
    halt = threading.Event()
    ask = connect(judge.recipe(), report, lambda: halt.is_set() or should_stop())
    total, done = len(calls), [0]
    progress = threading.Lock()

    def one(key: str, messages: list[dict]) -> None:
        try:
            text, _ = ask(messages, REPLY_TOKENS)
        except Refused as refused:
            text = f"(the judge refused this question: {refused.reason})"
        choice, reason = read_reply(text)
        kept.add({"key": key, "choice": choice, "reason": reason, "reply": words.start_of(text, 600)})
        with progress:
            done[0] += 1
            left = (time.monotonic() - started) / done[0] * (total - done[0]) / (judge.workers if done[0] > 1 else 1)
            report({"type": ev.PROGRESS, "stage": "judge", "done": done[0], "total": total,
                    "message": f"Judging: {done[0]} of {total} judgements ({words.count(questions, 'question')}, "
                               f"each judged twice); {duration_words(left)} left"})

    started = time.monotonic()
    report({"type": ev.PROGRESS, "stage": "judge", "done": 0, "total": total,
            "message": f"Asking the judge ({judge.name})\u2026"})
    try:
        one(*calls[0])
        seconds = (time.monotonic() - started) * (total - 1) / judge.workers
        report({"type": ev.LOG, "message": f"Judging {words.count(total - 1, 'more answer pair')} takes "
                                           f"{duration_words(seconds)} at this judge's pace."})
        with ThreadPoolExecutor(judge.workers) as pool:
            futures = [pool.submit(one, key, messages) for key, messages in calls[1:]]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in finished if f.exception()), None)
            if failed is not None:
                halt.set()
                for future in futures:
                    future.cancel()
                raise failed
    except (ServerLost, ServerTrouble) as lost:
        plain = getattr(lost, "plain", str(lost))
        raise RunFailed(f"{plain} {done[0]} of {total} judgements were made and are kept.",
                        fix="Start the judge again, then score again: the judging goes on where it stopped, and no "
                            "pair is judged twice.") from None
