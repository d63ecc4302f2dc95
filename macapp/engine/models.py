"""Find and load a model: the built-in demo or a local Hugging Face-style folder.

Every problem with a folder is named with the file that is missing and how to get it.
"""

import hashlib
import json
import shutil
from pathlib import Path

from mlx_lm.convert import convert
from mlx_lm.utils import load as mlx_load

from .errors import InputError
from .files import data_home


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


def quantized(path: Path, bits: int, report=lambda event: None) -> Path:
    """A 4- or 8-bit copy of a model (for QLoRA), made with mlx_lm.convert once and cached."""
    if bits not in (4, 8):
        raise ModelError(f"Quantize to 4 or 8 bits, not {bits}.")
    config = read_config(path)
    if "quantization" in config:
        raise ModelError(f"{path}: this model is quantized already ({config['quantization'].get('bits')} bits); "
                         "train on it as it is.")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for weights in sorted(path.glob("model*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}:{weights.stat().st_mtime_ns}".encode())
    out = data_home() / "models" / f"{path.name}-q{bits}-{digest.hexdigest()[:10]}"
    if (out / "config.json").exists():
        return out
    report({"type": "log", "message": f"Quantizing {path.name} to {bits} bits (once; it is kept for later runs)"})
    scratch = out.with_name(out.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    convert(str(path), str(scratch), quantize=True, q_bits=bits, q_group_size=64)
    if (path / "tokenizer.model").exists():
        shutil.copy2(path / "tokenizer.model", scratch / "tokenizer.model")
    scratch.rename(out)
    return out


def read_config(path) -> dict:
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
