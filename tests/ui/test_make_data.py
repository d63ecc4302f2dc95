"""Making data in the window: a real dialog drives a real worker that asks the demo model (loaded by MLX), pauses and
resumes across windows, and the preview's edits, deletions and filters reach the dataset the Data step then reads.
"""

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QDialog

from macapp.engine import files
from macapp.engine.data import made_data
from macapp.ui.make_data_dialog import MakeDataDialog
from tests.helpers import QuietHandler, local_server
from tests.ui.conftest import stop_jobs

LONG = 120_000
FERN_QUESTIONS = ["How often should I water a Boston fern?", "Why are the tips of my fern turning brown?",
                  "Can ferns live in a room without windows?", "What soil do maidenhair ferns like best?",
                  "When is the right season to repot a staghorn fern?", "Is misting better than a pebble tray?",
                  "Which ferns are safe around cats and dogs?"]
DEMO = {"endpoint": None, "model": "demo"}


@pytest.fixture
def dialog(qtbot, app_home):
    made = MakeDataDialog()
    qtbot.addWidget(made)
    made.show()
    qtbot.waitUntil(lambda: bool(made.source.options), timeout=10_000)  # the look for servers has answered
    made.source.choose(DEMO)
    yield made
    stop_jobs(qtbot, made)


def choose_instructions(dialog, path, text: str) -> None:
    """Write `text` to the file `path` and choose it, as a person choosing their list of instructions."""
    path.write_text(text)
    dialog.form.ways.button(1).setChecked(True)
    dialog.form.set_instructions(str(path))


