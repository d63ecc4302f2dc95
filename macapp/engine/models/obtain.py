"""Get a model to train or answer with: the demo model built on first use, a folder checked, or a download; and a
4- or 8-bit copy of a model for QLoRA, made once with mlx-lm.
"""

import shutil
from pathlib import Path

from ..errors import ModelError
from ..files import data_home
from ..runs import events as ev
from .model_folder import check_folder, copy_tokenizer, read_config
from .models import digest, is_repo_id, refuse_catalog_name


def resolve(name: str, report=lambda event: None, should_stop=lambda: False) -> Path:
    """The folder of the model called `name` ('demo' builds the demo on first use); a stop while it is built or
    downloaded raises Stopped."""
    if name == "demo":
        from . import demo_build

        return demo_build.ensure_model(report, should_stop)
    path = Path(name).expanduser()
    if path.exists() or not is_repo_id(name):
        if not path.exists():
            refuse_catalog_name(name)
        check_folder(path)
        return path
    from . import downloads

    return downloads.fetch(name, report, should_stop)


def quantized(path: Path, bits: int, report=lambda event: None) -> Path:
    """A 4- or 8-bit copy of a model (for QLoRA), made with mlx_lm.convert once and cached."""
    if bits not in (4, 8):
        raise ModelError(f"Quantize to 4 or 8 bits, not {bits}.")
    config = read_config(path)
    if "quantization" in config:
        raise ModelError(f"{path}: this model is quantized already ({config['quantization'].get('bits')} bits); "
                         "train on it as it is.")
    version = digest(path, lambda file: f"{file.name}:{file.stat().st_size}:{file.stat().st_mtime_ns}".encode())
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
