"""General knowledge before and after, as figures and words: which question sets are asked, the base's and the tuned
model's share right on the same questions, and whether the change is more than chance gives. Plain, for the window."""

from dataclasses import asdict, dataclass
from pathlib import Path

from .. import words
from .intervals import interval_words, percent, share_interval
from .scores import points_text

# Grade-school science, multiple choice: minutes to ask. In the order the card names the sets (by name).
DEFAULT_TASKS = ("arc_challenge", "arc_easy")
DEFAULT_LIMIT = 150  # questions a set: the two sets take minutes on a 16 GB Mac, and give a 95% interval of ±6 points
MOST_NAMED = 4  # sets the card names; a group of more (mmlu's 57) is counted
LOST_TIP = ("It lost general knowledge in training. Train for fewer passes or with a lower learning rate, or mix "
            "some general examples into your data.")


@dataclass(frozen=True)
class GeneralCheck:
    """The question sets of lm-evaluation-harness to ask (names, or task files of one's own) and how many of each."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    limit: int = DEFAULT_LIMIT

    @property
    def names(self) -> str:
        """'arc_challenge and arc_easy': a task file by its name without the folder."""
        return set_names([Path(task).stem if task.endswith((".yaml", ".yml")) else task for task in self.tasks])

    def to_dict(self) -> dict:
        return {**asdict(self), "tasks": list(self.tasks)}

    @classmethod
    def from_dict(cls, value: dict | None) -> "GeneralCheck | None":
        if value is None:
            return None
        return cls(tuple(value.get("tasks") or DEFAULT_TASKS), int(value.get("limit") or DEFAULT_LIMIT))

    @classmethod
    def from_text(cls, text: str, limit: int | None = None) -> "GeneralCheck":
        """'arc_easy, hellaswag' (or '' for the default sets)."""
        named = tuple(part.strip() for part in text.replace(";", ",").split(",") if part.strip())
        return cls(named or DEFAULT_TASKS, limit or DEFAULT_LIMIT)


def set_names(names: list[str]) -> str:
    """'arc_challenge and arc_easy'; 'a, b and c'; '57 question sets' for more than MOST_NAMED."""
    if len(names) > MOST_NAMED:
        return f"{len(names)} question sets"
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def compare(base: dict, tuned: dict, guess: dict | None = None) -> dict:
    """Paired figures from {set: {question id: 1 right / 0 wrong}} of each model, over the questions both answered:
    per set and in all, the counts right, the questions only one got right, and the call: "lost" or "gained" when the
    questions only one got right lean to one side beyond chance (a sign test), else "same"; with `guess`, {set: the
    share guessing gets}, what guessing gets in all."""
    sets, pairs, guessed = {}, [], []
    for name in sorted(set(base) & set(tuned)):
        shared = [(base[name][q], tuned[name][q]) for q in sorted(set(base[name]) & set(tuned[name]))]
        sets[name] = _figures(shared)
        pairs += shared
        guessed += [(guess or {}).get(name)] * len(shared)
    everything = _figures(pairs)
    if guessed and None not in guessed:
        everything["guess"] = sum(guessed) / len(guessed)
    return {"sets": sets, "all": everything}


def _figures(pairs: list[tuple[int, int]]) -> dict:
    count = len(pairs)
    lost = sum(1 for b, t in pairs if b and not t)
    gained = sum(1 for b, t in pairs if t and not b)
    low, high = share_interval(gained, lost + gained)
    call = "same" if not lost + gained or low <= 0.5 <= high else "gained" if low > 0.5 else "lost"
    return {"questions": count, "base_right": sum(b for b, _ in pairs), "tuned_right": sum(t for _, t in pairs),
            "lost": lost, "gained": gained, "call": call}


def line(general: dict) -> str:
    """'General knowledge (arc_challenge and arc_easy, 300 questions): 61% before (95% interval …), 59% after (…):
    about the same (a difference this small can be chance).'"""
    figures = general["all"]
    count = figures["questions"]
    if not count:
        return "General knowledge: no question of the sets could be asked of both models."
    base, tuned = figures["base_right"] / count, figures["tuned_right"] / count
    low, high = share_interval(figures["base_right"], count)
    said = (f"General knowledge ({set_names(list(general['sets']))}, {words.count(count, 'question')}): "
            f"{percent(base)} before ({interval_words(low, high)}), {percent(tuned)} after "
            f"({interval_words(*share_interval(figures['tuned_right'], count))})")
    if figures["call"] == "same":
        said += ": about the same (a difference this small can be chance)."
    else:
        said += (f": it {figures['call']} general knowledge ({figures['lost']} questions the original got right are "
                 f"now wrong, {figures['gained']} it got wrong are now right).")
    if "guess" in figures and low <= figures["guess"] <= high:
        said += (f" The original model scores about what guessing alone gets ({percent(figures['guess'])}): these "
                 "questions are too hard for it to show much.")
    return said


def general_rows(general: dict) -> list[tuple[str, str, str, str]]:
    """(label, before, after, change) of each set, as the scores' table shows them."""
    rows = []
    for name, figures in general["sets"].items():
        count = max(figures["questions"], 1)
        before, after = figures["base_right"] / count, figures["tuned_right"] / count
        change = points_text(after - before)
        rows.append((f"General knowledge: {name} ({figures['questions']} questions)", percent(before), percent(after),
                     change + (" (can be chance)" if figures["call"] == "same" and change != "no change" else "")))
    return rows


def tips(general: dict | None) -> list[str]:
    return [LOST_TIP] if general and general["all"]["call"] == "lost" else []
