"""The other MLX trainers a user could pick, run on the same model, data and settings as `tailor train`.

Each peer has its own venv (bench/.venvs/<peer>, `make bench-peers`) and runner (bench/peers/<peer>.py); `val_loss`
scores any trainer's adapter the same way, with mlx-lm in this venv.
"""

import json
import os
import re
import subprocess
import time
import types
from dataclasses import dataclass
from pathlib import Path

from mlx_lm.tuner.datasets import CacheDataset, create_dataset
from mlx_lm.tuner.trainer import default_loss, evaluate
from mlx_lm.utils import load

from macapp.engine import blas

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
    """Trains with one peer (LoRA rank 8, scale 20, all layers, prompt masked) and scores its adapter."""
    peer = PEERS[name]
    command = [str(peer.venv / "bin" / "python"), "-m", peer.runner, "--model", str(model), "--data", str(data),
               "--adapter-path", str(adapter_path), "--iters", str(iters), "--batch-size", str(batch_size),
               "--learning-rate", str(learning_rate), "--seed", str(seed), "--max-seq-length", str(max_seq_length),
               "--num-layers", "-1", "--rank", "8", "--scale", "20", "--mask-prompt"]
    # The same OpenBLAS preload as Tailor gets from macapp.engine.blas: MLX's own BLAS would make peers ~50x slower.
    env = blas.environment({**os.environ, "PYTHONPATH": str(BENCH)})
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall_seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0 or not (match := RESULT.search(output)):
        raise RuntimeError(f"{name} failed:\n{output[-3000:]}")
    result = json.loads(match.group(1))
    return {**result, "wall_seconds": wall_seconds, "peak_mb": result["peak_bytes"] / 1e6,
            "rss_mb": usage.ru_maxrss / 1024, "val_loss": val_loss(model, data, adapter_path)}


def val_loss(model: Path, data: Path, adapter_path: Path) -> float:
    """mlx-lm's loss over all of valid.jsonl, prompt masked, of the base model with this adapter."""
    network, tokenizer = load(str(model), adapter_path=str(adapter_path))
    with open(data / "valid.jsonl") as handle:
        rows = [json.loads(line) for line in handle]
    dataset = CacheDataset(create_dataset(rows, tokenizer, types.SimpleNamespace(mask_prompt=True)))
    return evaluate(network, dataset, batch_size=8, num_batches=-1, max_seq_length=512, loss=default_loss)
