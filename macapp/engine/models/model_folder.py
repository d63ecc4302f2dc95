"""A model folder as Hugging Face and mlx-lm lay it out: its config.json, weights and tokenizer files, checked
before anything loads them, each missing part named with how to get it."""

import json
import shutil
from pathlib import Path

from ..errors import ModelError

WEIGHTS = "model*.safetensors"  # as mlx-lm and transformers name them (not Mistral's duplicate consolidated.*)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                   "added_tokens.json", "chat_template.jinja", "vocab.json", "merges.txt")


def check_folder(path: Path) -> None:
    """Raise ModelError unless `path` holds config.json, weights and a tokenizer."""
    if not path.is_dir():
        raise ModelError(f"{path}: no such model folder. Give a folder with config.json, "
                         "model*.safetensors and tokenizer files, or 'demo' for the built-in model.")
    if not (path / "config.json").exists():
        raise ModelError(f"{path}: config.json is missing. Copy the whole model folder, not only its weights.")
    try:
        read_config(path)
    except (OSError, ValueError):
        raise ModelError(f"{path}: config.json cannot be read as JSON. Copy it again from the original "
                         "model.") from None
    if not any(path.glob(WEIGHTS)):
        raise ModelError(f"{path}: no model*.safetensors weights. Convert the model with `mlx_lm convert` first.")
    missing = sorted(name for name in _weight_files(path) if not (path / name).exists())
    if missing:  # an interrupted download, or a cache whose files were deleted
        raise ModelError(f"{path}: its weights are incomplete ({missing[0]} is missing"
                         + (f", and {len(missing) - 1} more" if len(missing) > 1 else "") + "). Download it again.")
    if not ((path / "tokenizer.json").exists() or (path / "tokenizer.model").exists()):
        raise ModelError(f"{path}: no tokenizer (tokenizer.json or tokenizer.model). Copy it from the original model.")


def _weight_files(path: Path) -> set[str]:
    """The weight files a folder should hold: those its index names (sharded weights), and those present."""
    names = {file.name for file in path.glob(WEIGHTS)}
    try:
        index = json.loads((path / "model.safetensors.index.json").read_text(encoding="utf-8"))
        names |= set(index.get("weight_map", {}).values())
    except (OSError, ValueError, AttributeError):
        pass
    return names


def read_config(path) -> dict:
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))


def config_dtype(config: dict) -> str:
    """A model's weight dtype from its config.json: `dtype` (transformers 5) or `torch_dtype`; bf16 as on the hub."""
    return str(config.get("dtype") or config.get("torch_dtype") or "bfloat16")


def copy_tokenizer(source: Path, target: Path) -> None:
    """The tokenizer files of `source`, as they are, over a copy of the model that mlx-lm saved: saving again
    drops settings (SentencePiece's `legacy`) and tokenizer.model, which GGUF converters need."""
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
