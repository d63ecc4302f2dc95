"""Run one training job through mlx-lm's trainer, with our batches, checkpoints and stop.

Progress goes to a `report(event: dict)` callback; `should_stop()` is polled before every step,
and a stop saves the adapter within one step.
"""

import os
import time
import types
from pathlib import Path

import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten
from mlx_lm.tuner.datasets import create_dataset
from mlx_lm.tuner.trainer import TrainingArgs
from mlx_lm.tuner.trainer import train as mlx_train
from mlx_lm.tuner.utils import build_schedule, linear_to_lora_layers

from . import checkpoints, data_size, datasets, memory, models
from . import events as ev
from .batches import LengthBatches
from .config import ConfigError, TrainConfig
from .errors import DataError, Problem, RunFailed
from .files import atomic_target, write_json_atomic
from .session import Session

OPTIMIZER_CLASSES = {"adam": optim.Adam, "adamw": optim.AdamW, "muon": optim.Muon, "sgd": optim.SGD,
                     "adafactor": optim.Adafactor}


def prepare_model(model, config: TrainConfig) -> None:
    """Freeze the model and make the chosen layers trainable, as `mlx_lm lora` does."""
    if config.num_layers > len(model.layers):
        raise ConfigError(f"num_layers is {config.num_layers} but the model has only {len(model.layers)} layers. "
                          "Use -1 to train all layers.")
    model.freeze()
    if config.fine_tune_type == "full":
        for layer in model.layers[-max(config.num_layers, 0):]:
            layer.unfreeze()
    else:
        linear_to_lora_layers(model, config.num_layers, config.lora_parameters,
                              use_dora=config.fine_tune_type == "dora")
    if config.resume_adapter_file:
        model.load_weights(config.resume_adapter_file, strict=False)


def make_optimizer(config: TrainConfig):
    rate = build_schedule(config.lr_schedule) if config.lr_schedule else config.learning_rate
    name = config.optimizer.lower()
    return OPTIMIZER_CLASSES[name](learning_rate=rate, **config.optimizer_config.get(name, {}))


def tokenize(records: list[dict], tokenizer, mask_prompt: bool) -> list[tuple[list[int], int]]:
    """(tokens, prompt offset) per record, exactly as mlx-lm's datasets tokenize them."""
    if not records:
        return []
    dataset = create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    return [dataset.process(dataset[i]) for i in range(len(dataset))]


def run_loop(model, tokenizer, config: TrainConfig, train_records, valid_records, adapter_dir: Path,
             report, should_stop=lambda: False, checkpoint_dir: Path | None = None, resume: bool = False,
             model_config: dict | None = None) -> dict:
    """Train an already prepared model; returns a summary. Used for runs and for the demo's pre-training.

    With the model's config.json, a `plan` event first gives the predicted peak memory against the limit.
    """
    train_set = tokenize(train_records, tokenizer, config.mask_prompt)
    valid_set = tokenize(valid_records, tokenizer, config.mask_prompt)
    if len(train_set) < config.batch_size:
        raise DataError([Problem("error", f"only {len(train_set)} training examples for a batch size of "
                                          f"{config.batch_size}", str(config.data),
                                 fix="Add examples or lower the batch size.")])
    if model_config is not None:
        longest = min(max(len(tokens) for tokens, _ in train_set), config.max_seq_length)
        report({"type": ev.PLAN, **memory.plan(model_config, config, longest)})
    for line in data_size.warnings(len(train_set), len(valid_set), config.batch_size, config.iters):
        report({"type": ev.LOG, "level": "warning", "message": line})
    train_batches = LengthBatches(train_set, config.batch_size, config.max_seq_length, config.seed)
    # A validation split smaller than a batch is still read, in one smaller batch: small data needs it most.
    valid_batches = (LengthBatches(valid_set, min(config.batch_size, len(valid_set)), config.max_seq_length,
                                   config.seed) if valid_set else None)
    optimizer = make_optimizer(config)
    session = Session(model, optimizer, config, train_batches, adapter_dir, checkpoint_dir, report, should_stop,
                      valid_batches)
    if resume:
        start = session.resume()
        report({"type": ev.LOG, "message": f"Resuming from step {start}" if start else
                "No checkpoint yet: starting from the beginning"})
    adapter_file = Path(adapter_dir) / "adapters.safetensors"
    tmp_file = atomic_target(adapter_file)
    args = TrainingArgs(
        batch_size=config.batch_size, iters=config.iters - session.offset,
        val_batches=config.val_batches, steps_per_report=config.steps_per_report,
        steps_per_eval=config.steps_per_eval, steps_per_save=config.iters + 1, adapter_file=str(tmp_file),
        max_seq_length=config.max_seq_length, grad_checkpoint=config.grad_checkpoint,
        grad_accumulation_steps=config.grad_accumulation_steps, clear_cache_threshold=config.clear_cache_threshold)
    started = time.monotonic()
    mx.clear_cache()
    mx.reset_peak_memory()  # the peak of this run, not of what the process did before (e.g. building the demo)
    if args.iters > 0:
        mlx_train(model=model, optimizer=optimizer, train_dataset=train_batches, val_dataset=None,
                  args=args, iterate_batches=session.iterate, training_callback=session)  # the session validates
        session.validate_last()
    else:
        checkpoints.save_weights(model, tmp_file)
    if session.failed_at:
        tmp_file.unlink(missing_ok=True)  # the last checkpoint stays as the adapter
        raise RunFailed(f"The loss stopped being a number (NaN or infinite) at step {session.failed_at}; "
                        "training cannot go on. The adapter of the last good checkpoint is kept.",
                        "Lower the learning rate (for example by 10x), or use a warm-up.")
    os.replace(tmp_file, adapter_file)
    return {**session.summary(), "seconds": round(time.monotonic() - started, 2)}


def train(config: TrainConfig, adapter_dir, report=lambda event: None, should_stop=lambda: False,
          checkpoint_dir=None, resume: bool = False) -> dict:
    """Train `config.model` on the prepared folder `config.data`; adapters go to `adapter_dir`.

    The adapter folder loads with `mlx_lm generate --adapter-path`.
    """
    config.validate()
    train_records = datasets.load_split(config.data, "train")
    valid_records = datasets.load_split(config.data, "valid")
    if not train_records:
        raise DataError([Problem("error", "no train.jsonl with examples in this folder", str(config.data),
                                 fix="Run `tailor data prepare` first.")])
    mx.random.seed(config.seed)  # before the adapter layers are made, so their start is the seed's too
    model_path = models.resolve(config.model, report)
    report({"type": ev.LOG, "message": f"Loading {config.model}"})
    model, tokenizer = models.load(model_path)
    prepare_model(model, config)
    adapter_dir = Path(adapter_dir)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(adapter_dir / "adapter_config.json", {**config.to_dict(), "model": str(model_path)})
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    report({"type": ev.LOG, "message": f"Training {trainable / 1e6:.2f}M parameters "
                                      f"on {len(train_records)} examples"})
    return run_loop(model, tokenizer, config, train_records, valid_records, adapter_dir, report, should_stop,
                    checkpoint_dir, resume, models.read_config(model_path))
