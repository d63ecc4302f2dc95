"""Trains a LoRA adapter with mlx-lm-lora's SFT trainer (`train_sft`), set up as its `mlx_lm_lora.train` does.

Run with bench/.venvs/mlx_lm_lora/bin/python -m peers.mlx_lm_lora, with bench/ on PYTHONPATH (bench/peer_trainers.py).
"""

import importlib.metadata
import time
import types

import mlx.core as mx
import mlx.optimizers as optim
import numpy as np
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm_lora.trainer.datasets import CacheDataset, load_dataset
from mlx_lm_lora.trainer.sft_trainer import SFTTrainingArgs, train_sft
from mlx_lm_lora.utils import from_pretrained

from peers import common

# train_sft calls mx.set_wired_limit(mx.device_info()["max_recommended_working_set_size"]), a key only Metal reports.
# A wired limit means nothing on the CPU backend, so the missing key reads as 0 (no limit); nothing else changes.
SHIM = "mx.device_info() gets max_recommended_working_set_size=0 where the backend (CPU) reports none."
_device_info = mx.device_info
mx.device_info = lambda: {"max_recommended_working_set_size": 0, **_device_info()}


class TokenCount(TrainingCallback):
    trained_tokens = None

    def on_train_loss_report(self, info: dict) -> None:
        self.trained_tokens = info["trained_tokens"]


def main() -> None:
    args = common.parse_args()
    np.random.seed(args.seed)
    mx.random.seed(args.seed)  # before the LoRA layers are made, as mlx_lm lora does
    lora = {"rank": args.rank, "dropout": 0.0, "scale": args.scale, "use_dora": False, "num_layers": args.num_layers}
    # Writes adapter_config.json ({"lora_parameters", "num_layers"}) as mlx-lm does; the weights keep mlx-lm's names.
    model, tokenizer, adapter_file = from_pretrained(str(args.model), new_adapter_path=str(args.adapter_path),
                                                     lora_config=lora)
    # mask_prompt: its ChatDataset trains only what follows the chat template of the messages before the answer.
    options = types.SimpleNamespace(data=str(args.data), train=True, test=False, train_mode="sft",
                                    mask_prompt=args.mask_prompt)
    train_set, valid_set, _ = load_dataset(options, tokenizer)
    # Validation as Tailor's and mlx_lm lora's runs in the benchmark: one batch, after the first step and the last.
    training = SFTTrainingArgs(batch_size=args.batch_size, iters=args.iters, steps_per_report=10,
                               steps_per_eval=args.iters, val_batches=1, steps_per_save=args.iters + 1,
                               max_seq_length=args.max_seq_length, adapter_file=str(adapter_file))
    counter = TokenCount()
    started = time.perf_counter()
    train_sft(model, optim.Adam(learning_rate=args.learning_rate), CacheDataset(train_set), CacheDataset(valid_set),
              training, training_callback=counter)
    seconds = time.perf_counter() - started
    common.report(seconds, counter.trained_tokens, importlib.metadata.version("mlx-lm-lora"), SHIM)


if __name__ == "__main__":
    main()
