"""`tailor train --processes N`: one run trained by N processes on this machine through mlx.launch (ring backend over
127.0.0.1), as several Macs would; one of them killed stops the group plainly, and the run resumes exactly."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from macapp.engine import runs
from tests.helpers import losses, run_folder, tailor, train_until_checkpoint

FLAGS = ["--model", "demo", "--iters", "40", "--batch-size", "4", "--steps-per-report", "1", "--steps-per-eval", "20",
         "--val-batches", "1", "--save-every", "5", "--max-seq-length", "128", "--learning-rate", "1e-3"]


def rank_process(rank: int, run: Path) -> int | None:
    """The pid of the worker of `rank` (mlx.launch gives each its MLX_RANK) training the run in `run`."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f"MLX_RANK={rank}".encode() in environ and b"macapp.worker" in command and str(run).encode() in command:
            return int(pid)
    return None


def test_a_batch_the_processes_cannot_share_is_refused_before_anything_starts(demo_data):
    result = tailor("train", "--data", demo_data, "--name", "three", *FLAGS, "--processes", "3")
    assert result.returncode == 2
    assert "batch size (4) must be a multiple" in result.stderr and "--processes 2" in result.stderr
    assert not [r for r in runs.list_runs() if r["id"].endswith("-three")]


def start_group(data, name: str, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """`tailor train --processes 2` started, once its first checkpoint is saved: the process and the run folder."""
    return train_until_checkpoint(name, "--data", data, *FLAGS, "--processes", "2", env={**os.environ, **(env or {})})


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
def test_a_stop_reaches_every_process_and_the_group_ends_saved(demo_data):
    group, folder = start_group(demo_data, "stopped")
    group.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
    _, stderr = group.communicate(timeout=60)
    assert group.returncode == 130, stderr[-2000:]
    assert "stopped; what was done so far is saved" in stderr
    done = runs.read_events(folder)[-1]
    assert done["type"] == "done" and done["stopped"] and (folder / "adapters" / "adapters.safetensors").exists()
    assert rank_process(0, folder) is None and rank_process(1, folder) is None


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
def test_one_process_killed_stops_the_group_plainly_and_the_run_resumes_exactly(demo_data):
    whole = tailor("train", "--data", demo_data, "--name", "whole", *FLAGS, "--processes", "2")  # never stopped
    assert whole.returncode == 0, whole.stderr[-2000:]
    group, folder = start_group(demo_data, "killed")
    second = rank_process(1, folder)
    assert second is not None, "the second process had already ended"
    os.kill(second, signal.SIGKILL)
    _, stderr = group.communicate(timeout=60)  # the group ends at once, never waits on the lost process
    assert group.returncode == 1
    assert "Process 2 of the 2 training together was killed by signal 9" in stderr
    assert f"tailor train --resume {folder.name}" in stderr and "Traceback" not in stderr
    started = [e for e in runs.read_events(folder) if e["type"] == "started"]
    assert len(started) == 1  # the first process alone speaks for the group

    resumed = tailor("train", "--resume", folder.name, "--processes", "2")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    events = runs.read_events(folder)
    restart = next(e for e in events if e["type"] == "log" and e["message"].startswith("Resuming from step"))
    step = int(restart["message"].rsplit(" ", 1)[1])
    expected, got = losses(run_folder("whole")), losses(folder)
    assert step >= 5 and sorted(got)[-1] == 40
    for iteration in range(step + 1, 41):
        assert got[iteration] == pytest.approx(expected[iteration], rel=1e-5), iteration
    assert json.loads((folder / "adapters" / "adapter_config.json").read_text())["batch_size"] == 4


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
def test_a_process_that_stops_answering_ends_the_group_in_bounded_time(demo_data):
    # SIGSTOP stands in for a Mac that froze or left the network: MLX's ring would wait for it forever.
    group, folder = start_group(demo_data, "frozen", {"TAILOR_GROUP_TIMEOUT": "5"})
    second = rank_process(1, folder)
    os.kill(second, signal.SIGSTOP)
    deadline, said = time.monotonic() + 90, None
    try:
        while time.monotonic() < deadline and said is None:
            said = next((e for e in runs.read_events(folder) if e["type"] == "error"), None)
            time.sleep(0.5)
    finally:
        os.kill(second, signal.SIGKILL)  # a stopped process cannot end on the launcher's SIGTERM
    assert said is not None, "no word from the group within 90 s"
    assert "stopped answering each other" in said["message"] and "resume the run" in said["fix"]
    group.communicate(timeout=60)
    assert group.returncode == 1
    assert rank_process(0, folder) is None
