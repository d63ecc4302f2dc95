"""What the user has chosen so far, shared by the pages: data, model, method, settings and the run.

Plain Python over the engine's light modules (no MLX): presets, the train config, the memory plan,
and the worker job that starts a run.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ..engine import config, demo, memory, models, runs

METHODS = {  # name: (label, mlx-lm fine_tune_type, bits of the quantized base)
    "lora": ("LoRA: small adapter, fast", "lora", 0),
    "qlora": ("QLoRA: LoRA on a 4-bit copy, least memory", "lora", 4),
    "dora": ("DoRA: LoRA that learns direction and size", "dora", 0),
    "full": ("Full fine-tune: every weight, most memory", "full", 0),
}
PRESETS = {  # name: (label, settings over the model's base settings, for the demo / for other models)
    "quick": ("Quick", {"iters": 100}, {"iters": 200}),
    "balanced": ("Balanced", {"iters": 200}, {"iters": 600}),
    "thorough": ("Thorough", {"iters": 400, "early_stop_patience": 3},
                 {"iters": 1500, "early_stop_patience": 3, "lora_parameters": {"rank": 16, "dropout": 0.05,
                                                                                "scale": 20.0}}),
}
PRESET_WORDS = {"quick": "a first try, to see that everything works",
                "balanced": "good for most data",
                "thorough": "longer; stops by itself when the validation loss stops improving"}
GENERIC = {"batch_size": 4, "learning_rate": 1e-5, "num_layers": -1, "mask_prompt": True, "max_seq_length": 2048,
           "steps_per_report": 10, "val_batches": 25, "lora_parameters": {"rank": 8, "dropout": 0.0, "scale": 20.0}}


@dataclass
class Plan:
    sources: list[str] = field(default_factory=lambda: [str(demo.REPLIES)])
    mapping: dict | None = None
    ratios: tuple = (0.8, 0.1, 0.1)
    inspection: dict | None = None  # the inspect job's result: report, must_fix, preview
    model: str = "demo"
    method: str = "lora"
    preset: str = "balanced"
    settings: dict = field(default_factory=dict)
    run_dir: Path | None = None
    memory_limit: int | None = None

    def __post_init__(self):
        if not self.settings:
            self.apply_preset(self.preset)

    @property
    def is_demo(self) -> bool:
        return self.model == "demo"

    @property
    def is_demo_task(self) -> bool:
        """The demo model on the demo's own data: its held-out comments and signature check apply."""
        return self.is_demo and self.sources == [str(demo.REPLIES)]

    def apply_preset(self, name: str) -> None:
        self.preset = name
        _, for_demo, for_others = PRESETS[name]
        base = demo.train_settings("") if self.is_demo else dict(GENERIC)
        base.pop("data", None)
        base.pop("model", None)
        self.settings = {**base, **(for_demo if self.is_demo else for_others)}
        iters = self.settings["iters"]
        self.settings.setdefault("steps_per_eval", max(10, iters // 8))
        self.settings["save_every"] = self.settings["steps_per_eval"]

    def train_config(self) -> config.TrainConfig:
        values = {**self.settings, "model": self.model, "fine_tune_type": METHODS[self.method][1]}
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

    def new_run(self) -> dict:
        """Create the run folder with its config.yaml; returns the worker job that prepares the data and trains."""
        settings = self.train_config()
        name = "demo" if self.is_demo and self.sources == [str(demo.REPLIES)] else Path(self.sources[0]).stem
        self.run_dir = runs.create(name)
        settings.data = str(self.run_dir / "data")
        settings.save(self.run_dir / "config.yaml")
        return {"kind": "train", "run": str(self.run_dir), "quantize_bits": METHODS[self.method][2],
                "prepare": {"sources": self.sources, "mapping": self.mapping, "ratios": list(self.ratios),
                            "seed": settings.seed}}
