"""`tailor train --processes N`: one run trained by N processes on this machine through mlx.launch (ring backend over
127.0.0.1), as several Macs would; one of them killed or frozen stops the group plainly, naming it, and the run resumes
exactly; a killed command takes its group with it."""

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from macapp.engine.runs import runs
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


def start_group(data, name: str, env: dict | None = None, until_stopped: bool = False) -> tuple[subprocess.Popen, Path]:
    """`tailor train --processes 2` started, once its first checkpoint is saved: the process and the run folder. A run
    `until_stopped` has steps enough that only a stop ends it, however fast this computer trains the demo."""
    steps = ["--iters", "100000"] if until_stopped else []
    return train_until_checkpoint(name, "--data", data, *FLAGS, *steps, "--processes", "2",
                                  env={**os.environ, **(env or {})})


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
def test_a_stop_reaches_every_process_and_the_group_ends_saved(demo_data):
    group, folder = start_group(demo_data, "stopped", until_stopped=True)
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


def assert_ended_and_free(group: subprocess.Popen, folder: Path) -> None:
    """The group's processes are gone and the run's lock is free: it can be resumed at once."""
    assert rank_process(0, folder) is None and rank_process(1, folder) is None
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(folder) in " ".join(p.info["cmdline"] or [])]
    with runs.hold(folder):  # refused (RunRefused) while any process of the group still held it
        pass


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
@pytest.mark.parametrize("rank", [0, 1])
def test_a_process_that_stops_answering_is_named_and_the_group_ends(demo_data, rank):
    # SIGSTOP stands in for a Mac that froze or left the network: MLX's ring, and mlx.launch, would wait for it forever.
    group, folder = start_group(demo_data, f"frozen-{rank}", {"TAILOR_GROUP_TIMEOUT": "10"})
    frozen = rank_process(rank, folder)
    assert frozen is not None, "the process had already ended"
    os.kill(frozen, signal.SIGSTOP)
    try:
        _, stderr = group.communicate(timeout=120)  # the group's 10 s, then 10 s for the others to end
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGKILL)  # only when the test failed: the launcher ends it itself
    assert group.returncode == 1, stderr[-2000:]
    assert f"Process {rank + 1} of the 2 training together stopped answering" in stderr, stderr[-2000:]
    assert f"tailor train --resume {folder.name} --processes 2" in stderr and "Traceback" not in stderr
    said = [e for e in runs.read_events(folder) if e["type"] == "error"][-1]
    assert said["message"].startswith(f"Process {rank + 1} of the 2 training together stopped answering")
    assert_ended_and_free(group, folder)


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
def test_the_first_process_killed_is_named_with_the_resume_command(demo_data):
    group, folder = start_group(demo_data, "first-killed")
    os.kill(rank_process(0, folder), signal.SIGKILL)
    _, stderr = group.communicate(timeout=120)
    assert group.returncode == 1, stderr[-2000:]
    assert "Process 1 of the 2 training together was killed by signal 9, so the others stopped too." in stderr
    assert f"tailor train --resume {folder.name} --processes 2" in stderr and "Traceback" not in stderr
    assert "ended unexpectedly" not in stderr
    assert_ended_and_free(group, folder)


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the processes through /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_command_takes_its_group_with_it_saved(demo_data, how):
    # SIGKILL: nothing of the command runs any more; SIGHUP: its terminal closed (the group leads a process group of
    # its own, which the terminal's hang-up does not reach). The command hears a hang-up as one in a terminal does,
    # even when the tests themselves run under nohup (which a command started from them would inherit).
    hang_up = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        group, folder = start_group(demo_data, f"orphaned-{how.name.lower()}", until_stopped=True)
    finally:
        signal.signal(signal.SIGHUP, hang_up)
    launcher = psutil.Process(group.pid).children()  # the group's launcher, which started its processes
    workers = [psutil.Process(rank_process(rank, folder)) for rank in (0, 1)]
    group.send_signal(how)
    group.communicate(timeout=60)
    _, alive = psutil.wait_procs([*launcher, *workers], timeout=120)
    assert not alive, "the group went on training without the command that started it"
    done = runs.read_events(folder)[-1]
    assert done["type"] == "done" and done["stopped"], done  # stopped as by Ctrl-C: saved, resumable
    assert (folder / "adapters" / "adapters.safetensors").exists()
    assert_ended_and_free(group, folder)


def test_dpo_trained_by_two_processes_takes_the_steps_one_takes(tmp_path, demo_model):
    """Each process scores its share of the pairs; the loss is the group's mean, so the steps are one process's."""
    from macapp.engine.models import demo

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in demo.preference_pairs()[:120]), encoding="utf-8")
    flags = ["--model", "demo", "--data", pairs, "--method", "dpo", "--iters", "8", "--batch-size", "4",
             "--steps-per-report", "2", "--steps-per-eval", "8", "--learning-rate", "5e-5", "--max-seq-length", "256"]
    for name, processes in (("dpo-one", "1"), ("dpo-two", "2")):
        trained = tailor("train", "--name", name, *flags, "--processes", processes, timeout=900)
        assert trained.returncode == 0, trained.stderr[-3000:]
    one, two = losses(run_folder("dpo-one")), losses(run_folder("dpo-two"))
    assert sorted(one) == sorted(two) == [2, 4, 6, 8]
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-3, abs=1e-4), step
