"""The Data step on files with problems: where each problem is, the line itself, column mapping, splits.
"""

import signal

from PySide6.QtCore import Qt

from macapp.engine.data.datasets import NO_SPLIT
from macapp.engine.runs import runs
from macapp.ui.pages.data_page import DATA_FILTER
from tests import workbooks
from tests.bad_inputs import BAD_INPUTS, CHAT, LINE
from tests.helpers import write_jsonl
from tests.workbooks import EMAILS

LONG = 120_000


def inspect(qtbot, page, sources):
    with qtbot.waitSignal(page.job.ended, timeout=LONG):
        page.set_sources([str(s) for s in sources], None)


def test_a_broken_line_is_listed_with_its_place_and_shown(qtbot, window, data_page, tmp_path):
    name, content, place, message = BAD_INPUTS["bad-json"]
    path = tmp_path / name
    path.write_bytes(content)
    inspect(qtbot, data_page, [path])
    assert not data_page.ready() and not window.next.isEnabled()
    assert data_page.tabs.currentIndex() == 1 and data_page.tabs.tabText(1).startswith("Problems (")
    texts = [data_page.problems.item(i).text() for i in range(data_page.problems.count())]
    row = next(i for i, text in enumerate(texts) if f"{name}, line {place[1:]}: " in text)  # "d.jsonl:2", in words
    assert message[0].upper() + message[1:] in texts[row]
    data_page.problems.setCurrentRow(row)
    shown = data_page.line_view.toPlainText()
    assert '{"messages": [}' in shown and "Line 2" in shown and "How to fix it" in shown
    assert "must be fixed" in data_page.status.text()


def test_warnings_do_not_block_and_fixable_files_can_go_on(qtbot, window, data_page, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [CHAT] * 3 + [LINE.decode().replace("Hi", f"Hi {i}") for i in range(20)])
    inspect(qtbot, data_page, [path])
    assert data_page.ready() and window.next.isEnabled()
    assert data_page.problems.item(0).text().endswith("d.jsonl, line 2: Repeats d.jsonl, line 1")


def test_columns_named_as_people_name_them_are_read_and_shown_for_confirmation(qtbot, window, data_page, tmp_path):
    """42 comments and replies in a CSV with the columns Comment and Response: no error, the mapping shown."""
    path = tmp_path / "replies.csv"
    path.write_text("Comment,Response\n" + "".join(f"Lovely dish {i}!,Thank you {i}!\n" for i in range(42)),
                    encoding="utf-8")
    inspect(qtbot, data_page, [path])
    assert data_page.ready() and window.next.isEnabled()
    assert data_page.status.text().startswith("42 examples of questions with answers")
    assert data_page.mapping_box.isVisible() and not data_page.mapping_box.isHidden()
    assert "reads \u201cComment\u201d as the question and \u201cResponse\u201d as the answer" in \
        data_page.mapping_note.text()
    assert (data_page.prompt_column.currentText(), data_page.answer_column.currentText()) == ("Comment", "Response")
    assert window.plan.mapping == {"prompt": "Comment", "completion": "Response"}


