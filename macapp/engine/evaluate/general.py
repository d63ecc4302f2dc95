"""The general knowledge check: standard question sets of lm-evaluation-harness asked of the base and the tuned
model through mlx-lm's own harness model, on the one loaded base; the base's answers kept per model.

A set's data comes from the Hugging Face hub once, with progress, into Tailor's datasets folder (its code never);
a task file of one's own (lm-evaluation-harness YAML, reading local JSON) is asked as it is.
"""

import contextlib
import difflib
import hashlib
import io
import json
import logging
import sys
from importlib.metadata import version
from pathlib import Path

from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager
from mlx_lm.evaluate import MLXLM

from ..errors import InputError, RunFailed, Stopped
from ..files import data_home, write_json_atomic
from ..models import downloads
from ..runs import events as ev
from .general_scores import GeneralCheck, compare
from .generation import SIDES, TunedModel

SLICE = 16  # requests scored between two progress reports and looks at the stop: seconds on a 7B model
SEED = 1234  # which questions a limited set asks, the same for both models and every time
RIGHT = ("acc", "exact_match")  # a question's own 0/1 score, by the first of these a set has
LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow"}  # datasets' builders for files, not hub repositories


class Scorer(MLXLM):
    """mlx-lm's harness model on a model already loaded (the base with its adapter on or off), scoring in slices so
    that progress is said and Stop is seen between them."""

    def __init__(self, tuned: TunedModel, side: str, count, should_stop):
        LM.__init__(self)  # MLXLM's own would load the model again, from a folder, without the adapter
        tuned.use(side)
        self._model, self.tokenizer = tuned.model, tuned.tokenizer
        self._max_tokens, self._batch_size, self._sampler = None, 8, None
        self.use_chat_template = self.tokenizer.chat_template is not None  # as `mlx_lm evaluate` decides
        self.count, self.should_stop = count, should_stop

    def _sliced(self, score, requests) -> list:
        results = []
        for start in range(0, len(requests), SLICE):
            if self.should_stop():
                raise Stopped("The general knowledge check was stopped.")
            part = requests[start:start + SLICE]
            results += score(part)
            self.count(start + len(part), len(requests))
        return results

    def loglikelihood(self, requests) -> list:
        return self._sliced(super().loglikelihood, requests)

    def loglikelihood_rolling(self, requests) -> list:
        return self._sliced(super().loglikelihood_rolling, requests)

    def generate_until(self, requests) -> list:
        return self._sliced(super().generate_until, requests)


def _specs(check: GeneralCheck, folder: Path, report, should_stop) -> tuple[TaskManager, list[str]]:
    """lm-evaluation-harness's tasks, and what to ask it for each set: its name, its task file, or a task file in
    `folder` that reads the set's hub data from Tailor's datasets folder. An unknown name is an InputError."""
    from lm_eval.tasks._yaml_loader import load_yaml

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its notes on each task's settings are not for a person
    manager, specs = TaskManager(), []
    for name in check.tasks:
        if name.endswith((".yaml", ".yml")):
            path = Path(name).expanduser().resolve()
            if not path.is_file():
                raise InputError(f"{name}: no such task file. Give the name of a question set (such as arc_easy) or "
                                 "an lm-evaluation-harness task file (.yaml).")
            spec = str(path)
        else:
            entry = manager.task_index.get(name)
            if entry is None:
                close = difflib.get_close_matches(name, manager.all_tasks, n=4)
                raise InputError(f"{name}: no such question set in lm-evaluation-harness. "
                                 + (f"Close names: {', '.join(close)}. " if close else "")
                                 + f"Leave it empty for the default sets ({', '.join(GeneralCheck().tasks)}).")
            path, spec = entry.yaml_path, name
        config = load_yaml(path, resolve_func=False) if path else {}
        source = config.get("dataset_path")
        if _on_the_hub(source) and config.get("task"):
            local = downloads.fetch_dataset(source, report, should_stop)
            override = folder / f"{config['task']}.yaml"
            override.write_text(f"include: {json.dumps(str(path))}\ntask: {config['task']}\n"
                                f"dataset_path: {json.dumps(str(local))}\n", encoding="utf-8")
            spec = str(override)
        specs.append(spec)
    return manager, specs


def _on_the_hub(source) -> bool:
    """Whether a task's dataset_path names a hub repository (owner/name), not one of datasets' file builders or a
    folder here."""
    return (isinstance(source, str) and source not in LOCAL_BUILDERS and source.count("/") == 1
            and not Path(source).expanduser().exists())


