"""The training loop itself, on a model already loaded: tokenize, batch, validate, checkpoint, stop.

It runs mlx-lm's trainer with Tailor's batches and session, for a run and for the demo model's pre-training
alike; finding and loading models is not its business (training.train does that), so the demo builder can
use it without an import circle.
"""

import os
import time
from functools import partial
from contextlib import contextmanager
from pathlib import Path

import mlx.core as mx
import mlx.optimizers as optim
from mlx_lm.tuner.trainer import TrainingArgs
from mlx_lm.tuner.trainer import train as mlx_train
from mlx_lm.tuner.utils import build_schedule

from .. import words
from ..check import gpu_guard, mlx_device
from ..data import data_size
from ..errors import DataError, Problem, RunFailed
from ..files import atomic_target
from ..models import memory
from ..runs import events as ev
from . import checkpoints, losses, packing, preference
from .batches import LengthBatches, PairBatches, tokenize, tokenize_pairs
from .config import TrainConfig
from .session import Session

OPTIMIZER_CLASSES = {"adam": optim.Adam, "adamw": optim.AdamW, "muon": optim.Muon, "sgd": optim.SGD,
                     "adafactor": optim.Adafactor}


def make_optimizer(config: TrainConfig):
    rate = build_schedule(config.lr_schedule) if config.lr_schedule else config.learning_rate
    name = config.optimizer.lower()
    return OPTIMIZER_CLASSES[name](learning_rate=rate, **config.optimizer_config.get(name, {}))


def run_loop(model, tokenizer, config: TrainConfig, train_records, valid_records, adapter_dir: Path,
             report, should_stop=lambda: False, checkpoint_dir: Path | None = None, resume: bool = False,
             model_config: dict | None = None, identity: dict | None = None) -> dict:
    """Train an already prepared model; returns a summary. Used for runs and for the demo's pre-training.

    With the model's config.json, a `plan` event first gives the predicted peak memory against the limit; `identity`
    (the base model's and the data's fingerprints) is kept in each checkpoint, so a resume can check them. A config
    that learns by choosing (DPO, ORPO) trains on pairs (preference.py).
    """
    pairs = config.by_preference

    def tokenized(records):
        return tokenize_pairs(records, tokenizer) if pairs else tokenize(records, tokenizer, config.mask_prompt)

    train_set, valid_set = tokenized(train_records), tokenized(valid_records)
    what = "pair" if pairs else "training example"
    if len(train_set) < config.batch_size:
        raise DataError([Problem("error", f"only {words.count(len(train_set), what)} for a batch "
                                          f"size of {config.batch_size}", str(config.data),
                                 fix="Add examples or lower the batch size.")])
    if model_config is not None:
        lengths = [max(len(side[0]) for side in pair) for pair in train_set] if pairs else \
            [len(tokens) for tokens, _ in train_set]
        longest = min(max(lengths), config.max_seq_length)
        report({"type": ev.PLAN, **memory.plan(model_config, config, longest, mlx_device.machine_limit())})
    for line in data_size.warnings(len(train_set), len(valid_set), config.batch_size, config.iters):
        report({"type": ev.LOG, "level": "warning", "message": line})
    group = mx.distributed.init()  # one process alone, or those mlx.launch started together: each takes its share
    share = (group.rank(), group.size())

    with losses.evaluating(model):  # dropout would make the check's passes differ
        pack = config.pack and not pairs and packing.works_for(model)

    def batches(examples, size):
        if pairs:
            return PairBatches(examples, size, config.max_seq_length, config.seed, share)
        return LengthBatches(examples, size, config.max_seq_length, config.seed, pack, share)

    train_batches = batches(train_set, config.batch_size)
    # A validation split smaller than a batch is still read, in one smaller batch: small data needs it most.
    valid_size = min(config.batch_size, len(valid_set) - len(valid_set) % group.size())
    valid_batches = batches(valid_set, valid_size) if valid_size else None
    optimizer = make_optimizer(config)
    # The losses are made (their check runs the model) before a resume sets the random state of its step. Alone, the
    # loss of the group is this process's own.
    make_loss = partial(preference.make_loss, method=config.train_mode, beta=config.beta) if pairs else \
        losses.make_loss
    own_loss = make_loss(model)
    loss = own_loss if group.size() == 1 else make_loss(model, group=group)
    measure = partial(preference.held_out, model, own_loss, valid_batches, config.val_batches) if pairs else None
    session = Session(model, optimizer, own_loss, config, train_batches, adapter_dir, checkpoint_dir, report,
                      should_stop, valid_batches, identity, measure)
    if resume:
        start = session.resume()
        report({"type": ev.LOG, "message": f"Resuming from step {start}" if start else
                "No checkpoint yet: starting from the beginning"})
    if pairs and train_batches.reference is None:  # a resume brings the reference's scores with its checkpoint
        report({"type": ev.LOG, "message": "Scoring the answers with the model as it starts (the reference)"})
        for part in (train_batches, valid_batches):
            if part is not None:
                preference.score_reference(model, part)
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
    with session, _gpu_failures(session, tmp_file):  # the session's work with a group ends however this does
        if args.iters > 0 and pairs:
            preference.train_pairs(model, optimizer, loss, session, config, args.iters)
        elif args.iters > 0:
            mlx_train(model=model, optimizer=optimizer, train_dataset=train_batches, val_dataset=None, args=args,
                      loss=loss, iterate_batches=session.iterate, training_callback=session)  # the session validates
        if (pairs or args.iters == 0) and session.writes:  # mlx-lm's trainer saves its last weights itself
            checkpoints.save_weights(model, tmp_file)
        if session.failed_at or session.over_memory:
            tmp_file.unlink(missing_ok=True)  # the last checkpoint stays as the adapter
        if session.failed_at:
            raise RunFailed(f"The loss stopped being a number (NaN or infinite) at step {session.failed_at}; "
                            "training cannot go on. The adapter of the last good checkpoint is kept.",
                            "Lower the learning rate (for example by 10x), or use a warm-up.")
        if session.over_memory:
            raise gpu_guard.failure("memory", session.iteration, session.last_checkpoint(), mx.get_memory_limit())
        if session.writes:
            os.replace(tmp_file, adapter_file)  # the last adapter is in place before the last validation
        if args.iters > 0:
            session.validate_last()
    return {**session.summary(), "seconds": round(time.monotonic() - started, 2)}


@contextmanager
def _gpu_failures(session: Session, tmp_file: Path):
    """MLX's errors for the GPU and its memory become the plain failure, with the checkpoint to resume from."""
    try:
        yield
    except (RuntimeError, MemoryError) as error:
        kind = "memory" if isinstance(error, MemoryError) else gpu_guard.failure_kind(str(error))
        if kind is None:
            raise
        tmp_file.unlink(missing_ok=True)  # the weights of a step the GPU broke off are not kept
        raise gpu_guard.failure(kind, session.iteration, session.last_checkpoint()) from error
