"""Checkpoints that resume a run exactly: weights, optimizer state, iteration and data order.

Each is written into a hidden folder and renamed into place, so a kill at any moment leaves the
previous checkpoint whole; the newest two are kept.
"""

import json
import os
import shutil
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from .files import atomic_target, write_json_atomic

KEEP = 2


def save_weights(model, path: Path) -> None:
    """Trainable weights to `path`, atomically."""
    tmp = atomic_target(path)
    mx.save_safetensors(str(tmp), dict(tree_flatten(model.trainable_parameters())))
    os.replace(tmp, path)


def save(folder: Path, model, optimizer, iteration: int, state: dict) -> Path:
    """Write checkpoint `iteration` into folder; `state` is JSON (data order, best loss...)."""
    folder = Path(folder)
    final = folder / f"{iteration:07d}"
    partial = folder / f".{iteration:07d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    mx.save_safetensors(str(partial / "adapters.safetensors"), dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(str(partial / "optimizer.safetensors"), dict(tree_flatten(optimizer.state)))
    write_json_atomic(partial / "state.json", {"iteration": iteration, **state})
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for old in complete(folder)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete(folder: Path) -> list[Path]:
    """Finished checkpoints, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / "state.json").exists())


def latest(folder: Path) -> Path | None:
    found = complete(folder)
    return found[-1] if found else None


def load(checkpoint: Path, model, optimizer) -> dict:
    """Put a checkpoint's weights and optimizer state back; returns its state."""
    checkpoint = Path(checkpoint)
    model.load_weights(str(checkpoint / "adapters.safetensors"), strict=False)
    optimizer.state = tree_unflatten(list(mx.load(str(checkpoint / "optimizer.safetensors")).items()))
    optimizer.init(model.trainable_parameters())
    return json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
