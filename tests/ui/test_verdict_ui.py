"""The verdict on the Test step, offscreen, with real workers on a copy of the demo run: the card, the judge chosen by
its address, the blind A/B picks in the scored list and side by side, the agreement line and general knowledge.

The judge is a stand-in server with a known rule (tests/judge_server.py): a capable judge model cannot run here.
"""

import json

import pytest
from PySide6.QtCore import Qt

from macapp.engine.evaluate import picks, verdict
from macapp.engine.models import demo
from macapp.ui.pages import test_page
from macapp.ui.plan import Plan
from tests.helpers import write_jsonl
from tests.hub_server import Hub
from tests.judge_server import StandInJudge
from tests.question_sets import ARC, ARC_CONFIGS, repository
from tests.ui.conftest import stop_jobs

LONG = 180_000


@pytest.fixture
def page(qtbot, run_copy):
    for name in ("report.json", "report.html", "judgements.jsonl", picks.PICKS_FILE):
        (run_copy / name).unlink(missing_ok=True)
    widget = test_page.TestPage(Plan(run_dir=run_copy))
    qtbot.addWidget(widget)
    widget.resize(1200, 900)
    widget.show()
    widget.enter()
    yield widget
    stop_jobs(qtbot, widget)


def test_judged_scores_give_the_card_blind_picks_and_the_agreement(qtbot, page, tmp_path):
    assert page.card.card.call == "none" and page.card.headline.text() == verdict.HEADLINES["none"]
    scores = page.scores
    qtbot.waitUntil(lambda: bool(scores.judge.options), timeout=30_000)
    assert not scores.judged.isChecked()  # no model server runs on this machine: judging is the person's choice
    scores.set_prompts(str(write_jsonl(tmp_path / "twelve.jsonl", demo.read_jsonl(demo.HELD_OUT)[:12])))
    page.form.max_tokens.setValue(40)
    with StandInJudge().serving() as address:
        scores.judged.click()
        scores.judge.choices.setCurrentIndex(scores.judge.choices.count() - 1)  # another server, by its address
        scores.judge.address.setText(address)
        with qtbot.waitSignal(scores.job.ended, timeout=LONG) as ended:
            qtbot.mouseClick(scores.score_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    card = page.card.card
    assert card.call == "better" and page.card.headline.text() == verdict.HEADLINES["better"]
    assert "On 12 questions it never saw" in page.card.details.text()
    assert "(0 so far)" in page.card.details.text()
    table = scores.items.table
    headings = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headings[:6] == ["Prompt", "Expected", "Answer A", "Answer B", "Judge", "Your pick"]
    # Blind: the judge's verdict waits, and no cell tells which model wrote which answer.
    assert {table.item(r, 4).text() for r in range(12)} == {"Hidden until you pick"}
    assert not any("Fine-tuned" in table.item(r, c).text() for r in range(12) for c in range(6))
    table.selectRow(0)
    assert [title.text() for title in scores.items.titles] == ["Answer A", "Answer B"]
    assert scores.items.full[0].toPlainText() == table.item(0, 2).text()
    # Pick the signed answer ten times, as the judge does: the card shows that the judge agrees.
    table.selectRow(0)
    for _ in range(10):
        row = table.selectionModel().selectedRows()[0].row()
        signed = "A" if table.item(row, 2).text().endswith(demo.SIGNATURE) else "B"
        qtbot.mouseClick(scores.items.bar.buttons[signed], Qt.LeftButton)
    assert len((page.plan.run_dir / picks.PICKS_FILE).read_text().splitlines()) == 10
    assert page.card.card.agreement["count"] == 10 and page.card.card.agreement["trusted"]
    assert "Your own picks agreed with the judge on 10 of 10 (100%" in page.card.details.text()
    picked = [r for r in range(12) if table.item(r, 5).text() != "\u2013"]
    assert len(picked) == 10 and all(table.item(r, 2).text().startswith("[") for r in picked)
    assert picks.preference_pairs(page.plan.run_dir)[0]["chosen"].endswith(demo.SIGNATURE)
    assert "Your own picks agreed" in (page.plan.run_dir / "report.html").read_text()
    assert all(table.item(r, 4).text().startswith("Fine-tuned better") for r in picked)
    # Reopened, the run is scored again as it was: the same prompts, judged by the same judge.
    again = test_page.TestPage(Plan(run_dir=page.plan.run_dir))
    qtbot.addWidget(again)
    again.enter()
    assert again.scores.prompts == str(tmp_path / "twelve.jsonl") and again.scores.judged.isChecked()
    qtbot.waitUntil(lambda: bool(again.scores.judge.options), timeout=30_000)
    assert again.scores.judge.address.text() == address
    assert again.card.card.call == "better" and again.scores.items.table.rowCount() == 12


def test_side_by_side_is_blind_until_the_person_picks(qtbot, page):
    page.form.max_tokens.setValue(40)
    with qtbot.waitSignal(page.job.ended, timeout=LONG):
        qtbot.mouseClick(page.ask, Qt.LeftButton)
    assert [label.text() for label in page.titles] == ["Answer A", "Answer B"]
    assert page.pick.buttons["A"].isEnabled()
    qtbot.mouseClick(page.pick.buttons["same"], Qt.LeftButton)
    revealed = [label.text().split(": ") for label in page.titles]
    assert [letter for letter, _ in revealed] == ["Answer A", "Answer B"]
    assert sorted(side for _, side in revealed) == ["original model", "your fine-tuned model"]
    (kept,) = picks.read(page.plan.run_dir).values()
    assert kept["where"] == "side_by_side" and kept["better"] == "same"
    assert kept["tuned"] == page.panes["tuned"].toPlainText().strip() and not page.pick.buttons["A"].isEnabled()
    assert json.loads((page.plan.run_dir / picks.PICKS_FILE).read_text())["prompt"] == page.prompt.toPlainText()


def test_general_knowledge_is_checked_from_a_tick_and_shown_on_the_card_and_in_the_scores(qtbot, page, tmp_path,
                                                                                         monkeypatch):
    """The default sets, lm-evaluation-harness's own arc_challenge and arc_easy tasks, on questions of the test's own
    that a stand-in hub serves under ARC's name (no hub is reachable here)."""
    scores = page.scores
    scores.set_prompts(str(write_jsonl(tmp_path / "four.jsonl", demo.read_jsonl(demo.HELD_OUT)[:4])))
    page.form.max_tokens.setValue(12)
    assert "arc_challenge and arc_easy" in scores.general.toolTip() and not scores.general.isChecked()
    assert scores.minimumSizeHint().width() < 1000  # fits the Test step of a window 1280 wide
    with Hub() as hub:
        hub.add_dataset(ARC, repository(ARC_CONFIGS, 12))
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        scores.general.click()
        with qtbot.waitSignal(scores.job.ended, timeout=LONG) as ended:
            qtbot.mouseClick(scores.score_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    assert page.card.card.general.startswith("General knowledge (arc_challenge and arc_easy, 24 questions): ")
    assert page.card.card.general in page.card.details.text()
    labels = [scores.summary.verticalHeaderItem(row).text() for row in range(scores.summary.rowCount())]
    assert labels[-2:] == ["General knowledge: arc_challenge (12 questions)", "General knowledge: arc_easy (12 "
                                                                             "questions)"]
    again = test_page.TestPage(Plan(run_dir=page.plan.run_dir))  # reopened: checked again as it was
    qtbot.addWidget(again)
    again.enter()
    assert again.scores.general.isChecked()
