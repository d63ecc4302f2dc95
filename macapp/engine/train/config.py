"""The training configuration, in mlx-lm's own lora YAML keys, loaded and checked.

An mlx-lm lora YAML loads as a Tailor config, read within bounds (no aliases, a few KB of short values); every
unknown key and wrong value is named with the file and line, and the fix, before anything is made from it.
"""

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..files import write_yaml_atomic
from . import config_rules as rules

# mlx-lm keys that mean nothing to Tailor (it always trains, and reports to its own window).
IGNORED_KEYS = {"train", "test", "test_batches", "report_to", "project_name", "config", "trust_remote_code",
                "wandb", "hf_dataset"}
FINE_TUNE_TYPES = ("lora", "dora", "full")
# What a run learns from: examples (sft), or pairs of a better and a worse answer (dpo, orpo); mlx-lm-lora's names.
TRAIN_MODES = ("sft", "dpo", "orpo")
PREFERENCE_MODES = ("dpo", "orpo")
OPTIMIZERS = ("adam", "adamw", "muon", "sgd", "adafactor")
# A config holds a few dozen short settings (mlx-lm's example, comments and all, is 3 KB). PyYAML reads about 60 KB
# of values a second here, so these bounds keep any file's reading well under a second and a few MB.
MOST_BYTES = 64 * 1024
MOST_VALUES = 2000
LONGEST_TEXT = 1024
DEEPEST = 16


@dataclass
class TrainConfig:
    """One training job. Field names and meanings are mlx-lm's `lora` options."""

    model: str = "demo"
    data: str = ""
    fine_tune_type: str = "lora"
    optimizer: str = "adam"
    optimizer_config: dict = field(default_factory=dict)
    seed: int = 0
    num_layers: int = -1  # mlx-lm's default of 16 fails on small models; -1 trains all layers
    batch_size: int = 4
    iters: int = 1000
    val_batches: int = 25
    learning_rate: float = 1e-5
    steps_per_report: int = 10
    steps_per_eval: int = 200
    adapter_path: str = "adapters"
    save_every: int = 100
    max_seq_length: int = 2048
    grad_checkpoint: bool = False
    grad_accumulation_steps: int = 1
    clear_cache_threshold: int = 0
    lr_schedule: dict | None = None
    lora_parameters: dict = field(default_factory=lambda: {"rank": 8, "dropout": 0.0, "scale": 20.0})
    mask_prompt: bool = False
    resume_adapter_file: str | None = None
    early_stop_patience: int = 0  # Tailor's own: stop after this many evaluations without a better loss; 0 = off
    pack: bool = True  # Tailor's own: a step's short examples share rows where they fit side by side
    train_mode: str = "sft"  # mlx-lm-lora's: "dpo" and "orpo" learn from pairs of a better and a worse answer
    beta: float = 0.1  # mlx-lm-lora's: DPO's beta (how far from the reference it may go), ORPO's lambda

    @property
    def by_preference(self) -> bool:
        return self.train_mode in PREFERENCE_MODES

    def validate(self) -> None:
        """Every value checked; a ConfigError names the setting (its `key`) and the fix."""
        if self.fine_tune_type not in FINE_TUNE_TYPES:
            raise ConfigError(f"fine_tune_type {rules.quoted(self.fine_tune_type)} is unknown. Use one of: "
                              f"{', '.join(FINE_TUNE_TYPES)}.", "fine_tune_type")
        if self.train_mode not in TRAIN_MODES:
            raise ConfigError(f"train_mode {rules.quoted(self.train_mode)} is unknown. Use one of: "
                              f"{', '.join(TRAIN_MODES)}.", "train_mode")
        if not rules.number(self.beta) or not 0 < self.beta <= 100:
            raise ConfigError(f"beta must be a number above 0 and at most 100 (it is {rules.quoted(self.beta)}); "
                              "0.1 is usual.", "beta")
        if self.optimizer.lower() not in OPTIMIZERS:
            raise ConfigError(f"optimizer {rules.quoted(self.optimizer)} is unknown. Use one of: "
                              f"{', '.join(OPTIMIZERS)}.", "optimizer")
        for name in ("batch_size", "iters", "steps_per_report", "steps_per_eval", "save_every",
                     "max_seq_length", "grad_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 (it is {rules.quoted(getattr(self, name))}).", name)
        for name, meaning in (("val_batches", "all of the validation data"), ("num_layers", "all layers")):
            if getattr(self, name) < 1 and getattr(self, name) != -1:
                raise ConfigError(f"{name} must be -1 ({meaning}) or at least 1 "
                                  f"(it is {rules.quoted(getattr(self, name))}).", name)
        for name in ("seed", "early_stop_patience", "clear_cache_threshold"):
            if not 0 <= getattr(self, name) < 2**63:
                raise ConfigError(f"{name} must be 0 or more, and below {2**63:,} "
                                  f"(it is {rules.quoted(getattr(self, name))}).", name)
        if not rules.number(self.learning_rate) or (self.learning_rate <= 0 and not self.lr_schedule):
            raise ConfigError(f"learning_rate must be a number above 0 (it is {rules.quoted(self.learning_rate)}).",
                              "learning_rate")
        rules.check_lora(self.lora_parameters)
        if self.lr_schedule is not None:
            rules.check_schedule(self.lr_schedule)
        rules.check_optimizer_options(self.optimizer_config)
        if self.resume_adapter_file and not Path(self.resume_adapter_file).is_file():
            raise ConfigError(f"resume_adapter_file: {rules.quoted(self.resume_adapter_file)} not found. Give the "
                              "path of an adapters.safetensors file, or leave it out.", "resume_adapter_file")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        write_yaml_atomic(path, self.to_dict())


