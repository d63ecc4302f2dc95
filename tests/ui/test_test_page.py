"""The Test step offscreen with real workers on a copy of the demo run: streaming, Stop, chat, scoring."""

import json

import pytest
from PySide6.QtCore import Qt

from macapp.engine.models import demo
from macapp.ui.pages import test_page
from macapp.ui.plan import Plan
from tests.helpers import write_jsonl
from tests.ui.conftest import stop_jobs

LONG = 120_000


@pytest.fixture
def page(qtbot, run_copy):
    widget = test_page.TestPage(Plan(run_dir=run_copy))
    qtbot.addWidget(widget)
    widget.show()
    widget.enter()
    yield widget
    stop_jobs(qtbot, widget)


def ask(qtbot, page, max_tokens=60):
    page.form.max_tokens.setValue(max_tokens)
    sides = []
    page.job.event.connect(lambda e: e.get("type") == "token" and sides.append(e["side"]))
    with qtbot.waitSignal(page.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(page.ask, Qt.LeftButton)
    return ended.args[0], sides


def test_streaming_fills_both_panes_with_repeatable_answers(qtbot, page):
    assert page.prompt.toPlainText() == demo.held_out_comments()[0]
    assert page.form.adapter.count() == 2 and "Best adapter (step" in page.form.adapter.itemText(0)  # best first
    assert "greedy" in page.form.explanation.text()
    ended, sides = ask(qtbot, page)
    assert ended["type"] == "done" and not ended["stopped"]
    assert sides[:4] == ["base", "tuned", "base", "tuned"] and sides.count("tuned") > 3
    answers = {side: pane.toPlainText().strip() for side, pane in page.panes.items()}
    assert answers == ended["result"]["answers"]
    assert answers["tuned"].endswith(demo.SIGNATURE) and not answers["base"].endswith(demo.SIGNATURE)
    again, _ = ask(qtbot, page)
    assert again["result"]["answers"] == answers  # greedy: the same question, the same answers


def test_stop_ends_the_answers_and_keeps_what_was_written(qtbot, page):
    page.form.max_tokens.setValue(5000)
    with qtbot.waitSignal(page.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(page.ask, Qt.LeftButton)
        qtbot.waitUntil(lambda: len(page.panes["base"].toPlainText().split()) > 20, timeout=LONG)
        assert page.stop_button.isVisible() and not page.ask.isVisible()
        qtbot.mouseClick(page.stop_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done" and ended.args[0]["stopped"]
    assert page.panes["base"].toPlainText() and "Stopped" in page.status.text()
    assert page.ask.isVisible() and not page.busy()


def test_chat_remembers_the_conversation_says_it_is_thinking_and_queues_a_second_message(qtbot, page):
    chat = page.chat
    page.form.max_tokens.setValue(30)
    first, second = demo.held_out_comments()[:2]
    chat.entry.setText(first)
    qtbot.keyClick(chat.entry, Qt.Key_Return)
    assert not chat.activity.isHidden() and chat.activity.text().startswith("Thinking\u2026")
    chat.entry.setText(second)
    qtbot.keyClick(chat.entry, Qt.Key_Return)  # while the first answer is being made
    assert f"Waiting to be sent when this answer ends: \u201c{second}\u201d" in chat.activity.text()
    assert chat.entry.text() == ""
    qtbot.waitUntil(lambda: len(chat.messages) == 4 and not chat.job.running, timeout=LONG)
    assert [m["content"] for m in chat.messages[::2]] == [first, second] and chat.activity.isHidden()
    # Tuned on single comments, the tiny model signs its first answer; after a whole exchange it may not.
    assert chat.messages[1]["content"].endswith(demo.SIGNATURE) and chat.messages[3]["content"]
    job = json.loads((chat.job.folder / "job-answer.json").read_text())
    assert len(job["messages"]) == 3 and job["sides"] == ["tuned"]  # the second turn saw the first
    assert chat.messages[3]["content"] in chat.transcript.toPlainText()
    qtbot.mouseClick(chat.new_button, Qt.LeftButton)
    assert chat.messages == [] and not chat.transcript.toPlainText()


def test_scoring_a_prompt_set_fills_the_tables_and_writes_the_report(qtbot, page, tmp_path):
    scores = page.scores
    assert scores.check.currentData() == "ends_with" and scores.check_text.text() == demo.SIGNATURE
    held_out = demo.read_jsonl(demo.HELD_OUT)[:5]
    scores.set_prompts(str(write_jsonl(tmp_path / "five.jsonl", held_out)))
    page.form.max_tokens.setValue(40)
    progress = []
    scores.job.event.connect(lambda e: e.get("type") == "progress" and progress.append(e["done"]))
    with qtbot.waitSignal(scores.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(scores.score_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "done", ended.args[0]
    assert progress == list(range(1, 11))
    labels = [scores.summary.verticalHeaderItem(r).text() for r in range(scores.summary.rowCount())]
    assert labels[:3] == ["Loss on the expected answers", "Perplexity", f"Answer ends with {demo.SIGNATURE!r}"]
    assert scores.summary.item(2, 0).text() == "0%" and scores.summary.item(2, 1).text() == "100%"
    table = scores.items.table
    assert table.rowCount() == 5 and not scores.report_button.isHidden()
    assert (page.plan.run_dir / "report.html").exists()
    scores.items.blind.setChecked(False)  # the scores tell which answer is which: shown once not blind
    column = next(c for c in range(table.columnCount()) if table.horizontalHeaderItem(c).text() == "Similarity")
    table.sortItems(column, Qt.DescendingOrder)
    changes = [table.item(r, column).value for r in range(5)]
    assert changes == sorted(changes, reverse=True)


def test_a_run_without_a_test_split_asks_for_a_file(qtbot, page):
    page.plan.sources = ["elsewhere.jsonl"]  # not the demo's task: no held-out comments offered
    manifest = page.plan.run_dir / "data" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "sources": ["/elsewhere/chats.jsonl"],
                                    "source_sha256": ["0" * 64]}))  # other data, known by its contents
    page.enter()
    scores = page.scores
    assert "no test split" in scores.source.text() and scores.use_test.isHidden()
    with qtbot.waitSignal(scores.job.ended, timeout=LONG) as ended:
        qtbot.mouseClick(scores.score_button, Qt.LeftButton)
    assert ended.args[0]["type"] == "error" and "has no test split" in scores.status.text()
