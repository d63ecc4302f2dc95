"""Find and load a model: the built-in demo or a local Hugging Face-style folder.

Every problem with a folder is named with the file that is missing and how to get it.
"""

import json
from pathlib import Path

from mlx_lm.utils import load as mlx_load

from .errors import InputError


class ModelError(InputError):
    """A model that cannot be used; the message says why and what to do."""


def check_folder(path: Path) -> None:
    """Raise ModelError unless `path` holds config.json, weights and a tokenizer."""
    if not path.is_dir():
        raise ModelError(f"{path}: no such model folder. Give a folder with config.json, "
                         "model*.safetensors and tokenizer files, or 'demo' for the built-in model.")
    if not (path / "config.json").exists():
        raise ModelError(f"{path}: config.json is missing. Copy the whole model folder, not only its weights.")
    if not any(path.glob("model*.safetensors")):
        raise ModelError(f"{path}: no model*.safetensors weights. Convert the model with `mlx_lm convert` first.")
    if not ((path / "tokenizer.json").exists() or (path / "tokenizer.model").exists()):
        raise ModelError(f"{path}: no tokenizer (tokenizer.json or tokenizer.model). Copy it from the original model.")


def resolve(name: str, report=lambda event: None) -> Path:
    """The folder of the model called `name` ('demo' builds the demo on first use)."""
    if name == "demo":
        from . import demo

        return demo.ensure_model(report)
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        check_folder(path)
        return path
    raise ModelError(f"{name}: looks like a Hugging Face repo id, but downloading is not available here. "
                     "Download the model with `mlx_lm convert --hf-path ...` and give its folder.")


def load(path):
    """(model, tokenizer) from a checked folder."""
    return mlx_load(str(path))


def read_config(path) -> dict:
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
