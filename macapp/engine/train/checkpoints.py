"""Checkpoints that resume a run exactly: weights, optimizer state, iteration and data order.

Each is written into a hidden folder and renamed into place, so a kill at any moment leaves the previous
checkpoint whole; the newest two are kept. Each file's size and hash are kept in its state.json and checked on
loading: a damaged checkpoint is set aside and the newest good one is used, saying which.
"""

import json
import os
import shutil
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

from ..errors import InputError, RunFailed
from ..files import atomic_target, file_digest, write_json_atomic

KEEP = 2
WEIGHTS = ("adapters.safetensors", "optimizer.safetensors")
# what state.json holds, and of what type (the best loss and its step are None until the first validation)
STATE = {"iteration": int, "batches": dict, "history": list, "evals_since_best": int, "warned_overfit": bool,
         "best_val": (float, int, type(None)), "best_iteration": (int, type(None))}
STATE_KEPT_SINCE = {"files": dict, "identity": dict}  # what checkpoints from before these were kept have not


class Damaged(Exception):
    """A checkpoint that cannot be trusted; the message names its file and what is wrong with it."""


def save_weights(model, path: Path) -> None:
    """Trainable weights to `path`, atomically."""
    tmp = atomic_target(path)
    try:
        mx.save_safetensors(str(tmp), dict(tree_flatten(model.trainable_parameters())))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(folder: Path, model, optimizer, iteration: int, state: dict) -> Path:
    """Write checkpoint `iteration` into folder; `state` is JSON (data order, best loss...)."""
    folder = Path(folder)
    final = folder / f"{iteration:07d}"
    partial = folder / f".{iteration:07d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        mx.save_safetensors(str(partial / WEIGHTS[0]), dict(tree_flatten(model.trainable_parameters())))
        mx.save_safetensors(str(partial / WEIGHTS[1]), dict(tree_flatten(optimizer.state)))
        files = {name: file_digest(partial / name) for name in WEIGHTS}
        write_json_atomic(partial / "state.json", {"iteration": iteration, **state, "files": files})
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # nothing half-written stays, whatever stopped the save
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


def read_state(checkpoint: Path) -> dict:
    """A checkpoint's state.json; Damaged when it cannot be read."""
    path = Path(checkpoint) / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise Damaged(f"{path} cannot be read") from None
    if not isinstance(state, dict) or not all(isinstance(state.get(key), kind) for key, kind in STATE.items()) \
            or not all(isinstance(state.get(key, kind()), kind) for key, kind in STATE_KEPT_SINCE.items()):
        raise Damaged(f"{path} is not a checkpoint's state")
    return state


def verify(checkpoint: Path) -> dict:
    """The state of a checkpoint whose files are whole (their size and hash as saved); Damaged otherwise."""
    state = read_state(checkpoint)
    for name in WEIGHTS:
        path = Path(checkpoint) / name
        if not path.is_file():
            raise Damaged(f"{path} is missing")
        expected = state.get("files", {}).get(name)
        if expected is None:
            continue  # a checkpoint from before hashes were kept: loading it tells
        if not isinstance(expected, dict) or not isinstance(expected.get("bytes"), int):
            raise Damaged(f"{Path(checkpoint) / 'state.json'} does not say how long {name} is")
        if path.stat().st_size != expected["bytes"]:
            raise Damaged(f"{path} is {path.stat().st_size} bytes long, not the {expected['bytes']} saved")
        if file_digest(path)["sha256"] != expected.get("sha256"):
            raise Damaged(f"{path} has changed since it was saved")
    return state


def set_aside(checkpoint: Path) -> None:
    """Move a damaged checkpoint out of the way (kept, hidden) so it is never taken for the newest again."""
    checkpoint = Path(checkpoint)
    aside = checkpoint.with_name(f".damaged-{checkpoint.name}")
    shutil.rmtree(aside, ignore_errors=True)
    checkpoint.rename(aside)


def load(checkpoint: Path, model, optimizer) -> dict:
    """Put a checkpoint's weights and optimizer state back; returns its state. Damaged when it cannot be."""
    state = verify(checkpoint)
    checkpoint = Path(checkpoint)
    try:
        weights = mx.load(str(checkpoint / WEIGHTS[0]))
        optimizer_state = mx.load(str(checkpoint / WEIGHTS[1]))
    except (RuntimeError, ValueError) as error:
        raise Damaged(f"{checkpoint} cannot be read ({error})") from None
    model.load_weights(list(weights.items()), strict=False)
    optimizer.state = tree_unflatten(list(optimizer_state.items()))
    optimizer.init(model.trainable_parameters())
    return state


def load_newest(folder: Path, model, optimizer, report) -> dict | None:
    """The newest checkpoint that loads whole, or None when there is none yet; each damaged one newer than it is
    set aside, and `report` is told which was damaged and which step the run goes on from."""
    found = complete(folder)
    damaged = []
    for checkpoint in reversed(found):
        try:
            state = load(checkpoint, model, optimizer)
        except Damaged as error:
            damaged.append(f"step {int(checkpoint.name)} ({error})")
            set_aside(checkpoint)
            continue
        if damaged:
            report(f"The checkpoint of {'; '.join(damaged)} is damaged, so the run goes on from the checkpoint "
                   f"of step {state['iteration']}, the newest good one.")
        return state
    if damaged:
        raise RunFailed(f"Every checkpoint of this run is damaged: {'; '.join(damaged)}. It cannot be resumed.",
                        "Start the run again from the beginning (Start again, or tailor train with its settings).")
    return None


def check_same(folder: Path, identity: dict) -> None:
    """Refuse to resume checkpoints made with another base model or on other data than `identity` names."""
    for checkpoint in reversed(complete(folder)):
        try:
            saved = read_state(checkpoint).get("identity")
        except Damaged:
            continue
        if not saved:
            return  # checkpoints from before this was kept
        if saved.get("model") != identity["model"]:
            was = saved.get("model_name")
            raise InputError(f"This run's checkpoints were trained on another base model ({was}) than the one its "
                             f"config.yaml names now ({identity['model_name']}); an adapter only fits the model it "
                             f"was trained on. Put back model: {was} in config.yaml to resume, or start a new run on "
                             "the new model.")
        if saved.get("data") != identity["data"]:
            raise InputError("This run's training data (its data folder) changed since its last checkpoint; resuming "
                             "would go on with other examples in another order. Put back the data it was trained on "
                             "to resume, or start a new run on the new data.")
        return
