"""Make chat training data by asking a local model: questions about a topic, a list of instructions, or questions on
the passages of a person's documents; each answered, optionally with a follow-up turn.

What is made is appended (and synced) to the job's folder as it arrives; a job stopped, killed or cut off from its
server resumes where it left off, repeating and losing nothing.
"""

import json
import math
import time
from pathlib import Path

from .. import words
from ..errors import DataError, InputError, Problem, RunFailed, Stopped
from ..files import append_line, read_lines, write_json_atomic, write_text_atomic
from ..runs import events as ev
from . import made_data, question_lists, workbooks
from .chat_sources import Refused, ServerLost, ServerTrouble, connect
from .recipe import OTHER_MAKING, Recipe

TOPIC_REQUEST = ("Write {n} different questions that people ask about {topic}.{kinds} Begin each question with "
                 "\u201c{starter}\u201d or a phrase like it, and make each about one thing. Write one question per "
                 "line and nothing else.")
PASSAGE_REQUEST = ("Here is a passage from a document.\n\n{text}\n\nWrite {n} different questions that this passage "
                   "answers. Write one question per line and nothing else.")
GROUNDED = ("Answer the question from the passage below. If the passage does not say, answer that it does not say."
            "\n\nPassage:\n{text}\n\nQuestion: {question}")
FOLLOW_UP_REQUEST = ("Here is a question and its answer.\n\nQuestion: {question}\n\nAnswer: {answer}\n\n"
                     "Write one short follow-up question a curious reader would ask next. "
                     "Reply with the question only.")
PER_REQUEST = 10  # questions asked for at once: small models keep a list of ten varied, not fifty
QUESTIONS, PASSAGES = "questions.jsonl", "passages.json"
PARTIAL = made_data.QUESTIONS_WRITTEN


def _instruction(item) -> str | None:
    if isinstance(item, dict):
        item = item.get("instruction") or item.get("prompt")
    return item.strip() if isinstance(item, str) and item.strip() else None


def _from_table(path: Path) -> list[str]:
    """The questions in a spreadsheet (a workbook, or saved as CSV or TSV): its only column, or the one named for
    questions."""
    from .formats import question_column
    from .readers import read

    rows = list(read(path))
    if errors := [row.problem for row in rows if row.problem and row.problem.severity == "error"]:
        raise DataError(errors)
    records = [row.record for row in rows if row.record is not None]
    columns = list(records[0]) if records else []
    column = columns[0] if len(columns) == 1 else question_column(columns)
    if records and column is None:
        raise DataError([Problem("error", f"Tailor cannot tell which column holds the questions (the columns are "
                                          f"{', '.join(columns)})", str(path), 1,
                                 fix="Name the column of questions \"question\", or save the questions as a .txt "
                                     "file with one on each line.")])
    return [record[column].strip() for record in records if record[column].strip()]


def _from_text(path: Path) -> list[str]:
    """The instructions in a JSON array (of strings, or of objects with an instruction or prompt), or one per line."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if not text.lstrip().startswith("["):
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError([Problem("error", f"not valid JSON ({error.msg})", str(path), error.lineno,
                                 fix="Repair the array, or write one instruction per line.")]) from None
    found = [_instruction(item) for item in items]
    bad = [i for i, item in enumerate(found, start=1) if item is None]
    if bad:
        raise DataError([Problem("error", "is not a piece of text", str(path), i, unit="item",
                                 fix="Write each instruction in quotes, e.g. \"How do I \u2026?\"")
                         for i in bad])
    return found


def read_instructions(path) -> list[str]:
    """Instructions from a JSON array, a spreadsheet's column of questions (CSV or TSV), or lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem("error", "file not found", str(path), fix="Check the path.")])
    instructions = _from_table(path) if path.suffix.lower() in (".csv", ".tsv", *workbooks.SUFFIXES) else \
        _from_text(path)
    if not instructions:
        raise DataError([Problem("error", "no instructions in the file", str(path),
                                 fix="Write one instruction per line, or a JSON array of them.")])
    return instructions


def _keep_recipe(folder: Path, recipe: Recipe) -> None:
    """Remember what the folder makes; going on with another recipe would mix two datasets. A job in the folder that
    made nothing (refused, or its server never answered) is replaced: the corrected one starts afresh there."""
    path = folder / made_data.RECIPE
    if path.exists() and not recipe.same_making_as(_kept_recipe(folder)):
        if made_data.has_made(folder):
            raise InputError(OTHER_MAKING)
        for name in (QUESTIONS, PASSAGES, PARTIAL, made_data.EXAMPLES, made_data.DATASET):  # what it began
            (folder / name).unlink(missing_ok=True)
    write_json_atomic(path, recipe.to_dict())


def _kept_recipe(folder: Path) -> dict:
    """The recipe the folder was making; an empty one when it cannot be read (cut short by a full disk, say)."""
    try:
        kept = made_data.read_recipe(folder)
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


