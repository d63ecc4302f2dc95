"""Score the base and the tuned model on a prompt set: loss on the expected answers, answer checks, a summary.

A prompt set is a run's test split or a file of prompts with optional expected answers; both sides
answer every prompt from one loaded base (see generation.TunedModel), base first, then tuned.
"""

import hashlib
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from ..data import datasets, pairs, readers
from ..data.datasets import question_key
from ..data.formats import guess_mapping
from ..errors import DataError, InputError, Problem, RunFailed, place
from ..models import demo
from ..runs import events as ev
from .evidence import run_facts, training_questions
from .general_scores import GeneralCheck
from .generation import SIDES, TunedModel
from .judge import JUDGEMENTS_FILE, judge_items
from .judge_choice import Judge
from .picks import answers_key
from .sampling import Sampling
from .scores import Check, answer_scores, difference, summarize

EXPECTED_KEYS = ("expected", "completion", "answer", "response", "reference", "output")
PROMPT_SET_HELP = ("Give a spreadsheet (or CSV) with a column of questions and, if you have them, a column of "
                   "answers, named as in step 2 (such as question and answer), or a text file with one question on "
                   "each line.")


@dataclass
class Item:
    """One prompt of a set: the chat up to the answer, the expected answer if any, and where it came from."""

    messages: list[dict]
    expected: str | None
    place: str

    @property
    def prompt(self) -> str:
        return self.messages[-1]["content"]


def _item(record, where: str) -> tuple[Item | None, str | None]:
    """(item, None) from a record, or (None, what is wrong with it)."""
    if not isinstance(record, dict):
        return None, "is not a JSON object"
    if isinstance(record.get("chosen"), str) and isinstance(record.get("prompt"), (str, list)):
        record = {"messages": pairs.answered(record, "chosen")}  # a pair: its question, with the better answer
    if isinstance(record.get("messages"), list) and record["messages"]:
        messages = record["messages"]
        if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            return None, "has a message without a text content"
        if messages[-1].get("role") == "assistant":
            messages, expected = messages[:-1], messages[-1]["content"]
        else:
            expected = None
        if not messages or messages[-1].get("role") != "user":
            return None, "has no user message before the answer"
        return Item([dict(m) for m in messages], expected, where), None
    prompt, expected = record.get("prompt"), next((record[k] for k in EXPECTED_KEYS if isinstance(record.get(k), str)),
                                                  None)
    named = guess_mapping(list(record))  # the columns as the person named them, read as the Data step reads them
    if not isinstance(prompt, str) and named and named.prompt in record:
        prompt, expected = record[named.prompt], record.get(named.completion)
        prompt, expected = str(prompt or ""), None if expected is None else str(expected)
    if not isinstance(prompt, str) or not prompt.strip():
        columns = ", ".join(map(str, record)) or "none"
        return None, f"has no prompt (its columns: {columns})"
    return Item([{"role": "user", "content": prompt}], expected, where), None


def _once(problems: list[Problem]) -> list[Problem]:
    """Each kind of problem once, at its first place, with how many rows share it (a file whose columns Tailor
    cannot read says so once, not on every row)."""
    counts, first = Counter(p.message for p in problems), {}
    for problem in problems:
        first.setdefault(problem.message, problem)
    return [replace(p, message=p.message + (f" (and {counts[p.message] - 1} more like it)" if counts[p.message] > 1
                                            else "")) for p in first.values()]


def read_prompt_set(path, limit: int | None = None) -> list[Item]:
    """The prompts of a file or folder; every bad record is reported with its place, none is skipped."""
    path = Path(path)
    items, problems = [], []
    if path.suffix.lower() == ".txt" and path.is_file():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        items = [Item([{"role": "user", "content": text.strip()}], None, place(str(path), number))
                 for number, text in enumerate(lines, start=1) if text.strip()]
    else:
        for file in readers.source_files(path):
            for row in readers.read(file):
                if row.problem is not None:
                    if row.problem.severity == "error":
                        problems.append(row.problem)
                    continue
                item, wrong = _item(row.record, place(row.file, row.line, row.unit))
                if wrong:
                    problems.append(Problem("error", wrong, row.file, row.line, fix=PROMPT_SET_HELP, unit=row.unit))
                else:
                    items.append(item)
    if problems:
        raise DataError(_once(problems))
    if not items:
        raise DataError([Problem("error", "no prompts found", str(path), fix=PROMPT_SET_HELP)])
    return items[:limit] if limit else items


