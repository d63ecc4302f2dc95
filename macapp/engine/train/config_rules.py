"""What each nested training setting may hold: LoRA parameters, the learning-rate schedule, optimizer options.

The tables follow mlx-lm's `linear_to_lora_layers`, `build_schedule` and MLX's optimizers, so a config that passes
here is one mlx-lm can build; a test keeps them in step with the installed MLX.
"""

import math
import reprlib

from ..errors import ConfigError
from ..words import QUOTED_CHARS, start_of

# Each optimizer's options (as mlx-lm passes `optimizer_config[name]` to it) and what they hold.
OPTIMIZER_OPTIONS = {
    "adam": {"betas": "pair", "eps": "number", "bias_correction": "bool"},
    "adamw": {"betas": "pair", "eps": "number", "weight_decay": "number", "bias_correction": "bool"},
    "muon": {"momentum": "number", "weight_decay": "number", "nesterov": "bool", "ns_steps": "count"},
    "sgd": {"momentum": "number", "weight_decay": "number", "dampening": "number", "nesterov": "bool"},
    "adafactor": {"eps": "pair", "clip_threshold": "number", "decay_rate": "number", "beta_1": "number",
                  "weight_decay": "number", "scale_parameter": "bool", "relative_step": "bool",
                  "warmup_init": "bool"},
}
# mlx.optimizers.schedulers that mlx-lm's lr_schedule can name, with how many arguments each takes.
SCHEDULES = {"cosine_decay": (2, 3), "linear_schedule": (3, 3), "exponential_decay": (2, 2), "step_decay": (3, 3)}
SCHEDULE_EXAMPLE = "for example name: cosine_decay, arguments: [1e-5, 1000], warmup: 100"
LORA_KEYS = ("rank", "dropout", "scale", "keys")
WORDS = {"number": "a number", "count": "a whole number", "bool": "true or false",
         "pair": "two numbers, like [0.9, 0.999]"}


class _Start(reprlib.Repr):
    """Python's repr of a value's start: a few items of a list or mapping, a few levels, a string's first characters."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxdict, self.fillvalue = 3, 4, 4, "\u2026"

    def repr_str(self, x, level):
        return repr(x[:QUOTED_CHARS + 1])


_START = _Start()


def quoted(value) -> str:
    """A value as a message shows it: 'like this', cut after QUOTED_CHARS characters with "…"."""
    text = _START.repr(value)
    return start_of(text)


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _holds(value, kind: str) -> bool:
    if kind == "pair":
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(number(v) for v in value)
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return isinstance(value, bool) if kind == "bool" else number(value)


def _mapping(value, key: str, fix: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} should be settings indented under it ({fix}), not {quoted(value)}.", key)
    return value


def _known(given: dict, allowed, key: str) -> None:
    for name in given:
        if name not in allowed:
            raise ConfigError(f"{key} has no setting {quoted(name)}; it takes {', '.join(allowed)}.",
                              f"{key}.{name}")


def check_lora(values: dict) -> None:
    _known(values, LORA_KEYS, "lora_parameters")
    rank, dropout, scale = values.get("rank"), values.get("dropout"), values.get("scale")
    if not (isinstance(rank, int) and not isinstance(rank, bool) and rank >= 1):
        raise ConfigError(f"lora_parameters: rank must be a whole number of at least 1 (it is {quoted(rank)}); "
                          "8 or 16 are usual.", "lora_parameters.rank")
    if not (number(dropout) and 0 <= dropout < 1):
        raise ConfigError(f"lora_parameters: dropout must be a number from 0 up to (not including) 1 "
                          f"(it is {quoted(dropout)}).", "lora_parameters.dropout")
    if not (number(scale) and scale > 0):
        raise ConfigError(f"lora_parameters: scale must be a number above 0 (it is {quoted(scale)}); "
                          "20.0 is mlx-lm's.", "lora_parameters.scale")
    keys = values.get("keys")
    if keys is not None and not (isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys)):
        raise ConfigError("lora_parameters: keys should list layer names, like [\"self_attn.q_proj\", "
                          f"\"self_attn.v_proj\"] (it is {quoted(keys)}).", "lora_parameters.keys")


def check_schedule(values) -> None:
    schedule = _mapping(values, "lr_schedule", SCHEDULE_EXAMPLE)
    _known(schedule, ("name", "arguments", "warmup", "warmup_init"), "lr_schedule")
    name, arguments = schedule.get("name"), schedule.get("arguments")
    if name not in SCHEDULES:
        raise ConfigError(f"lr_schedule: the schedule {quoted(name)} is unknown. Use one of: {', '.join(SCHEDULES)}.",
                          "lr_schedule.name")
    fewest, most = SCHEDULES[name]
    if not (isinstance(arguments, list) and fewest <= len(arguments) <= most and all(number(a) for a in arguments)):
        count = str(fewest) if fewest == most else f"{fewest} or {most}"
        raise ConfigError(f"lr_schedule: {name} takes {count} numbers as arguments, the first the learning rate "
                          f"({SCHEDULE_EXAMPLE}); it has {quoted(arguments)}.", "lr_schedule.arguments")
    if arguments[0] <= 0:
        raise ConfigError(f"lr_schedule: the first argument is the learning rate and must be above 0 "
                          f"(it is {quoted(arguments[0])}).", "lr_schedule.arguments")
    warmup = schedule.get("warmup", 0)
    if not (isinstance(warmup, int) and not isinstance(warmup, bool) and warmup >= 0):
        raise ConfigError(f"lr_schedule: warmup is a number of steps, 0 or more (it is {quoted(warmup)}).",
                          "lr_schedule.warmup")
    if not number(schedule.get("warmup_init", 0.0)):
        raise ConfigError(f"lr_schedule: warmup_init is the learning rate warm-up starts from, a number "
                          f"(it is {quoted(schedule['warmup_init'])}).", "lr_schedule.warmup_init")


def check_optimizer_options(values) -> None:
    options = _mapping(values, "optimizer_config", "each optimizer's name, then its options, like adamw: "
                                                   "{weight_decay: 0.01}")
    _known(options, OPTIMIZER_OPTIONS, "optimizer_config")
    for optimizer, given in options.items():
        key = f"optimizer_config.{optimizer}"
        given = _mapping(given, key, "its options, like weight_decay: 0.01")
        _known(given, OPTIMIZER_OPTIONS[optimizer], key)
        for name, value in given.items():
            kind = OPTIMIZER_OPTIONS[optimizer][name]
            if not _holds(value, kind):
                raise ConfigError(f"optimizer_config: {optimizer}'s {name} should be {WORDS[kind]}, "
                                  f"not {quoted(value)}.", f"{key}.{name}")
