"""The worker keeps the Mac awake while it trains, and the assertion process is gone however the run ends:
finished, stopped, or the worker killed. macOS's caffeinate cannot exist here: a stand-in script on PATH
behaves like it (`-i -w PID`: holds until PID exits, ends on SIGTERM) and records its own pid."""

import signal
import time

import psutil
import pytest

from macapp import jobs
from tests.e2e.test_worker import make_run
from tests.helpers import fake_commands

CAFFEINATE = 'echo "$$ $*" >> "$TAILOR_HOME/caffeinate.calls"\nwhile kill -0 "$3" 2>/dev/null; do sleep 0.1; done\n'


def gone(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def caffeinate(tmp_path, monkeypatch, tailor_home):
    calls = tailor_home / "caffeinate.calls"
    calls.unlink(missing_ok=True)
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", caffeinate=CAFFEINATE))
    return calls


@pytest.mark.parametrize("ending", ["finish", "stop", "kill"])
def test_the_assertion_ends_with_the_run(demo_data, caffeinate, ending):
    run_dir = make_run(demo_data, **({"iters": 8} if ending == "finish" else {"iters": 100000, "steps_per_report": 1,
                                                                             "steps_per_eval": 100000}))
    process = jobs.start({"kind": "train", "run": str(run_dir)})
    held = None
    for event in jobs.events(process):
        if "awake_pid" in event:
            held = event["awake_pid"]
            assert not gone(held, 0.5)  # holding while the run trains
        if event["type"] == "train" and event["iteration"] == 2 and ending != "finish":
            process.send_signal(signal.SIGINT if ending == "stop" else signal.SIGKILL)
    assert process.returncode == {"finish": 0, "stop": 130, "kill": -signal.SIGKILL}[ending]
    pid, *args = caffeinate.read_text().split()
    assert int(pid) == held and args == ["-i", "-w", str(process.pid)]
    assert gone(held), f"caffeinate still running after the run ended by {ending}"

