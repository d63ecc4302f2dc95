"""Train a run: find and load its model, make the chosen layers trainable, and run the training loop on its
prepared data folder.

Progress goes to a `report(event: dict)` callback; `should_stop()` is polled before every step,
and a stop saves the adapter within one step.
"""

from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.tuner.utils import linear_to_lora_layers

from ..data import datasets
from ..data.formats import Mapping
from ..errors import DataError, Problem
from ..files import write_json_atomic
from ..models import loading, models, obtain
from ..runs import events as ev
from . import checkpoints
from . import config as configs
from .config import ConfigError, TrainConfig
from .group import silent, speaks, wait_for_first
from .run_spec import RunSpec
from .train_loop import run_loop


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


def prepare(run_dir: Path, report=lambda event: None, should_stop=lambda: False) -> TrainConfig:
    """A run's settings, with what it trains on made first (once): its data checked and split from its spec.json,
    and its model quantized for QLoRA."""
    settings = configs.load(run_dir / "config.yaml")
    spec = RunSpec.load(run_dir)
    if spec is not None and not (run_dir / "data" / "manifest.json").exists():
        report({"type": ev.LOG, "message": "Checking and splitting the data"})
        datasets.prepare(spec.sources, run_dir / "data", spec.ratios, spec.seed, spec.repeats,
                         Mapping.from_dict(spec.mapping), spec.skip_broken)
        if spec.quantize_bits:  # only once the data is known to be good: quantizing a real model takes minutes
            base = obtain.resolve(settings.model, report, should_stop)
            settings.model = str(obtain.quantized(base, spec.quantize_bits, report))
            settings.save(run_dir / "config.yaml")
    return settings


def train_run(run_dir: Path, report=lambda event: None, should_stop=lambda: False, resume: bool = False) -> dict:
    """A run from its folder, the one way every run is made: prepared (on the first start), then trained; `resume`
    goes on from its last checkpoint."""
    run_dir = Path(run_dir)
    settings = prepare(run_dir, report, should_stop) if speaks() else None
    wait_for_first()  # in a group, the others read the data and settings once the first one has made them
    settings = settings or configs.load(run_dir / "config.yaml")
    return train(settings, run_dir / settings.adapter_path, report, should_stop, checkpoint_dir=run_dir / "checkpoints",
                 resume=resume)


def _check_method(config: TrainConfig, record: dict, where: str) -> None:
    """Pairs of answers teach by choosing (DPO, ORPO), examples by showing: the data and the method must agree."""
    if ("chosen" in record) == config.by_preference:
        return
    if config.by_preference:
        raise DataError([Problem("error", f"{config.train_mode.upper()} learns from pairs of a better and a worse "
                                          "answer, but this data holds examples with one answer", where,
                                 fix="Choose data with a better and a worse answer to each question (columns such as "
                                     "chosen and rejected), or train on these examples as they are.")])
    raise DataError([Problem("error", "this data holds pairs of a better and a worse answer, which teach by choosing",
                             where, fix="Train on them with DPO or ORPO (from a terminal: --method dpo).")])


def train(config: TrainConfig, adapter_dir, report=lambda event: None, should_stop=lambda: False,
          checkpoint_dir=None, resume: bool = False) -> dict:
    """Train `config.model` on the prepared folder `config.data`; adapters go to `adapter_dir`.

    The adapter folder loads with `mlx_lm generate --adapter-path`.
    """
    config.validate()
    report = report if speaks() else silent
    train_records = datasets.load_split(config.data, "train")
    valid_records = datasets.load_split(config.data, "valid")
    if not train_records:
        raise DataError([Problem("error", "no train.jsonl with examples in this folder", str(config.data),
                                 fix="Run `tailor data prepare` first.")])
    _check_method(config, train_records[0], config.data)
    mx.random.seed(config.seed)  # before the adapter layers are made, so their start is the seed's too
    model_path = obtain.resolve(config.model, report, should_stop)
    identity = {"model": models.fingerprint(model_path), "model_name": config.model,
                "data": datasets.fingerprint(config.data)}
    if resume and checkpoint_dir is not None:  # before minutes of loading, and before anything of the run is written
        checkpoints.check_same(checkpoint_dir, identity)
    report({"type": ev.LOG, "message": f"Loading {config.model}"})
    model, tokenizer = loading.load(model_path)
    prepare_model(model, config)
    adapter_dir = Path(adapter_dir)
    adapter_dir.mkdir(parents=True, exist_ok=True)
    if speaks():
        write_json_atomic(adapter_dir / "adapter_config.json", {**config.to_dict(), "model": str(model_path)})
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    report({"type": ev.LOG, "message": f"Training {trainable / 1e6:.2f}M parameters "
                                      f"on {len(train_records)} examples"})
    return run_loop(model, tokenizer, config, train_records, valid_records, adapter_dir, report, should_stop,
                    checkpoint_dir, resume, models.read_config(model_path), identity)
