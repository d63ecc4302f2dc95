"""Record the events.jsonl of real demo runs that finished, stopped, were killed, were stopped and resumed,
and failed, into this folder, for the replay tests: `python -m tests.runs.record` (a minute or two).
"""

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = {"model": "demo", "iters": 30, "batch_size": 4, "steps_per_report": 1, "steps_per_eval": 10,
            "val_batches": 2, "save_every": 10, "learning_rate": 1e-3, "max_seq_length": 128}


def train(data, name: str, resume: bool = False, signal_at: tuple | None = None, **overrides) -> Path:
    """One worker session on a run (new, or `name`'s when resuming); `signal_at` = (step, signal) to send."""
    from macapp import jobs
    from macapp.engine.runs import runs
    from macapp.engine.train import config

    if resume:
        run_dir = next(runs.runs_root().glob(f"*-{name}"))
    else:
        run_dir = runs.create(name)
        config.from_dict({**SETTINGS, "data": str(data), **overrides}).save(run_dir / "config.yaml")
    process = jobs.start(jobs.TrainJob(run=str(run_dir), resume=resume))
    for event in jobs.events(process):
        if signal_at and event["type"] == "train" and event["iteration"] == signal_at[0]:
            process.send_signal(signal_at[1])
    return run_dir


def main() -> int:
    os.environ["TAILOR_HOME"] = tempfile.mkdtemp(prefix="tailor-record-")
    from macapp.engine.data import datasets
    from macapp.engine.models import demo, demo_build

    demo_build.ensure_model()
    data = Path(os.environ["TAILOR_HOME"]) / "data"
    datasets.prepare([demo.REPLIES], data, (0.8, 0.1, 0.1), seed=0)
    recorded = {
        "finished": train(data, "finished"),
        "stopped": train(data, "stopped", signal_at=(13, signal.SIGINT)),
        "killed": train(data, "killed", signal_at=(15, signal.SIGKILL)),
        "failed": train(data, "failed", learning_rate=1e30),
    }
    train(data, "resumed", signal_at=(13, signal.SIGINT))
    recorded["resumed"] = train(data, "resumed", resume=True)
    for name, run_dir in recorded.items():
        shutil.copy(run_dir / "events.jsonl", HERE / f"{name}.jsonl")
    shutil.rmtree(os.environ["TAILOR_HOME"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
