"""Replay tests: the events.jsonl of real demo runs (recorded by tests/runs/record.py) that finished, stopped,
were killed, were stopped and resumed, and failed, give the RunState every view of a run reads."""

import json
from pathlib import Path

import pytest

from macapp.engine.runs.run_state import RunState, clock

RECORDED = Path(__file__).parent.parent / "runs"


def replay(name: str, alive: bool = False) -> RunState:
    events = [json.loads(line) for line in (RECORDED / f"{name}.jsonl").read_text().splitlines()]
    return RunState.replay(events).settle(alive)


def steps(points) -> list[int]:
    return [p[0] for p in points]


def test_a_finished_run():
    run = replay("finished")
    assert (run.phase, run.step, run.total, run.sessions) == ("finished", 30, 30, 1)
    assert steps(run.train_points) == list(range(1, 31)) and steps(run.val_points) == [0, 10, 20, 30]
    assert run.best == (10, pytest.approx(2.12718, abs=1e-4))
    took = clock(run.result["seconds"])
    assert run.outcome() == f"Finished 30 steps in {took}; best validation loss 2.127 at step 10."
    assert not run.live and run.progress == 1.0 and run.memory_over() is None
    assert run.predicted_bytes and run.limit_bytes and len(run.memory_points) == 30


def test_a_stopped_run():
    run = replay("stopped")
    assert (run.phase, run.step, run.total) == ("stopped", 13, 30)
    assert run.outcome() == "Stopped at step 13 of 30; best validation loss 2.127 at step 10."


def test_a_killed_run_is_interrupted_once_its_worker_is_gone():
    assert replay("killed", alive=True).phase == "training"  # its worker still going: it trains
    run = replay("killed")
    assert (run.phase, run.step) == ("interrupted", 15)
    assert run.outcome().startswith("Interrupted at step 15: the training process ended without finishing")


def test_a_stopped_then_resumed_run_that_finished_is_finished():
    """Reopening Tailor on it once said "Stopped at step 13" from the first session's last event."""
    run = replay("resumed")
    assert (run.phase, run.step, run.sessions, run.error) == ("finished", 30, 2, None)
    assert steps(run.train_points) == list(range(1, 31))  # each step once
    assert run.result["resumed_from"] == 13 and run.best == (10, pytest.approx(2.12718, abs=1e-4))
    finished = replay("finished")  # and it validated after the same steps, to the same losses, as one going straight
    assert run.val_points == finished.val_points


def test_a_failed_run_keeps_its_error():
    run = replay("failed")
    assert run.phase == "failed" and run.error["category"] == "training"
    assert run.outcome().startswith("Failed: The loss stopped being a number")


def test_a_resumed_session_replaces_the_steps_after_its_checkpoint():
    """Killed at step 15 after a checkpoint at 10: the next session trains 11-15 again, and those count."""
    killed = [json.loads(line) for line in (RECORDED / "killed.jsonl").read_text().splitlines()]
    run = RunState.replay(killed)
    revision = run.revision
    run.apply({"type": "started", "pid": 1, "time": 2.0e9})
    assert (run.phase, run.message) == ("preparing", "Preparing the run")
    run.apply({"type": "train", "iteration": 11, "total": 30, "train_loss": 0.5, "time": 2.0e9 + 2})
    assert steps(run.train_points) == list(range(1, 12)) and run.train_points[-1][1] == 0.5
    assert steps(run.val_points) == [0, 10] and run.revision > revision
    assert run.seconds_left() is None  # one report of this session: no pace yet
    run.apply({"type": "train", "iteration": 12, "total": 30, "train_loss": 0.4, "time": 2.0e9 + 4})
    assert run.seconds_left() == 36.0  # this session's pace only: 2 s a step, 18 steps to go


def test_events_of_other_jobs_in_the_run_folder_are_left_alone():
    run = replay("finished")
    before = run.outcome()
    run.apply({"type": "started", "kind": "evaluate", "pid": 5}).apply({"type": "error", "kind": "evaluate"})
    assert run.outcome() == before


def test_an_event_after_a_line_cut_by_a_kill_starts_a_line_of_its_own(tmp_path):
    """Else the next session's `started` is glued to the cut line and lost, and the run looks interrupted."""
    from macapp.engine.runs import runs

    (tmp_path / "events.jsonl").write_bytes(b'{"type": "started", "pid": 1}\n{"type": "train", "iterat')
    runs.append_event(tmp_path, {"type": "started", "pid": 2})
    runs.append_event(tmp_path, {"type": "log", "message": "Loading demo"})
    assert [e.get("pid") for e in runs.read_events(tmp_path)] == [1, 2, None]
    assert RunState.replay(runs.read_events(tmp_path)).pid == 2