class _Refused(Exception):
    """A config file Tailor will not read further: what is wrong and the line it is on."""

    def __init__(self, line: int, words: str):
        super().__init__(words)
        self.line = line


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader within bounds: no aliases (an anchor repeated nine levels deep is a billion values),
    few and short values, shallow nesting; a value its tag cannot make is named with its line."""

    def __init__(self, text: str):
        super().__init__(text)
        self.values, self.depth = 0, 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(line, f"uses an alias (*{event.anchor[:40]}); write the value out instead")
        self.values += 1
        if self.values > MOST_VALUES:
            raise _Refused(line, f"holds more than {MOST_VALUES:,} values; a config holds a few dozen settings")
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > LONGEST_TEXT:
            raise _Refused(line, f"a value of {len(event.value):,} characters, {rules.quoted(event.value)}; a "
                                 f"setting is at most {LONGEST_TEXT:,} characters (the longest path a Mac allows)")
        self.depth += 1
        try:
            if self.depth > DEEPEST:
                raise _Refused(line, f"settings nest more than {DEEPEST} levels deep; a config nests three")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, OverflowError):  # e.g. 2001-13-45 read as a date
            raise _Refused(node.start_mark.line + 1, f"{rules.quoted(node.value)} cannot be read as "
                                                     f"{node.tag.rsplit(':', 1)[-1]}; quote it to keep it as text")


# PyYAML reads 1e-5 as a string; mlx-lm's loader adds the same float resolver.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)\.?[0-9_]*(?:[eE][-+]?[0-9]+)$|^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*$"),
    list("-+0123456789."),
)


KIND_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false",
              dict: "settings indented under it"}


def _coerce(name: str, value, kind, optional: bool):
    """The value as the field's type; optional settings (None by default) may be null."""
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} has no value. Give it one, or leave the line out for the default.", name)
    if kind is dict or kind is bool:
        if isinstance(value, kind):
            return value
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif not isinstance(value, (bool, dict, list)) and not (kind is int and isinstance(value, float)
                                                            and not value.is_integer()):
        try:
            return kind(value)
        except (TypeError, ValueError, OverflowError):
            pass
    raise ConfigError(f"{name} should be {KIND_WORDS[kind]}, not {rules.quoted(value)}.", name)


