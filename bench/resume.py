"""Kill-and-resume: a worker killed with SIGKILL at a random step, then `tailor train --resume`, against
an uninterrupted run with the same seed. Prints the final losses and their ratio.

Run: .venv/bin/python -m macapp.engine.check.blas bench/resume.py [--iters 100] [--seed-kill N]
"""

import argparse
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from macapp import jobs
from macapp.engine.data import datasets
from macapp.engine.models import demo, demo_build
from macapp.engine.runs import runs
from macapp.engine.train import config

SETTINGS = {"model": "demo", "batch_size": 8, "learning_rate": 1e-3, "steps_per_report": 1, "steps_per_eval": 50,
            "val_batches": -1, "max_seq_length": 256, "mask_prompt": True,
            "lora_parameters": {"rank": 16, "scale": 10.0, "dropout": 0.0}}


def make_run(data: Path, name: str, iters: int, save_every: int) -> Path:
    run_dir = runs.create(name)
    config.from_dict({**SETTINGS, "data": str(data), "iters": iters, "save_every": save_every}).save(
        run_dir / "config.yaml")
    return run_dir


def losses(run_dir: Path) -> dict[int, float]:
    """Train loss by step; for a resumed run the later attempt's values win."""
    return {e["iteration"]: e["train_loss"] for e in runs.read_events(run_dir) if e["type"] == "train"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=10)
    parser.add_argument("--seed-kill", type=int, default=None, help="seed for the kill step (random if absent)")
    args = parser.parse_args()
    demo_build.ensure_model()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        datasets.prepare([demo.REPLIES], data, (0.9, 0.1, 0.0))
        straight = make_run(data, "bench-straight", args.iters, args.save_every)
        list(jobs.events(jobs.start(jobs.TrainJob(run=str(straight)))))
        killed = make_run(data, "bench-killed", args.iters, args.save_every)
        kill_at = random.Random(args.seed_kill).randint(args.save_every + 1, args.iters - 1)
        process = jobs.start(jobs.TrainJob(run=str(killed)))
        for event in jobs.events(process):
            if event["type"] == "train" and event["iteration"] >= kill_at:
                process.send_signal(signal.SIGKILL)
        resumed = subprocess.run([sys.executable, "-m", "macapp", "train", "--resume", str(killed)],
                                 capture_output=True, text=True)
        if resumed.returncode != 0:
            sys.exit(resumed.stderr[-2000:])
    expected, got = losses(straight), losses(killed)
    worst = max(abs(got[i] - expected[i]) / expected[i] for i in expected)
    print(f"killed at step {kill_at} of {args.iters}; checkpoints every {args.save_every} steps")
    print(f"final train loss: uninterrupted {expected[args.iters]:.6f}, killed and resumed {got[args.iters]:.6f}")
    print(f"ratio resumed / uninterrupted: {got[args.iters] / expected[args.iters]:.6f}; "
          f"largest difference over the whole curve: {worst:.2e} (relative)")


if __name__ == "__main__":
    main()
