"""Checks of this machine before fine-tuning, each with the fix in plain words.

Apple Silicon and macOS on a Mac; on Linux, the CPU backend and whether OpenBLAS is in use.
"""

import platform
import shutil
import sys
from dataclasses import dataclass

import psutil

from . import blas
from .files import data_home

GB = 1024**3


@dataclass
class Check:
    name: str
    status: str  # "ok", "warning" or "problem"
    detail: str
    fix: str = ""


def _platform() -> Check:
    if sys.platform == "darwin":
        if platform.machine() == "arm64":
            return Check("Mac", "ok", f"Apple Silicon, macOS {platform.mac_ver()[0]}")
        return Check("Mac", "problem", "This Mac has an Intel processor.",
                     "MLX needs a Mac with Apple Silicon (M1 or later).")
    return Check("Computer", "warning", f"{platform.system()} {platform.machine()}: MLX runs on the CPU, slowly.",
                 "Use a Mac with Apple Silicon for real models; the demo works here.")


def _memory() -> Check:
    total = psutil.virtual_memory().total / GB
    if total < 8:
        return Check("Memory", "warning", f"{total:.0f} GB", "Fine-tune models of 1B parameters or less.")
    return Check("Memory", "ok", f"{total:.0f} GB")


def _disk() -> Check:
    free = shutil.disk_usage(data_home()).free / GB
    if free < 10:
        return Check("Disk", "warning", f"{free:.1f} GB free", "Free at least 10 GB: models and exports are large.")
    return Check("Disk", "ok", f"{free:.0f} GB free")


def _mlx() -> Check:
    try:
        import mlx.core as mx

        value = (mx.array([1.0, 2.0]) * 2).sum().item()
        if value != 6.0:
            raise RuntimeError(f"1*2 + 2*2 gave {value}")
        device = mx.default_device()
    except Exception as error:  # any failure here means MLX cannot train
        return Check("MLX", "problem", f"MLX does not work: {error}", "Reinstall Tailor (make clean, then make run).")
    return Check("MLX", "ok", f"MLX {mx.__version__} on {device}")


def _blas() -> Check | None:
    if sys.platform != "linux":
        return None
    if blas.is_preloaded():
        return Check("OpenBLAS", "ok", f"in use ({blas.openblas_path()})")
    if blas.openblas_path():
        return Check("OpenBLAS", "warning", "installed but not in use", "Start Tailor with `tailor` or `make run`.")
    return Check("OpenBLAS", "warning", "not installed: training is about 50 times slower",
                 "Install it: sudo apt-get install libopenblas0-pthread")


def _tool(name: str, command: str, fix: str) -> Check:
    path = shutil.which(command)
    return Check(name, "ok", f"found at {path}") if path else Check(name, "warning", "not installed (optional)", fix)


def run_checks() -> list[Check]:
    checks = [_platform(), _memory(), _disk(), _mlx(), _blas(),
              _tool("Ollama", "ollama", "Install Ollama from https://ollama.com to run your model there."),
              _tool("GGUF converter", "convert_hf_to_gguf.py",
                    "Optional: Tailor installs llama.cpp's converter when you export to GGUF.")]
    return [c for c in checks if c is not None]
