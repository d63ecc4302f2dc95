"""Training together on this machine: `tailor train --processes 1` against `--processes 2` (MLX's ring backend over
127.0.0.1), on the same data and settings, and the time a step spends averaging the gradients between the processes.

Run: .venv/bin/python -m macapp.engine.check.blas bench/group_training.py [--iters 30]
On 2 cores two processes share the same cores, so their speed ratio is not the point; the averaging's cost is: it is
what two Macs would pay per step on top of their own work (over 127.0.0.1 here; a network adds its own latency).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn

from macapp.engine.models import demo_build, loading
from macapp.engine.train.config import TrainConfig
from macapp.engine.train.training import prepare_model

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import train_throughput  # noqa: E402 - the benchmark data and flags, shared

AVERAGINGS = 50


def averaging_seconds() -> float:
    """One process of a group (run under mlx.launch): the seconds one step's gradients of the demo's LoRA adapter
    (all layers, rank 8) take to be averaged across the group, as mlx-lm's trainer does it, median of many."""
    model, _ = loading.load(demo_build.ensure_model())
    prepare_model(model, TrainConfig(model="demo", data="-", num_layers=-1))
    gradients = model.trainable_parameters()
    times = []
    for _ in range(AVERAGINGS):
        started = time.perf_counter()
        mx.eval(nn.average_gradients(gradients))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=30, help="training steps of each run (default 30)")
    parser.add_argument("--averaging", action="store_true", help=argparse.SUPPRESS)  # one process of the probe
    args = parser.parse_args()
    if args.averaging:
        print(f"AVERAGING {averaging_seconds()}", flush=True)
        return
    stamp = time.strftime("%H%M%S")
    with tempfile.TemporaryDirectory() as scratch:
        data, _ = train_throughput.write_data(Path(scratch) / "mixed", True)
        flags = [*train_throughput.train_flags(args.iters, 0), "--mask-prompt"]
        results = {n: train_throughput.tailor("demo", data, [*flags, "--processes", str(n)], f"bench-group{n}-{stamp}")
                   for n in (1, 2)}
    probe = subprocess.run([str(Path(sys.executable).with_name("mlx.launch")), "-n", "2", "--backend", "ring", "--",
                            sys.executable, __file__, "--averaging"], check=True, capture_output=True, text=True)
    averaging = max(float(line.split()[1]) for line in probe.stdout.splitlines() if line.startswith("AVERAGING"))
    print(f"Demo model, mixed-length chat data, {args.iters} steps of batch {train_throughput.BATCH}, LoRA all layers; "
          "each run's own clock around its training (validation included).")
    print(f"{'processes':>10}{'wall s':>9}{'train s':>9}{'tok/s':>8}{'final loss':>12}")
    for n, result in results.items():
        print(f"{n:>10}{result.wall_seconds:>9.1f}{result.train_seconds:>9.1f}"
              f"{result.trained_tokens / result.train_seconds:>8.0f}{result.train_loss:>12.4f}")
    one, two = results[1], results[2]
    step = two.train_seconds / args.iters
    print(f"2 processes / 1: speed {one.train_seconds / two.train_seconds:.2f}×, final loss ratio "
          f"{two.train_loss / one.train_loss:.5f}")
    print(f"Averaging one step's gradients between 2 processes (ring, 127.0.0.1): {averaging * 1e3:.2f} ms, "
          f"{averaging / step:.1%} of a step of the 2-process run ({step * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
