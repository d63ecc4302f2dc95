"""Memory: predict a training run's peak before it starts, against the limit of the Mac it trains on.

Plain arithmetic over a model's config.json, so the window can plan without MLX; check/mlx_device says the limit.
"""

import dataclasses

from ..check import gpu_guard
from .model_folder import config_dtype

GB = 1e9


# Bytes kept per token for the backward pass, in units of the activation size, fitted on MLX's measured peaks over
# float32, bf16 and quantized shapes. The output layer's was measured alone on bf16 and float32 models with 128k-262k
# vocabularies (the logits, their softmax and its gradient: 8.1-8.2 bytes a logit in bf16, twice that in float32).
# bench/memory_prediction.py prints the error on each shape.
PER_LAYER_H, PER_LAYER_I, PER_LAYER_SCORES, PER_LORA_RANK = 8.0, 6.0, 2.2, 0.3
PER_TOKEN_VOCAB = 4.1
# Past one chunk, the loss makes the logits a chunk at a time (losses.chunked_token_losses): its cost stops growing
# with the batch. Measured on float32 and bf16 models with Llama 3's vocabulary: about 12 float32 copies of a chunk's
# logits at once (the forward pass's and the gradient's, each with its softmax), 190-220 MB.
LOGITS_PER_CHUNK = 2**22
CHUNK_BYTES_PER_LOGIT = 48
CHECKPOINT_RECOMPUTE = 1.5  # with checkpointing: each layer's input, plus about 1.5 layers held while recomputing


def _dims(model_config: dict) -> dict:
    text = model_config.get("text_config", model_config)
    hidden, heads = text["hidden_size"], text["num_attention_heads"]
    head_dim = text.get("head_dim") or hidden // heads
    return {"H": hidden, "I": text["intermediate_size"], "L": text["num_hidden_layers"], "heads": heads,
            "q": heads * head_dim, "kv": text.get("num_key_value_heads", heads) * head_dim, "V": text["vocab_size"],
            "tied": text.get("tie_word_embeddings", text.get("model_type", "").startswith("gemma")),
            "bytes": 4 if config_dtype(text) == "float32" else 2,
            "bits": (model_config.get("quantization") or {}).get("bits")}


def _linears(d: dict) -> list[tuple[int, int]]:
    """The (in, out) sizes of one layer's linear layers: q, k, v, o, gate, up, down."""
    H, I = d["H"], d["I"]
    return [(H, d["q"]), (H, d["kv"]), (H, d["kv"]), (d["q"], H), (H, I), (H, I), (I, H)]


def parameter_count(model_config: dict) -> int:
    """The model's parameters from its config: embeddings (twice when the output layer is not tied), layers, norms."""
    d = _dims(model_config)
    layer = sum(a * b for a, b in _linears(d)) + 2 * d["H"]
    return d["V"] * d["H"] * (1 if d["tied"] else 2) + d["L"] * layer + d["H"]


def chunk_tokens(vocabulary: int) -> int:
    """The tokens whose logits the loss makes at once: 4M logits' worth, whatever the vocabulary."""
    return max(16, LOGITS_PER_CHUNK // vocabulary)


def bytes_per_weight(model_config: dict) -> float:
    """Quantized (as mlx_lm convert does, embeddings too): the packed bits plus a scale and a bias per group of 64
    in the model's dtype; else the dtype's size."""
    d = _dims(model_config)
    group = (model_config.get("quantization") or {}).get("group_size", 64)
    return d["bits"] / 8 + 2 * d["bytes"] / group if d["bits"] else d["bytes"]


def mac_limit(memory_bytes: int) -> int:
    """What training may use on an Apple Silicon Mac with `memory_bytes` of memory (to judge Macs other than this
    one; on a Mac, `machine_limit` reads the real working set from MLX)."""
    return gpu_guard.memory_cap(gpu_guard.typical_working_set(memory_bytes), memory_bytes)


def predict(model_config: dict, config, seq_length: int) -> dict:
    """Predicted peak MLX memory (bytes) of training `config` on sequences of `seq_length` tokens.

    `model_config` is the model's config.json; a run taught by choosing has two rows (answers) per pair. Parts:
    weights, trainable state (weights, gradients and Adam's two moments), activations kept for the backward pass, and
    the output layer's logits (a chunk's at most).
    """
    d = _dims(model_config)
    H, I, V, act = d["H"], d["I"], d["V"], d["bytes"]
    linears = _linears(d)
    layer_params = sum(a * b for a, b in linears) + 2 * H
    weights = parameter_count(model_config) * bytes_per_weight(model_config)
    trained = d["L"] if config.num_layers < 0 else min(config.num_layers, d["L"])
    rank = config.lora_parameters.get("rank", 8)
    if config.fine_tune_type == "full":
        state = trained * layer_params * act * 3  # gradients and two Adam moments
        lora_term = 0
    else:
        state = trained * sum(rank * (a + b) for a, b in linears) * 4 * 4  # float32 weights, grads, moments
        lora_term = PER_LORA_RANK * rank * len(linears)
    seq = seq_length  # batches pad a row by at most 1/16 (batches.width_for)
    rows = config.batch_size * (2 if config.by_preference else 1)  # a pair is two rows
    tokens = rows * seq
    per_layer = PER_LAYER_H * H + PER_LAYER_I * I + PER_LAYER_SCORES * d["heads"] * seq + lora_term
    if config.grad_checkpoint:  # each layer keeps its input; one layer at a time is recomputed in full
        activations = tokens * act * (trained * H + CHECKPOINT_RECOMPUTE * per_layer)
    else:
        activations = tokens * act * trained * per_layer
    chunk = chunk_tokens(V)
    head = tokens * act * PER_TOKEN_VOCAB * V if tokens <= chunk else chunk * V * CHUNK_BYTES_PER_LOGIT
    total = weights + state + activations + head
    return {"total": total, "weights": weights, "trainable_state": state, "activations": activations,
            "output_layer": head}


def plan(model_config: dict, config, seq_length: int, limit: int) -> dict:
    """The prediction against a machine's limit (mlx_device.machine_limit here), and the largest settings that fit
    when it does not."""
    predicted = predict(model_config, config, seq_length)["total"]
    result = {"predicted_bytes": int(predicted), "limit_bytes": limit,
              "status": "ok" if predicted < 0.8 * limit else "tight" if predicted < limit else "too_big"}
    if result["status"] == "too_big":
        result["suggestion"] = _fitting_settings(model_config, config, seq_length, limit)
    return result


def _fitting_settings(model_config: dict, config, seq_length: int, limit: int) -> dict | None:
    for length in (seq_length, seq_length // 2, seq_length // 4):
        for checkpointing in (config.grad_checkpoint, True):
            for batch in range(config.batch_size, 0, -1):
                trial = dataclasses.replace(config, batch_size=batch, grad_checkpoint=checkpointing)
                if predict(model_config, trial, length)["total"] < 0.8 * limit:
                    return {"batch_size": batch, "grad_checkpoint": checkpointing, "max_seq_length": length}
    return None
