"""What MLX says of this machine: the memory training may use and whether it trains on a graphics processor; and,
while a run trains, the cap that holds MLX to that memory and samples of what it holds.
"""

import mlx.core as mx
import psutil

from ..models.memory import GB
from . import gpu_guard


def sample() -> dict:
    """Current memory use in GB."""
    return {
        "active_gb": mx.get_active_memory() / GB,
        "peak_gb": mx.get_peak_memory() / GB,
        "cache_gb": mx.get_cache_memory() / GB,
        "rss_gb": psutil.Process().memory_info().rss / GB,
    }


def machine_limit() -> int:
    """The memory training may use (bytes): on a Mac gpu_guard's cap on the GPU's working set, elsewhere MLX's own
    limit; past it a run stops (Session) instead of making the computer swap."""
    info = mx.device_info()
    if working_set := info.get("max_recommended_working_set_size"):
        return gpu_guard.memory_cap(working_set, info["memory_size"])
    return mx.get_memory_limit()


def trains_on_gpu() -> bool:
    """Whether MLX trains on a graphics processor here (Metal on a Mac), rather than on the processor alone."""
    return mx.default_device().type == mx.DeviceType.gpu


def cap_training() -> None:
    """Hold MLX to machine_limit: past it, MLX waits for pending work to free memory before it computes more."""
    mx.set_memory_limit(machine_limit())
