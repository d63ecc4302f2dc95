"""Memory prediction: predicted against measured MLX peak memory over several training configurations.

Run: .venv/bin/python -m macapp.engine.blas bench/memory_prediction.py
Each configuration is a real `tailor train` run (a few steps) on three model shapes; the measured peak
is the largest `peak_gb` of its memory events. The constants in memory.py were fitted on the first two
shapes; the third ("deep") checks them. Prints both figures and the ratio predicted / measured.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.models import llama

from macapp.engine import config, demo, loading, memory, models, runs

CONFIGS = [  # (model shape, batch, words per example, settings)
    ("demo", 4, 60, {}), ("demo", 8, 60, {}), ("demo", 8, 200, {}), ("demo", 16, 120, {}),
    ("demo", 8, 200, {"num_layers": 2}), ("demo", 8, 200, {"lora_parameters": {"rank": 64}}),
    ("demo", 8, 200, {"fine_tune_type": "full"}), ("demo", 8, 200, {"grad_checkpoint": True}),
    ("wide", 8, 120, {}), ("wide", 4, 240, {}), ("wide", 8, 120, {"fine_tune_type": "full"}),
    ("wide", 8, 240, {"grad_checkpoint": True}),
    # a third shape the constants were not fitted on
    ("deep", 8, 120, {}), ("deep", 4, 240, {"fine_tune_type": "full"}), ("deep", 8, 240, {"grad_checkpoint": True}),
]
SHAPES = {
    "wide": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8,
             "num_key_value_heads": 2},
    "deep": {"hidden_size": 192, "intermediate_size": 512, "num_hidden_layers": 6, "num_attention_heads": 6,
             "num_key_value_heads": 6},
}


def other_shape(folder: Path, name: str) -> Path:
    """A model of another shape with the demo's tokenizer and random weights."""
    source = demo.ensure_model()
    target = folder / name
    target.mkdir()
    for file in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "chat_template.jinja"):
        if (source / file).exists():
            (target / file).write_bytes((source / file).read_bytes())
    shape = {**models.read_config(source), **SHAPES[name]}
    (target / "config.json").write_text(json.dumps(shape))
    mx.random.seed(0)
    mx.save_safetensors(str(target / "model.safetensors"),
                        dict(tree_flatten(llama.Model(llama.ModelArgs.from_dict(shape)).parameters())))
    return target


def main() -> None:
    print(f"{'model':6}{'batch':>6}{'tokens':>7}  {'settings':34}{'predicted MB':>13}{'measured MB':>12}{'ratio':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        paths = {"demo": demo.ensure_model(), **{name: other_shape(Path(folder), name) for name in SHAPES}}
        tokenizer = {name: loading.load(path)[1] for name, path in paths.items()}
        for index, (shape, batch, words, extra) in enumerate(CONFIGS):
            data = Path(folder) / f"data{index}"
            data.mkdir()
            text = " ".join(["kitchen"] * words)
            (data / "train.jsonl").write_text((json.dumps({"text": text}) + "\n") * (batch * 2))
            settings = {"model": str(paths[shape]), "data": str(data), "iters": 3, "batch_size": batch,
                        "steps_per_report": 1, "max_seq_length": 1024, **extra}
            (Path(folder) / "c.yaml").write_text(json.dumps(settings))
            result = subprocess.run([sys.executable, "-m", "macapp", "train", "--config", str(Path(folder) / "c.yaml"),
                                     "--name", f"memory-{index}"], capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(result.stderr[-2000:])
            run_dir = Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(f"-memory-{index}")))
            measured = max(e["peak_gb"] for e in runs.read_events(run_dir) if e["type"] == "memory") * 1e9
            length = len(tokenizer[shape].encode(text)) + 1
            predicted = memory.predict(models.read_config(paths[shape]), config.from_dict(settings), length)["total"]
            worst = max(worst, abs(predicted / measured - 1))
            label = ", ".join(f"{k}={v}" for k, v in extra.items()) or "LoRA, all layers"
            print(f"{shape:6}{batch:>6}{length:>7}  {label[:34]:34}{predicted / 1e6:>13.1f}{measured / 1e6:>12.1f}"
                  f"{predicted / measured:>7.2f}")
    print(f"largest error: {worst:.0%}")


if __name__ == "__main__":
    main()
