"""The Train step's model picker: the catalog with its fit badges, and a download a person follows, pauses, resumes
and cancels, from a real HTTP hub on 127.0.0.1 (HF_ENDPOINT) through real workers."""

import pytest
from PySide6.QtCore import Qt

from macapp.engine.check.gpu_guard import GIB
from macapp.engine.models import catalog, memory, model_places
from macapp.engine.words import THIS_COMPUTER
from macapp.ui.plan import Plan
from macapp.ui.widgets.model_picker import CATALOG, HUB, ModelPicker
from tests.e2e.test_downloads import model_repo
from tests.hub_server import Hub
from tests.ui.conftest import stop_jobs

SMOL = "mlx-community/SmolLM2-135M-Instruct"


@pytest.fixture
def hub(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))  # downloads of its own, not the session's models
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with Hub() as server:
        server.add(SMOL, model_repo(demo_model, tmp_path / "repo"))  # the demo's files, under a catalog name
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def picker(qtbot, hub):
    plan = Plan(memory_limit=memory.mac_limit(16 * GIB))
    plan.model = SMOL
    plan.apply_preset("balanced")
    plan.settings["max_seq_length"] = 512  # as for data of short examples
    widget = ModelPicker(plan=plan)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    stop_jobs(qtbot, widget)


def test_the_catalog_shows_each_model_with_whether_it_fits(picker):
    picker.fill_catalog()
    rows = {picker.entries.itemData(i): picker.entries.itemText(i) for i in range(picker.entries.count())}
    assert len(rows) == len(catalog.entries())
    table = catalog.table(picker.plan.train_config(), picker.plan.seq_length(), picker.plan.memory_limit)
    words = {"ok": "fits", "tight": "tight", "too_big": "too big"}
    for row in table:
        assert rows[row["entry"].forms[row["form"] or "4bit"]].endswith(words[row["status"]])
    picker.show_model(SMOL)
    assert picker.kind.currentIndex() == CATALOG and picker.name() == SMOL
    card = picker.card.text()
    assert "Tiny; for trying Tailor" in card and "Apache 2.0" in card and "MB to download" in card
    assert f"Training fits {THIS_COMPUTER}" in card
    assert picker.message.text().startswith(f"Not on {THIS_COMPUTER} yet")


def test_a_computer_without_a_graphics_processor_is_told_which_models_train_too_slowly(picker):
    """The decision on any computer: the check says whether MLX trains on a GPU (here it does not; on a Mac it does)."""
    picker.fill_catalog()
    big = next(entry for entry in catalog.entries() if entry.parameters > 6e9)
    for gpu, slow in ((True, False), (False, True)):
        picker.plan.gpu = gpu
        picker.show_model(next(iter(big.forms.values())))
        assert (catalog.SLOW_WITHOUT_GPU in picker.card.text()) == slow
    picker.show_model(SMOL)  # a small model trains well enough on the processor alone
    assert catalog.SLOW_WITHOUT_GPU not in picker.card.text() and "Training fits" in picker.card.text()


def test_a_download_is_followed_paused_resumed_and_then_on_this_mac(qtbot, picker, hub):
    hub.pause_per_chunk = 0.03
    picker.show_model(SMOL)
    with qtbot.waitSignal(picker.job.event, timeout=60_000,
                          check_params_cb=lambda e: e.get("step") == "download" and e["done"] > 500_000):
        qtbot.mouseClick(picker.download, Qt.LeftButton)
    assert picker.pause.isVisible() and picker.progress.isVisible() and not picker.download.isVisible()
    assert picker.message.text().startswith(f"Downloading {SMOL}: ") and " of 3.1 MB" in picker.message.text()
    with qtbot.waitSignal(picker.job.ended, timeout=60_000):
        qtbot.mouseClick(picker.pause, Qt.LeftButton)
    assert picker.message.text().startswith("Paused after ") and picker.download.text() == "Resume download"
    assert picker.cancel.isVisible() and not picker.progress.isVisible()
    hub.pause_per_chunk = 0
    with qtbot.waitSignal(picker.changed, timeout=60_000) as chosen:
        qtbot.mouseClick(picker.download, Qt.LeftButton)
    assert chosen.args == [SMOL] and picker.message.text() == f"Downloaded: on {THIS_COMPUTER} now."
    assert any(r for method, path, r in hub.requests if method == "GET" and r)  # went on from where it paused
    picker.show_model(SMOL)
    assert picker.message.text() == f"On {THIS_COMPUTER} (downloaded by Tailor)." and not picker.download.isVisible()


def test_a_cancelled_download_leaves_nothing(qtbot, picker, hub):
    hub.pause_per_chunk = 0.03
    picker.kind.setCurrentIndex(HUB)
    picker.repo.setText(SMOL)
    with qtbot.waitSignal(picker.job.event, timeout=60_000, check_params_cb=lambda e: e.get("step") == "download"):
        qtbot.mouseClick(picker.download, Qt.LeftButton)
    with qtbot.waitSignal(picker.job.ended, timeout=60_000):
        qtbot.mouseClick(picker.cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: picker.message.text().startswith("Download cancelled"))
    assert model_places.find(SMOL) is None and picker.download.text() == "Download"
    assert not (model_places.tailor_folder(SMOL).parent / (model_places.tailor_folder(SMOL).name + ".partial")).exists()


def test_a_gated_model_says_how_to_accept_its_licence(qtbot, picker, hub):
    hub.gated.add(SMOL)
    picker.show_model(SMOL)
    with qtbot.waitSignal(picker.job.ended, timeout=60_000):
        qtbot.mouseClick(picker.download, Qt.LeftButton)
    assert "asks everyone to accept its licence" in picker.message.text() and picker.sign_in.isVisible()
    assert picker.sign_in.text() == "Sign in to Hugging Face\u2026"
