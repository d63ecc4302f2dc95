"""What keeps a Mac up while it trains: the memory cap, the macOS 26 GPU watchdog workaround, and plain words for
the GPU's failures. Plain decisions on the numbers and strings given; reading them from MLX or macOS is not here.
"""

import re

from ..errors import RunFailed

GIB = 1024**3  # memory, as Apple counts it ("16 GB" of memory is 16 GiB)

# macOS 26 ends Metal work that holds up the screen for too long ("Impacting Interactivity"), long training runs
# included (mlx issue 3267); this driver setting relaxes that timeout. Metal reads it as the process starts.
WATCHDOG_VARIABLE = "AGX_RELAX_CDM_CTXSTORE_TIMEOUT"
WATCHDOG_MACOS = 26
# macOS 26 tells programs built for an older macOS (Python's platform.mac_ver() among them) that it is 16.
COMPAT_VERSIONS = {16: 26}

# MLX frees its cache from 95% of the GPU's working set on; the worker's own Python (tokenizer, data) lives beside
# MLX's arrays, so training gets somewhat less than the working set, and never RAM that macOS and the window need.
WORKING_SET_SHARE = 0.9
MACOS_RESERVE = 4 * GIB

# What MLX 0.32 raises (a RuntimeError) when memory runs out: "[malloc] Unable to allocate N bytes.", or
# "[metal::malloc] ..." for a buffer beyond Metal's largest or too many buffers (mlx/backend/metal/allocator.cpp);
# and "[METAL] Command buffer execution failed: <Metal's reason>." (mlx/backend/metal/device.cpp), where the reason
# is e.g. "Insufficient Memory (00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)", "Impacting Interactivity
# (0000000e:kIOGPUCommandBufferCallbackErrorImpactingInteractivity)" (the watchdog) or "Caused GPU Timeout Error
# (00000002:kIOGPUCommandBufferCallbackErrorTimeout)".
MEMORY_SIGNS = ("kIOGPUCommandBufferCallbackErrorOutOfMemory", "[malloc] Unable to allocate", "[metal::malloc]")
WATCHDOG_SIGNS = ("kIOGPUCommandBufferCallbackErrorImpactingInteractivity", "kIOGPUCommandBufferCallbackErrorTimeout")
GPU_SIGN = "[METAL] Command buffer execution failed"

MEMORY_FIX = ("To make it fit, start it again with a smaller batch size, gradient checkpointing (Save memory), a "
              "shorter maximum length, or QLoRA (a 4-bit copy of the model).")


def macos_major(version: str) -> int:
    """26 for "26.1"; 0 when unknown."""
    found = re.match(r"\d+", version or "")
    major = int(found.group()) if found else 0
    return COMPAT_VERSIONS.get(major, major)


def needs_watchdog_workaround(system: str, os_version: str) -> bool:
    return system == "darwin" and macos_major(os_version) >= WATCHDOG_MACOS


def environment(env: dict, system: str, os_version: str) -> dict:
    """A worker's environment with the watchdog workaround where macOS needs it; a value the user set is kept."""
    env = dict(env)
    if needs_watchdog_workaround(system, os_version):
        env.setdefault(WATCHDOG_VARIABLE, "1")
    return env


def memory_cap(working_set: int, memory_size: int) -> int:
    """The bytes MLX may use for training on a Mac whose GPU working set and memory are given."""
    return int(min(WORKING_SET_SHARE * working_set, memory_size - MACOS_RESERVE))


def typical_working_set(memory_size: int) -> int:
    """The GPU working set macOS 14 and 15 report for a memory size: two thirds of it below 36 GB, three quarters
    from there (5461, 10923 and 21845 MiB for 8, 16 and 32 GB); macOS 26 can give somewhat more."""
    return int(memory_size * (2 / 3 if memory_size < 36 * GIB else 3 / 4))


def cap_words(cap: int, memory_size: int) -> str:
    # the cap in GB as the Train step and disks count them; the memory as Apple sells it ("16 GB" is 16 GiB)
    return (f"Training may use up to {cap / 1e9:.1f} GB of your {memory_size / GIB:.0f} GB; beyond that it stops "
            "safely instead of slowing the Mac down.")


def failure_kind(message: str) -> str | None:
    """"memory", "watchdog" or "gpu" for an error MLX raised for the GPU or its memory; None for any other."""
    if any(sign in message for sign in MEMORY_SIGNS):
        return "memory"
    if any(sign in message for sign in WATCHDOG_SIGNS):
        return "watchdog"
    return "gpu" if GPU_SIGN in message else None


def failure(kind: str, step: int, kept: int | None, limit_bytes: int | None = None) -> RunFailed:
    """The plain failure of a run that stopped at `step` for `kind` (failure_kind's, or "memory" for Tailor's cap
    of `limit_bytes`), with its last checkpoint `kept` (a step, or None) to resume from."""
    what = {
        "memory": (f"Training needed more memory than the {limit_bytes / GIB:.1f} GB it may use, at step {step}, so "
                   "Tailor stopped it before the computer slowed down." if limit_bytes else
                   f"Training ran out of memory at step {step}: the computer could not give it more."),
        "watchdog": f"macOS stopped the training at step {step}: it kept the graphics processor busy too long "
                    "while the screen was on.",
        "gpu": f"The graphics processor failed at step {step}, so the training stopped.",
    }[kind]
    then = (f" Its last checkpoint (step {kept}) is kept: the run can be resumed from there." if kept else
            " It had saved no checkpoint yet: start it again.")
    fix = {
        "memory": MEMORY_FIX if limit_bytes else f"{MEMORY_FIX} Closing other apps gives it more room too.",
        "watchdog": "If it happens again, let the screen sleep while it trains (Tailor keeps the Mac itself awake), "
                    "or make each step shorter: a smaller batch size or a shorter maximum length.",
        "gpu": "If it fails the same way again, restart the Mac first.",
    }[kind]
    return RunFailed(what + then, fix)
