"""Whether fine-tuning helped, in words a person can act on: the judge's tally with its 95% interval, how often the
judge agrees with the person's own picks, and what to try when the model is not better.

Plain Python (no MLX): the window, `tailor eval` and report.html all build the same card from a report and its picks.
"""

from dataclasses import dataclass, field

from .. import words
from . import general_scores
from .intervals import interval_words, percent, share_interval
from .picks import OUTCOME

OUTCOMES = ("tuned", "base", "tie", "none")  # per question: which answer won, as good, or no verdict
OUTCOME_WORDS = {"tuned": "Fine-tuned better", "base": "Original better", "tie": "As good", "none": "No verdict"}
OUTCOME_ORDER = {"tuned": 1, "tie": 0, "base": -1, "none": -2}  # to sort by
MOST_PICKS_FOR_AGREEMENT = 10  # fewer picks than this tell little about a judge
FEWEST_FOR_NO_DIFFERENCE = 10  # judged questions, all ties, before "no difference found" is said
TRUSTED_AGREEMENT = 0.70
FEW_EXAMPLES = 200  # trained on fewer examples than this: more data is the first thing to try
FEW_DECIDED = 5  # questions where the judge chose one: below this a share of them says nothing
SMALL_MODEL = 1.5e9  # parameters


NOT_JUDGED = "Also in training: not judged"


def pick_words(pick: dict) -> tuple[str, int]:
    """A person's pick as the window and the report show it, with its place when sorted: "Both bad" stays itself,
    though it counts as a tie."""
    outcome = OUTCOME[pick["better"]]
    return ("Both bad" if pick["better"] == "both_bad" else OUTCOME_WORDS[outcome]), OUTCOME_ORDER[outcome]


@dataclass
class Tally:
    """What a judge (or a person) said over the held-out questions: the fine-tuned model better, worse, as good, or no
    verdict; `left_out` counts the questions not judged because they are also in the training data."""

    better: int = 0
    worse: int = 0
    same: int = 0
    unread: int = 0
    left_out: int = 0

    @classmethod
    def of(cls, outcomes, left_out: int = 0) -> "Tally":
        outcomes = list(outcomes)
        return cls(outcomes.count("tuned"), outcomes.count("base"), outcomes.count("tie"), outcomes.count("none"),
                   left_out)

    @property
    def judged(self) -> int:
        return self.better + self.worse + self.same

    @property
    def decided(self) -> int:
        return self.better + self.worse

    def interval(self) -> tuple[float, float]:
        """The 95% interval of the share of decided questions the fine-tuned model wins (a sign test: ties tell
        nothing about which is better)."""
        return share_interval(self.better, self.decided)

    def call(self) -> str:
        """better, worse, unclear (the interval holds one half: too few questions to tell), same (every judged question
        a tie), unread (no reply could be read) or none (nothing judged)."""
        if not self.judged:
            return "unread" if self.unread else "none"
        if not self.decided:  # all ties: "no difference" only from enough questions
            return "same" if self.judged >= FEWEST_FOR_NO_DIFFERENCE else "unclear"
        low, high = self.interval()
        return "better" if low > 0.5 else "worse" if high < 0.5 else "unclear"


HEADLINES = {"better": "Better: your fine-tuned model gives the better answers",
             "worse": "Worse: the original model gives the better answers",
             "unclear": "Too few questions to tell whether it is better",
             "same": "No difference found: the answers were as good as each other",
             "unread": "No verdict: the judge's replies could not be read",
             "none": "No verdict yet"}


def tally_words(tally: Tally) -> str:
    """'On 40 questions it never saw, the fine-tuned model was better on 31, worse on 4 and as good on 5'."""
    return (f"On {words.count(tally.judged + tally.unread, 'question')} it never saw, the fine-tuned model was better "
            f"on {tally.better}, worse on {tally.worse} and as good on {tally.same}")


