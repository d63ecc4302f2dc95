"""The app while it trains: GUI stalls, training speed through the app against `tailor train`, launch time,
and the cost of redrawing a chart of 100,000 points.

Run: .venv/bin/python -m macapp.engine.check.blas bench/app_latency.py [--iters 600] [--rounds 4]
The window is real (offscreen unless a display is set) and trains the demo in a real worker, with
every chart live; in a first run a 10 ms timer measures how late the GUI thread runs it. Then
`tailor train` runs the same config on the same data, alternating with the app, and tokens per
second are compared.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TAILOR_HOME"] = tempfile.mkdtemp(prefix="tailor-bench-app-")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from macapp.engine.files import write_yaml_atomic  # noqa: E402
from macapp.engine.models import demo
from macapp.engine.runs import runs  # noqa: E402
from macapp.engine.runs.run_state import RunState  # noqa: E402

PROBE_MS = 10


def tokens_per_second(run_dir: Path) -> float:
    """Real tokens per second between the first and the last report of a run's training."""
    reports = [e for e in runs.read_events(run_dir) if e.get("type") == "train"]
    first, last = reports[0], reports[-1]
    return (last["trained_tokens"] - first["trained_tokens"]) / (last["time"] - first["time"])


def wait(app, condition, seconds=900) -> None:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents(QEventLoop.AllEvents, 50)


def train_in_app(app, iters: int, probe: bool) -> tuple[Path, list[float], float]:
    """A run started from the Train page with every chart live; returns its folder and, when probed, the GUI
    thread's stalls (ms), and the share of one core the app's own process used meanwhile. The probe wakes the
    GUI 100 times a second, which the app alone never does, so runs that measure speed are not probed."""
    from macapp.ui.wizard import MainWindow

    window = MainWindow()
    window.resize(1180, 780)
    window.show()
    wait(app, window.page(0).ready)
    window.go(1)
    wait(app, window.page(1).ready)
    window.go(2)
    train = window.page(2)
    train.form.inputs["iters"].setValue(iters)
    stalls, clock = [], QElapsedTimer()

    def record():
        if clock.isValid():
            stalls.append(max(0.0, clock.nsecsElapsed() / 1e6 - PROBE_MS))
        clock.restart()

    timer = QTimer(interval=PROBE_MS, timeout=record)
    train.start()
    wait(app, lambda: train.last_train is not None)  # from the first step on: model loading is not the GUI's
    if probe:
        timer.start()
    cpu, started = sum(psutil.Process().cpu_times()[:2]), time.monotonic()
    loop = QEventLoop()
    train.job.ended.connect(loop.quit)
    if train.job.running:
        loop.exec()
    timer.stop()
    share = (sum(psutil.Process().cpu_times()[:2]) - cpu) / (time.monotonic() - started)
    run_dir = Path(window.plan.run_dir)
    window.close()
    return run_dir, stalls, share


def train_in_cli(data: Path, iters: int) -> Path:
    settings = {**demo.train_settings(str(data)), "iters": iters}
    cfg = Path(tempfile.mkdtemp()) / "config.yaml"
    # Only these keys, as a user's file has: a full saved config names adapter_path, which `tailor train`
    # takes relative to the working directory, so the adapter would land there and not in the run.
    write_yaml_atomic(cfg, settings)
    before = {r["id"] for r in runs.list_runs()}
    subprocess.run([sys.executable, "-m", "macapp", "train", "--config", str(cfg), "--name", "cli"], check=True,
                   capture_output=True)
    (new,) = [r for r in runs.list_runs() if r["id"] not in before]
    return Path(new["path"])


def launch_seconds(times: int = 5) -> list[float]:
    seconds = []
    for _ in range(times):
        out = subprocess.run([sys.executable, "-m", "macapp", "app", "--timing"], capture_output=True, text=True,
                             check=True)
        seconds.append(float(out.stdout.split("shown ")[1].split(" s")[0]))
    return seconds


def redraw_ms(app, points: int = 100_000) -> float:
    from macapp.ui.widgets.training_charts import TrainingCharts

    charts = TrainingCharts()
    charts.resize(900, 600)
    charts.show()
    run = RunState()
    for step in range(1, points + 1):
        run.apply({"type": "train", "iteration": step, "total": points, "train_loss": 1 + 1 / step,
                   "tokens_per_second": 1000.0 + step % 97})
    charts.take(run)
    started = time.perf_counter()
    charts.refresh(everything=True)
    charts.repaint()
    app.processEvents()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=4, help="runs of each side, in the order app cli cli app")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    app_speeds, cli_speeds, shares = [], [], []
    run_dir, stalls, _ = train_in_app(app, args.iters, probe=True)
    data = run_dir / "data"  # the CLI trains on exactly the app's split
    for side in (["app", "cli", "cli", "app"] * args.rounds)[:2 * args.rounds]:  # ABBA: the machine's drift cancels
        if side == "app":
            run_dir, _, share = train_in_app(app, args.iters, probe=False)
            app_speeds.append(tokens_per_second(run_dir))
            shares.append(share)
        else:
            cli_speeds.append(tokens_per_second(train_in_cli(data, args.iters)))
    stalls.sort()
    launches = launch_seconds()
    p99 = stalls[int(0.99 * (len(stalls) - 1))]
    print(f"GUI thread during an app run ({len(stalls)} probes of {PROBE_MS} ms): "
          f"stall median {statistics.median(stalls):.1f} ms, p99 {p99:.1f} ms, max {stalls[-1]:.1f} ms "
          f"(goal: p99 < 20, max < 50)")
    app_mean, cli_mean = statistics.fmean(app_speeds), statistics.fmean(cli_speeds)
    print(f"tokens/s through the app {app_mean:,.0f} vs `tailor train` {cli_mean:,.0f}: "
          f"ratio {app_mean / cli_mean:.3f} (goal: at least 0.98)  "
          f"[app {', '.join(f'{s:,.0f}' for s in app_speeds)}; cli {', '.join(f'{s:,.0f}' for s in cli_speeds)}]")
    print(f"the app's own process meanwhile used {statistics.fmean(shares):.1%} of one core "
          f"(the worker uses all {os.cpu_count()})")
    print(f"window shown after launch: median {statistics.median(launches):.2f} s, max {max(launches):.2f} s "
          f"(goal: under 1.5 s)")
    print(f"refresh and repaint of the charts with 100,000 points each: {redraw_ms(app):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
