"""Machine checks: each says what it found, and a problem says how to fix it."""

import subprocess
import sys

from macapp.engine import blas, environment


def test_checks_report_this_machine():
    checks = {c.name: c for c in environment.run_checks()}
    assert checks["MLX"].status == "ok" and "cpu" in checks["MLX"].detail.lower()
    assert checks["Memory"].detail.endswith("GB")
    for check in checks.values():
        assert check.status in ("ok", "warning", "problem")
        if check.status != "ok":
            assert check.fix, check.name


def test_openblas_is_in_use_here():
    # The suite restarts itself with OpenBLAS preloaded when the system has it (set-up installs it).
    assert blas.openblas_path() is not None
    assert blas.is_preloaded()
    assert {c.name: c.status for c in environment.run_checks()}["OpenBLAS"] == "ok"


def test_engine_never_imports_qt():
    code = ("import sys, pkgutil, importlib, macapp.engine as e\n"
            "for m in pkgutil.iter_modules(e.__path__): importlib.import_module('macapp.engine.' + m.name)\n"
            "import macapp.worker, macapp.cli, macapp.jobs\n"
            "bad = [n for n in sys.modules if n.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph')]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