def reference_loss(tuned: TunedModel, item: Item, system: str | None) -> tuple[float, int]:
    """(summed loss, token count) of the expected answer after the prompt, masked as training masks it."""
    from ..train.batches import tokenize

    messages = ([{"role": "system", "content": system}] if system else []) + item.messages
    record = {"messages": messages + [{"role": "assistant", "content": item.expected}]}
    ((tokens, offset),) = tokenize([record], tuned.tokenizer, mask_prompt=True)
    inputs, targets = mx.array(tokens[:-1])[None], mx.array(tokens[1:])
    losses = nn.losses.cross_entropy(tuned.model(inputs)[0].astype(mx.float32), targets)
    mask = mx.arange(1, len(tokens)) >= offset
    total, count = (losses * mask).sum(), mask.sum()
    mx.eval(total, count)
    return total.item(), count.item()


def score(tuned: TunedModel, items: list[Item], sampling: Sampling, check: Check | None = None,
          system: str | None = None, report=lambda event: None, should_stop=lambda: False) -> dict | None:
    """Both sides' answers and scores for every item, and the summary; None when stopped."""
    scored = {side: [] for side in SIDES}
    total, finished = len(items) * len(SIDES), [0]

    def done(side: str) -> None:
        finished[0] += 1
        count = finished[0] - (len(items) if side == "tuned" else 0)
        report({"type": ev.PROGRESS, "stage": side, "done": finished[0], "total": total,
                "message": f"{'Original' if side == 'base' else 'Fine-tuned'} model: {count} of {len(items)} answers"})

    for side in SIDES:
        answers = tuned.answer_all(side, [item.messages for item in items], sampling, system,
                                   lambda index, text, side=side: done(side), should_stop)
        if answers is None:
            return None
        for item, answer in zip(items, answers):
            row = answer_scores(answer, item.expected, check, tuned.tokenizer)
            if item.expected is not None:
                row["loss_sum"], row["loss_tokens"] = reference_loss(tuned, item, system)
                row["loss"] = row["loss_sum"] / max(row["loss_tokens"], 1)
            scored[side].append(row)
    summary = {side: summarize(scored[side]) for side in SIDES}
    summary["difference"] = difference(summary["base"], summary["tuned"])
    rows = [{"place": item.place, "prompt": item.prompt, "expected": item.expected,
             "base": scored["base"][i], "tuned": scored["tuned"][i]} for i, item in enumerate(items)]
    return {"summary": summary, "items": rows, "sampling": sampling.to_dict(), "system": system,
            "check": check.to_dict() if check else None}


def preference_check(tuned: TunedModel, path: Path) -> dict | None:
    """Of a run's held-out pairs (its test split, `path`), how many the fine-tuned model prefers the better answer of
    more than the original model does (the gap between the two answers' log-probabilities is wider); None for
    examples."""
    from ..train.preference import gaps

    held_out = [r for r in datasets.load_split(path.parent, path.stem) if "chosen" in r] \
        if path.name == "test.jsonl" else []
    if not held_out:
        return None
    tuned.use("base")
    before = gaps(tuned.model, tuned.tokenizer, held_out)
    tuned.use("tuned")
    after = gaps(tuned.model, tuned.tokenizer, held_out)
    return {"pairs": len(held_out), "preferred": int((after > before).sum())}


def run_prompt_set(run_dir, prompts=None) -> tuple[Path, str]:
    """(file, description) of the prompts to score a run on: the given file, else the run's test split (the
    demo keeps comments of its own for that)."""
    if prompts:
        return Path(prompts), Path(prompts).name
    test = Path(run_dir) / "data" / "test.jsonl"
    if not test.exists() and demo.is_demo_data(run_dir):
        return demo.HELD_OUT, "the demo's held-out comments"
    if not test.exists():
        raise InputError(f"Run {Path(run_dir).name} has no test split: its data was split into training and "
                         "validation only. Give a file of prompts to score it on (tailor eval --prompts FILE).")
    return test, "the run's test split"


