"""Trains a LoRA adapter with unsloth-zoo's MLX trainer (`FastMLXModel`, `MLXTrainer`), as Unsloth runs it on a Mac.

Run with bench/.venvs/unsloth_zoo/bin/python -m peers.unsloth_zoo, with bench/ on PYTHONPATH (bench/peer_trainers.py).
"""

import importlib.metadata
import json
import platform
import tempfile
import time
from unittest import mock

from peers import common

# unsloth-zoo turns its MLX path on only where platform.system() is "Darwin" and platform.machine() "arm64"
# (unsloth_zoo.mlx.runtime.is_mlx_available, cached on first call, which importing unsloth_zoo makes). Both are faked
# for that import alone, so the cached answer is "MLX" on Linux too; MLX itself still runs on its CPU backend.
SHIM = ("unsloth-zoo's macOS/arm64 check for MLX is faked while unsloth_zoo is imported; "
        "dtype is passed as the model's own (its default is bf16).")
with mock.patch.object(platform, "system", return_value="Darwin"), \
        mock.patch.object(platform, "machine", return_value="arm64"):
    from unsloth_zoo.mlx.runtime import is_mlx_available

    assert is_mlx_available()
from unsloth_zoo.mlx.loader import FastMLXModel  # noqa: E402
from unsloth_zoo.mlx.trainer import MLXTrainer, MLXTrainingConfig, train_on_responses_only  # noqa: E402


def main() -> None:
    args = common.parse_args()
    config = json.loads((args.model / "config.json").read_text())
    dtype = config.get("torch_dtype") or config.get("dtype") or "float32"
    model, tokenizer = FastMLXModel.from_pretrained(str(args.model), max_seq_length=args.max_seq_length, dtype=dtype,
                                                    load_in_4bit=False)
    # scale = lora_alpha / r; the default targets are the 7 projections mlx_lm lora picks for a Llama.
    model = FastMLXModel.get_peft_model(model, r=args.rank, lora_alpha=args.rank * args.scale, lora_dropout=0,
                                        random_state=args.seed, use_gradient_checkpointing=False,
                                        finetune_last_n_layers=None if args.num_layers < 0 else args.num_layers)
    with tempfile.TemporaryDirectory() as work:
        # Plain Adam at a constant rate, no warm-up, no gradient clipping (its default clips each gradient to norm 1),
        # no gradient checkpointing (on by default); validation of valid.jsonl every `iters` steps, once at the end (it has
        # no evaluation before training, as Tailor's and mlx_lm lora's runs here have). Its Adam corrects bias
        # as torch's does and mlx-lm's does not (larger first steps); no option changes that.
        training = MLXTrainingConfig(per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
                                     max_steps=args.iters, warmup_steps=0, learning_rate=args.learning_rate,
                                     lr_scheduler_type="constant", optim="adam", weight_decay=0.0,
                                     max_grad_leaf_norm=0.0, seed=args.seed, logging_steps=10, output_dir=work,
                                     save_steps=0, max_seq_length=args.max_seq_length, gradient_checkpointing=False,
                                     eval_steps=args.iters)
        rows = common.read_rows(args.data / "train.jsonl")
        trainer = MLXTrainer(model=model, tokenizer=tokenizer, train_dataset=rows,
                             eval_dataset=common.read_rows(args.data / "valid.jsonl"), args=training)
        if args.mask_prompt:
            # Unsloth's way: labels only after the template's marker of an assistant turn, found from the template.
            trainer = train_on_responses_only(trainer)
        started = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - started
        # adapters.safetensors with mlx-lm's names; adapter_config.json in mlx-lm's keys, its LoRA "keys" given as full
        # paths (model.layers.N....), which mlx-lm's linear_to_lora_layers also matches.
        trainer.save_model(str(args.adapter_path))
    common.report(seconds, output.get("trained_tokens"), importlib.metadata.version("unsloth-zoo"), SHIM)


if __name__ == "__main__":
    main()