def agreement(pairs: list[tuple[str, str]]) -> dict | None:
    """How often the judge agrees with the person, over (person's outcome, judge's outcome) pairs of "tuned", "base"
    or "tie": the share and Cohen's kappa (agreement beyond what chance gives); None without pairs."""
    if not pairs:
        return None
    count = len(pairs)
    agree = sum(person == judge for person, judge in pairs)
    chance = sum((sum(p == c for p, _ in pairs) / count) * (sum(j == c for _, j in pairs) / count)
                 for c in ("tuned", "base", "tie"))
    kappa = None if chance >= 1 else (agree / count - chance) / (1 - chance)
    return {"count": count, "agree": agree, "share": agree / count, "kappa": kappa,
            "enough": count >= MOST_PICKS_FOR_AGREEMENT,
            "trusted": count >= MOST_PICKS_FOR_AGREEMENT and agree / count >= TRUSTED_AGREEMENT}


def agreement_words(agreed: dict | None) -> str:
    if not agreed or not agreed["enough"]:
        have = agreed["count"] if agreed else 0
        return (f"Pick the better answer yourself (in the window: Test, Score and judge) on {MOST_PICKS_FOR_AGREEMENT} "
                f"judged questions or more to see whether the judge agrees with you ({have} so far).")
    value = agreed["kappa"]
    kappa = "" if value is None else (f"; beyond chance, kappa {round(value, 2) + 0.0:.2f}, where 0 is "
                                      "chance and 1 full agreement")
    said = (f"Your own picks agreed with the judge on {agreed['agree']} of {agreed['count']} "
            f"({percent(agreed['share'])}{kappa}).")
    if not agreed["trusted"]:
        said += (f" That is under {percent(TRUSTED_AGREEMENT)}: do not trust this judge for this task. Trust your own "
                 "picks, or choose a larger judge model.")
    return said


def size_words(parameters: float) -> str:
    """0.5 billion, 135 million, 760 thousand."""
    if parameters >= 1e9:
        return f"{parameters / 1e9:.1f} billion"
    return f"{parameters / 1e6:.0f} million" if parameters >= 1e6 else f"{parameters / 1e3:.0f} thousand"


def advice(facts: dict) -> list[str]:
    """What to try when the model is not better, from the run itself: validation loss that rose, few examples, a
    small model."""
    tips = []
    if facts.get("val_rose_after"):
        tips.append(f"Validation loss rose after step {facts['val_rose_after']}: the model learned your examples by "
                    "heart. Test the best adapter, or train for fewer passes.")
    if facts.get("train_examples") is not None and facts["train_examples"] < FEW_EXAMPLES:
        tips.append(f"It trained on {words.count(facts['train_examples'], 'example')}. Add more of your own, or make "
                    "more with a local model (step 2).")
    if facts.get("parameters") and facts["parameters"] < SMALL_MODEL:
        tips.append(f"The model is small ({size_words(facts['parameters'])} parameters) for a task like this. "
                    "Try a larger model that fits this Mac.")
    return tips or ["Train for more passes, or check that your examples show the answers you want."]


@dataclass
class Card:
    """The verdict as the window, the command and the report show it: a call, its headline and lines of detail."""

    call: str
    headline: str
    lines: list[str] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)
    agreement: dict | None = None
    general: str = ""  # general knowledge before and after, when it was checked: a paragraph of its own



def _pick_pairs(items: list[dict], picks: dict) -> list[tuple[str, str]]:
    """(person's outcome, judge's outcome) for each judged question the person picked on, with the same answers."""
    pairs = []
    for item in items:
        judged, key = item.get("judge"), item.get("key")
        if judged and judged["outcome"] != "none" and key in picks:
            pairs.append((OUTCOME[picks[key]["better"]], judged["outcome"]))
    return pairs


def card(report: dict | None, picks: dict | None = None) -> Card:
    """The verdict of a report (report.json's contents) with the person's picks so far (picks.read), and the general
    knowledge check when it was made."""
    made = _by_answers(report, picks or {})
    chosen = (report or {}).get("preference")
    if chosen:
        made.lines.insert(0, preference_line(chosen))
    general = (report or {}).get("general")
    if general:
        made.general = general_scores.line(general)
        made.tips += general_scores.tips(general)
    return made


def preference_line(chosen: dict) -> str:
    """What the held-out pairs say of a run taught by choosing (evaluation.preference_check's counts)."""
    k, n = chosen["preferred"], chosen["pairs"]
    return (f"On {words.count(n, 'held-out pair')} it never trained on, the fine-tuned model prefers the better answer "
            f"more than the original model did on {k} ({percent(k / n)}, {interval_words(*share_interval(k, n))}).")


