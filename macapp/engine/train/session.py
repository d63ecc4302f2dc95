"""What Tailor adds around mlx-lm's trainer for one run: checkpoints, exact resume, best adapter, early stop.

mlx-lm's `train()` has no hooks for these; this class is both its training callback and its batch
iterator, so it sees every report and decides before every step whether to save or stop.
"""

import math
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.tuner.callbacks import TrainingCallback
from mlx_lm.tuner.trainer import evaluate

from .. import disk
from ..check import mlx_device
from ..runs import events as ev
from . import checkpoints
from .config import TrainConfig
from .group import Watchdog, agreed, gathered, names, speaks

OVERFIT_WARNING = ("Validation loss is rising while training loss falls: the model is starting to memorize the "
                   "training examples. The best adapter so far is kept; consider fewer iterations or more data.")


def step_seed(seed: int, iteration: int) -> int:
    """The RNG seed from a checkpoint on, the same whether the run was resumed there or not."""
    return (seed * 1_000_003 + iteration) % 2**63


class Session(TrainingCallback):
    """The state of one run: where it is, its best validation loss, and whether to stop."""

    def __init__(self, model, optimizer, loss, config: TrainConfig, batches, adapter_dir: Path,
                 checkpoint_dir: Path | None, report, should_stop, valid_batches=None, identity: dict | None = None,
                 measure=None):
        self.model, self.optimizer, self.config, self.batches, self.loss = model, optimizer, config, batches, loss
        self.writes = speaks()  # processes that train together decide alike; the first alone writes files
        self.together = mx.distributed.init().size() > 1
        self.watchdog = Watchdog(self._silence) if self.together else None
        self.identity = identity or {}  # the base model and data the checkpoints belong to
        self.valid_batches = valid_batches
        # measure(iterate) -> {"val_loss", ...} of the validation batches; None: mlx-lm's evaluation of `loss`
        self.measure = measure
        self.adapter_dir, self.checkpoint_dir = Path(adapter_dir), checkpoint_dir
        self.report, self.should_stop = report, should_stop
        self.iteration = self.offset = 0
        self.best_val = self.best_iteration = None
        self.evals_since_best = 0
        self.history = []  # (iteration, train loss or None, val loss or None)
        self.last_train_loss = None
        self.own_tokens = 0  # in a group, the tokens this process trained since the last report: its part of the speed
        self.warned_overfit = self.stopped = self.stopped_early = self.over_memory = False
        self.failed_at = None

    # -- resume -----------------------------------------------------------------------------------

    def resume(self) -> int | None:
        """Continue from the newest good checkpoint, if there is one; returns its iteration."""
        if self.checkpoint_dir is None:
            return None
        state = checkpoints.load_newest(self.checkpoint_dir, self.model, self.optimizer, self._warn)
        if state is None:
            return None
        self.iteration = self.offset = state["iteration"]
        self.batches.restore(state["batches"])
        if self.valid_batches is not None and state.get("valid_batches"):
            self.valid_batches.restore(state["valid_batches"])
        self.best_val, self.best_iteration = state.get("best_val"), state.get("best_iteration")
        self.evals_since_best, self.warned_overfit = state["evals_since_best"], state["warned_overfit"]
        self.history = [tuple(h) for h in state["history"]]
        mx.random.seed(step_seed(self.config.seed, self.iteration))
        return self.iteration

    def _warn(self, message: str) -> None:
        self.report({"type": ev.LOG, "level": "warning", "message": message})

    # -- mlx-lm's callback ------------------------------------------------------------------------

    def on_train_loss_report(self, info):
        iteration = info["iteration"] + self.offset
        if not math.isfinite(info["train_loss"]):
            self.failed_at = self.failed_at or iteration
            return
        self.last_train_loss = info["train_loss"]
        self.history.append((iteration, info["train_loss"], None))
        self.report({"type": ev.TRAIN, "total": self.config.iters, **info, "iteration": iteration})
        self.report({"type": ev.MEMORY, "iteration": iteration, **self._memory(info["tokens_per_second"])})

    def _memory(self, tokens_per_second: float) -> dict:
        """This process's memory; in a group, each process's memory and its part of the group's `tokens_per_second`
        (by the tokens it trained) too: `processes`, in their order."""
        own = mlx_device.sample()
        if not self.together:
            return own
        keys = ("active_gb", "peak_gb", "rss_gb")
        rows = gathered([*(own[key] for key in keys), self.own_tokens])
        self.own_tokens = 0
        everyone = sum(row[-1] for row in rows) or 1
        return {**own, "processes": [{"name": name, **dict(zip(keys, row)), "tokens_per_second": tokens_per_second
                                      * row[-1] / everyone} for name, row in zip(names(), rows)]}

    def on_val_loss_report(self, info):
        iteration = info["iteration"] + self.offset
        loss = info["val_loss"]
        if not math.isfinite(loss):
            self.failed_at = self.failed_at or iteration
            return
        self.report({"type": ev.VAL, "total": self.config.iters, **info, "iteration": iteration})
        self.history.append((iteration, None, loss))
        if self.best_val is None or loss < self.best_val:
            self.best_val, self.best_iteration, self.evals_since_best = loss, iteration, 0
            self._save_best()
        else:
            self.evals_since_best += 1
        self._check_overfitting()
        patience = self.config.early_stop_patience
        if patience and self.evals_since_best >= patience and iteration < self.config.iters:
            self.stopped_early = True
            self.report({"type": ev.LOG, "message": f"Stopping early: no better validation loss in {patience} "
                                                   f"evaluations (best {self.best_val:.3f} at step "
                                                   f"{self.best_iteration})."})

    @contextmanager
    def _saving(self, what: str):
        """A save that fills the disk becomes the plain message, with the step the run can be resumed from."""
        try:
            yield
        except (OSError, RuntimeError) as error:
            if not disk.is_full(error):
                raise
            kept = self.last_checkpoint()
            then = (f"resume the run: it goes on from step {kept}, its last checkpoint" if kept
                    else "start the run again")
            needed = 4 * sum(v.nbytes for _, v in tree_flatten(self.model.trainable_parameters()))
            raise disk.full(what, self.adapter_dir, needed, then) from None

    def last_checkpoint(self) -> int | None:
        """The step of the newest checkpoint, the one a resume goes on from; None before the first."""
        kept = checkpoints.latest(self.checkpoint_dir) if self.checkpoint_dir else None
        return int(kept.name) if kept else None

    def _save_best(self) -> None:
        if not self.writes:
            return
        best = self.adapter_dir / "best"
        with self._saving(f"the best adapter (step {self.best_iteration})"):
            best.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.adapter_dir / "adapter_config.json", best / "adapter_config.json")
            checkpoints.save_weights(self.model, best / "adapters.safetensors")
        self.report({"type": ev.BEST, "iteration": self.best_iteration, "val_loss": self.best_val, "path": str(best)})

    def _check_overfitting(self) -> None:
        vals = [(i, v) for i, _, v in self.history if v is not None][-3:]
        trains = [t for i, t, _ in self.history if t is not None and i > vals[0][0]] if len(vals) == 3 else []
        if (not self.warned_overfit and len(trains) >= 2 and vals[0][1] < vals[1][1] < vals[2][1]
                and trains[-1] < trains[0]):
            self.warned_overfit = True
            self._warn(OVERFIT_WARNING)

    # -- mlx-lm's batch iterator ------------------------------------------------------------------

    def iterate(self, dataset, batch_size, max_seq_length, loop=False, seed=None, comm_group=None):
        if not loop:  # validation: one ordered pass
            for batch in dataset:
                self._tick()
                if agreed(self.should_stop())[0]:  # a stop does not wait for a long validation
                    self.stopped = True
                    return
                yield batch
            return
        config = self.config
        while True:
            self._tick()
            done = self.iteration
            due = done == 0 or done > self.offset and done % config.steps_per_eval == 0
            if due and self.valid_batches is not None:
                self.validate(done)  # before the checkpoint, which keeps the best so far
            saved = done > self.offset and done % config.save_every == 0 and done < config.iters
            if saved:
                self._checkpoint(done)
            if self.failed_at or self.stopped_early:
                return
            # Past MLX's limit (mlx_device.cap_training's on a Mac) the computer would swap to a crawl: stop as a Stop
            # does.
            self.over_memory, self.stopped = agreed(mx.get_peak_memory() > mx.get_memory_limit(), self.should_stop())
            self.stopped = self.stopped and not self.over_memory
            if self.over_memory or self.stopped:
                if done > self.offset and not saved:  # so Resume goes on from here, not the last save
                    self._checkpoint(done)
                return
            self.iteration = done + 1
            batch = self.batches.next_batch()
            if self.together:
                self.own_tokens += batch[2].sum().item()  # the targets it trains, as the loss counts them
            yield batch

    def __enter__(self):
        return self

    def __exit__(self, *exception) -> None:
        """The run's work with the other processes of its group is over, however it ended."""
        if self.watchdog is not None:
            self.watchdog.stop()

    def _tick(self) -> None:
        if self.watchdog is not None:
            self.watchdog.tick()

    def _silence(self, seconds: float) -> None:
        kept = self.last_checkpoint()
        self.report({"type": ev.ERROR, "category": "training",
                     "message": f"The processes training together stopped answering each other (nothing for "
                                f"{seconds:.0f} seconds), so training stopped.",
                     "fix": "Check that every Mac is awake and on the network, then resume the run: it goes on from "
                            + (f"step {kept}, its last checkpoint." if kept else "the beginning.")})

    def validate(self, done: int) -> None:
        """The validation loss of the weights after `done` steps (0: the model as it starts); the best adapter
        and the early stop follow from it. Tailor validates here rather than letting mlx-lm do it, since mlx-lm
        measures before a step: its "step 200" is the weights after 199 steps, and the last weights never."""
        started = time.perf_counter()
        if self.measure is not None:
            measured = self.measure(self.iterate)
        else:
            measured = {"val_loss": evaluate(model=self.model, dataset=self.valid_batches,
                                             batch_size=self.config.batch_size, num_batches=self.config.val_batches,
                                             max_seq_length=self.config.max_seq_length, loss=self.loss,
                                             iterate_batches=self.iterate)}
        self.model.train()
        if self.stopped:  # cut short by a stop: the loss of part of the set is not the validation loss
            return
        self.on_val_loss_report({"iteration": done - self.offset, **measured,
                                 "val_time": time.perf_counter() - started})

    def validate_last(self) -> None:
        """After the last step of a run that went to its end: its final weights (the loop validates a step
        only before the next one), unless a stop was asked for meanwhile."""
        done = self.iteration
        if (self.valid_batches is not None and not (self.failed_at or self.stopped or self.stopped_early)
                and done > self.offset and not agreed(self.should_stop())[0]):
            self.validate(done)

    def _checkpoint(self, iteration: int) -> None:
        weights = [v for _, v in tree_flatten(self.model.trainable_parameters())]
        if not all(mx.isfinite(v).all().item() for v in weights):
            self.failed_at = iteration
            return
        state = {"batches": self.batches.state(),
                 "valid_batches": self.valid_batches.state() if self.valid_batches is not None else None,
                 "best_val": self.best_val, "best_iteration": self.best_iteration,
                 "evals_since_best": self.evals_since_best, "warned_overfit": self.warned_overfit,
                 "history": self.history, "identity": self.identity}
        path = self.adapter_dir / "adapters.safetensors"
        with self._saving(f"the checkpoint of step {iteration}"):
            if self.writes:
                checkpoints.save_weights(self.model, path)
                if self.checkpoint_dir is not None:
                    path = checkpoints.save(self.checkpoint_dir, self.model, self.optimizer, iteration, state)
        mx.random.seed(step_seed(self.config.seed, iteration))
        self.report({"type": ev.CHECKPOINT, "iteration": iteration, "path": str(path)})

    def summary(self) -> dict:
        return {"iterations": self.iteration, "stopped": self.stopped, "stopped_early": self.stopped_early,
                "resumed_from": self.offset or None, "train_loss": self.last_train_loss,
                "best_val_loss": self.best_val, "best_iteration": self.best_iteration,
                "adapter_path": str(self.adapter_dir)}
