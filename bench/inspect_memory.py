"""Peak memory and time of inspecting a 1 GB JSONL: `tailor data inspect` against mlx-lm's own loader.

Run: .venv/bin/python -m macapp.engine.check.blas bench/inspect_memory.py [--gb 1.0]. Prints both and their ratios.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("pan oven butter sugar video recipe thanks great love bread pasta soup quick easy cook "
         "salt spice slow fast warm cold fresh green sweet sour bake boil fry stir mix taste").split()

# mlx-lm's CLI reads {train,valid,test}.jsonl with this loader before it trains; it holds every record.
MLX_LM_LOAD = """
import sys, types
from pathlib import Path
from mlx_lm.tuner.datasets import load_local_dataset
train, _, _ = load_local_dataset(Path(sys.argv[1]), None, types.SimpleNamespace())
print(len(train))
"""


def write_data(folder: Path, gigabytes: float) -> Path:
    path = folder / "train.jsonl"
    rng = random.Random(0)
    target = int(gigabytes * 1e9)
    with open(path, "w") as handle:
        while handle.tell() < target:
            lines = []
            for _ in range(1000):
                question = " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))
                answer = " ".join(rng.choices(WORDS, k=rng.randint(20, 250)))
                lines.append(json.dumps({"messages": [{"role": "user", "content": question},
                                                      {"role": "assistant", "content": answer}]}))
            handle.write("\n".join(lines) + "\n")
    return path


def measure(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        sys.exit(f"{command[:4]} failed")
    return seconds, usage.ru_maxrss / 1024, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = write_data(Path(folder), args.gb)
        size = path.stat().st_size / 1e9
        ours = measure([sys.executable, "-m", "macapp", "data", "inspect", str(path), "--json"])
        theirs = measure([sys.executable, "-c", MLX_LM_LOAD, folder])
    count = json.loads(ours[2])["count"]
    print(f"{size:.2f} GB JSONL, {count:,} examples")
    print(f"{'':24}{'seconds':>10}{'peak MB':>10}")
    print(f"{'tailor data inspect':24}{ours[0]:>10.1f}{ours[1]:>10.0f}")
    print(f"{'mlx-lm load_local_dataset':24}{theirs[0]:>10.1f}{theirs[1]:>10.0f}")
    print(f"memory: Tailor uses {ours[1] / theirs[1]:.2f}x of mlx-lm's peak; time {ours[0] / theirs[0]:.2f}x "
          "(Tailor also checks every record, duplicates included)")


if __name__ == "__main__":
    main()
