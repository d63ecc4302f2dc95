"""Trains a LoRA adapter with mlx-lm-lora's DPO or ORPO trainer, through its own `mlx_lm_lora.train.run`.

Run with bench/.venvs/mlx_lm_lora/bin/python -m peers.mlx_lm_lora_preference, with bench/ on PYTHONPATH
(bench/preference_trainers.py). Its `run` is what `mlx_lm_lora.train --train --train-mode dpo|orpo` calls: the model
with its LoRA layers (utils.from_pretrained), for DPO a second copy of the model loaded from the same folder as the
frozen reference (train.load_reference_model, since no --reference-model-path is given), the pairs as its
DPODataset / ORPODataset (the chat template, the prompt always masked), then train_dpo / train_orpo. The runner
changes only what is timed and recorded; nothing is fused or tested afterwards.
"""

import argparse
import importlib.metadata
import json
import time

import mlx.core as mx
import numpy as np
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm_lora import train as peer
from mlx_lm_lora.trainer.datasets import CacheDataset

from peers import common

# train_dpo/train_orpo call mx.set_wired_limit(mx.device_info()["max_recommended_working_set_size"]), a key only
# Metal reports. A wired limit means nothing on the CPU backend, so the missing key reads as 0 (no limit).
SHIM = "mx.device_info() gets max_recommended_working_set_size=0 where the backend (CPU) reports none."
_device_info = mx.device_info
mx.device_info = lambda: {"max_recommended_working_set_size": 0, **_device_info()}


class Record(TrainingCallback):
    """Every training report (steps_per_report=1 gives each step's loss)."""

    def __init__(self):
        self.reports = []

    def on_train_loss_report(self, info: dict) -> None:
        # its metrics (accuracies, margins, ...) come as MLX scalars
        self.reports.append({key: value.item() if isinstance(value, mx.array) else value
                             for key, value in info.items()})


def parse_args() -> argparse.Namespace:
    parser = common.parser_of("Train one LoRA adapter with mlx-lm-lora's DPO or ORPO.")
    parser.add_argument("--train-mode", choices=("dpo", "orpo"), required=True)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--steps-per-report", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    # The arguments as `mlx_lm_lora.train.main` makes them from a dict: its parser's defaults, then CONFIG_DEFAULTS.
    options = vars(peer.build_parser().parse_args([]))
    options.update(model=str(args.model), data=str(args.data), adapter_path=str(args.adapter_path), train=True,
                   train_mode=args.train_mode, beta=args.beta, iters=args.iters, batch_size=args.batch_size,
                   learning_rate=args.learning_rate, seed=args.seed, max_seq_length=args.max_seq_length,
                   num_layers=args.num_layers, steps_per_report=args.steps_per_report, steps_per_eval=args.iters + 1,
                   save_every=args.iters + 1, fuse=False, test=False,
                   lora_parameters={"rank": args.rank, "dropout": 0.0, "scale": args.scale})
    for key, value in peer.CONFIG_DEFAULTS.items():
        if options.get(key) is None:
            options[key] = value
    options = argparse.Namespace(**options)
    # mlx_lm_lora.train seeds numpy only (in run) before it makes the LoRA layers, so their start would change from
    # run to run; seeded here as Tailor and mlx_lm lora seed MLX, the same LoRA A matrices for the same seed.
    np.random.seed(args.seed)
    mx.random.seed(args.seed)

    seconds = {}
    train_model = peer.train_model

    def timed(*positional, **named):
        started = time.perf_counter()
        train_model(*positional, **named)
        seconds["train_model"] = time.perf_counter() - started

    peer.train_model = timed
    # Which tokens it trains: each pair's chosen and rejected tokens and prompt lengths, as its dataset makes them.
    datasets, shapes = peer.load_dataset, {}

    def load_dataset(config, tokenizer):
        train, valid, test = datasets(config, tokenizer)
        rows = [CacheDataset(train)[i] for i in range(len(train))]
        shapes["pairs"] = [[row["chosen"], row["chosen_prompt_length"], row["rejected"], row["rejected_prompt_length"]]
                           for row in rows]
        return train, valid, test

    peer.load_dataset = load_dataset
    record = Record()
    started = time.perf_counter()
    peer.run(options, training_callback=record)
    total = time.perf_counter() - started
    result = {"train_seconds": total, "train_model_seconds": seconds.get("train_model"),
              "peak_bytes": mx.get_peak_memory(), "peer_version": importlib.metadata.version("mlx-lm-lora"),
              "shim": SHIM, "reports": record.reports, "pairs": shapes.get("pairs")}
    print("PEER_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
