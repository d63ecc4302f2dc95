"""Checks of this machine before fine-tuning, each with the fix in plain words.

On a Mac: Apple Silicon, macOS against what the installed MLX needs, unified memory and the GPU's
working-set limit, the memory training may use, the GPU watchdog workaround, disk, Metal, power; on Linux:
the CPU backend and OpenBLAS. `gather()` reads the machine (sysctl, sw_vers, pmset, MLX) into a `Machine`;
`run_checks()` judges one.
"""

import importlib.metadata
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import psutil

from ..export import gguf_tools
from ..files import data_home
from . import blas, gpu_guard
from .gpu_guard import GIB

GB = 1e9  # disks, as Apple counts them
ENGINE, GPU, MATHS, ONE_FILE = "Training engine", "Graphics processor", "Fast maths library", "One-file export tools"
MIN_MEMORY_GB = 8
MIN_DISK_GB = 10
LOW_BATTERY_PERCENT = 30
UPDATE_MACOS = "Update macOS: Apple menu > System Settings > General > Software Update."


@dataclass
class Check:
    name: str
    status: str  # "ok", "warning" or "problem"
    detail: str  # in plain words
    fix: str = ""
    technical: str = ""  # the technical name or the path behind it, for the curious: one hover away in the window


@dataclass
class Machine:
    """What the checks judge. `gather()` reads it from the system; tests give the commands' output."""

    system: str  # sys.platform: "darwin", "linux"
    arch: str = ""  # of the processor; on a Mac "arm64" even when this Python runs under Rosetta
    translated: bool = False  # a Mac's Python runs under Rosetta (an Intel build on Apple Silicon)
    os_version: str = ""
    memory_bytes: int = 0
    disk_free_bytes: int = 0
    on_battery: bool = False
    battery_percent: int | None = None
    low_power: bool = False
    mlx: dict = field(default_factory=dict)  # works/error, version, device, metal, working_set, needs_macos


def _command(*args: str) -> str:
    """A command's output, or "" when it is missing or fails: the checks then say what they could not learn."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def parse_sysctl(text: str) -> dict:
    """`sysctl name...` output ("name: value" lines) as a dict of strings."""
    return dict((k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line))


def parse_power(settings: str, battery: str) -> tuple[bool, int | None, bool]:
    """(on battery, battery percent, Low Power Mode) from `pmset -g` and `pmset -g batt`."""
    low = re.search(r"^\s*(lowpowermode|powermode)\s+(\d+)", settings, re.M)
    percent = re.search(r"(\d+)%", battery)
    return ("'Battery Power'" in battery, int(percent.group(1)) if percent else None,
            bool(low and low.group(2) == "1"))


def version_tuple(text: str) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def mlx_needs_macos() -> str | None:
    """The oldest macOS the installed MLX wheels were built for (from their platform tags), e.g. "14.0"."""
    needed = []
    for name in ("mlx", "mlx-metal"):
        try:
            wheel = importlib.metadata.distribution(name).read_text("WHEEL") or ""
        except importlib.metadata.PackageNotFoundError:
            continue
        needed += [(int(a), int(b)) for a, b in re.findall(r"macosx_(\d+)_(\d+)", wheel)]
    return "{}.{}".format(*max(needed)) if needed else None


def mlx_facts() -> dict:
    """Whether MLX computes correctly here, on which device, and what a Mac's GPU may use."""
    try:
        import mlx.core as mx

        value = (mx.array([1.0, 2.0]) * 2).sum().item()
        if value != 6.0:
            raise RuntimeError(f"1*2 + 2*2 gave {value}")
        info = mx.device_info()
        device = "the GPU" if "gpu" in str(mx.default_device()) else "the CPU"
        return {"works": True, "version": mx.__version__, "device": device,
                "metal": mx.metal.is_available(), "working_set": int(info.get("max_recommended_working_set_size", 0)),
                "needs_macos": mlx_needs_macos()}
    except Exception as error:  # any failure here means MLX cannot train
        return {"works": False, "error": f"{type(error).__name__}: {error}", "needs_macos": mlx_needs_macos()}


