"""Shared fixtures: an isolated data home, the demo model built once per session, and demo data.

`make test` runs the suite with the system OpenBLAS preloaded (as `tailor` runs itself), since
MLX's CPU backend is ~50x slower without it.
"""

import os
from pathlib import Path

import pytest

from tests.helpers import tailor


@pytest.fixture(scope="session", autouse=True)
def tailor_home(tmp_path_factory):
    """Every test, and every process it starts, keeps its runs and models in a temporary home."""
    home = tmp_path_factory.mktemp("tailor-home")
    os.environ["TAILOR_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def demo_model(tailor_home):
    from macapp.engine import demo

    return demo.ensure_model()


@pytest.fixture(scope="session")
def demo_data(demo_model, tmp_path_factory):
    """The demo replies, prepared into train/valid/test."""
    from macapp.engine import datasets, demo

    folder = tmp_path_factory.mktemp("demo-data")
    datasets.prepare([demo.REPLIES], folder, (0.8, 0.1, 0.1), seed=0)
    return folder


@pytest.fixture(scope="session")
def demo_run(demo_model):
    """`tailor demo` run once for the session: its output and run folder."""
    result = tailor("demo", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    from macapp.engine import runs

    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-demo")]
    return result, Path(run["path"])
