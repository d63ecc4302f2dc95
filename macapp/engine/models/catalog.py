"""The model catalog: current open models that fine-tune well on a Mac, each with what it is good at, its size, its
licence and whether training it fits this Mac; read from resources/models/catalog.yaml, so it works offline.

Plain Python (no MLX): the window draws the catalog from it without loading a model.
"""

import functools
from dataclasses import dataclass

import yaml

from ..files import RESOURCES
from ..words import THIS_COMPUTER
from . import memory

CATALOG = RESOURCES / "models" / "catalog.yaml"
BITS = {"bf16": 0, "8bit": 8, "4bit": 4}  # the forms mlx-community publishes, largest first
FORM_WORDS = {"bf16": "full precision", "8bit": "8-bit", "4bit": "4-bit"}
STATUS_ORDER = ("ok", "tight", "too_big")
PROCESSOR_ONLY_MOST = 1.0e9  # parameters: a larger model trains for hours or days on a processor without a GPU
SLOW_WITHOUT_GPU = (f"Fits in memory, but {THIS_COMPUTER} has no graphics processor MLX can use: training a model "
                    "this size takes many hours here. A smaller model, or a Mac with Apple silicon, is far faster")


@dataclass(frozen=True)
class Entry:
    key: str
    name: str
    maker: str
    good_at: str
    parameters: float  # as the publisher counts them
    licence: str
    licence_url: str
    forms: dict  # form ("bf16", "4bit", ...): Hugging Face repository
    config: dict  # the config.json numbers the memory prediction reads
    gated: tuple = ()  # forms whose repository asks the person to accept the licence first

    def model_config(self, form: str) -> dict:
        """The config.json the model has in `form`: bf16 as on the hub, with mlx_lm convert's quantization."""
        config = {**self.config, "dtype": "bfloat16"}
        if BITS[form]:
            config["quantization"] = {"group_size": 64, "bits": BITS[form]}
        return config

    def download_bytes(self, form: str) -> int:
        """The size of the form's weights: its parameters at the form's bytes per weight."""
        return int(memory.parameter_count(self.config) * memory.bytes_per_weight(self.model_config(form)))


@functools.cache
def entries() -> tuple[Entry, ...]:
    rows = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    return tuple(Entry(**{**row, "parameters": float(row["parameters"]), "gated": tuple(row.get("gated", ()))})
                 for row in rows)


def find(name: str) -> tuple[Entry, str] | None:
    """The entry and form of a catalog key ("qwen3-4b", its bf16 form) or one of its repositories."""
    for entry in entries():
        if name == entry.key:
            return entry, next(iter(entry.forms))
        for form, repo in entry.forms.items():
            if name.lower() == repo.lower():
                return entry, form
    return None


def forms_for(entry: Entry, method_bits: int, full: bool) -> list[str]:
    """The forms a method can train: a full fine-tune needs unquantized weights; QLoRA trains a quantized copy (of
    the bf16 form when there is no 4-bit one); LoRA and DoRA train any form."""
    if full:
        return [form for form in entry.forms if not BITS[form]]
    if method_bits:
        return [form for form in entry.forms if BITS[form] == method_bits] or [form for form in entry.forms
                                                                                  if not BITS[form]]
    return list(entry.forms)


def fit_form(entry: Entry, form: str, train_config, seq_length: int, limit: int, method_bits: int = 0) -> dict:
    """memory.plan for training one form of the entry (QLoRA on a full-precision form trains a quantized copy)."""
    model_config = entry.model_config(form)
    if method_bits and not BITS[form]:
        model_config["quantization"] = {"group_size": 64, "bits": method_bits}
    return memory.plan(model_config, train_config, seq_length, limit)


def fit(entry: Entry, train_config, seq_length: int, limit: int, method_bits: int = 0) -> dict:
    """Whether training the entry fits `limit` bytes, in the best form the method can train:
    {"status", "form", "predicted_bytes", "suggestion"}; a form that does not fit names the settings that would."""
    full = train_config.fine_tune_type == "full"
    judged = [(form, fit_form(entry, form, train_config, seq_length, limit, method_bits))
              for form in forms_for(entry, method_bits, full)]
    if not judged:  # a full fine-tune of a model the catalog has only quantized
        return {"status": "too_big", "form": None, "predicted_bytes": 0, "suggestion": None}
    # the largest form among those that fit best (full precision when it fits as well as 4 bits do); when none
    # fits, the one that comes closest
    form, plan = min(judged, key=lambda item: (STATUS_ORDER.index(item[1]["status"]),
                                               item[1]["predicted_bytes"] if item[1]["status"] == "too_big"
                                               else list(BITS).index(item[0])))
    return {"status": plan["status"], "form": form, "predicted_bytes": plan["predicted_bytes"],
            "suggestion": plan.get("suggestion")}


def slow_without_gpu(entry: Entry) -> bool:
    """Whether training the entry on the processor alone takes hours: too slow to recommend."""
    return entry.parameters > PROCESSOR_ONLY_MOST


def table(train_config, seq_length: int, limit: int, method_bits: int = 0) -> list[dict]:
    """Every entry with its fit, download size and licence, as `tailor models` and the Train step show them."""
    rows = []
    for entry in entries():
        judged = fit(entry, train_config, seq_length, limit, method_bits)
        rows.append({"entry": entry, **judged,
                     "download_bytes": entry.download_bytes(judged["form"] or next(iter(entry.forms)))})
    return rows

