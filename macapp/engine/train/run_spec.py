"""What makes a run, as the person chose it: the model, the data (files, column mapping, split), the settings
and the method. Saved as spec.json in the run folder, so a run can be reopened or started again as it was.

Plain data, no MLX: the window builds one, the worker prepares the run's data from it.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data.datasets import DEFAULT_RATIOS
from ..files import write_json_atomic

FILE = "spec.json"


@dataclass
class RunSpec:
    model: str
    sources: list[str]
    settings: dict = field(default_factory=dict)  # the train config's keys beyond model and data
    mapping: dict | None = None  # which column holds what (formats.Mapping's fields); None: read from the data
    ratios: tuple = DEFAULT_RATIOS
    seed: int = 0
    skip_broken: bool = False  # leave out the records that cannot be read at all
    method: str = "lora"
    preset: str = "balanced"  # "" for a run whose settings were given one by one (from a terminal)
    quantize_bits: int = 0  # QLoRA trains on a 4-bit copy of the model
    length: dict | None = None  # how long, as asked: {"unit": "passes", "amount": 3}; None: the steps in settings
    repeats: str = "drop"  # a repeated example: left out ("drop") or kept in training only ("train")

    def save(self, run_dir: Path) -> None:
        write_json_atomic(Path(run_dir) / FILE, asdict(self))

    @classmethod
    def load(cls, run_dir: Path) -> "RunSpec | None":
        """The run's spec; None for a run made before runs kept one, or when it cannot be read."""
        try:
            values = json.loads((Path(run_dir) / FILE).read_text(encoding="utf-8"))
            return cls(**{**values, "ratios": tuple(values.get("ratios", DEFAULT_RATIOS))})
        except (OSError, ValueError, TypeError):
            return None
