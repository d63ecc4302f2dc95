"""Live memory figures of the training process: MLX active, peak and cache memory, and RSS.

MLX's peak excludes its allocator cache, so the process RSS is reported beside it.
"""

import mlx.core as mx
import psutil

GB = 1e9


def sample() -> dict:
    """Current memory use in GB."""
    return {
        "active_gb": mx.get_active_memory() / GB,
        "peak_gb": mx.get_peak_memory() / GB,
        "cache_gb": mx.get_cache_memory() / GB,
        "rss_gb": psutil.Process().memory_info().rss / GB,
    }
