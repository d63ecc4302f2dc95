"""The Train step's "Train on several Macs": each Mac checked, the run trained on them with each one's memory drawn,
and Stop ending every one of them. The other Mac is the `other_macs` stand-in for ssh (a second Mac cannot exist
here); the worker, mlx.launch, the ring and the window are real."""

import psutil
from PySide6.QtCore import Qt

from tests.ui.test_wizard import LONG, set_advanced


def test_the_train_step_checks_other_macs_trains_on_them_and_stops_them_all(qtbot, window, other_macs, monkeypatch):
    for key in ("PATH", "FAKE_MACS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(key, other_macs[key])
    monkeypatch.setenv("FAKE_UNREACHABLE", "office")
    window.plan.memory_limit = 8e9
    window.reached = 2
    window.go(2)
    train = window.page(2)
    box = train.macs
    assert not box.isChecked() and not box.names.isVisible()  # one Mac unless asked
    box.setChecked(True)
    box.names.setText("mini, office")
    with qtbot.waitSignal(box.job.ended, timeout=LONG):
        qtbot.mouseClick(box.check_button, Qt.LeftButton)
    said = box.results.text()
    assert "\u2713 <b>mini</b>: ready" in said
    assert "\u2717 <b>office</b>: Tailor cannot reach office over SSH" in said and "Remote Login" in said

    box.names.setText("mini")
    assert box.results.text() == ""  # a check of other names is not shown for these
    set_advanced(train, iters=2000, steps_per_eval=50)
    train.start()
    memory = train.charts.memory
    qtbot.waitUntil(lambda: "mac1" in memory.series and memory.count("mac1") >= 2, timeout=LONG)
    assert memory.curves["mac1"].name() == "peak on mini" and "mac0" not in memory.series  # this Mac's is "MLX peak"
    speed = train.charts.speed
    assert [speed.curves[f"mac{i}"].name() for i in (0, 1)] == ["on this Mac", "on mini"]
    assert speed.count("mac1") == memory.count("mac1") and speed.series["mac1"].y[0] > 0
    assert train.run.outcome().endswith(" \u00b7 on this Mac and mini")  # the menu bar's line, the group's progress
    assert train.status.text().endswith(" \u00b7 on this Mac and mini")
    run_dir = window.plan.run_dir
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(train.stop_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done" and ended.args[0]["result"]["stopped"]
    assert (run_dir / "adapters" / "adapters.safetensors").exists()
    qtbot.waitUntil(lambda: not [p for p in psutil.process_iter(["cmdline"])
                                 if run_dir.name in " ".join(p.info["cmdline"] or [])], timeout=30_000)
