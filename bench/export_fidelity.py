"""Export fidelity per family and GGUF type: a short LoRA run on the demo replies for the demo model and for tiny
bf16 Llama 3, Qwen2.5, Mistral and Phi-3 models with their real tokenizers (tests/families.py), fused, then each
type written and measured by llama.cpp against MLX. Prints top-1 agreement where MLX is sure (and at how many of the
positions it is), KL, file size and time per row.

Run after `make test` (which fetches the tokenizers):
.venv/bin/python -m macapp.engine.check.blas bench/export_fidelity.py
[--families demo,llama3,qwen2,mistral,phi3] [--types bf16,q8_0,Q6_K,Q5_K_M,Q4_K_M]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.families and tests.helpers

from macapp.engine.data import datasets
from macapp.engine.export import fidelity, fusing, gguf, gguf_tools
from macapp.engine.export.export import ExportError  # noqa: E402
from macapp.engine.models import demo, demo_build, models
from macapp.engine.train import training  # noqa: E402
from tests import families  # noqa: E402
from tests.helpers import train_settings  # noqa: E402


def base_model(name: str, cache: Path) -> Path:
    return demo_build.ensure_model() if name == "demo" else families.build(name, cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", default="demo,llama3,qwen2,mistral,phi3")
    parser.add_argument("--types", default="lossless,q8_0,Q6_K,Q5_K_M,Q4_K_M")
    args = parser.parse_args()
    if missing := families.missing_sources():
        sys.exit(f"Missing tokenizer files (first {missing[0]}): run `make test` once first.")
    work = Path(tempfile.mkdtemp(prefix="export-fidelity-"))
    data = work / "data"
    datasets.prepare([demo.REPLIES], data, (0.8, 0.1, 0.1), seed=0)
    print(f"{'family':8} {'type':7} {'top-1':>7} {'sure':>5} {'KL':>8} {'template':>8} {'size MB':>8} {'time s':>7}")
    for name in args.families.split(","):
        folder = base_model(name, work / "models")
        run = work / name
        training.train(train_settings(data, model=str(folder), iters=20, batch_size=4, max_seq_length=128),
                       run / "adapters")
        fused = fusing.fuse(str(folder), run / "adapters", run / "fused")
        for outtype in args.types.split(","):
            outtype = gguf_tools.default_type(models.read_config(fused)) if outtype == "lossless" else outtype
            start = time.monotonic()
            try:
                result = gguf.export(fused, run / f"gguf-{outtype}", outtype, data, name=folder.name)
                numbers = result["fidelity"]["numbers"]
            except ExportError as error:
                print(f"{name:8} {outtype:7} refused: {error}")
                continue
            size = Path(result["path"]).stat().st_size / 1e6
            template = "same" if result["template"]["same"] else "differs"
            top1 = f"{numbers['top1']:7.1%}" if numbers["sure"] >= fidelity.MIN_SURE else f"{'-':>7}"
            print(f"{name:8} {outtype:7} {top1} {numbers['sure']:5} {numbers['kl']:8.4f} {template:>8} "
                  f"{size:8.1f} {time.monotonic() - start:7.1f}", flush=True)  # the tokenizer check passed
    print(f"\nBars (top-1 counted with at least {fidelity.MIN_SURE} sure positions): "
          + "; ".join(f"{k} top-1 >= {v.top1:.0%}, KL <= {v.kl:g}" for k, v in fidelity.BARS.items()))


if __name__ == "__main__":
    main()
