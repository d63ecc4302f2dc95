"""The run folder, the unit a user keeps: create, find, list, lock, and record its events.

`<data home>/runs/<id>/` holds config.yaml, data/, adapters/, checkpoints/, events.jsonl, exports/. A damaged
folder is listed as damaged, with what is wrong, and never hides the others.
"""

import fcntl
import json
import os
import re
import time
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import psutil

from ..errors import InputError
from ..files import data_home
from ..train.run_spec import RunSpec
from .run_state import RunState


class RunError(InputError):
    """A run that does not exist or cannot be read."""


class RunRefused(RunError):
    """A run a worker will not begin on: another process trains it, or it has finished."""


def runs_root() -> Path:
    root = data_home() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def create(name: str) -> Path:
    """A new, empty run folder with a unique, sortable id."""
    words = unicodedata.normalize("NFC", name).lower()
    slug = re.sub(r"[^\w]+|_", "-", words).strip("-")  # letters of any script are kept
    slug = slug.encode()[:120].decode(errors="ignore").strip("-") or "run"  # names are limited in bytes, not letters
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        folder = runs_root() / (f"{stamp}-{slug}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RunError(f"Could not create a run folder for {name!r} in {runs_root()}.")


def find(run: str) -> Path:
    """A run folder from its id, its path, or the name it was given (`tailor train --name`) when one run has it."""
    for candidate in (Path(run).expanduser(), runs_root() / run):
        if (candidate / "config.yaml").exists():
            return candidate
    named = sorted(runs_root().glob(f"*-{run}")) if run and "/" not in run and runs_root().is_dir() else []
    named = [folder for folder in named if (folder / "config.yaml").exists()]
    if len(named) == 1:
        return named[0]
    if named:
        raise RunError(f"{len(named)} runs are named {run!r}: {', '.join(f.name for f in named)}. Give the whole id.")
    raise RunError(f"No run {run!r}. `tailor runs` lists the runs there are.")


def append_event(folder: Path, event: dict) -> None:
    # One short line per append: a killed process loses at most the line it was writing, and the next
    # event starts on a line of its own after such a cut line.
    with open(Path(folder) / "events.jsonl", "ab+") as handle:
        cut = False
        if handle.seek(0, 2) > 0:
            handle.seek(-1, 2)
            cut = handle.read(1) != b"\n"
        handle.write((b"\n" if cut else b"") + json.dumps(event, default=str).encode() + b"\n")


def read_events(folder: Path) -> list[dict]:
    """The run's events; a line that is not one (cut short by a kill, or damaged) is passed over."""
    path = Path(folder) / "events.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [event for event in map(parse_event, data.splitlines()) if event is not None]


def parse_event(line: bytes) -> dict | None:
    """One line of events.jsonl as an event; None for a line that is not one (cut short by a kill, or damaged)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


@contextmanager
def hold(folder: Path, doing: str = "is being trained", noun: str = "Run "):
    """This process's claim on a run while it trains it (or on a job's folder while it works in it: `noun` '' names
    the folder alone); a second one is refused. The claim is a lock the system drops when its process ends, however
    it ends, so a killed run is never left locked."""
    named = f"{noun}{Path(folder).name}"
    try:
        handle = open(Path(folder) / ".lock", "a+")
    except OSError as error:
        raise RunRefused(f"{named} cannot be claimed: {error.strerror}. Check that its folder can be written: "
                         f"{folder}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise RunRefused(f"{named} {doing} by another Tailor"
                             + (f" (process {holder})" if holder.isdigit() else "") + ". Wait for it to finish, "
                             "or stop it first (in the window, or Ctrl-C in its terminal).") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def check_resumable(folder: Path) -> None:
    """Refuse to resume a run that finished: there is nothing left to train."""
    found = state(folder)
    if found.phase == "finished":
        raise RunRefused(f"Run {Path(folder).name} finished all its {found.step} steps; there is nothing to resume. "
                         "To train it longer, start a new run with more steps.")


def worker_alive(pid: int) -> bool:
    """True while process `pid` runs; one that has exited but is not yet reaped does not count."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):  # ended, or not a process id at all
        return False


def state(folder: Path, kind: str = "train") -> RunState:
    """The run's state from its events (or that of the job `kind` in a folder of its own); a run whose worker has gone
    without a last word is interrupted."""
    found = RunState.replay(read_events(folder), kind)
    return found.settle(bool(found.pid and worker_alive(found.pid)))


