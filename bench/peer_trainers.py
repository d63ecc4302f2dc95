"""The other MLX trainers a user could pick, run on the same model, data and settings as `tailor train`.

Each peer has its own venv (bench/.venvs/<peer>, `make bench-peers`) and runner (bench/peers/<peer>.py); `val_loss`
scores any trainer's adapter the same way, with mlx-lm in this venv, on held-out rows no trainer saw.
"""

import json
import os
import re
import subprocess
import time
import types
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.tuner.datasets import create_dataset
from mlx_lm.tuner.trainer import default_loss
from mlx_lm.utils import load

from macapp.engine.check import blas

BENCH = Path(__file__).resolve().parent
RESULT = re.compile(r"^PEER_RESULT (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Peer:
    runner: str  # module run with the peer venv's python, bench/ on its path
    requirement: str  # as pinned in the Makefile's bench-peers
    shim: str | None  # what the runner changes so that the peer runs on Linux

    @property
    def venv(self) -> Path:
        return BENCH / ".venvs" / self.runner.removeprefix("peers.")


PEERS = {
    "mlx-lm-lora": Peer("peers.mlx_lm_lora", "mlx-lm-lora==5.10.2",
                        "mx.device_info() reports no Metal working-set size on the CPU backend: read as 0."),
    "mlx-tune": Peer("peers.mlx_tune", "mlx-tune==0.6.0", None),
    "unsloth-zoo": Peer("peers.unsloth_zoo", "unsloth-zoo==2026.10.9",
                        "its macOS-only MLX check is faked at import; dtype set to the model's own, not bf16."),
}


def available() -> list[str]:
    """The peers whose venv `make bench-peers` has finished."""
    return [name for name, peer in PEERS.items() if (peer.venv / ".installed").exists()]


def run(name: str, model: Path, data: Path, adapter_path: Path, iters: int, seed: int, batch_size: int = 8,
        max_seq_length: int = 512, learning_rate: float = 1e-4) -> dict:
    """Trains with one peer (LoRA rank 8, scale 20, all layers, prompt masked); its adapter is in adapter_path."""
    peer = PEERS[name]
    command = [str(peer.venv / "bin" / "python"), "-m", peer.runner, "--model", str(model), "--data", str(data),
               "--adapter-path", str(adapter_path), "--iters", str(iters), "--batch-size", str(batch_size),
               "--learning-rate", str(learning_rate), "--seed", str(seed), "--max-seq-length", str(max_seq_length),
               "--num-layers", "-1", "--rank", "8", "--scale", "20", "--mask-prompt"]
    # The same OpenBLAS preload as Tailor gets from macapp.engine.check.blas: MLX's own BLAS would make peers ~50x
    # slower.
    result = launch(command, blas.environment({**os.environ, "PYTHONPATH": str(BENCH)}))
    return {**result, "peak_mb": result["peak_bytes"] / 1e6}


def launch(command: list[str], env: dict | None = None, pattern=RESULT) -> dict:
    """The result line (`pattern`) a benchmark process prints, with its wall time (start to exit) and its largest
    resident memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall_seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0 or not (match := pattern.search(output)):
        raise RuntimeError(f"failed: {' '.join(command[:6])}\n{output[-3000:]}")
    return {**json.loads(match.group(1)), "wall_seconds": wall_seconds, "rss_mb": usage.ru_maxrss / 1024}


def examples(rows: list[dict], tokenizer, max_seq_length: int = 512) -> list[tuple[list[int], int]]:
    """(tokens, prompt length) of each chat row as mlx-lm trains it: its chat template, prompt masked, truncated."""
    dataset = create_dataset(rows, tokenizer, types.SimpleNamespace(mask_prompt=True))
    return [(tokens[:max_seq_length], min(offset, max_seq_length)) for tokens, offset in map(dataset.process, rows)]


def val_loss(model: Path, rows_file: Path, adapter_path: Path, batch_size: int = 8, max_seq_length: int = 512) -> float:
    """The loss per answer token over the chat rows of rows_file, of the base model with this adapter.

    Scores each example's true targets only: its lengths given to mlx-lm's default_loss are [offset, len(tokens) - 1].
    (mlx-lm's own batches give [offset, len(tokens)], which also scores the padding token after each example.) The
    batches are built here: batch_size rows in file order, zero-padded to the longest.
    """
    network, tokenizer = load(str(model), adapter_path=str(adapter_path))
    network.eval()
    with open(rows_file) as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    scored = examples(rows, tokenizer, max_seq_length)
    total, count = 0.0, 0
    for start in range(0, len(scored), batch_size):
        batch = scored[start:start + batch_size]
        tokens = np.zeros((len(batch), max(len(t) for t, _ in batch)), np.int32)
        for row, (example, _) in enumerate(batch):
            tokens[row, :len(example)] = example
        lengths = mx.array([[offset, len(example) - 1] for example, offset in batch])
        loss, targets = default_loss(network, mx.array(tokens), lengths)
        total += loss.item() * targets.item()
        count += targets.item()
    return total / count