class Making:
    """One session of a data-making job in `folder`: questions first, then their answers."""

    def __init__(self, folder: Path, recipe: Recipe, report, should_stop):
        self.folder, self.recipe, self.report, self.should_stop = folder, recipe, report, should_stop
        for log in (made_data.EXAMPLES, PARTIAL):  # a line the last session's worker was killed writing
            made_data.repair(folder / log)
        self.chat = connect(recipe, report, should_stop)
        self.started, self.new = time.monotonic(), 0
        self.passage_list: list[dict] | None = None

    def ask(self, messages: list[dict], max_tokens: int) -> tuple[str, str]:
        """The model's answer; a server lost, silent or answering in a form Tailor cannot read fails the job saying
        what was made is kept (a server lost before anything was made is bad input: it was never there)."""
        try:
            return self.chat(messages, max_tokens)
        except (ServerLost, ServerTrouble) as error:
            kept = self._kept_words()
            if not kept:
                raise
            raise RunFailed(error.plain, fix=f"{kept}: {error.todo}, then go on from there.") from None

    def _kept_words(self) -> str:
        """"The 3 examples made so far are kept", or the questions the model wrote, before any example; '' when
        nothing was made."""
        made = len(made_data.read(self.folder))
        count, noun = (made, "example") if made else (made_data.questions_written(self.folder), "question")
        if not count:
            return ""
        done = "made" if made else "written"
        return (f"The {count} {noun}s {done} so far are kept" if count != 1 else
                f"The {noun} {done} so far is kept")

    def _left_out(self, what: str, refused: Refused) -> None:
        self.report({"type": ev.LOG, "level": "warning",
                     "message": f"Left out {what}: the model server refused it: {refused.reason}"})

    # questions

    def questions(self) -> list[dict] | None:
        """What to answer: [{"instruction", and for documents "passage", "source"}]; None when stopped first."""
        path = self.folder / QUESTIONS
        if not path.exists():
            if self.recipe.way == "instructions":
                found = [{"instruction": text} for text in read_instructions(self.recipe.instructions)]
            else:
                found = self._from_topic() if self.recipe.way == "topic" else self._from_documents()
                if found is None:
                    return None
            write_text_atomic(path, "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in found))
        return read_lines(path)

    def _progress(self, stage: str, done: int, total: int, words: str) -> None:
        self.report({"type": ev.PROGRESS, "stage": stage, "done": done, "total": total, "message": words})

    def _from_topic(self) -> list[dict] | None:
        steps = read_lines(self.folder / PARTIAL)
        distinct = question_lists.Distinct(q for step in steps for q in step["questions"])
        wanted, most = self.recipe.count, max(6, 3 * math.ceil(self.recipe.count / PER_REQUEST))
        kinds = f" {self.recipe.kinds.strip().rstrip('.')}." if self.recipe.kinds.strip() else ""
        for step in range(len(steps), most):
            if len(distinct.kept) >= wanted:
                break
            if self.should_stop():
                return None
            self._progress("questions", len(distinct.kept), wanted, "Writing questions about the topic")
            starter = question_lists.STARTERS[step % len(question_lists.STARTERS)]
            request = TOPIC_REQUEST.format(n=PER_REQUEST, topic=self.recipe.topic.strip(), kinds=kinds,
                                           starter=starter)
            text, _ = self.ask([{"role": "user", "content": request}], 48 * PER_REQUEST)
            kept = [q for q in question_lists.parse(text)
                    if len(distinct.kept) < wanted and distinct.add(q)]
            append_line(self.folder / PARTIAL, {"step": step, "questions": kept})
        if not distinct.kept:
            raise RunFailed("The model wrote no questions Tailor could read.",
                            fix="Try a larger model, or describe the topic differently.")
        self._progress("questions", len(distinct.kept), wanted, "Questions written")
        return [{"instruction": q} for q in distinct.kept[:wanted]]

    def _passages(self) -> list[dict]:
        if self.passage_list is None:
            path = self.folder / PASSAGES
            if not path.exists():  # read once: a resumed job answers from the passages it asked about
                from . import documents

                found, problems = documents.read_passages(self.recipe.documents)
                if not found:
                    raise DataError(problems)
                for problem in problems:  # one bad file among good ones is left out, and said
                    self.report({"type": ev.LOG, "level": "warning", "message": documents.left_out_words(problem)})
                write_json_atomic(path, [{"text": p.text, "where": p.where()} for p in found])
            self.passage_list = json.loads(path.read_text(encoding="utf-8"))
        return self.passage_list

    def _from_documents(self) -> list[dict] | None:
        passages = self._passages()
        steps = read_lines(self.folder / PARTIAL)
        distinct = question_lists.Distinct(q for step in steps for q in step["questions"])
        wanted = self.recipe.per_passage
        if not steps:  # before the first request: how much asking these documents mean
            answers = len(passages) * wanted * (2 if self.recipe.follow_up else 1)
            self.report({"type": ev.LOG, "message": f"{words.count(len(passages), 'passage')} in the documents: "
                                                    f"{words.count(len(passages) + answers, 'request')} to the model "
                                                    f"(questions on each passage, then up to {answers:,} answers)"})
        for step in range(len(steps), len(passages)):
            if self.should_stop():
                return None
            self._progress("questions", step, len(passages), f"Writing questions on {passages[step]['where']}")
            request = PASSAGE_REQUEST.format(n=wanted, text=passages[step]["text"])
            try:
                text, _ = self.ask([{"role": "user", "content": request}], 48 * wanted)
            except Refused as refused:  # e.g. a passage too long for the model: the others are still worth asking
                self._left_out(passages[step]["where"], refused)
                text = ""
            kept = [q for q in question_lists.parse(text)[:wanted] if distinct.add(q)]
            append_line(self.folder / PARTIAL, {"step": step, "questions": kept})
        found = [{"instruction": q, "passage": line["step"], "source": passages[line["step"]]["where"]}
                 for line in read_lines(self.folder / PARTIAL) for q in line["questions"]]
        if not found:
            raise RunFailed("The model wrote no questions Tailor could read on these documents.",
                            fix="Try a larger model.")
        return found

    # answers

    def example(self, question: dict) -> tuple[list[dict], list[str]]:
        """The messages of one example (the question, its answer, optionally a second turn), and how each answer
        ended. For documents the model is given the passage; the example keeps only the question."""
        head = [{"role": "system", "content": self.recipe.system}] if self.recipe.system else []
        passage = self._passages()[question["passage"]]["text"] if "passage" in question else None
        asked_first = GROUNDED.format(text=passage, question=question["instruction"]) if passage else None
        kept = head + [{"role": "user", "content": question["instruction"]}]
        asked = head + [{"role": "user", "content": asked_first or question["instruction"]}]
        answer, finish = self.ask(asked, self.recipe.max_tokens)
        finishes = [finish]
        for messages in (kept, asked):
            messages.append({"role": "assistant", "content": answer})
        if self.recipe.follow_up:
            request = FOLLOW_UP_REQUEST.format(question=question["instruction"], answer=answer)
            written, _ = self.ask([{"role": "user", "content": request}], 64)
            follow = (question_lists.parse(written) or [written.strip()])[0]
            for messages in (kept, asked):
                messages.append({"role": "user", "content": follow})
            second, finish = self.ask(asked, self.recipe.max_tokens)
            kept.append({"role": "assistant", "content": second})
            finishes.append(finish)
        return kept, finishes

    def answers(self, questions: list[dict]) -> bool:
        """Answer every question not answered yet; False when stopped first. A question the server refuses is left
        out (and asked again next session); when it refuses every one, the job fails with its words."""
        done = made_data.indexes_written(self.folder)
        todo = [i for i in range(len(questions)) if i not in done]
        refused = None
        for number, index in enumerate(todo):
            if self.should_stop():
                return False
            self._answers_progress(len(questions) - len(todo) + number, len(questions), len(todo) - number)
            try:
                messages, finishes = self.example(questions[index])
            except Refused as error:
                refused = error
                append_line(self.folder / made_data.EXAMPLES, {"index": index, "deleted": True,
                                                                    "problem": error.reason})
                self._left_out(f"question {index + 1}", error)
                continue
            made = made_data.Example(index, messages, finishes, questions[index].get("source"))
            append_line(self.folder / made_data.EXAMPLES, made.line())
            self.new += 1
        if refused and not made_data.read(self.folder):
            raise RunFailed(f"The model server refused every question: {refused.reason}",
                            fix="Check that the server serves the model you chose and that it can take questions "
                                "this long (its context length), then go on.")
        self._answers_progress(len(questions), len(questions), 0)
        return True

    def _answers_progress(self, done: int, total: int, left: int) -> None:
        minutes = (time.monotonic() - self.started) / 60
        per_minute = self.new / minutes if self.new and minutes > 0 else None
        self.report({"type": ev.PROGRESS, "stage": "answers", "done": done, "total": total,
                     "message": "Answering the questions",
                     **({"per_minute": round(per_minute, 1), "eta_seconds": round(60 * left / per_minute)}
                        if per_minute else {})})


def make(folder, recipe: Recipe, report=lambda event: None, should_stop=lambda: False) -> dict:
    """Make the recipe's examples into `folder` (going on from what is there), then write its dataset.jsonl."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _keep_recipe(folder, recipe.check())
    making = Making(folder, recipe, report, should_stop)
    try:
        questions = making.questions()
        finished = questions is not None and making.answers(questions)
    except Stopped:  # in the middle of a request: what it was making is not kept, and is made next session
        questions, finished = None, False
    path, count = made_data.save_dataset(folder)
    result = {"examples": count, "new": making.new, "dataset": str(path), "stopped": not finished}
    if finished and recipe.way == "topic" and len(questions) < recipe.count:
        result["fewer"] = (f"The model wrote {len(questions)} different questions of the {recipe.count} asked for; "
                           "the others repeated those or could not be read.")
    return result
