"""Machine checks: each says what it found, and a problem says how to fix it. The Mac checks run here on
a Mac's command output: sysctl, sw_vers and pmset are stand-in scripts on PATH, and MLX's Metal facts are
given, since neither macOS's tools nor Metal exist on these Linux machines."""

from dataclasses import replace

import pytest

from macapp.engine.check import blas, environment
from tests.helpers import fake_commands

METAL = {"works": True, "version": "0.32.4", "device": "the GPU", "metal": True,
         "working_set": 11_453_251_584, "needs_macos": "14.0"}
PLUGGED = "Now drawing from 'AC Power'\n -InternalBattery-0 (id=1)\t100%; charged; 0:00 remaining present: true\n"


def mac(monkeypatch, tmp_path, arm64="1", translated="0", memsize="17179869184", version="15.1",
        settings=" lowpowermode         0\n", battery=PLUGGED, mlx=METAL):
    sysctl = (f"echo 'hw.optional.arm64: {arm64}'\n[ -n '{translated}' ] && echo 'sysctl.proc_translated: "
              f"{translated}'\necho 'hw.memsize: {memsize}'\n")
    pmset = f"if [ \"$2\" = batt ]; then printf \"%s\" \"{battery}\"; else printf \"%s\" \"{settings}\"; fi\n"
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", sysctl=sysctl, pmset=pmset,
                                             sw_vers=f"echo {version}\n"))
    machine = replace(environment.gather("darwin"), mlx=mlx)
    return machine, {c.name: c for c in environment.run_checks(machine)}


def test_a_ready_mac(monkeypatch, tmp_path):
    machine, checks = mac(monkeypatch, tmp_path)
    assert (machine.arch, machine.translated, machine.memory_bytes, machine.os_version) == (
        "arm64", False, 17179869184, "15.1")
    assert list(checks) == ["Mac", "macOS", "Memory", "Training memory", "Disk", "Training engine",
                            "Graphics processor", "Power", "Ollama", "One-file export tools"]  # no watchdog workaround
    # before macOS 26
    assert all(checks[name].status == "ok" for name in ["Mac", "macOS", "Memory", "Training memory", "Training engine",
                                                         "Graphics processor", "Power"])
    assert checks["Memory"].detail == "16 GB unified memory; the graphics processor may use up to 10.7 GB of it"
    assert checks["macOS"].detail == "macOS 15.1 (MLX needs 14.0 or later)"
    assert "Fast maths library" not in checks and checks["Training engine"].detail == "works, on the graphics processor"


def test_a_mac_on_macos_26_trains_with_the_watchdog_workaround_within_its_memory_cap():
    """The checks' decision logic, since neither macOS nor Metal is available here: a Machine as gather() reads a
    16 GB Mac on macOS 26.1, with MLX's Metal facts given."""
    machine = environment.Machine("darwin", arch="arm64", os_version="26.1", memory_bytes=16 * environment.GIB,
                                  disk_free_bytes=100 * environment.GB, mlx=METAL)
    checks = {c.name: c for c in environment.run_checks(machine)}
    assert list(checks)[:9] == ["Mac", "macOS", "Memory", "Training memory", "Disk", "Training engine",
                                "Graphics processor", "Long runs", "Power"]
    assert checks["Training memory"].status == "ok" and checks["Training memory"].detail == (
        "Training may use up to 10.3 GB of your 16 GB; beyond that it stops safely instead of slowing the Mac down.")
    assert checks["Long runs"].status == "ok" and checks["Long runs"].detail == (
        "macOS 26 can stop long work on the graphics processor while the screen is on; Tailor trains with the known "
        "workaround for it.")


@pytest.mark.parametrize("arm64, translated, words", [("0", "", "Intel processor"), ("1", "1", "Rosetta")])
def test_intel_macs_and_rosetta_are_problems(monkeypatch, tmp_path, arm64, translated, words):
    _, checks = mac(monkeypatch, tmp_path, arm64=arm64, translated=translated)
    assert checks["Mac"].status == "problem" and words in checks["Mac"].detail and checks["Mac"].fix


def test_macos_older_than_mlx_needs(monkeypatch, tmp_path):
    _, checks = mac(monkeypatch, tmp_path, version="13.6.1")
    assert checks["macOS"].status == "problem"
    assert checks["macOS"].detail == "macOS 13.6.1; this MLX needs macOS 14.0 or later."
    assert "Software Update" in checks["macOS"].fix


def test_metal_missing_and_little_memory(monkeypatch, tmp_path):
    _, checks = mac(monkeypatch, tmp_path, memsize=str(8 * 2**30 - 1), mlx={**METAL, "metal": False})
    gpu = checks["Graphics processor"]
    assert gpu.status == "problem" and "mlx.metallib" in gpu.fix and "Metal" in gpu.technical
    assert checks["Memory"].status == "warning" and "QLoRA" in checks["Memory"].fix


@pytest.mark.parametrize("settings, battery, detail", [
    (" lowpowermode         1\n", PLUGGED, "Low Power Mode is on"),
    (" powermode            1\n", PLUGGED, "Low Power Mode is on"),  # the key's name on desktop Macs
    (" lowpowermode         0\n", "Now drawing from 'Battery Power'\n -InternalBattery-0\t22%; discharging;\n",
     "On battery (22% left): training uses the battery fast and may not finish."),
])
def test_power_warnings(monkeypatch, tmp_path, settings, battery, detail):
    _, checks = mac(monkeypatch, tmp_path, settings=settings, battery=battery)
    assert checks["Power"].status == "warning" and checks["Power"].detail.startswith(detail)
    assert checks["Power"].fix


def test_missing_tools_leave_facts_unknown_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sysctl, sw_vers or pmset at all
    machine = replace(environment.gather("darwin"), os_version="", mlx=METAL)
    checks = {c.name: c for c in environment.run_checks(machine)}
    assert checks["Mac"].status == "problem"  # not known to be Apple Silicon: said, with the fix
    assert checks["macOS"].status == "warning" and checks["Power"].status == "ok"


def test_mlx_wheel_tags_give_the_macos_it_needs():
    assert environment.mlx_needs_macos() is None  # the Linux wheel has no macOS tag
    assert environment.version_tuple("14.0") > environment.version_tuple("13.6.1")
    assert environment.parse_sysctl("hw.memsize: 42\nbad line\n") == {"hw.memsize": "42"}


def test_checks_report_this_machine():
    checks = {c.name: c for c in environment.run_checks()}
    assert list(checks) == ["Computer", "Memory", "Disk", "Training engine", "Fast maths library", "Ollama",
                            "One-file export tools"]
    engine = checks["Training engine"]
    assert engine.status == "ok" and engine.detail == "works, on the processor" and "CPU" in engine.technical
    assert "MLX" not in " ".join(c.detail + c.fix for c in checks.values())  # the technical names one hover away
    assert checks["Memory"].detail.endswith("GB")
    assert checks["One-file export tools"].status == "ok"  # the test set-up installs the export extra
    for check in checks.values():
        assert check.status in ("ok", "warning", "problem")
        if check.status != "ok":
            assert check.fix, check.name


def test_openblas_is_in_use_here():
    # The suite restarts itself with OpenBLAS preloaded when the system has it (set-up installs it).
    assert blas.openblas_path() is not None
    assert blas.is_preloaded()
    maths = {c.name: c for c in environment.run_checks()}["Fast maths library"]
    assert maths.status == "ok" and maths.detail == "in use" and maths.technical.startswith("OpenBLAS: /")
