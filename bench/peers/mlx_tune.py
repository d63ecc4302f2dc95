"""Trains a LoRA adapter with mlx-tune's `SFTTrainer`, the way its README's Quick Start does.

Run with bench/.venvs/mlx_tune/bin/python -m peers.mlx_tune, with bench/ on PYTHONPATH (bench/peer_trainers.py).
"""

import importlib.metadata
import tempfile
import time

import mlx.core as mx
import numpy as np
from mlx_tune import FastLanguageModel, SFTConfig, SFTTrainer, train_on_responses_only

from peers import common


def main() -> None:
    args = common.parse_args()
    np.random.seed(args.seed)
    mx.random.seed(args.seed)  # mlx-tune makes the LoRA layers inside train(), from MLX's global generator
    model, tokenizer = FastLanguageModel.from_pretrained(str(args.model), max_seq_length=args.max_seq_length)
    # scale = lora_alpha / r; the default targets are the 7 projections mlx_lm lora picks for a Llama.
    model = FastLanguageModel.get_peft_model(model, r=args.rank, lora_alpha=args.rank * args.scale, lora_dropout=0.0)
    with tempfile.TemporaryDirectory() as work:
        # mlx-tune always builds AdamW; weight_decay=0 makes it Adam. Validation as Tailor's and mlx_lm lora's runs in
        # the benchmark: one batch of valid.jsonl, after the first step and the last (it runs mlx-lm's loop).
        config = SFTConfig(output_dir=work, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
                           learning_rate=args.learning_rate, lr_scheduler_type="constant", weight_decay=0.0,
                           max_steps=args.iters, logging_steps=10, save_steps=args.iters + 1, val_batches=1,
                           steps_per_eval=args.iters, max_seq_length=args.max_seq_length,
                           num_layers=None if args.num_layers < 0 else args.num_layers)
        rows = common.read_rows(args.data / "train.jsonl")
        trainer = SFTTrainer(model=model, tokenizer=tokenizer, train_dataset=rows,
                             eval_dataset=common.read_rows(args.data / "valid.jsonl"), args=config)
        if args.mask_prompt:
            # Only flags the trainer: mlx-tune then loads the rows with mlx-lm's ChatDataset(mask_prompt=True).
            trainer = train_on_responses_only(trainer)
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
        if not isinstance(result, dict):
            raise RuntimeError("mlx-tune's own trainer failed and it fell back to running mlx_lm.lora")
        # Copies adapters.safetensors and adapter_config.json, both already in mlx-lm's format.
        model.save_pretrained(str(args.adapter_path))
    # mlx-tune passes no callback to mlx-lm's trainer, so it reports no token count to read.
    common.report(seconds, None, importlib.metadata.version("mlx-tune"), None)


if __name__ == "__main__":
    main()