def _right(samples: dict) -> tuple[dict, dict]:
    """{set: {question id: 1 or 0}} from the harness's samples, and {set: the share guessing gets} of the sets of
    multiple-choice questions (one answer of the choices each question gives)."""
    found, guess = {}, {}
    for task, rows in samples.items():
        chances = []
        for row in rows:
            metric = next((name for name in RIGHT if name in row), None)
            if metric is not None:
                found.setdefault(task, {})[str(row["doc_id"])] = int(row[metric] > 0)
                if metric == "acc" and row.get("resps"):
                    chances.append(1 / len(row["resps"]))
        if chances:
            guess[task] = sum(chances) / len(chances)
    return found, guess


def _ask(tuned: TunedModel, side: str, manager: TaskManager, specs: list[str], check: GeneralCheck, report,
         should_stop) -> dict:
    """One side's 0/1 per question of every set, and what guessing gets in each set of multiple choices."""
    said = "original" if side == "base" else "fine-tuned"

    def count(done: int, total: int) -> None:
        report({"type": ev.PROGRESS, "stage": f"general-{side}", "done": done, "total": total,
                "message": f"General knowledge, {said} model: {done:,} of {total:,} answer choices weighed"})

    report({"type": ev.LOG, "message": f"General knowledge: asking the {said} model {check.names} "
                                       f"(up to {check.limit} questions each)"})
    scorer = Scorer(tuned, side, count, should_stop)
    with contextlib.redirect_stderr(io.StringIO()):  # the harness's and mlx-lm's progress bars
        results = simple_evaluate(model=scorer, tasks=specs, task_manager=manager,
                                  limit=check.limit, log_samples=True, random_seed=SEED, numpy_random_seed=SEED,
                                  torch_random_seed=None, fewshot_random_seed=SEED,  # torch: not here
                                  apply_chat_template=scorer.use_chat_template)
    found, guess = _right(results["samples"])
    if not found:
        raise RunFailed(f"The question sets {check.names} gave no question a right-or-wrong score.",
                        "Choose sets of multiple-choice or exact-answer questions (such as arc_easy).")
    return found, guess


def _base_file(tuned: TunedModel, check: GeneralCheck) -> Path:
    """Where the base model's answers to these sets are kept: one file per model and sets."""
    weights = sorted(tuned.model_path.glob("*.safetensors"))
    text = json.dumps([str(tuned.model_path.resolve()), [[p.name, p.stat().st_size] for p in weights],
                       check.to_dict(), version("lm_eval"), SEED])
    return data_home() / "general" / (hashlib.sha256(text.encode()).hexdigest()[:24] + ".json")


def _unmark_torch() -> None:
    """The worker marks PyTorch absent (None in sys.modules) so that transformers starts without it; datasets, which
    the harness reads its questions with, takes any entry there for PyTorch loaded and imports it. Unmarked, it is
    imported by nothing here."""
    if "torch" in sys.modules and sys.modules["torch"] is None:
        del sys.modules["torch"]


def prepare(check: GeneralCheck, report=lambda event: None, should_stop=lambda: False) -> tuple:
    """What to ask lm-evaluation-harness for each set, its data here (downloaded once): before any answer is made,
    so a set that does not exist is said at once."""
    _unmark_torch()
    folder = data_home() / "general" / "tasks"
    folder.mkdir(parents=True, exist_ok=True)
    return _specs(check, folder, report, should_stop)


def measure(tuned: TunedModel, check: GeneralCheck, prepared: tuple, report=lambda event: None,
            should_stop=lambda: False) -> dict:
    """Both models' answers to the general knowledge sets (`prepare`d), compared question by question; the base's are
    asked once per model and kept."""
    manager, specs = prepared
    kept = _base_file(tuned, check)
    right = {}
    for side in SIDES:
        if side == "base" and kept.exists():
            right[side] = json.loads(kept.read_text(encoding="utf-8"))
            report({"type": ev.LOG, "message": "General knowledge of the original model: measured before, used "
                                               "again"})
            continue
        right[side], guess = _ask(tuned, side, manager, specs, check, report, should_stop)
        if side == "base":
            write_json_atomic(kept, right[side])
    return {**compare(right["base"], right["tuned"], guess), "check": check.to_dict()}
