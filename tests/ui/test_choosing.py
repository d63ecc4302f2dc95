"""Teaching by choosing in the window: a person's own pairs read and shown side by side, the Train step offering DPO
and ORPO with their strength, and the chart of how often the model picks the better answer."""

from macapp.engine.runs.run_state import RunState
from macapp.ui.widgets.training_charts import TrainingCharts
from tests.ui.test_data_page import LONG, inspect


def test_own_pairs_are_read_shown_side_by_side_and_taught_by_choosing(qtbot, window, data_page, tmp_path):
    path = tmp_path / "replies.csv"
    path.write_text("Viewer comment,Good reply,Bad reply\n" + "".join(
        f"Lovely dish {i}!,Thank you {i}! -- Sam,Thank you so much for your kind message number {i}.\n"
        for i in range(30)), encoding="utf-8")
    inspect(qtbot, data_page, [path])
    assert data_page.ready() and window.next.isEnabled()
    assert data_page.status.text().startswith("30 pairs of questions with a better and a worse answer")
    assert "\u201cGood reply\u201d as the better answer and \u201cBad reply\u201d as the worse one" in \
        data_page.mapping_note.text()
    headers = [data_page.table.horizontalHeaderItem(c).text() for c in range(data_page.table.columnCount())]
    assert headers == ["where", "Question (\u201cViewer comment\u201d)", "Better answer (\u201cGood reply\u201d)",
                       "Worse answer (\u201cBad reply\u201d)"]

    window.go(2)
    train = window.page(2)
    assert not train.choosing.isHidden() and train.choosing.currentData() == "dpo"
    assert train.plan.train_config().train_mode == "dpo" and train.plan.train_config().learning_rate <= 5e-5
    train.choosing.setCurrentIndex(1)
    assert train.plan.train_config().train_mode == "orpo"
    train.advanced_toggle.setChecked(True)
    assert train.form.inputs["beta"].isVisible() and train.form.inputs["beta"].value() == 0.1
    train.form.inputs["beta"].setValue(0.3)
    assert train.plan.train_config().beta == 0.3

    window.go(1)  # examples again: the choosing is neither offered nor used
    examples = tmp_path / "examples.csv"
    examples.write_text("Comment,Response\n" + "".join(f"Dish {i}?,Yes {i}.\n" for i in range(30)), encoding="utf-8")
    inspect(qtbot, data_page, [examples])
    window.go(2)
    assert train.choosing.isHidden() and train.plan.train_config().train_mode == "sft"
    assert not train.form.inputs["beta"].isVisible()


def test_the_choice_chart_shows_for_a_run_taught_by_choosing_only(qtbot):
    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.show()
    start = [{"type": "started", "pid": 1}]
    examples = start + [{"type": "train", "iteration": 10, "total": 20, "train_loss": 1.0}]
    charts.take(RunState.replay(examples))
    assert charts.choice.isHidden() and charts.choice.count("train") == 0
    pairs = start + [{"type": "val", "iteration": 0, "val_loss": 0.69, "val_preference_accuracy": 0.5},
                     {"type": "train", "iteration": 10, "total": 20, "train_loss": 0.4, "preference_accuracy": 0.75},
                     {"type": "val", "iteration": 10, "val_loss": 0.3, "val_preference_accuracy": 0.9}]
    charts.clear()
    charts.take(RunState.replay(pairs))
    assert not charts.choice.isHidden()
    assert charts.choice.count("train") == 1 and charts.choice.count("val") == 2
    charts.clear()
    assert charts.choice.isHidden()


def test_a_finished_run_goes_on_by_choosing_in_one_button(qtbot, window, run_copy, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("Question,Better answer,Worse answer\n" + "".join(
        f"Dish {i}?,Yes! -- Sam,Thank you so much for your kind message about dish {i}.\n" for i in range(20)),
        encoding="utf-8")
    window.open_run(run_copy)
    train = window.page(2)
    assert train.ready() and not train.choose_next.isHidden()
    data = window.page(1)
    with qtbot.waitSignal(data.job.ended, timeout=LONG):
        train.teach_by_choosing([str(pairs)])
    assert window.current == 1 and data.status.text().startswith("20 pairs")
    window.go(2)
    settings = train.plan.train_config()
    assert settings.train_mode == "dpo" and settings.resume_adapter_file == str(
        run_copy / "adapters" / "best" / "adapters.safetensors")
    assert train.choose_next.isHidden()  # a run taught by choosing is not offered it again
    train.plan.set_length("steps", 4)
    with qtbot.waitSignal(train.job.ended, timeout=LONG) as ended:
        train.start()
    assert ended.args[0]["type"] == "done", ended.args
    assert "resume_adapter_file" in (train.plan.run_dir / "config.yaml").read_text()


def test_the_persons_picks_teach_the_next_run(qtbot, window, run_copy):
    from macapp.engine.evaluate import picks

    window.open_run(run_copy)
    window.go(3)
    test = window.page(3)
    assert test.teach_picks.isHidden()  # no picks yet
    for i in range(6):  # five picks of one answer, and one "as good", which teaches nothing
        answers = {"base": f"Thank you so much for your message {i}.", "tuned": f"Thanks {i}! -- Sam"}
        picks.add(run_copy, picks.record(f"Comment {i}?", answers, ("base", "tuned"), "B" if i < 5 else "same"))
    test.show_verdict()
    assert not test.teach_picks.isHidden() and test.teach_picks.text() == "Teach it your 5 picks\u2026"
    data = window.page(1)
    with qtbot.waitSignal(data.job.ended, timeout=LONG):
        test.teach_picks.click()
    assert window.current == 1 and data.status.text().startswith("5 pairs")
    written = (run_copy / picks.PAIRS_FILE).read_text().splitlines()
    assert len(written) == 5 and '"chosen": "Thanks 0! -- Sam"' in written[0]
    assert window.plan.train_config().train_mode == "dpo"
    assert window.plan.settings["resume_adapter_file"].startswith(str(run_copy))
