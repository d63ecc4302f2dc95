"""Model FLOPs utilisation for bench/train_throughput.py: this machine's matmul peak and the FLOPs of LoRA training.

MFU = training_flops(...) / training seconds / matmul_peak(dtype). Counts are for Llama-shaped models (gated MLP).
"""

import time

import mlx.core as mx


def matmul_peak(dtype=mx.float32, sizes=(1024, 2048, 4096), repeats: int = 3) -> float:
    """The best FLOP/s MLX reaches here on square matmuls of these sizes (one warm-up each, then `repeats` timed)."""
    best = 0.0
    for n in sizes:
        a = mx.random.normal((n, n)).astype(dtype)
        b = mx.random.normal((n, n)).astype(dtype)
        mx.eval(a, b, a @ b)
        for _ in range(repeats):
            started = time.perf_counter()
            mx.eval(a @ b)
            best = max(best, 2 * n**3 / (time.perf_counter() - started))
    return best


def matmul_weights(config: dict) -> int:
    """The weights of every matmul of a forward pass: attention and gated-MLP projections and the output layer
    (a tied output layer counts: it is still a matmul), not the embedding lookup."""
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    q_width, kv_width = heads * head_dim, config.get("num_key_value_heads", heads) * head_dim
    per_layer = 2 * hidden * q_width + 2 * hidden * kv_width + 3 * hidden * config["intermediate_size"]
    return config["num_hidden_layers"] * per_layer + hidden * config["vocab_size"]


def training_flops(config: dict, tokens: float, mean_context: float, lora_params: int) -> float:
    """Model FLOPs of LoRA training on `tokens` tokens of a model with this config.json.

    Forward per token: 2·N for the N matmul weights, plus attention's QK and AV, 2·2·context·q_width per layer, with
    context = mean_context / 2 (causal: a token attends to half the example on average). Backward: the frozen weights'
    matmuls give only their inputs' gradients (2·N again; their own gradients are never computed), attention twice
    its forward; plus 6 per LoRA weight per token (its forward, and the gradients of its input and of itself).
    """
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    q_width = heads * (config.get("head_dim") or hidden // heads)
    attention = config["num_hidden_layers"] * 2 * 2 * (mean_context / 2) * q_width
    return tokens * (2 * 2 * matmul_weights(config) + 3 * attention + 6 * lora_params)