def read_settings(folder: Path) -> dict:
    """A run's config.yaml as plain settings, for listing it, read within a config's bounds (no aliases, a few KB);
    a RunError says what is wrong with it."""
    from ..train.config import read_value

    try:
        settings = read_value(Path(folder) / "config.yaml")
    except InputError as error:
        raise RunError(f"its config.yaml cannot be read: {error}") from None
    if not isinstance(settings, dict):
        raise RunError("its config.yaml holds no settings")
    return settings


def summary(folder: Path) -> dict:
    """Name, model, data, status, best validation loss and date of one run; the worker's pid while it trains."""
    folder = Path(folder)
    config = read_settings(folder)
    found = state(folder)
    try:
        manifest = json.loads((folder / "data" / "manifest.json").read_text(encoding="utf-8"))
        sources = [Path(s).name for s in manifest["sources"]]
    except (OSError, ValueError, KeyError, TypeError):  # no manifest yet (or a damaged one): the files asked for
        spec = RunSpec.load(folder)
        sources = [Path(s).name for s in spec.sources] if spec else []
    return {"id": folder.name, "path": str(folder), "model": config.get("model"), "data": config.get("data"),
            "sources": sources, "pid": found.pid if found.live else None, "state": found,
            "status": "running" if found.live else found.phase, "best_val_loss": found.best_val_loss,
            "created": _created(folder)}


def _created(folder: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(folder.stat().st_mtime))


def adapter_paths(folder) -> dict[str, Path]:
    """The saved adapters of a run that can be tested or exported: the last one and, when kept, the best one."""
    from ..train.config import load

    adapters = Path(folder) / load(Path(folder) / "config.yaml").adapter_path
    paths = {"last": adapters}
    if (adapters / "best" / "adapters.safetensors").exists():
        paths["best"] = adapters / "best"
    return paths


def adapter_path(folder, checkpoint: str = "last") -> Path:
    """The folder of one saved adapter of a run ("last" or "best"); an InputError names the others."""
    paths = adapter_paths(folder)
    if checkpoint not in paths:
        raise RunError(f"Run {Path(folder).name} has no {checkpoint!r} adapter; it has: {', '.join(paths)}.")
    return paths[checkpoint]


def model_and_adapter(folder, checkpoint: str = "last") -> tuple[str, Path]:
    """The model a run trained and the folder of its chosen adapter."""
    from ..train.config import load

    return load(Path(folder) / "config.yaml").model, adapter_path(folder, checkpoint)


def continued_from(folder) -> dict:
    """The settings of a new run that goes on from a run's adapter (its best, else its last), such as teaching by
    choosing after teaching by examples: its model, and the adapter with the layers and shape it was made with."""
    from ..train.config import load

    settings = load(Path(folder) / "config.yaml")
    adapter = adapter_paths(folder).get("best", adapter_paths(folder)["last"]) / "adapters.safetensors"
    if not adapter.is_file():
        raise RunError(f"Run {Path(folder).name} has no adapter yet: train it first, or start from the model itself.")
    return {"model": settings.model, "resume_adapter_file": str(adapter), "fine_tune_type": settings.fine_tune_type,
            "num_layers": settings.num_layers, "lora_parameters": settings.lora_parameters}


def adapter_words(folder) -> dict[str, str]:
    """How each saved adapter of a run is named to a person, best first: its step and validation loss."""
    found = RunState.replay(read_events(folder))
    words = {}
    if "best" in adapter_paths(folder) and found.best:
        words["best"] = f"Best adapter (step {found.best[0]}, validation loss {found.best[1]:.3f})"
    words["last"] = "Last adapter" + (f" (step {found.step})" if found.step else "")
    return words


def damaged(folder: Path, why: str) -> dict:
    """A run folder that cannot be read, as the list shows it: with what is wrong, so it can be mended or removed."""
    return {"id": folder.name, "path": str(folder), "model": None, "data": None, "sources": [], "pid": None,
            "state": RunState(phase="damaged", message=why), "status": "damaged", "best_val_loss": None,
            "created": _created(folder)}


def list_runs() -> list[dict]:
    """Every run, newest first; one that cannot be read is listed as damaged instead of hiding the rest."""
    listed = []
    for folder in sorted(runs_root().iterdir(), reverse=True):
        if not (folder / "config.yaml").is_file():
            continue
        try:
            listed.append(summary(folder))
        except (RunError, OSError) as error:
            listed.append(damaged(folder, str(error)))
    return listed
