"""The examples a data-making job made, as the preview shows them: read from the job's folder, flagged (empty, cut
off, too long, repeated), edited and deleted, and saved as the dataset file the Data step reads.

examples.jsonl is a log: each line is an example, a newer version of one (edited), or its deletion; the newest line of
an index wins. Lines are appended whole and synced, so the worker and the window can both add to it.
"""

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import words
from ..files import append_line, data_home, read_lines, write_text_atomic
from ..runs import runs
from .recipe import Recipe

EXAMPLES, DATASET, RECIPE = "examples.jsonl", "dataset.jsonl", "recipe.json"
QUESTIONS_WRITTEN = "questions.partial.jsonl"  # the questions the model wrote so far, a step per line
FLAGS = {"empty": "empty answer", "cut": "cut off", "long": "too long", "repeat": "repeated"}
PHASE_WORDS = {"preparing": "making now", "finished": "done", "stopped": "paused", "interrupted": "paused",
               "failed": "paused"}
LONG_WORDS = 1500  # about 2,000 tokens: longer examples are cut at the Train step's usual length


@dataclass
class Example:
    index: int
    messages: list[dict]
    finish: list[str] = field(default_factory=list)  # per answer: "stop", or "length" when the token limit cut it
    source: str | None = None  # where in the person's documents the example comes from
    edited: bool = False

    @property
    def question(self) -> str:
        return next((m["content"] for m in self.messages if m["role"] == "user"), "")

    @property
    def answer(self) -> str:
        """The answer to the first question (a follow-up's is further on in the messages)."""
        return next((m["content"] for m in self.messages if m["role"] == "assistant"), "")

    @property
    def turns(self) -> int:
        return sum(m["role"] == "user" for m in self.messages)

    def record(self) -> dict:
        """The example as the dataset file holds it."""
        return {"messages": self.messages, **({"source": self.source} if self.source else {})}

    def line(self) -> dict:
        """The example as a line of the examples' log."""
        return {"index": self.index, "messages": self.messages, "finish": self.finish,
                **({"edited": True} if self.edited else {}), **({"source": self.source} if self.source else {})}


def folders_root() -> Path:
    return data_home() / "made-data"


def new_folder(name: str) -> Path:
    """A folder for a new job, named by its time and a few words of what it makes."""
    words = "-".join(re.findall(r"[a-z0-9]+", name.lower())[:5]) or "data"
    folder = folders_root() / f"{time.strftime('%Y%m%d-%H%M%S')}-{words}"
    folder.mkdir(parents=True)
    return folder


def repair(path: Path) -> None:
    """End a last line a kill left without its end, so it is a whole broken line that `read_lines` skips (its index is
    made again). Only appended to, never cut: the window may append an edit at the same moment, and it is kept."""
    try:
        handle = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(handle).st_size
        if size and os.pread(handle, 1, size - 1) != b"\n":  # a line appended meanwhile just gets an empty one
            os.write(handle, b"\n")
            os.fsync(handle)
    finally:
        os.close(handle)


def _newest(folder) -> dict[int, dict]:
    """The newest line of each index in the examples' log."""
    return {line["index"]: line for line in read_lines(Path(folder) / EXAMPLES)}


def indexes_written(folder) -> set[int]:
    """Every index the job has written, deleted ones included: those are not made again. One the model server
    refused last time (its newest line says the problem) is asked again: the server may take it now."""
    return {index for index, line in _newest(folder).items() if not line.get("problem")}


def read(folder) -> list[Example]:
    """The examples as they stand now, in the order they were asked for."""
    return [Example(line["index"], line["messages"], line.get("finish", []), line.get("source"),
                    line.get("edited", False))
            for index, line in sorted(_newest(folder).items()) if not line.get("deleted")]


def _shape(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def flags(examples: list[Example], long_words: int = LONG_WORDS) -> dict[int, list[str]]:
    """For each example, what looks wrong with it: keys of FLAGS."""
    found, seen_questions, seen_answers = {}, set(), set()
    for example in examples:
        marks = []
        answers = [m["content"] for m in example.messages if m["role"] == "assistant"]
        if any(not a.strip() for a in answers):
            marks.append("empty")
        if "length" in example.finish and not example.edited:
            marks.append("cut")
        if sum(len(m["content"].split()) for m in example.messages) > long_words:
            marks.append("long")
        question, answer = _shape(example.question), _shape(example.answer)
        if question in seen_questions or (answer and answer in seen_answers):
            marks.append("repeat")
        seen_questions.add(question)
        seen_answers.add(answer)
        found[example.index] = marks
    return found


def edit(folder, example: Example, contents: list[str]) -> Example:
    """The example with each message's text replaced by `contents` (in order; roles stay), kept as its newest
    version."""
    messages = [{**message, "content": text.strip()} for message, text in zip(example.messages, contents)]
    changed = Example(example.index, messages, example.finish, example.source, edited=True)
    append_line(Path(folder) / EXAMPLES, changed.line())
    return changed


def delete(folder, indexes) -> None:
    for index in indexes:
        append_line(Path(folder) / EXAMPLES, {"index": index, "deleted": True})


def save_dataset(folder) -> tuple[Path, int]:
    """dataset.jsonl, one chat per line (with the document place it comes from, which training ignores), written whole
    or not at all."""
    examples = read(folder)
    path = Path(folder) / DATASET
    write_text_atomic(path, "".join(json.dumps(e.record(), ensure_ascii=False) + "\n" for e in examples))
    return path, len(examples)


@dataclass
class Made:
    """A data-making job's folder as a list shows it."""

    folder: Path
    recipe: dict
    examples: int
    phase: str  # as a run's: preparing (making now), finished, stopped, failed, interrupted

    def words(self) -> str:
        """“caring for houseplants” — 48 examples, paused"""
        what = Recipe.from_dict(self.recipe).subject()
        return f"\u201c{what}\u201d \u2014 {self.examples:,} examples, {PHASE_WORDS.get(self.phase, self.phase)}"


def questions_written(folder) -> int:
    """How many questions the model has written so far in the job in `folder`."""
    return sum(len(step.get("questions", [])) for step in read_lines(Path(folder) / QUESTIONS_WRITTEN))


def has_made(folder) -> bool:
    """Whether the job in `folder` has made anything: an example, or a question written."""
    return bool(read(folder)) or questions_written(folder) > 0


def made_words(folder) -> str:
    """What a job has made so far, in words: "12 examples", or "7 questions written, no examples yet"."""
    made = len(read(folder))
    if made:
        return words.count(made, "example")
    written = questions_written(folder)
    return f"{words.count(written, 'question')} written, no examples yet" if written else "nothing made yet"


def _made(folder: Path) -> Made | None:
    try:
        recipe = read_recipe(folder)
    except (OSError, ValueError):
        return None  # not begun, or not ours
    return Made(folder, recipe, len(read(folder)), runs.state(folder, "synth").phase)


def made_from(dataset) -> Made | None:
    """The job that made a dataset file, when it is one of Tailor's."""
    dataset = Path(dataset)
    return _made(dataset.parent) if dataset.name == DATASET and dataset.parent.parent == folders_root() else None


def read_recipe(folder) -> dict:
    """What the job in `folder` was asked to make (recipe.Recipe's fields); OSError or ValueError when unreadable."""
    return json.loads((Path(folder) / RECIPE).read_text(encoding="utf-8"))


def made_so_far() -> list[Made]:
    """Every data-making job kept, newest first."""
    root = folders_root()
    found = [_made(folder) for folder in (sorted(root.iterdir(), reverse=True) if root.is_dir() else [])]
    return [made for made in found if made]
