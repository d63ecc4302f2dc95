"""The Export step offscreen with real workers on a copy of the demo run: a checked GGUF, an Ollama model, and
the local API, which ends with the window."""

import re
import urllib.request

import psutil
import pytest
from PySide6.QtCore import Qt

from macapp.ui.pages.export_page import ExportPage
from macapp.ui.plan import Plan
from tests.helpers import fake_commands
from tests.ui.conftest import stop_jobs

LONG = 300_000


@pytest.fixture
def page(qtbot, run_copy):
    widget = ExportPage(Plan(run_dir=run_copy))
    qtbot.addWidget(widget)
    widget.show()
    widget.enter()
    yield widget
    stop_jobs(qtbot, widget)


def test_gguf_card_makes_a_checked_gguf_and_a_modelfile(qtbot, page):
    pytest.importorskip("llama_cpp", reason="the export extra (make test installs it)")
    card = page.gguf_card
    card.outtype.setCurrentIndex(card.outtype.findData("q8_0"))
    page.adapter.setCurrentIndex(page.adapter.findData("best"))
    with qtbot.waitSignal(card.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(card.button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    folder = page.plan.run_dir / "exports" / "gguf-q8_0"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "fidelity.json", "model-q8_0.gguf"]
    assert "Checked: it answers like your model: llama.cpp picks the same next word" in card.status.text()
    assert "allowed)" in card.status.toolTip()  # the figures and their bars, one hover away
    assert "Ollama is not installed" in card.status.text() and not page.open_button.isHidden()
    # Asked the held-out comments again in llama.cpp, the q8_0 file answers as the tested model did.
    assert not card.checker.button.isHidden()
    with qtbot.waitSignal(card.checker.job.ended, timeout=LONG) as checked:
        qtbot.mouseClick(card.checker.button, Qt.LeftButton)
    assert checked.args[0]["type"] == "done", checked.args[0]
    said = re.search(r"The GGUF answers as the model you tested did on (\d+) of (\d+)", card.status.text())
    assert said and int(said[1]) >= 0.75 * int(said[2]), card.status.text()
    assert (folder / "answers_check.json").exists()


def test_ollama_card_names_the_model_and_hands_ollama_the_folder(qtbot, page, tmp_path, monkeypatch):
    """Ollama's binary cannot be installed here: a stand-in script on PATH records the calls."""
    card = page.ollama_card
    assert card.name.text() == "demo"  # the run's name, without its date
    card.name.setText("My Model!")
    qtbot.mouseClick(card.button, Qt.LeftButton)
    assert "lowercase letters" in card.status.text() and not card.job.running
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", ollama=f'echo "$@" >> {tmp_path / "calls"}\n'))
    card.name.setText("tiny-kitchen")
    card.size.setCurrentIndex(card.size.findData("q4_K_M"))
    with qtbot.waitSignal(card.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(card.button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    folder = page.plan.run_dir / "exports" / "ollama"
    assert (folder / "Modelfile").exists() and (folder / "config.json").exists()
    assert (tmp_path / "calls").read_text().startswith(f"create tiny-kitchen -f {folder / 'Modelfile'} --quantize")
    assert "Ollama model tiny-kitchen is ready" in card.status.text()


def test_serve_card_starts_an_api_and_stops_it(qtbot, page):
    card = page.serve_card
    with qtbot.waitSignal(card.job.event, timeout=LONG, check_params_cb=lambda e: e.get("type") == "ready"):
        qtbot.mouseClick(card.button, Qt.LeftButton)
    url = card.status.text().split("Serving at ")[1].split("/v1")[0]
    assert url.startswith("http://127.0.0.1:") and "curl " + url in card.examples.toPlainText()
    with urllib.request.urlopen(f"{url}/health", timeout=10) as answer:
        assert answer.status == 200
    with qtbot.waitSignal(card.job.ended, timeout=60_000) as ended:
        qtbot.mouseClick(card.stop_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done" and "stopped" in card.status.text()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/health", timeout=5)


def test_closing_the_window_ends_the_local_api(qtbot, window, run_copy):
    window.open_run(run_copy)
    window.go(4)
    card = window.page(4).serve_card
    with qtbot.waitSignal(card.job.event, timeout=LONG, check_params_cb=lambda e: e.get("type") == "ready"):
        qtbot.mouseClick(card.button, Qt.LeftButton)
    url = card.status.text().split("Serving at ")[1].split("/v1")[0]
    worker = psutil.Process(card.job.pid)
    window.close()  # nothing trains: the window closes, and the server goes with it
    assert not card.job.running
    worker.wait(timeout=15)

    def closed():
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
        except OSError:
            return True
        return False

    qtbot.waitUntil(closed, timeout=15_000)
