"""Training on several processes at once over MLX's ring backend (2 ranks on 127.0.0.1, as `mlx.launch` runs them):
the same steps as one process with the whole batch, and the first rank alone speaks and writes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from macapp.engine.check import blas
from macapp.engine.train import group
from tests.helpers import REPO

GROUP_RUN = REPO / "tests" / "engine" / "group_run.py"


def run(data, out, processes: int) -> list[dict]:
    out.mkdir()
    command = [sys.executable, str(GROUP_RUN), str(data), str(out)]
    if processes > 1:
        launcher = Path(sys.executable).with_name("mlx.launch")  # MLX's own launcher, installed with it
        command = [str(launcher), "-n", str(processes), "--backend", "ring", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**blas.environment(), "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in range(processes)]


@pytest.fixture(scope="module")
def alone_and_together(demo_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("group")
    return run(demo_data, folder / "alone", 1)[0], run(demo_data, folder / "together", 2), folder


def train_losses(events):
    return [e["train_loss"] for e in events if e["type"] == "train"]


def trained_tokens(events):
    return [e["trained_tokens"] for e in events if e["type"] == "train"]


def test_two_processes_take_the_same_steps_as_one_with_the_whole_batch(alone_and_together):
    alone, (first, second), _ = alone_and_together
    assert len(train_losses(first["events"])) == len(train_losses(alone["events"])) == 8
    assert train_losses(first["events"]) == pytest.approx(train_losses(alone["events"]), rel=1e-3)
    assert first["result"]["best_val_loss"] == pytest.approx(alone["result"]["best_val_loss"], rel=1e-3)
    assert trained_tokens(first["events"]) == trained_tokens(alone["events"])  # each took its share, not all
    assert first["result"]["train_loss"] == second["result"]["train_loss"]  # both know the group's loss
    for event in (e for e in first["events"] if e["type"] == "memory"):  # each process's memory, for each Mac
        assert [p["name"] for p in event["processes"]] == ["process 1", "process 2"]
        assert all(p["peak_gb"] > 0 and p["tokens_per_second"] > 0 for p in event["processes"])
        assert event["processes"][0]["peak_gb"] == pytest.approx(event["peak_gb"])
    assert all("processes" not in e for e in alone["events"] if e["type"] == "memory")


def test_the_first_process_alone_reports_and_writes(alone_and_together):
    _, (first, second), folder = alone_and_together
    assert second["events"] == [] and any(e["type"] == "checkpoint" for e in first["events"])
    written = sorted(p.relative_to(folder / "together").as_posix() for p in (folder / "together").rglob("*")
                     if p.is_file())
    alone = sorted(p.relative_to(folder / "alone").as_posix() for p in (folder / "alone").rglob("*") if p.is_file())
    assert written == sorted([*alone, "rank1.json"])  # the same files as one process, and no second copy of any


WATCHED = """
import sys, time
from macapp.engine.train.group import Watchdog
watchdog = Watchdog(lambda seconds: print(f"silent for {seconds:.0f} s", flush=True))
for _ in range(3):
    watchdog.tick()
time.sleep(600)  # as a process waits in a collective call for a Mac that froze
"""


def test_a_set_group_timeout_is_the_silence_that_ends_a_process_and_it_ends_as_silent():
    # Without TAILOR_GROUP_TIMEOUT, a silence must also be 20 times the longest step; set, it is the silence exactly.
    done = subprocess.run([sys.executable, "-c", WATCHED], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**blas.environment(), "PYTHONPATH": str(REPO), "TAILOR_GROUP_TIMEOUT": "2"})
    assert done.returncode == group.SILENT, done.stderr[-2000:]
    assert done.stdout.startswith("silent for ")
