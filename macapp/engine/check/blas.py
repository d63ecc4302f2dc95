"""Make MLX's CPU backend use the system OpenBLAS on Linux.

MLX's Linux wheel links a reference BLAS; preloading Debian's OpenBLAS makes matmuls ~50x faster.
"""

import os
import platform
import sys
from pathlib import Path

_PRELOAD_FLAG = "TAILOR_BLAS_CHECKED"


def openblas_path() -> Path | None:
    """The system OpenBLAS library to preload, or None (not Linux, or not installed)."""
    if sys.platform != "linux":
        return None
    arch = platform.machine()
    for folder in (f"/usr/lib/{arch}-linux-gnu/openblas-pthread", "/usr/lib64/openblas-pthread"):
        candidate = Path(folder) / "libblas.so.3"
        if candidate.exists():
            return candidate
    return None


def is_preloaded() -> bool:
    path = openblas_path()
    return path is not None and str(path) in os.environ.get("LD_PRELOAD", "")


def environment(base: dict | None = None) -> dict:
    """A copy of the environment with OpenBLAS preloaded where it exists."""
    env = dict(os.environ if base is None else base)
    path = openblas_path()
    if path is not None and str(path) not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = " ".join(p for p in (str(path), env.get("LD_PRELOAD", "")) if p)
    env[_PRELOAD_FLAG] = "1"
    return env


def reexec_with_openblas() -> None:
    """Restart this very command with OpenBLAS preloaded, once, when it would help."""
    if os.environ.get(_PRELOAD_FLAG) or openblas_path() is None or is_preloaded():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environment())


if __name__ == "__main__":
    # `python -m macapp.engine.check.blas ARGS...` runs `python ARGS...` with OpenBLAS preloaded (the tests use it).
    os.execve(sys.executable, [sys.executable, *sys.argv[1:]], environment())