def gather(system: str = sys.platform) -> Machine:
    machine = Machine(system, arch=platform.machine(), memory_bytes=psutil.virtual_memory().total,
                      disk_free_bytes=shutil.disk_usage(data_home()).free, mlx=mlx_facts())
    if system == "darwin":
        facts = parse_sysctl(_command("sysctl", "hw.optional.arm64", "sysctl.proc_translated", "hw.memsize"))
        machine.arch = "arm64" if facts.get("hw.optional.arm64") == "1" else "x86_64"
        machine.translated = facts.get("sysctl.proc_translated") == "1"
        machine.memory_bytes = int(facts.get("hw.memsize") or machine.memory_bytes)
        machine.os_version = _command("sw_vers", "-productVersion").strip() or platform.mac_ver()[0]
        machine.on_battery, machine.battery_percent, machine.low_power = parse_power(
            _command("pmset", "-g"), _command("pmset", "-g", "batt"))
    return machine


def _processor(machine: Machine) -> Check:
    if machine.system != "darwin":
        return Check("Computer", "warning", f"{platform.system()} on {machine.arch}: training runs on the processor "
                     "alone here, slowly.", "Use a Mac with Apple Silicon for real models; the demo works here.",
                     "MLX runs on its CPU backend here: no Metal GPU.")
    if machine.arch != "arm64":
        return Check("Mac", "problem", "This Mac has an Intel processor.",
                     "MLX needs a Mac with Apple Silicon (M1 or later).")
    if machine.translated:
        return Check("Mac", "problem", "Apple Silicon, but Tailor's Python runs under Rosetta (as an Intel program).",
                     "Reinstall Tailor with a Python for Apple Silicon (arm64), for example from python.org.")
    return Check("Mac", "ok", "Apple Silicon")


def _macos(machine: Machine) -> Check | None:
    if machine.system != "darwin":
        return None
    needed = machine.mlx.get("needs_macos")
    if not machine.os_version:
        return Check("macOS", "warning", "The macOS version could not be read.", UPDATE_MACOS)
    if needed and version_tuple(machine.os_version) < version_tuple(needed):
        return Check("macOS", "problem", f"macOS {machine.os_version}; this MLX needs macOS {needed} or later.",
                     UPDATE_MACOS)
    return Check("macOS", "ok", f"macOS {machine.os_version}" + (f" (MLX needs {needed} or later)" if needed else ""))


def _memory(machine: Machine) -> Check:
    total = machine.memory_bytes / GIB
    working_set = machine.mlx.get("working_set") or 0
    detail = (f"{total:.0f} GB unified memory; the graphics processor may use up to {working_set / GIB:.1f} GB of it"
              if machine.system == "darwin" and working_set else f"{total:.0f} GB")
    if total < MIN_MEMORY_GB:
        return Check("Memory", "warning", detail, "Fine-tune models of 1B parameters or less, or use QLoRA.")
    return Check("Memory", "ok", detail)


def _training_memory(machine: Machine) -> Check | None:
    working_set = machine.mlx.get("working_set")
    if machine.system != "darwin" or not working_set:
        return None
    return Check("Training memory", "ok", gpu_guard.cap_words(gpu_guard.memory_cap(working_set, machine.memory_bytes),
                                                              machine.memory_bytes))


def _watchdog(machine: Machine) -> Check | None:
    if not gpu_guard.needs_watchdog_workaround(machine.system, machine.os_version):
        return None
    return Check("Long runs", "ok", f"macOS {gpu_guard.macos_major(machine.os_version)} can stop long work on the "
                 "graphics processor while the screen is on; Tailor trains with the known workaround for it.")


