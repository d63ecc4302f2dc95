"""Find and load a model: the built-in demo, a local Hugging Face-style folder, or a Hugging Face repo.

Every problem with a folder is named with the file that is missing and how to get it.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

from . import events as ev
from .errors import InputError
from .files import data_home


SAMPLE_BYTES = 4 << 20
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                   "added_tokens.json", "chat_template.jinja", "vocab.json", "merges.txt")


class ModelError(InputError):
    """A model that cannot be used; the message says why and what to do."""


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
    if path.exists() or not is_repo_id(name):
        check_folder(path)
        return path
    return download(name, report)


def is_repo_id(name: str) -> bool:
    """True for names like 'mlx-community/Qwen2.5-0.5B-Instruct-4bit' that are not a folder here."""
    return (re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not name.startswith((".", "/", "~"))
            and not Path(name).expanduser().exists())


def downloaded_folder(repo_id: str) -> Path:
    return data_home() / "models" / "hub" / repo_id.replace("/", "--")


def download(repo_id: str, report=lambda event: None) -> Path:
    """A Hugging Face model repo, downloaded once (weights, config, tokenizer) into the data home."""
    out = downloaded_folder(repo_id)
    if (out / "config.json").exists():
        return out
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    from tqdm.auto import tqdm

    class Progress(tqdm):  # snapshot_download counts finished files with it
        def update(self, n=1):
            super().update(n)
            report({"type": ev.PROGRESS, "step": "download", "done": self.n, "total": self.total or 0,
                    "message": f"Downloading {repo_id}: {self.n} of {self.total} files"})

    report({"type": ev.LOG, "message": f"Downloading {repo_id} from Hugging Face (once; it is kept for later runs)"})
    try:
        snapshot_download(repo_id, local_dir=out.with_name(out.name + ".partial"), tqdm_class=Progress,
                          allow_patterns=["*.json", "*.safetensors", "tokenizer.model", "*.txt", "*.jinja", "*.py"])
    except RepositoryNotFoundError:
        raise ModelError(f"{repo_id}: no such model on Hugging Face (or it is private). Check the name, "
                         "for example mlx-community/Qwen2.5-0.5B-Instruct-4bit.") from None
    except (HfHubHTTPError, OSError) as error:
        raise ModelError(f"{repo_id}: could not download it ({type(error).__name__}: {error}). Check the internet "
                         "connection and try again; what was downloaded is kept.") from None
    out.with_name(out.name + ".partial").rename(out)
    check_folder(out)
    return out


def quantized(path: Path, bits: int, report=lambda event: None) -> Path:
    """A 4- or 8-bit copy of a model (for QLoRA), made with mlx_lm.convert once and cached."""
    if bits not in (4, 8):
        raise ModelError(f"Quantize to 4 or 8 bits, not {bits}.")
    config = read_config(path)
    if "quantization" in config:
        raise ModelError(f"{path}: this model is quantized already ({config['quantization'].get('bits')} bits); "
                         "train on it as it is.")
    version = _digest(path, lambda file: f"{file.name}:{file.stat().st_size}:{file.stat().st_mtime_ns}".encode())
    out = data_home() / "models" / f"{path.name}-q{bits}-{version[:10]}"  # one copy per version of the folder
    if (out / "config.json").exists():
        return out
    report({"type": ev.LOG, "message": f"Quantizing {path.name} to {bits} bits (once; it is kept for later runs)"})
    from mlx_lm.convert import convert

    scratch = out.with_name(out.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    convert(str(path), str(scratch), quantize=True, q_bits=bits, q_group_size=64)
    copy_tokenizer(path, scratch)
    scratch.rename(out)
    return out


def copy_tokenizer(source: Path, target: Path) -> None:
    """The tokenizer files of `source`, as they are, over a copy of the model that mlx-lm saved: saving again
    drops settings (SentencePiece's `legacy`) and tokenizer.model, which GGUF converters need."""
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


def config_dtype(config: dict) -> str:
    """A model's weight dtype from its config.json: `dtype` (transformers 5) or `torch_dtype`; bf16 as on the hub."""
    return str(config.get("dtype") or config.get("torch_dtype") or "bfloat16")


def _digest(path: Path, describe) -> str:
    """A digest of a model folder's config and of `describe(file)` for each of its weight files."""
    digest = hashlib.sha256(json.dumps(read_config(path), sort_keys=True).encode())
    for weights in sorted(Path(path).glob("model*.safetensors")):
        digest.update(describe(weights))
    return digest.hexdigest()


def _sampled(weights: Path) -> bytes:
    """A weight file's name, size, and its first and last few megabytes: enough to tell apart two models of the same
    shape (a base and its instruct version), where reading all of a 16 GB model would take minutes."""
    size = weights.stat().st_size
    with open(weights, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        handle.seek(max(size - SAMPLE_BYTES, 0))
        tail = handle.read(SAMPLE_BYTES)
    return f"{weights.name}:{size}:".encode() + hashlib.sha256(head + tail).digest()


def fingerprint(path: Path) -> str:
    """Which model a folder holds: its config and its weight files, sampled; a copied folder keeps it."""
    return _digest(path, _sampled)[:16]


def read_config(path) -> dict:
    return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))


def config_of(name: str) -> dict | None:
    """A model's config.json without loading or building it; None when it is not here yet."""
    if name == "demo":
        from . import demo

        folder = demo.model_folder()
        return read_config(folder) if (folder / "config.json").exists() else demo.model_config()
    folder = downloaded_folder(name) if is_repo_id(name) else Path(name).expanduser()
    try:
        return read_config(folder)
    except (OSError, ValueError):
        return None
