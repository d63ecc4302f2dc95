"""Where Tailor runs from: a checkout (or an installed package), or inside Tailor.app built by py2app.

Inside the bundle there is no `python` to start: child processes are the app's own executable started
again with a flag (`--worker JOB.json` for a job, `--python ARGS` for what `python ARGS` would run).
"""

import os
import sys
from pathlib import Path

WORKER_FLAG = "--worker"
PYTHON_FLAG = "--python"


def inside_app() -> bool:
    """py2app's bootstrap sets sys.frozen and the bundle's paths (EXECUTABLEPATH, RESOURCEPATH)."""
    return bool(getattr(sys, "frozen", False)) and "EXECUTABLEPATH" in os.environ


def resources() -> Path:
    """The resources folder: the checkout's, or the one copied into Tailor.app/Contents/Resources."""
    if inside_app():
        return Path(os.environ["RESOURCEPATH"]) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def docs() -> Path:
    """The guides (docs/*.md, the Help menu's): the checkout's, or the copy in Tailor.app/Contents/Resources."""
    if inside_app():
        return Path(os.environ["RESOURCEPATH"]) / "docs"
    return Path(__file__).resolve().parents[2] / "docs"


def python() -> list[str]:
    """The start of a command that runs a Python script, as `python` would: `python() + [script, ...]`."""
    return [os.environ["EXECUTABLEPATH"], PYTHON_FLAG] if inside_app() else [sys.executable]


def module(name: str) -> list[str]:
    """The start of a command that runs Python module `name` (`python -m name`), never from the current folder: a
    `macapp` folder there (another checkout) must not be imported in place of this Tailor."""
    return [*python(), "-m", name] if inside_app() else [sys.executable, "-P", "-m", name]


def worker(*arguments) -> list[str]:
    """The command of a worker process for one job: its job file (or `--group RUN`, see macapp.worker)."""
    if inside_app():
        return [os.environ["EXECUTABLEPATH"], WORKER_FLAG, *map(str, arguments)]
    return [*module("macapp.worker"), *map(str, arguments)]
