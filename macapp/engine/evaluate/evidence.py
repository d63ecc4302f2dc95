"""What a verdict rests on besides the answers: which test questions the training data already holds (a score on them
measures memory), and what the run says about itself, for the advice when the model is not better.

Plain Python (no MLX): read from the run folder's data, events and the model's config.
"""

import json
from pathlib import Path

from ..data.datasets import question_key
from ..models import memory
from ..runs import runs
from ..runs.run_state import RunState

ROSE_BY = 0.02  # validation loss this share above its lowest, at the end, has risen (not wobbled)


def _prompts(record) -> list[str]:
    """The questions in a training example: its user messages, or its prompt."""
    if not isinstance(record, dict):
        return []
    if isinstance(record.get("messages"), list):
        return [m["content"] for m in record["messages"]
                if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)]
    return [record["prompt"]] if isinstance(record.get("prompt"), str) else []


def training_questions(run_dir) -> set[int]:
    """The keys of every question the run trained or validated on."""
    keys = set()
    for name in ("train", "valid"):
        path = Path(run_dir) / "data" / f"{name}.jsonl"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                keys.update(question_key(text) for text in _prompts(json.loads(line)))
            except ValueError:
                continue
    return keys


def run_facts(run_dir, model_path: Path | None = None) -> dict:
    """The run's own facts for advice: the step after which validation loss rose, the examples it trained on and the
    model's parameters (each left out when unknown)."""
    facts = {}
    points = RunState.replay(runs.read_events(run_dir)).val_points
    if len(points) >= 3:
        step, lowest = min(points, key=lambda point: point[1])
        if points[-1][1] > lowest * (1 + ROSE_BY) and step != points[-1][0]:
            facts["val_rose_after"] = step
    try:
        manifest = json.loads((Path(run_dir) / "data" / "manifest.json").read_text(encoding="utf-8"))
        facts["train_examples"] = int(manifest["files"]["train"]["count"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        config = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8"))
        facts["parameters"] = memory.parameter_count(config)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return facts
