"""Memory prediction: predicted against measured MLX peak memory over training configurations and model shapes.

Run: .venv/bin/python -m macapp.engine.check.blas bench/memory_prediction.py [SHAPE ...]
Each configuration is a real `tailor train` run (a few steps); the measured peak is the largest `peak_gb` of its
memory events. The shapes are the demo (float32) and real architectures at small hidden sizes, so that their
128k-262k vocabularies weigh as they do in the real models: Llama 3 (tied and untied), Qwen2.5, Gemma 3, Phi-3,
in bf16 as on the hub and in 4 and 8 bits as mlx-community ships them. Prints the ratio predicted / measured.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten
from mlx_lm.utils import quantize_model

from macapp.engine.models import demo_build, loading, memory, models
from macapp.engine.runs import runs
from macapp.engine.train import config

LLAMA3 = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 128256,
          "tie_word_embeddings": True, "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "dtype": "bfloat16"}
QWEN25 = {"model_type": "qwen2", "hidden_size": 128, "intermediate_size": 704, "num_hidden_layers": 2,
          "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 151936, "tie_word_embeddings": True,
          "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16"}
GEMMA3 = {"model_type": "gemma3_text", "hidden_size": 128, "intermediate_size": 768, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
          "query_pre_attn_scalar": 256, "sliding_window": 512, "sliding_window_pattern": 2, "dtype": "bfloat16"}
SHAPES = {  # name: config over the demo's (bits: quantized as mlx_lm convert does, group size 64)
    "wide": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 8,
             "num_key_value_heads": 2},
    "deep": {"hidden_size": 192, "intermediate_size": 512, "num_hidden_layers": 6, "num_attention_heads": 6,
             "num_key_value_heads": 6},
    "llama3": LLAMA3,
    "llama3-f32": {**LLAMA3, "dtype": "float32"},  # the same in float32: which part of the logits' cost is dtype's
    "llama3-8b": {**LLAMA3, "tie_word_embeddings": False, "num_hidden_layers": 3},  # Llama 3.1 8B: untied
    "llama3-4bit": {**LLAMA3, "bits": 4},
    "qwen2.5": QWEN25,
    "qwen2.5-4bit": {**QWEN25, "bits": 4},
    "gemma3": GEMMA3,
    "gemma3-8bit": {**GEMMA3, "bits": 8},
    "phi3": {"model_type": "phi3", "hidden_size": 384, "intermediate_size": 1024, "num_hidden_layers": 4,
             "num_attention_heads": 12, "num_key_value_heads": 12, "vocab_size": 32064, "rope_theta": 10000.0,
             "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
}
CONFIGS = [  # (model shape, batch, words per example, settings)
    ("demo", 4, 60, {}), ("demo", 8, 60, {}), ("demo", 8, 200, {}), ("demo", 16, 120, {}),
    ("demo", 8, 200, {"num_layers": 2}), ("demo", 8, 200, {"lora_parameters": {"rank": 64}}),
    ("demo", 8, 200, {"fine_tune_type": "full"}), ("demo", 8, 200, {"grad_checkpoint": True}),
    ("wide", 8, 120, {}), ("wide", 4, 240, {}), ("wide", 8, 120, {"fine_tune_type": "full"}),
    ("wide", 8, 240, {"grad_checkpoint": True}),
    ("deep", 8, 120, {}), ("deep", 4, 240, {"fine_tune_type": "full"}), ("deep", 8, 240, {"grad_checkpoint": True}),
    ("llama3", 2, 100, {}), ("llama3", 4, 50, {"grad_checkpoint": True}), ("llama3", 1, 200, {"num_layers": 1}),
    ("llama3", 8, 1020, {}),  # batch 8 x ~1,024 tokens: the logits alone are 8 GB, as on a 16 GB Mac
    ("llama3-f32", 2, 100, {}), ("llama3-f32", 4, 50, {"grad_checkpoint": True}),
    ("llama3-8b", 2, 100, {}), ("llama3-8b", 1, 200, {"fine_tune_type": "full"}),
    ("llama3-4bit", 2, 100, {}), ("llama3-4bit", 4, 50, {"grad_checkpoint": True}),
    ("qwen2.5", 2, 100, {}), ("qwen2.5", 2, 100, {"fine_tune_type": "dora"}),
    ("qwen2.5-4bit", 2, 100, {"lora_parameters": {"rank": 32}}),
    ("gemma3", 2, 80, {}), ("gemma3-8bit", 2, 80, {}),
    ("phi3", 4, 200, {}), ("phi3", 4, 200, {"grad_checkpoint": True}),
]


def build(folder: Path, name: str) -> Path:
    """A model of the shape `name` with the demo's tokenizer and random weights, saved as the hub's are."""
    source = demo_build.ensure_model()
    target = folder / name
    target.mkdir()
    for file in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "chat_template.jinja"):
        if (source / file).exists():
            (target / file).write_bytes((source / file).read_bytes())
    shape = {**models.read_config(source), **SHAPES[name]}
    bits = shape.pop("bits", None)
    if "dtype" in shape:  # as transformers 5 writes it
        shape.pop("torch_dtype")
    architecture = importlib.import_module(f"mlx_lm.models.{shape['model_type']}")
    mx.random.seed(0)
    model = architecture.Model(architecture.ModelArgs.from_dict(shape))
    model.set_dtype(getattr(mx, models.config_dtype(shape)))
    if bits:
        model, shape = quantize_model(model, shape, 64, bits)
    (target / "config.json").write_text(json.dumps(shape))
    mx.save_safetensors(str(target / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return target


def main(chosen: list[str]) -> None:
    print(f"{'model':13}{'batch':>6}{'tokens':>7}  {'settings':30}{'predicted MB':>13}{'measured MB':>12}{'ratio':>7}")
    worst = {}
    configs = [c for c in CONFIGS if not chosen or c[0] in chosen]
    with tempfile.TemporaryDirectory() as folder:
        paths = {"demo": demo_build.ensure_model(), **{name: build(Path(folder), name) for name in SHAPES
                                                 if any(c[0] == name for c in configs)}}
        # each shape's own: transformers picks the tokenizer class from the model type, and Qwen's splits differently
        tokenizers = {name: loading.load_tokenizer(path) for name, path in paths.items()}
        for index, (shape, batch, words, extra) in enumerate(configs):
            data = Path(folder) / f"data{index}"
            data.mkdir()
            text = " ".join(["kitchen"] * words)
            (data / "train.jsonl").write_text((json.dumps({"text": text}) + "\n") * (batch * 2))
            settings = {"model": str(paths[shape]), "data": str(data), "iters": 2, "batch_size": batch,
                        "steps_per_report": 1, "max_seq_length": 1024, **extra}
            (Path(folder) / "c.yaml").write_text(json.dumps(settings))
            result = subprocess.run([sys.executable, "-m", "macapp", "train", "--config", str(Path(folder) / "c.yaml"),
                                     "--name", f"memory-{os.getpid()}-{index}"], capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(result.stderr[-2000:])
            name = f"-memory-{os.getpid()}-{index}"
            run_dir = Path(next(r["path"] for r in runs.list_runs() if r["id"].endswith(name)))
            measured = max(e["peak_gb"] for e in runs.read_events(run_dir) if e["type"] == "memory") * 1e9
            length = len(tokenizers[shape].encode(text)) + 1
            predicted = memory.predict(models.read_config(paths[shape]), config.from_dict(settings), length)["total"]
            group = "fitted (float32)" if shape in ("demo", "wide", "deep") else "real shapes"
            worst[group] = max(worst.get(group, 0.0), abs(predicted / measured - 1))
            label = ", ".join(f"{k}={v}" for k, v in extra.items()) or "LoRA, all layers"
            print(f"{shape:13}{batch:>6}{length:>7}  {label[:30]:30}{predicted / 1e6:>13.1f}{measured / 1e6:>12.1f}"
                  f"{predicted / measured:>7.2f}", flush=True)
    for group, error in worst.items():
        print(f"largest error, {group}: {error:.0%}")


if __name__ == "__main__":
    main(sys.argv[1:])