def kept_job(name: str, chats) -> Path:
    """A job's folder as a session of it leaves it: what it made, as (question, answer, how the answer ended)."""
    folder = made_data.new_folder(name)
    (folder / made_data.RECIPE).write_text(json.dumps({"way": "topic", "topic": name, **DEMO}))
    for index, (question, answer, finish_reason) in enumerate(chats):
        files.append_line(folder / made_data.EXAMPLES, {"index": index, "finish": [finish_reason], "messages": [
            {"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return folder


def finish(qtbot, dialog):
    with qtbot.waitSignal(dialog.job.ended, timeout=LONG) as ended:
        dialog.start()
    return ended.args[0]


def test_instructions_made_read_changed_deleted_and_used_as_the_data(qtbot, dialog, tmp_path):
    instructions = tmp_path / "questions.txt"
    choose_instructions(dialog, instructions, "How do I keep basil alive?\nCan I water cacti weekly?\n"
                                              "Why do leaves yellow?\n")
    assert finish(qtbot, dialog)["type"] == "done"
    assert dialog.table.table.rowCount() == 3 and dialog.use_button.isEnabled()
    assert [dialog.table.table.item(r, 0).text() for r in range(3)] == instructions.read_text().splitlines()
    dialog.table.table.selectRow(0)
    answer = dialog.table.conversation.boxes[1]
    answer.setPlainText("Water it when the soil is dry.")
    assert dialog.table.conversation.save_button.isEnabled()
    dialog.table.conversation.save_button.click()
    dialog.table.table.selectRow(2)
    dialog.table.delete_button.click()
    with qtbot.waitSignal(dialog.use) as used:
        dialog.use_button.click()
    lines = [json.loads(line) for line in open(used.args[0], encoding="utf-8")]
    assert [m["content"] for m in lines[0]["messages"]] == ["How do I keep basil alive?",
                                                            "Water it when the soil is dry."]
    assert len(lines) == 2 and lines[1]["messages"][0]["content"] == "Can I water cacti weekly?"


def test_paused_resumed_in_another_window_and_nothing_made_twice(qtbot, dialog, app_home, tmp_path):
    choose_instructions(dialog, tmp_path / "many.txt",
                        "".join(f"Question number {i}, how do plants grow?\n" for i in range(6)))
    with qtbot.waitSignal(dialog.job.ended, timeout=LONG) as ended:
        dialog.start()
        with qtbot.waitSignal(dialog.job.event, timeout=LONG,
                              check_params_cb=lambda e: e.get("stage") == "answers" and e["done"] >= 1):
            pass
        dialog.pause_button.click()
        assert dialog.status.text().startswith("Pausing") and not dialog.pause_button.isEnabled()
    assert ended.args[0].get("stopped") and "Paused" in dialog.status.text()
    assert dialog.start_button.text() == "Resume" and dialog.start_button.isVisible()
    folder = dialog.folder
    dialog.close()

    again = MakeDataDialog()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: bool(again.source.options), timeout=10_000)
    row = again.earlier.findData(str(folder))
    assert row > 0 and "paused" in again.earlier.itemText(row)
    again.earlier.setCurrentIndex(row)
    again.earlier.activated.emit(row)
    assert "many.txt" in again.summary.text() and again.what.isHidden() and "Paused with" in again.status.text()
    assert finish(qtbot, again)["type"] == "done"
    indexes = [line["index"] for line in files.read_lines(folder / made_data.EXAMPLES)]
    assert sorted(indexes) == list(range(6))


def test_a_job_that_fails_before_making_anything_gives_the_form_back(qtbot, dialog, tmp_path):
    choose_instructions(dialog, tmp_path / "empty.txt", "\n")
    assert finish(qtbot, dialog)["type"] == "error"
    assert "no instructions in the file" in dialog.status.text() and "Resume" not in dialog.status.text()
    assert dialog.folder is None and dialog.what.isVisible() and dialog.start_button.text() == "Start making"
    assert made_data.made_so_far() == [] and dialog.earlier.count() == 1


def test_filters_show_what_looks_wrong_and_delete_it_together(qtbot, dialog, app_home):
    folder = kept_job("filters", [("Q one?", "A fine answer.", "stop"), ("Q two?", "", "stop"),
                                  ("Q three?", "Cut sh", "length"), ("Q one?", "Another answer.", "stop")])
    dialog.open_folder(folder)
    boxes = dialog.table.filters
    assert [boxes[k].text() for k in ("empty", "cut", "repeat")] == ["empty answer (1)", "cut off (1)",
                                                                      "repeated (1)"]
    boxes["empty"].setChecked(True)
    boxes["cut"].setChecked(True)
    assert dialog.table.table.rowCount() == 2 and dialog.table.delete_button.text() == "Delete the 2 shown"
    dialog.table.delete_button.click()
    assert [e.question for e in made_data.read(folder)] == ["Q one?", "Q one?"]
    boxes["repeat"].setChecked(True)
    assert dialog.table.table.rowCount() == 1
    assert dialog.table.table.item(0, 3).text() == "repeated"
    for box in boxes.values():
        box.setChecked(False)
    dialog.table.table.selectRow(0)
    dialog.table.table.selectionModel().select(dialog.table.table.model().index(1, 0),
                                               QItemSelectionModel.Select | QItemSelectionModel.Rows)
    assert dialog.table.delete_button.text() == "Delete 2 selected"
    files.append_line(folder / made_data.EXAMPLES, {"index": 9, "finish": ["stop"], "messages": [
        {"role": "user", "content": "Q new?"}, {"role": "assistant", "content": "New."}]})
    dialog.table.refresh()  # more came while two were selected: both stay selected
    assert dialog.table.table.rowCount() == 3 and dialog.table.delete_button.text() == "Delete 2 selected"


def test_the_data_step_opens_it_and_takes_its_examples(qtbot, window, app_home):
    window.reached = 1
    window.go(1)
    page = window.page(1)
    made = page.make_data()
    qtbot.addWidget(made)
    folder = kept_job("greetings", [("Hello?", "Hi.", "stop")])
    made.open_folder(folder)
    with qtbot.waitSignal(page.job.ended, timeout=LONG):
        made.use_button.click()
    assert page.plan.sources == [str(folder / made_data.DATASET)] and page.plan.inspection["report"]["count"] == 1
    assert made.result() == QDialog.DialogCode.Accepted and not made.isVisible()  # the window closed itself
    assert page.make_data() is made and made.isVisible()  # opened again: the same window
    made.open_folder(folder)
    made.table.table.selectRow(0)
    made.table.conversation.boxes[1].setPlainText("Hello to you.")
    with qtbot.waitSignal(page.job.ended, timeout=LONG):  # a change to the data in use: it is read again
        made.table.conversation.save_button.click()
    assert json.loads((folder / made_data.DATASET).read_text())["messages"][1]["content"] == "Hello to you."


@pytest.fixture
def server_that_goes_away():
    """An OpenAI-compatible server that writes one list of questions and then drops every request until it is
    `back`, as a model server quit midway would. A stand-in: no model that writes good questions runs here, and
    what is tested is what Tailor keeps when its server goes."""
    state = {"asked": 0, "back": False}
    questions = "\n".join(f"{n}. {q}" for n, q in enumerate(FERN_QUESTIONS, start=1))

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.answer({"object": "list", "data": [{"id": "stand-in", "object": "model"}]})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state["asked"] += 1
            if state["asked"] > 1 and not state["back"]:
                self.close_connection = True  # gone: the connection ends without an answer
                return
            text = questions if state["asked"] == 1 else "Water it once a week and keep it out of the sun."
            self.answer({"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})

    with local_server(Handler) as address:
        state["url"] = f"http://{address}/v1"
        yield state


def test_a_server_lost_midway_keeps_the_folder_and_its_questions_and_resume_uses_them(qtbot, dialog,
                                                                                     server_that_goes_away):
    dialog.source.choose({"endpoint": server_that_goes_away["url"]})
    dialog.form.ways.button(0).setChecked(True)
    dialog.form.topic.setText("ferns")
    dialog.form.count.setValue(7)
    ended = finish(qtbot, dialog)
    assert ended["type"] == "error"
    folder = dialog.folder
    assert folder is not None and folder.is_dir() and made_data.questions_written(folder) == 7
    said = dialog.status.text()
    assert "The 7 questions written so far are kept" in said and said.endswith("Press Resume to try again.")
    assert dialog.start_button.text() == "Resume" and "command" not in said
    assert [made.folder for made in made_data.made_so_far()] == [folder]  # listed with the other jobs
    server_that_goes_away["back"] = True
    assert finish(qtbot, dialog)["type"] == "done"
    made = made_data.read(folder)
    assert sorted(example.question for example in made) == sorted(FERN_QUESTIONS)  # the questions kept, answered
    assert server_that_goes_away["asked"] == 1 + 2 + 7  # one list of questions, the two tries lost, seven answers
