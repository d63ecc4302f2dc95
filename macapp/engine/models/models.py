"""Which model a name means, without loading or fetching it: the built-in demo, a local Hugging Face-style folder, or
a Hugging Face repo; its config.json, and a fingerprint of its weights. obtain.py gets the model itself.

Every problem with a folder is named with the file that is missing and how to get it.
"""

import hashlib
import json
import re
from pathlib import Path

from ..errors import ModelError
from .model_folder import check_folder, config_dtype, copy_tokenizer, read_config  # noqa: F401 (callers use them here)

SAMPLE_BYTES = 4 << 20


def refuse_catalog_name(name: str) -> None:
    """A name from `tailor models` given where a model is expected: say which repositories it stands for."""
    from . import catalog

    known = catalog.find(name)
    if known:
        forms = " or ".join(known[0].forms.values())
        raise ModelError(f"{name} is a name from the catalog of `tailor models`: give one of its repositories "
                         f"instead, {forms} (it is downloaded the first time).")


def is_repo_id(name: str) -> bool:
    """True for names like 'mlx-community/Qwen2.5-0.5B-Instruct-4bit' that are not a folder here."""
    return (re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not name.startswith((".", "/", "~"))
            and not Path(name).expanduser().exists())


def digest(path: Path, describe) -> str:
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
    return digest(path, _sampled)[:16]


def config_of(name: str) -> dict | None:
    """A model's config.json without loading or building it; None when it is not here yet."""
    if name == "demo":
        from . import demo

        folder = demo.model_folder()
        return read_config(folder) if (folder / "config.json").exists() else demo.model_config()
    if is_repo_id(name):
        from . import model_places

        folder = model_places.find(name)
        if folder is None:  # not here yet: a catalog model's numbers are known all the same
            from . import catalog

            known = catalog.find(name)
            return known[0].model_config(known[1]) if known else None
    else:
        folder = Path(name).expanduser()
    try:
        return read_config(folder)
    except (OSError, ValueError):
        return None
