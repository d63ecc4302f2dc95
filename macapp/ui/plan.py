"""What the user has chosen so far, shared by the pages: data, model, method, settings and the run.

Plain Python over the engine's light modules (no MLX): presets, the train config, the memory plan,
and the worker job that starts a run.
"""

from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..engine import words
from ..engine.data import data_size, datasets
from ..engine.errors import ConfigError
from ..engine.models import demo, memory, models
from ..engine.runs import runs
from ..engine.train import config, training_length
from ..engine.train.presets import (CHOOSING, CHOOSING_RATE, GENERIC, METHODS, PRESET_PASSES,  # noqa: F401
                                    PRESET_WORDS, PRESETS)  # (pages use them)
from ..engine.train.run_spec import RunSpec
from ..engine.train.training_length import Length
from ..jobs import TrainJob


@dataclass
class Plan:
    sources: list[str] = field(default_factory=lambda: [str(demo.REPLIES)])
    mapping: dict | None = None
    ratios: tuple = datasets.DEFAULT_RATIOS
    inspection: dict | None = None  # the inspect job's result: report, must_fix, preview
    model: str = "demo"
    method: str = "lora"
    preset: str = "balanced"
    settings: dict = field(default_factory=dict)
    run_dir: Path | None = None
    memory_limit: int | None = None
    gpu: bool | None = None  # whether MLX trains on a graphics processor here; None before the check has said
    skip_broken: bool = False  # leave out records that cannot be read at all, as the person chose
    repeats: str = "drop"  # a repeated example: left out, or kept in training only ("train")
    customized: bool = False  # settings changed by hand (or taken from a past run): kept as they are
    length: Length | None = None  # how long, as the person said it; the steps in settings when not said

    def __post_init__(self):
        if not self.settings:
            self.apply_preset(self.preset)
        self.length = self.length or Length("steps", self.settings["iters"])

    @property
    def is_demo(self) -> bool:
        return self.model == "demo"

    @property
    def is_demo_task(self) -> bool:
        """The demo model on the demo's own data: its held-out comments and signature check apply."""
        return self.is_demo and demo.is_demo_file(self.sources)

    @property
    def pairs(self) -> bool:
        """Whether the data are pairs of a better and a worse answer, which teach by choosing: as checked, else (a
        past run reopened, its data not read again) as that run trained."""
        report = (self.inspection or {}).get("report") or {}
        if report.get("format"):
            return report["format"] == "preference"
        return self.settings.get("train_mode", "sft") in CHOOSING

    @property
    def train_mode(self) -> str:
        """How the run learns: from examples ("sft"), or by choosing with the method picked (DPO unless ORPO)."""
        picked = self.settings.get("train_mode")
        return (picked if picked in CHOOSING else "dpo") if self.pairs else "sft"

    def apply_preset(self, name: str) -> None:
        self.preset = name
        _, for_demo, for_others = PRESETS[name]
        base = demo.train_settings("") if self.is_demo else dict(GENERIC)
        base.pop("data", None)
        base.pop("model", None)
        kept = {key: self.settings[key] for key in ("train_mode", "beta") if key in self.settings}
        self.settings = {**base, **(for_demo if self.is_demo else for_others), **kept}
        if self.pairs:
            self.settings["learning_rate"] = min(self.settings["learning_rate"], CHOOSING_RATE)
        iters = self.settings["iters"]
        self.settings.setdefault("steps_per_eval", max(10, iters // 8))
        self.settings["save_every"] = self.settings["steps_per_eval"]
        if not self.is_demo_task:
            self.settings = data_size.suited(self.split_sizes()[0], self.settings, PRESET_PASSES[name])
        self.length = Length("steps", self.settings["iters"])
        self.customized = False

    def continue_from(self, run_dir: Path) -> None:
        """The next run goes on from a finished run's adapter (teach by examples, then by choosing), with its model
        and adapter shape: the settings kept as they are, learning by choosing once the data are pairs."""
        start = runs.continued_from(run_dir)
        self.model, self.method = start.pop("model"), start["fine_tune_type"]
        self.settings = {**self.settings, **start, "train_mode": "dpo",
                         "learning_rate": min(self.settings["learning_rate"], CHOOSING_RATE)}
        self.customized = True

    def split_sizes(self) -> tuple[int, int]:
        """(training, validation) examples of the chosen data once it is checked, else (0, 0)."""
        return data_size.split_sizes((self.inspection or {}).get("report"), self.ratios, self.repeats)

    def set_length(self, unit: str, amount: float) -> None:
        """How long to train, as the person says it: steps, passes over the data or minutes; sets the steps."""
        self.length = Length(unit, amount)
        self.customized = True
        self.fit_length()

    def fit_length(self) -> None:
        """The steps for the length asked, with the data's size and this Mac's speed as now known; while they cannot
        be worked out the steps stay as they are, and `length_words` says why."""
        with suppress(ConfigError):
            self.settings["iters"] = self.length_steps()

    def length_steps(self) -> int:
        """The steps the length asked comes to; a ConfigError says what is not known yet to work them out."""
        return training_length.steps(self.length, *self._measures())

    def length_in(self, unit: str) -> float | None:
        """The steps now set, said in `unit`; None when that cannot be said yet."""
        return training_length.in_unit(unit, int(self.settings["iters"]), *self._measures())

    def length_words(self) -> str:
        """The line under the length: steps, times through the data, time on this Mac; a ConfigError says why the
        length asked cannot be worked out yet."""
        measures = self._measures()
        return training_length.describe(training_length.steps(self.length, *measures), *measures)

    def _measures(self) -> tuple:
        """What turns a length into steps: the training examples, the batch size, and this Mac's speed with this
        model and method (scaled to the data's tokens, once they are counted)."""
        train, _ = self.split_sizes()
        batch = int(self.settings["batch_size"])
        tokens = ((self.inspection or {}).get("report") or {}).get("token_stats", {}).get("mean")
        return train, batch, training_length.measured_seconds_per_step(self.model, self.method, batch, tokens)

    def warnings(self) -> list[str]:
        """What to tell the person about this data with these settings before they start."""
        said = []
        if self.is_demo and not self.is_demo_task:
            said.append("The demo model is tiny and knows only the demo's cooking comments: it cannot learn your "
                        "data well. Choose a real model above.")
        train, valid = self.split_sizes()
        if train:
            said += data_size.warnings(train, valid, int(self.settings["batch_size"]), int(self.settings["iters"]))
        return said

    def train_config(self) -> config.TrainConfig:
        values = {**self.settings, "model": self.model, "fine_tune_type": METHODS[self.method][1],
                  "train_mode": self.train_mode}
        return config.from_dict(values, source="settings")

    def seq_length(self) -> int:
        longest = ((self.inspection or {}).get("report") or {}).get("token_stats", {}).get("max")
        limit = int(self.settings.get("max_seq_length", 2048))
        return min(longest, limit) if longest else limit

    def memory_plan(self) -> dict | None:
        """The predicted peak against the machine's limit, as memory.plan gives it; None before both are known."""
        model_config = models.config_of(self.model)
        if model_config is None or not self.memory_limit:
            return None
        bits = METHODS[self.method][2]
        if bits and "quantization" not in model_config:
            model_config = {**model_config, "quantization": {"bits": bits, "group_size": 64}}
        return memory.plan(model_config, self.train_config(), self.seq_length(), self.memory_limit)

    def spec(self) -> RunSpec:
        return RunSpec(self.model, list(self.sources), dict(self.settings), self.mapping, tuple(self.ratios),
                       int(self.settings.get("seed", 0)), self.skip_broken, self.method, self.preset,
                       METHODS[self.method][2], asdict(self.length), self.repeats)

    def new_run(self) -> TrainJob:
        """Create the run folder with its spec and config.yaml; returns the worker job that prepares the data
        and trains."""
        if not self.model.strip():
            raise config.ConfigError("No model chosen: choose the demo, a model folder, or type the name of a "
                                     "model from Hugging Face.")
        with suppress(training_length.SizeUnknown):  # a past run reopened, its data not read again: its own steps
            self.settings["iters"] = self.length_steps()
        settings = self.train_config()
        settings.validate()  # what the worker would refuse is said here, before a run is made
        train, _ = self.split_sizes()
        if 0 < train < settings.batch_size:
            raise config.ConfigError(f"Only {words.count(train, 'training example')} for a batch size of "
                                     f"{settings.batch_size}: set the batch size to {train} or less, or add examples.",
                                     "batch_size")
        name = "demo" if self.is_demo_task else Path(self.sources[0]).stem
        self.run_dir = runs.create(name)
        self.spec().save(self.run_dir)
        settings.data = str(self.run_dir / "data")
        settings.save(self.run_dir / "config.yaml")
        return TrainJob(run=str(self.run_dir))

    def open_run(self, run_dir: Path) -> None:
        """Take a past run's choices (data, columns, split, model, method, preset, settings) as the plan's, so
        "Start again" trains what that run trained."""
        self.run_dir = Path(run_dir)
        spec = RunSpec.load(run_dir)
        if spec is None:  # a run made before runs kept their spec: its model and settings at least
            saved = config.load(self.run_dir / "config.yaml").to_dict()
            self.model = saved.pop("model", self.model)
            self.settings = {key: value for key, value in saved.items()
                             if key not in ("data", "adapter_path", "resume_adapter_file")}
            self.length, self.customized = Length("steps", self.settings["iters"]), True
            return
        self.model, self.sources, self.mapping, self.ratios = spec.model, spec.sources, spec.mapping, spec.ratios
        if demo.is_demo_data(run_dir):  # the demo's replies where the app is now: it may have moved since
            self.sources = [str(demo.REPLIES)]
        self.method, self.settings, self.skip_broken = spec.method, dict(spec.settings), spec.skip_broken
        self.repeats = spec.repeats
        self.preset = spec.preset if spec.preset in PRESETS else self.preset
        self.length = training_length.asked(spec.length, self.settings["iters"])
        self.inspection, self.customized = None, True