def test_unknown_columns_are_mapped_in_the_page_and_remembered(qtbot, window, data_page, tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("title,body\n" + "".join(f"What is {i}?,It is {i}.\n" for i in range(30)), encoding="utf-8")
    inspect(qtbot, data_page, [path])
    assert not data_page.ready() and data_page.mapping_box.isVisible()
    assert "cannot tell" in data_page.mapping_note.text()
    problem = data_page.problems.item(0).text()
    assert "Tailor cannot tell which column holds the question" in problem and "{" not in problem
    assert [data_page.prompt_column.itemText(i) for i in range(3)] == ["(none)", "title", "body"]
    data_page.prompt_column.setCurrentText("title")
    data_page.answer_column.setCurrentText("body")
    data_page.system_prompt.setText("Answer briefly.")
    with qtbot.waitSignal(data_page.job.ended, timeout=LONG):
        qtbot.mouseClick(data_page.mapping_box.findChild(type(window.next), "use_columns"), Qt.LeftButton)
    chosen = {"prompt": "title", "completion": "body", "text": None, "chosen": None, "rejected": None,
              "system": "Answer briefly."}
    assert window.plan.mapping == chosen
    assert data_page.ready() and window.plan.inspection["report"]["count"] == 30
    inspect(qtbot, data_page, [tmp_path / "other.jsonl"])  # another file, then this one again
    with qtbot.waitSignal(data_page.job.ended, timeout=LONG):
        data_page.set_sources([str(path)], data_page._remembered([str(path)]))
    assert window.plan.mapping == chosen and data_page.ready()
    assert "you chose" in data_page.mapping_note.text()


def test_broken_lines_can_be_left_out_saying_how_many(qtbot, window, data_page, tmp_path):
    path = tmp_path / "chats.jsonl"
    lines = [LINE.decode().replace("Hi", f"Hi {i}") for i in range(12)]
    lines.insert(4, '{"prompt": "Hi" "completion": "Hello"}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    inspect(qtbot, data_page, [path])
    assert not data_page.ready()
    problem = next(data_page.problems.item(i).text() for i in range(data_page.problems.count()))
    assert "chats.jsonl, line 5: A comma is missing before `\"completion\"`" in problem
    box = data_page.skip_broken
    assert box.isVisible() and box.text() == "Leave out the 1 broken line and train on the 12 good examples"
    with qtbot.waitSignal(data_page.job.ended, timeout=LONG):
        box.setChecked(True)
    assert data_page.ready() and window.plan.skip_broken and window.plan.inspection["report"]["skipped"] == 1
    assert box.text().startswith("1 broken line is left out")


def test_the_split_sliders_show_counts_and_refuse_an_empty_training_set(qtbot, window, data_page):
    box = data_page.split_box
    box.valid_slider.setValue(20)
    box.test_slider.setValue(0)
    assert window.plan.ratios == (0.8, 0.2, 0.0)
    said = box.note.text()  # the demo's 340 comments hold 3 that repeat others but for a smiley: kept once
    assert said.startswith("Training 270 \u00b7 checked while training 67 \u00b7 kept for the Test step 0.")
    assert "3 examples repeat another (3 only in case, spaces or punctuation): each is kept once." in said
    assert data_page.ready()


def test_a_workbook_is_read_its_sheets_offered_and_another_chosen(qtbot, window, data_page, tmp_path):
    assert "*.xlsx" in DATA_FILTER and "*.numbers" in DATA_FILTER and "*.ods" in DATA_FILTER
    drafts = [("Question", "Answer"), *[(f"Draft question {i}?", f"Draft answer {i}.") for i in range(12)]]
    book = workbooks.xlsx(tmp_path / "support.xlsx", {"Emails": [("Customer email", "Our reply", None), *EMAILS],
                                                      "Drafts": drafts})
    inspect(qtbot, data_page, [book])
    assert data_page.sheet_row.isVisibleTo(data_page) and data_page.sheet.currentText() == "Emails"
    assert [data_page.sheet.itemText(i) for i in range(data_page.sheet.count())] == ["Emails", "Drafts"]
    assert data_page.status.text().startswith("30 examples of questions with answers") and data_page.ready()
    assert window.plan.mapping == {"prompt": "Customer email", "completion": "Our reply", "sheet": "Emails"}
    data_page.sheet.setCurrentIndex(1)
    with qtbot.waitSignal(data_page.job.ended, timeout=LONG):
        data_page.sheet.activated.emit(1)
    assert window.plan.mapping == {"prompt": "Question", "completion": "Answer", "sheet": "Drafts"}
    assert data_page.status.text().startswith("12 examples") and data_page.table.item(0, 0).text().endswith("row 2")


def test_repeated_rows_are_said_and_never_held_out_and_can_be_kept_in_training(qtbot, window, data_page, tmp_path):
    rows = [("Question", "Answer"), *EMAILS, *EMAILS[:5], *[(q.upper(), a) for q, a in EMAILS[:5]]]
    inspect(qtbot, data_page, [workbooks.sheets_csv(tmp_path / "export.csv", rows)])
    box = data_page.split_box
    assert box.repeats.isVisibleTo(box) and not box.repeats.isChecked() and window.plan.repeats == "drop"
    assert box.note.text() == ("Training 24 \u00b7 checked while training 3 \u00b7 kept for the Test step 3. 10 "
                               "examples repeat another (5 only in case, spaces or punctuation): each is kept once.")
    assert window.plan.split_sizes() == (24, 3)
    box.repeats.setChecked(True)
    assert window.plan.repeats == "train" and window.plan.split_sizes() == (34, 3)
    assert box.note.text().endswith("all 15 copies are trained on, none is checked.")


def test_too_few_examples_are_said_before_training_and_can_all_be_trained_on(qtbot, window, data_page, tmp_path):
    from tests.ui.test_wizard import continue_to

    inspect(qtbot, data_page, [workbooks.sheets_csv(tmp_path / "three.csv", [("Question", "Answer"), *EMAILS[:3]])])
    box = data_page.split_box
    assert not data_page.ready() and box.no_split.isVisibleTo(box)
    assert box.note.text().startswith("Only 3 different examples: too few to keep some apart for checking.")
    box.no_split.setChecked(True)
    assert window.plan.ratios == NO_SPLIT and data_page.ready()
    assert box.note.text().startswith("Training 3 \u00b7 checked while training 0 \u00b7 kept for the Test step 0. "
                                      "Nothing checks whether it learned or only memorised")
    continue_to(qtbot, window, 2)
    settings = window.plan.settings  # the preset never goes past the passes its own warning is about
    assert settings["batch_size"] <= 2 and settings["iters"] * settings["batch_size"] / 3 <= 10
    assert not any("times" in said for said in window.plan.warnings())
    assert any(said.startswith("Only 3 training examples: ") for said in window.plan.warnings())
    window.plan.settings["batch_size"] = 4  # what the worker would refuse is refused before a run is made
    train = window.page(2)
    train.start()
    assert "Only 3 training examples for a batch size of 4" in train.status.text() and runs.list_runs() == []


def test_a_missing_file_is_said_plainly(qtbot, data_page, tmp_path):
    inspect(qtbot, data_page, [tmp_path / "nowhere.jsonl"])
    assert not data_page.ready()
    assert data_page.problems.item(0).text().endswith("nowhere.jsonl: File not found")


def test_choosing_other_data_while_reading_ends_the_first_reading(qtbot, data_page, tmp_path):
    big = write_jsonl(tmp_path / "big.jsonl", [LINE.decode().replace("Hi", f"Hi {i}") for i in range(50_000)])
    small = write_jsonl(tmp_path / "small.jsonl", [LINE.decode().replace("Hi", f"Hi {i}") for i in range(30)])
    data_page.set_sources([str(big)], None)
    first = data_page.job.process
    inspect(qtbot, data_page, [small])
    # ended by SIGTERM (before the worker set its handler, or through it), not left reading 50,000 lines for nobody
    assert first.wait(timeout=30) in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert data_page.plan.inspection["report"]["count"] == 30


def test_a_file_dropped_on_the_page_is_read(qtbot, data_page, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, QUrl
    from PySide6.QtGui import QDropEvent

    path = write_jsonl(tmp_path / "dropped.jsonl", [LINE.decode().replace("Hi", f"Hi {i}") for i in range(25)])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(QPoint(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(data_page.job.ended, timeout=LONG):
        data_page.dropEvent(drop)
    assert data_page.plan.sources == [str(path)] and data_page.path.text() == "dropped.jsonl"
    assert data_page.plan.inspection["report"]["count"] == 25
