"""Take a trained adapter out of Tailor: fuse it into its base as a standard model folder.

The fused folder is written beside its target and renamed at the end, so a failed fuse never
leaves half a model where a finished one is expected.
"""

import shutil
from pathlib import Path

from mlx.utils import tree_unflatten
from mlx_lm.utils import dequantize_model, save

from . import models
from .generation import TunedModel


def fuse(model_name: str, adapter_path, out_dir, dequantize: bool = False, report=lambda event: None) -> Path:
    """Merge the adapter into the base model and save it to `out_dir`."""
    tuned = TunedModel(model_name, adapter_path, report)
    tuned.use("tuned")
    base, model, tokenizer = tuned.model_path, tuned.model, tuned.tokenizer
    report({"type": "log", "message": "Fusing the adapter into the model"})
    fused = [(name, module.fuse(dequantize=dequantize)) for name, module in model.named_modules()
             if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    config = models.read_config(base)
    if dequantize:
        model = dequantize_model(model)
        config.pop("quantization", None)
        config.pop("quantization_config", None)
    out_dir = Path(out_dir)
    scratch = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(scratch, ignore_errors=True)
    save(scratch, str(base), model, tokenizer, config, donate_model=False)
    if (base / "tokenizer.model").exists():  # mlx-lm leaves it out; GGUF converters need it
        shutil.copy2(base / "tokenizer.model", scratch / "tokenizer.model")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    scratch.rename(out_dir)
    report({"type": "log", "message": f"Fused model saved to {out_dir}"})
    return out_dir