def _by_answers(report: dict | None, picks: dict) -> Card:
    """The verdict on the held-out questions: by the judge, else by the check, else by the person's picks."""
    items = (report or {}).get("items", [])
    judge = (report or {}).get("judge")
    if not judge:
        return _without_judge(report or {}, items, picks)
    judged = [item["judge"]["outcome"] for item in items if item.get("judge")]
    tally = Tally.of(judged, sum(bool(item.get("in_training")) for item in items))
    lines = [f"{tally_words(tally)} (judged by {judge['name']} {judge.get('where', 'on this Mac')})."]
    if tally.decided >= FEW_DECIDED:
        lines.append(f"Where the judge chose one, the fine-tuned model won {percent(tally.better / tally.decided)} "
                     f"({interval_words(*tally.interval())}).")
    elif tally.decided:
        lines.append(f"The judge preferred one answer on only {words.count(tally.decided, 'question')}: too few to "
                     "say which model is better.")
    if tally.unread:
        lines.append(f"The judge's reply could not be read for {words.count(tally.unread, 'question')}: counted as "
                     "no verdict, never as a win.")
    if tally.left_out:
        lines.append(f"{words.count(tally.left_out, 'question')} of the test set left out: also in the training "
                     "data, so they would measure memory.")
    pairs = _pick_pairs(items, picks)
    agreed = agreement(pairs)
    lines.append(agreement_words(agreed))
    if agreed and agreed["enough"] and not agreed["trusted"]:
        mine = Tally.of(person for person, _ in pairs)
        lines.append(f"Your picks: fine-tuned better on {mine.better}, original better on {mine.worse}, as good on "
                     f"{mine.same}.")
    return _finish(Card(tally.call(), HEADLINES[tally.call()], lines, agreement=agreed), report)


def _check_outcome(item: dict) -> str | None:
    """A question's verdict by the check every answer should pass: the side that alone passes it, else a tie."""
    passes = [item[side].get("check") for side in ("base", "tuned")]
    if None in passes:
        return None
    return "tie" if passes[0] == passes[1] else "tuned" if passes[1] else "base"


def _without_judge(report: dict, items: list[dict], picks: dict) -> Card:
    """The verdict of a scoring without a judge: by the custom check when there is one, else by the person's picks."""
    held_out = [item for item in items if not item.get("in_training")]
    by_check = [outcome for outcome in map(_check_outcome, held_out) if outcome]
    if by_check:
        tally = Tally.of(by_check, len(items) - len(held_out))
        lines = [f"{tally_words(tally)} (judged by your check: the answer {report['check']['description']})."]
        if tally.decided >= FEW_DECIDED:
            lines.append(f"Where only one passed, it was the fine-tuned model's in "
                         f"{percent(tally.better / tally.decided)} ({interval_words(*tally.interval())}).")
        lines.append("Choose a judge model to compare the answers on more than the check.")
        return _finish(Card(tally.call(), HEADLINES[tally.call()], lines), report)
    own = [OUTCOME[picks[item["key"]]["better"]] for item in held_out if item.get("key") in picks]
    if not own:
        if not held_out:
            return Card("none", HEADLINES["none"], ["Choose a judge model and score both models to get a verdict, or "
                                                    "pick the better answer yourself."])
        return Card("none", HEADLINES["none"], [
            f"Both models answered {words.count(len(held_out), 'question')} they never saw. No judge was chosen, so "
            "there is no verdict yet: pick the better answer of each yourself (Score and judge, Every question), or "
            "choose a judge and score again."])
    tally = Tally.of(own)
    said = tally_words(tally)
    lines = [f"By your own picks: {said[0].lower()}{said[1:]}."]
    return _finish(Card(tally.call(), HEADLINES[tally.call()], lines), report)


def _finish(made: Card, report: dict | None) -> Card:
    """The card with what to try when the model is not (or not clearly) better."""
    if made.call in ("worse", "unclear", "same"):
        made.tips = advice((report or {}).get("facts", {}))
    if made.call == "unread":
        made.tips = ["Choose a larger judge model: this one did not answer in the form it was asked for."]
    if made.call == "unclear":
        made.lines.append("Score more held-out questions to tell: more questions narrow the interval.")
    return made
