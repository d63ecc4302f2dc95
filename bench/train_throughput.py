"""Training throughput: `tailor train` against `mlx_lm lora` on the same model, data, settings and seed.

Run: .venv/bin/python -m macapp.engine.blas bench/train_throughput.py [--iters 100]
Two datasets: chat replies of mixed lengths (20-400 tokens) and of equal length. Prints real
(non-padding) tokens per second, final validation loss, MLX's peak memory and the peak process RSS,
each as Tailor / mlx-lm.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from macapp.engine import demo, runs

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# mlx-lm's own `lora` command, unchanged, with MLX's peak memory printed when it exits.
MLX_LM_LORA = ("import atexit, sys, mlx.core as mx\n"
               "atexit.register(lambda: print(f'MLX_PEAK_BYTES {mx.get_peak_memory()}'))\n"
               "sys.argv[0] = 'mlx_lm.lora'\n"
               "from mlx_lm.lora import main\n"
               "main()")
TRAIN_LINE = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,]+)\s")
VAL_LINE = re.compile(r"^\s*(\d+)\s+val\s+([\d.]+)")


def write_data(folder: Path, mixed: bool, count: int = 320) -> Path:
    """Chat examples whose answers are 20-400 tokens (mixed) or all about 200 (equal)."""
    words = " ".join(m["content"] for row in demo.read_jsonl(demo.CORPUS) for m in row["messages"]).split()
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", count), ("valid", 32)):
        with open(folder / f"{name}.jsonl", "w") as handle:
            for _ in range(n):
                length = rng.randint(12, 300) if mixed else 150
                answer = " ".join(rng.choices(words, k=length))
                handle.write(json.dumps({"messages": [{"role": "user", "content": " ".join(rng.choices(words, k=8))},
                                                      {"role": "assistant", "content": answer}]}) + "\n")
    return folder


def run(command: list[str]) -> tuple[str, float, float]:
    """(stdout + stderr, seconds, peak RSS in MB of the process and the children it waited for)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command[:5])}\n{output[-2000:]}")
    return output, time.perf_counter() - started, usage.ru_maxrss / 1024


def mlx_lm(model: Path, data: Path, flags: list[str], out: Path) -> dict:
    output, _, rss = run([sys.executable, "-c", MLX_LM_LORA, "--model", str(model), "--train", "--data",
                          str(data), "--adapter-path", str(out), *flags])
    speeds, vals = [], []
    for line in ANSI.sub("", output).splitlines():
        if match := TRAIN_LINE.match(line):
            speeds.append(float(match.group(3).replace(",", "")))
        elif match := VAL_LINE.match(line):
            vals.append(float(match.group(2)))
    peak = int(re.search(r"MLX_PEAK_BYTES (\d+)", output).group(1)) / 1e6
    return {"tokens_per_second": sum(speeds) / len(speeds), "val_loss": vals[-1], "peak_mb": peak, "rss_mb": rss}


def tailor(data: Path, flags: list[str], name: str) -> dict:
    _, _, rss = run([sys.executable, "-m", "macapp", "train", "--model", "demo", "--data", str(data),
                     "--name", name, *flags])
    run_dir = Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(f"-{name}")))
    events = runs.read_events(run_dir)
    speeds = [e["tokens_per_second"] for e in events if e["type"] == "train"]
    vals = [e["val_loss"] for e in events if e["type"] == "val"]
    peak = max(e["peak_gb"] for e in events if e["type"] == "memory") * 1e3
    return {"tokens_per_second": sum(speeds) / len(speeds), "val_loss": vals[-1], "peak_mb": peak, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=100)
    args = parser.parse_args()
    model = demo.ensure_model()
    flags = ["--iters", str(args.iters), "--batch-size", "8", "--num-layers", "-1", "--learning-rate", "1e-4",
             "--seed", "0", "--steps-per-report", "10", "--steps-per-eval", str(args.iters), "--val-batches", "-1",
             "--save-every", str(args.iters * 10), "--max-seq-length", "512", "--mask-prompt"]
    stamp = time.strftime("%H%M%S")
    print(f"{'data':8}{'':10}{'tok/s':>9}{'val loss':>10}{'MLX peak MB':>12}{'RSS MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("mixed", "equal"):
            data = write_data(Path(folder) / kind, kind == "mixed")
            theirs = mlx_lm(model, data, flags, Path(folder) / f"adapters-{kind}")
            ours = tailor(data, flags, f"bench-{kind}-{stamp}")
            for who, result in (("mlx-lm", theirs), ("Tailor", ours)):
                print(f"{kind:8}{who:10}{result['tokens_per_second']:>9.0f}{result['val_loss']:>10.4f}"
                      f"{result['peak_mb']:>12.0f}{result['rss_mb']:>8.0f}")
            print(f"{kind:8}{'ratio':10}" + "".join(
                f"{ours[key] / theirs[key]:>{width}.{digits}f}" for key, width, digits in
                (("tokens_per_second", 9, 2), ("val_loss", 10, 3), ("peak_mb", 12, 2), ("rss_mb", 8, 2)))
                + "   (Tailor / mlx-lm)")


if __name__ == "__main__":
    main()
