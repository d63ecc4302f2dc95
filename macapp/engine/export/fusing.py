"""Fuse a trained adapter into its base: a standard Hugging Face-style model folder that mlx-lm, LM Studio and the
GGUF converter read, de-quantized by default (or quantized again), written through export.staged.
"""

from pathlib import Path

from mlx.utils import tree_unflatten
from mlx_lm.utils import dequantize_model, quantize_model, save

from ..evaluate.generation import TunedModel
from ..models import models, obtain
from ..runs import events as ev
from .export import ExportError, fused_bytes, quantization_bits, staged, stop_if_asked


def fuse(model_name: str, adapter_path, out_dir, dequantize: bool | None = None, bits: int = 0,
         overwrite: bool = False, report=lambda event: None, should_stop=lambda: False) -> Path:
    """Merge the adapter into the base model and save a standard model folder at `out_dir`.

    A quantized base is de-quantized by default, so the adapter's small changes are not rounded
    away; `bits` (4 or 8) quantizes the fused model again. A stop asked for meanwhile replaces nothing.
    """
    if bits not in (0, 4, 8):
        raise ExportError(f"Quantize the fused model to 4 or 8 bits, not {bits}.")
    base = obtain.resolve(model_name, report, should_stop)
    if dequantize is None:
        dequantize = quantization_bits(base) is not None
    out_dir = Path(out_dir)
    with staged(out_dir, fused_bytes(base, dequantize, bits), overwrite, should_stop) as scratch:
        tuned = TunedModel(model_name, adapter_path, report, should_stop)
        tuned.use("tuned")
        model, tokenizer = tuned.model, tuned.tokenizer
        stop_if_asked(should_stop)
        report({"type": ev.LOG, "message": "Fusing the adapter into the model"})
        fused = [(name, module.fuse(dequantize=dequantize)) for name, module in model.named_modules()
                 if hasattr(module, "fuse")]
        if fused:
            model.update_modules(tree_unflatten(fused))
        config = models.read_config(base)
        if dequantize:
            model = dequantize_model(model)
            config.pop("quantization", None)
            config.pop("quantization_config", None)
        if bits:
            report({"type": ev.LOG, "message": f"Quantizing the fused model to {bits} bits"})
            model, config = quantize_model(model, config, 64, bits)
        stop_if_asked(should_stop)
        save(scratch, str(base), model, tokenizer, config, donate_model=False)
        models.copy_tokenizer(base, scratch)
    report({"type": ev.LOG, "message": f"Fused model saved to {out_dir}"})
    return out_dir