def _answers_id(model: str, adapter: Path, items: list[Item], sampling: Sampling, system: str | None,
                check: Check | None) -> str:
    """What decides the answers and scores of a scoring: the same id means scoring again would give the same."""
    weights = Path(adapter) / "adapters.safetensors"
    stat = weights.stat() if weights.exists() else None
    text = json.dumps([model, str(adapter), stat and [stat.st_size, stat.st_mtime_ns],
                       [[item.messages, item.expected] for item in items], sampling.to_dict(), system,
                       check.to_dict() if check else None], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _saved(run_dir: Path, answers_id: str) -> dict | None:
    """The last scoring of the run when it had the same answers id (its verdict left out), else None."""
    from . import report as reports

    saved = reports.read(run_dir)
    if saved is None or saved.get("answers_id") != answers_id:
        return None
    for item in saved["items"]:
        item.pop("judge", None)
    return {key: value for key, value in saved.items() if key not in ("judge", "report", "created", "training")}


def refuse_self_judge(judge: Judge, run_dir: Path, model: str) -> None:
    """An InputError when the judge is the model under test: the run's own model, a model exported from the run, or
    the run's Ollama model."""
    from ..export.ollama import default_name

    if judge.model:
        folder = Path(judge.model).expanduser().resolve()
        if judge.model == model or folder == Path(model).expanduser().resolve() or run_dir.resolve() in folder.parents:
            raise InputError(f"The judge {judge.name} is the model under test. Choose another model to judge: one "
                             "that was not fine-tuned in this run, and larger if you can.")
    elif judge.api_model.removesuffix(":latest") in (default_name(run_dir.name), Path(model).name.lower()):
        raise InputError(f"The judge {judge.name} is the model under test (exported from this run). Choose another "
                         "model to judge, larger if you can.")


def _judge(result: dict, judge: Judge, run_dir: Path, report, should_stop) -> dict:
    """The result with each held-out question's verdict; questions also in training are not judged."""
    held_out = [item for item in result["items"] if not item["in_training"]]
    verdicts = judge_items([{"prompt": item["prompt"], "expected": item["expected"], "base": item["base"]["answer"],
                             "tuned": item["tuned"]["answer"]} for item in held_out],
                           judge, run_dir / JUDGEMENTS_FILE, report, should_stop)
    for item, verdict in zip(held_out, verdicts):
        item["judge"] = verdict
    return {**result, "judge": {"name": judge.name, "criteria": judge.criteria, "where": judge.where,
                                "choice": judge.to_dict()}}


def _prepare_general(general: GeneralCheck, saved: dict | None, report, should_stop) -> tuple | None:
    """The general knowledge sets made ready (their data here), unless they were measured on these models before."""
    if ((saved or {}).get("general") or {}).get("check") == general.to_dict():
        report({"type": ev.LOG, "message": "General knowledge: measured before on these models, used again"})
        return None
    if importlib.util.find_spec("lm_eval") is None:
        raise RunFailed("The general knowledge check needs lm-evaluation-harness, which is not installed here.",
                        "Install it in Tailor's environment (pip install 'tailor[general]'), or score without the "
                        "general knowledge check.")
    from .general import prepare

    return prepare(general, report, should_stop)


def evaluate_run(run_dir, prompts=None, checkpoint: str = "last", sampling: Sampling | None = None,
                 check: Check | None = None, system: str | None = None, limit: int | None = None,
                 judge: Judge | None = None, general: GeneralCheck | None = None, report=lambda event: None,
                 should_stop=lambda: False) -> dict | None:
    """Score a run's base and tuned model on a prompt set, then, when asked, check their general knowledge and judge
    each held-out question; write report.json and report.html (once the answers are in, and again with each step).
    The result, or None when stopped before the answers were in."""
    from ..runs import runs
    from . import report as reports

    run_dir = Path(run_dir)
    model, adapter = runs.model_and_adapter(run_dir, checkpoint)
    path, description = run_prompt_set(run_dir, prompts)
    items = read_prompt_set(path, limit)
    sampling = sampling or Sampling()
    if judge:
        refuse_self_judge(judge, run_dir, model)
    answers_id = _answers_id(model, adapter, items, sampling, system, check)
    result, tuned = _saved(run_dir, answers_id), None
    sets = _prepare_general(general, result, report, should_stop) if general else None

    def load() -> TunedModel:
        report({"type": ev.LOG, "message": f"Loading {model} and its {checkpoint} adapter"})
        return TunedModel(model, adapter, report, should_stop)

    if result is not None:
        report({"type": ev.LOG, "message": "Nothing changed since the last scoring: its answers are used again"})
    else:
        tuned = load()
        result = score(tuned, items, sampling, check, system, report, should_stop)
        if result is None:
            return None
        if not prompts:
            result["preference"] = preference_check(tuned, path)
        seen = training_questions(run_dir)
        for item in result["items"]:
            item["key"] = answers_key(item["prompt"], item["base"]["answer"], item["tuned"]["answer"])
            item["in_training"] = question_key(item["prompt"]) in seen
        result = {**result, "model": model, "adapter": str(adapter), "adapter_label": f"{checkpoint} adapter",
                  "prompt_set": description, "prompts": str(prompts) if prompts else None,
                  "sampling_text": sampling.describe(), "answers_id": answers_id,
                  "facts": run_facts(run_dir, tuned.model_path)}
        reports.write(run_dir, result)  # the answers are kept before any judging
    if sets:
        from .general import measure

        result = {**result, "general": measure(tuned or load(), general, sets, report, should_stop)}
        reports.write(run_dir, result)
    del tuned  # the judge may be an MLX model of its own
    if judge:
        result = _judge(result, judge, run_dir, report, should_stop)
    return {**result, "report": reports.write(run_dir, result)}