def _field_kinds() -> dict:
    """Each setting's type and whether it may be null: `str | None` fields are optional strings."""
    kinds = {}
    for item in dataclasses.fields(TrainConfig):
        given = [kind for kind in typing.get_args(item.type) if kind is not type(None)] or [item.type]
        kinds[item.name] = (given[0], len(given) < len(typing.get_args(item.type)))
    return kinds


def from_dict(values: dict, source: str = "config", lines: dict | None = None) -> TrainConfig:
    """A TrainConfig from mlx-lm style keys (dashes or underscores); unknown keys and wrong values are errors
    that start with `source` and, when `lines` maps a (dotted) key to its line, that line."""
    lines = lines or {}

    def where(key: str) -> str:
        key = key.replace("-", "_")
        for tried in (key, key.split(".")[0]):
            if tried in lines:
                return f"{source}:{lines[tried]}"
        return source

    fields = _field_kinds()
    chosen = {}
    try:
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key in IGNORED_KEYS:
                continue
            if key not in fields:
                close = difflib.get_close_matches(key[:rules.QUOTED_CHARS], fields, n=1)  # a long key costs no more
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"unknown setting {rules.quoted(raw_key)}.{hint}", str(raw_key))
            chosen[key] = _coerce(str(raw_key), value, *fields[key])
        given = chosen.get("lora_parameters") or {}
        if "alpha" in given and "scale" not in given:
            raise ConfigError("lora_parameters has alpha but no scale; mlx-lm calls it scale, e.g. scale: 20.0.",
                              "lora_parameters.alpha")
        config = TrainConfig(**chosen)
        config.lora_parameters = {**TrainConfig().lora_parameters, **given}
        config.validate()
    except ConfigError as error:
        raise ConfigError(f"{where(error.key or '')}: {error}", error.key) from None
    return config


def _key_lines(node, prefix: str = "") -> dict:
    """Each key of a YAML mapping, nested ones dotted, with its line (1-based)."""
    found = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                name = f"{prefix}{str(key.value).replace('-', '_')}"
                found[name] = key.start_mark.line + 1
                found.update(_key_lines(value, name + "."))
    return found


def _parse(path: Path):
    """The value a YAML file holds and its node, read within the bounds of `_Loader` and of MOST_BYTES."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found.")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MOST_BYTES + 1)  # never more, even from a file that grows as it is read
        if len(data) > MOST_BYTES:
            raise ConfigError(f"{path}: is {path.stat().st_size:,} bytes, too large for a config file (a few "
                              f"settings, at most {MOST_BYTES // 1024} KB). Choose the config file itself.")
        loader = _Loader(data.decode("utf-8"))
        try:
            node = loader.get_single_node()
            return (loader.construct_document(node) if node is not None else None), node
        finally:
            loader.dispose()
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror or error}). Check that Tailor may read it.") \
            from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (UTF-8). Give a YAML file of 'key: value' lines.") from None
    except _Refused as refused:
        raise ConfigError(f"{path}:{refused.line}: {refused}.") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({error.problem}). Check the indentation and "
                          "colons.") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0] if str(error) else 'unreadable'}). "
                          "Give a YAML file of 'key: value' lines.") from None


def _read(path: Path) -> tuple[dict, dict]:
    """The settings of a YAML file and the line of each (dotted) key, read once."""
    values, node = _parse(path)
    if values is None:
        return {}, {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected settings as 'key: value' lines.")
    return values, _key_lines(node)


def read_value(path) -> object:
    """Whatever a YAML file holds, unchecked, read within the same bounds as a config (for a run's listing)."""
    return _parse(Path(path))[0]


def read_yaml(path) -> dict:
    """The settings written in a YAML config file (Tailor's or mlx-lm's lora YAML), checked."""
    values, lines = _read(Path(path))
    from_dict(values, str(path), lines)
    return values


def load(path) -> TrainConfig:
    """A TrainConfig from a YAML config file, checked."""
    values, lines = _read(Path(path))
    return from_dict(values, str(path), lines)