def _disk(machine: Machine) -> Check:
    free = machine.disk_free_bytes / GB
    if free < MIN_DISK_GB:
        return Check("Disk", "warning", f"{free:.1f} GB free",
                     f"Free at least {MIN_DISK_GB} GB: models and exports are large.")
    return Check("Disk", "ok", f"{free:.0f} GB free")


def _mlx(machine: Machine) -> Check:
    mlx = machine.mlx
    if not mlx.get("works"):
        return Check(ENGINE, "problem", "Tailor's training engine does not start.",
                     "Reinstall Tailor (make clean, then make run).", f"MLX: {mlx.get('error')}")
    where = "the graphics processor" if "gpu" in str(mlx["device"]).lower() else "the processor"
    return Check(ENGINE, "ok", f"works, on {where}", technical=f"MLX {mlx['version']} on {mlx['device']}")


def _metal(machine: Machine) -> Check | None:
    if machine.system != "darwin" or not machine.mlx.get("works"):
        return None
    if machine.mlx.get("metal"):
        return Check(GPU, "ok", "used for training", technical="MLX uses Metal")
    return Check(GPU, "problem", "Tailor cannot train on it.",
                 "Reinstall Tailor so that its graphics library (mlx.metallib) is installed; " + UPDATE_MACOS,
                 "Metal is not available to MLX.")


def _power(machine: Machine) -> Check | None:
    if machine.system != "darwin":
        return None
    if machine.low_power:
        return Check("Power", "warning", "Low Power Mode is on: training runs much slower.",
                     "Turn it off: System Settings > Battery > Low Power Mode.")
    if machine.on_battery:
        level = f" ({machine.battery_percent}% left)" if machine.battery_percent is not None else ""
        low = machine.battery_percent is not None and machine.battery_percent < LOW_BATTERY_PERCENT
        return Check("Power", "warning", f"On battery{level}: training uses the battery fast"
                     + (" and may not finish." if low else "."), "Plug the Mac in before a long run.")
    return Check("Power", "ok", "Plugged in")


def _blas(machine: Machine) -> Check | None:
    if machine.system != "linux":
        return None
    if blas.is_preloaded():
        return Check(MATHS, "ok", "in use", technical=f"OpenBLAS: {blas.openblas_path()}")
    if blas.openblas_path():
        return Check(MATHS, "warning", "installed but not in use: training is about 50 times slower",
                     "Start Tailor with `tailor` or `make run`.", f"OpenBLAS: {blas.openblas_path()}")
    return Check(MATHS, "warning", "not installed: training is about 50 times slower",
                 "Install it: sudo apt-get install libopenblas0-pthread", "OpenBLAS")


def _ollama() -> Check:
    path = shutil.which("ollama")
    if path:
        return Check("Ollama", "ok", f"found at {path}")
    return Check("Ollama", "warning", "not installed (optional: an app that runs models, to use yours in after "
                 "training)", "Install Ollama from https://ollama.com/download to run your model there.")


def _converter() -> Check:
    try:
        command = gguf_tools.converter()
    except gguf_tools.ExportError:
        return Check(ONE_FILE, "warning", "not installed (optional)",
                     "Tailor installs them when you first export your model as one file.",
                     "llama.cpp's GGUF converter and llama.cpp")
    where = "llama.cpp's GGUF converter" + (f" at {command[-1]}" if command[-1].endswith(".py") else "")
    if "llama.cpp" in gguf_tools.missing_tools():
        return Check(ONE_FILE, "ok", "installed; the part that checks each file comes with the first export",
                     technical=f"{where}; llama.cpp is not installed yet")
    return Check(ONE_FILE, "ok", "installed", technical=f"{where} and llama.cpp, which checks each GGUF")


def run_checks(machine: Machine | None = None) -> list[Check]:
    machine = machine or gather()
    checks = [_processor(machine), _macos(machine), _memory(machine), _training_memory(machine), _disk(machine),
              _mlx(machine), _metal(machine), _watchdog(machine), _power(machine), _blas(machine), _ollama(),
              _converter()]
    return [c for c in checks if c is not None]
