"""How long a run trains, as a person says it: a number of steps, times through their data, or minutes on this Mac;
each turned into the steps mlx-lm runs (`iters`), and the time those steps take once this Mac's speed is known.

Plain Python, no MLX: the speed is read from the events of this Mac's past runs of the same model and method.
"""

import math
import os
import statistics
from dataclasses import dataclass

from ..data.data_size import passes
from ..errors import ConfigError
from ..runs import events as ev
from ..runs import runs
from ..runs.run_state import duration_words
from ..words import THIS_COMPUTER
from .run_spec import RunSpec

UNITS = ("steps", "passes", "minutes")
# Steps and minutes are worked out from products of decimals (0.1 * 30 is 3.0000000000000004): rounded to this many
# places first, so a whole number of steps is never pushed to the next one by the error of a float.
PLACES = 6
TIME_UNKNOWN = f"How long it takes is known after a first run of this model with this method on {THIS_COMPUTER}."
MEASURED = "measured on your last run of this model with this method"


class SpeedUnknown(ConfigError):
    """Minutes asked for, while no run of this model and method on this Mac has measured its speed yet."""


class SizeUnknown(ConfigError):
    """Times through the data asked for, before the data is counted."""


@dataclass(frozen=True)
class Length:
    """How long to train, as the person asked: `amount` steps, passes over the training examples, or minutes."""

    unit: str
    amount: float

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ConfigError(f"How long to train is said in {', '.join(UNITS)}, not {self.unit!r}.", "iters")
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount < math.inf:
            raise ConfigError(f"How long to train must be a number above 0 (it is {amount!r}).", "iters")


def steps_for_passes(times: float, train_count: int, batch_size: int) -> int:
    """Steps that go `times` over `train_count` examples, `batch_size` a step: rounded up, at least 1."""
    return max(1, math.ceil(round(times * train_count / batch_size, PLACES)))


def steps_for_minutes(minutes: float, seconds_per_step: float) -> int:
    """Steps that fit in `minutes`: rounded down, so the training ends within the time asked; at least 1."""
    return max(1, math.floor(round(minutes * 60 / seconds_per_step, PLACES)))


def estimated_seconds(iters: int, seconds_per_step: float) -> float:
    """How long `iters` steps train at a measured speed (loading the model and validating come on top)."""
    return iters * seconds_per_step


def steps(length: Length, train_count: int, batch_size: int, seconds_per_step: float | None) -> int:
    """The steps mlx-lm runs for `length`; a ConfigError says what is not known yet to work them out."""
    if length.unit == "steps":
        return max(1, round(length.amount))
    if length.unit == "passes":
        if train_count <= 0:
            raise SizeUnknown("Times through your data can be counted once your data is checked.", "iters")
        return steps_for_passes(length.amount, train_count, batch_size)
    if seconds_per_step is None:
        raise SpeedUnknown(f"Minutes need {THIS_COMPUTER}'s speed with this model and method, which Tailor measures "
                           "on a first run of them: give steps or times through your data for now.", "iters")
    return steps_for_minutes(length.amount, seconds_per_step)


def in_unit(unit: str, iters: int, train_count: int, batch_size: int, seconds_per_step: float | None) -> float | None:
    """`iters` steps said in `unit` (to keep the length when the person switches unit); None when not known yet."""
    if unit == "steps":
        return iters
    if unit == "passes":
        return (round(passes(train_count, batch_size, iters), 1) or 0.1) if train_count else None
    return max(1, round(estimated_seconds(iters, seconds_per_step) / 60)) if seconds_per_step else None


def describe(iters: int, train_count: int, batch_size: int, seconds_per_step: float | None) -> str:
    """What `iters` steps come to, in one plain line: times through the data, and the time when it is known."""
    said = [f"{_times(passes(train_count, batch_size, iters))} through your {train_count:,} examples"] \
        if train_count else []
    if seconds_per_step:
        took = duration_words(estimated_seconds(iters, seconds_per_step))
        said.append(f"{took} of training on {THIS_COMPUTER} ({MEASURED})")
    line = f"{iters:,} step{'s' if iters != 1 else ''}" + (": " + ", ".join(said) if said else "") + "."
    return line if seconds_per_step else f"{line} {TIME_UNKNOWN}"


def _times(count: float) -> str:
    shown = round(count, 1)
    if shown == 1:
        return "once"
    return f"{shown:g} times" if shown else "less than once"


def asked(record: dict | None, iters: int) -> Length:
    """The length a run's spec records; its steps for a run made before runs kept one, or a damaged record."""
    try:
        return Length(**record)
    except (TypeError, ConfigError):
        return Length("steps", iters)


# The speed comes only from what this Mac measured. With no past run of the model and method there is none: a guess
# from the model's size would need the chip's real throughput, which differs tenfold between Macs (and this one may
# have been busy), so Tailor says the time is not known yet rather than show a number nobody measured.
def measured_seconds_per_step(model: str, method: str, batch_size: int, tokens_per_example: float | None = None
                              ) -> float | None:
    """Seconds a step of `batch_size` examples should take, from the newest past run of `model` trained with `method`
    (lora, qlora, dora or full) on this Mac: its tokens per second, over the tokens a step of the new run holds
    (`tokens_per_example` of the new data, when its tokens were counted; else the old run's, per example)."""
    for folder in sorted(runs.runs_root().iterdir(), reverse=True):  # run ids start with their date: newest first
        spec = RunSpec.load(folder)
        if spec is None or spec.method != method or not isinstance(spec.model, str) \
                or not _same_model(spec.model, model):
            continue
        reports = [event for event in runs.read_events(folder) if _speed_report(event)]
        if not reports:
            continue
        # The median report: the first one of a session also holds the compiling of the step.
        tokens_per_second = statistics.median(event["tokens_per_second"] for event in reports)
        tokens_per_step = statistics.median(event["tokens_per_second"] / event["iterations_per_second"]
                                            for event in reports)
        old_batch = spec.settings.get("batch_size") if isinstance(spec.settings, dict) else None
        per_example = tokens_per_example or tokens_per_step / (old_batch if _positive(old_batch) else batch_size)
        return batch_size * per_example / tokens_per_second
    return None


def _speed_report(event: dict) -> bool:
    return (event.get("type") == ev.TRAIN and event.get("kind", "train") == "train"
            and _positive(event.get("tokens_per_second")) and _positive(event.get("iterations_per_second")))


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def _same_model(recorded: str, model: str) -> bool:
    """The same model, however its folder was written (~/models/x, or the full path the command line records)."""
    return os.path.realpath(os.path.expanduser(recorded)) == os.path.realpath(os.path.expanduser(model))
