"""What the peer runners share: their command line, the chat rows they read and the one line they print.

Runs inside each peer's own venv (bench/.venvs/<peer>), so it needs nothing but the standard library and MLX.
"""

import argparse
import json
from pathlib import Path

import mlx.core as mx


def parse_args() -> argparse.Namespace:
    parser = parser_of("Train one LoRA adapter with a peer trainer.")
    parser.add_argument("--mask-prompt", action="store_true")
    return parser.parse_args()


def parser_of(description: str) -> argparse.ArgumentParser:
    """The flags every peer runner takes: the model, data and adapter, and the run's settings."""
    parser = argparse.ArgumentParser(description=description)
    for name in ("--model", "--data", "--adapter-path"):
        parser.add_argument(name, type=Path, required=True)
    parser.add_argument("--iters", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--num-layers", type=int, default=-1)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--scale", type=float, default=20.0)
    return parser


def read_rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def report(train_seconds: float, trained_tokens: int | None, peer_version: str, shim: str | None) -> None:
    """The runner's last line, read by bench/peer_trainers.py."""
    result = {"train_seconds": train_seconds, "trained_tokens": trained_tokens, "peak_bytes": mx.get_peak_memory(),
              "peer_version": peer_version, "shim": shim}
    print("PEER_RESULT " + json.dumps(result), flush=True)
