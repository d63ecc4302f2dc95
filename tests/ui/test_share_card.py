"""The Export step's Share box offscreen, with a real worker uploading to a real HTTP hub on 127.0.0.1: the name is
checked as it is typed, Upload asks to sign in first, and the adapter lands with its card and a link to its page.
The keychain fixture's in-memory keyring stands in for the macOS Keychain."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from macapp.engine.models import hub_token
from macapp.ui.pages.export_page import ExportPage
from macapp.ui.plan import Plan
from macapp.ui.settings import Settings
from tests.hub_server import Hub
from tests.ui.conftest import stop_jobs

TOKEN = "hf_" + "w" * 34


@pytest.fixture
def hub(keychain, monkeypatch):
    with Hub() as server:
        server.accounts = {TOKEN: ("sam", "write")}
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def card(qtbot, run_copy, hub):
    page = ExportPage(Plan(run_dir=run_copy), Settings())
    qtbot.addWidget(page)
    page.show()
    page.enter()
    yield page.share_card
    stop_jobs(qtbot, page)


def test_the_share_box_checks_the_name_asks_to_sign_in_and_uploads_the_adapter(qtbot, card, hub, monkeypatch):
    assert card.name.placeholderText() == "your-name/model-name" and not card.name.text()  # no name known yet
    assert card.visibility.currentData() is True  # private unless made public
    qtbot.keyClicks(card.name, "tiny kitchen")
    assert card.name_problem.isVisible() and "your-name/model-name" in card.name_problem.text()
    card.name.setText("sam/tiny-kitchen")
    assert not card.name_problem.isVisible()
    assert card.sign_in.text() == "Sign in to Hugging Face\u2026"
    qtbot.mouseClick(card.button, Qt.LeftButton)
    assert "Sign in to Hugging Face first" in card.status.text() and not card.job.running

    monkeypatch.setattr("macapp.ui.widgets.hub_sign_in.QInputDialog.getText", lambda *args: (TOKEN, True))
    qtbot.mouseClick(card.sign_in, Qt.LeftButton)  # the same sign-in as the model picker's
    assert hub_token.get() == TOKEN and card.sign_in.text().startswith("Signed in")
    card.what.setCurrentIndex(card.what.findData("adapter"))
    with qtbot.waitSignal(card.job.ended, timeout=60_000) as ended:
        qtbot.mouseClick(card.button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    assert sorted(hub.repos["sam/tiny-kitchen"]) == ["README.md", "adapter_config.json", "adapters.safetensors"]
    assert hub.private["sam/tiny-kitchen"] is True
    assert card.link.isVisible() and card.link.openExternalLinks()
    assert f'href="{hub.url}/sam/tiny-kitchen"' in card.link.text() and "only you can see it" in card.status.text()
    assert card.page.settings.hub_user == "sam"  # the next run's name is filled in with it
    assert any(label.text() == "Name on Hugging Face:" for label in card.findChildren(QLabel))
    card.finished({"url": f"{hub.url}/sam/tiny-kitchen", "user": "sam", "private": False})  # a public one, kept
    assert "it is public, because it already was on Hugging Face" in card.status.text()
