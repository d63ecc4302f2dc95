"""What the window shows is what is true: a run reopened after "Quit, keep training", a person's own small CSV
with their own column names trained and started again, other data chosen after a run, and a model left unnamed.
Real workers on the demo model throughout."""

from PySide6.QtCore import Qt

from macapp.engine.runs import runs
from macapp.engine.train.run_spec import RunSpec
from macapp.ui.widgets.model_picker import HUB
from tests import workbooks
from tests.ui.test_wizard import LONG, continue_to, set_advanced, start_long_run


def test_reopening_after_quit_keep_training_on_a_resumed_run_shows_it_finish(qtbot, window):
    """It once showed "Stopped at step 88… Press Resume", and the menu-bar item stayed on "Preparing the run"."""
    from macapp.ui.tray import Tray
    from macapp.ui.wizard import MainWindow

    train = start_long_run(qtbot, window, iters=120)
    with qtbot.waitSignal(train.job.ended, timeout=LONG):
        train.stop()
    assert train.run.phase == "stopped" and train.resume_button.isVisible()
    train.resume()
    qtbot.waitUntil(lambda: train.run.phase == "training", timeout=LONG)
    train.job.timer.stop()  # "Quit, keep training": this window stops listening and goes
    window.close()
    reopened = MainWindow()
    qtbot.addWidget(reopened)
    tray = Tray(reopened)
    qtbot.waitUntil(lambda: reopened.current == 2, timeout=10_000)
    follower = reopened.page(2)
    assert follower.job.pid == train.job.pid and follower.job.process is None  # it follows the worker it found
    assert follower.run.sessions == 2 and follower.run.live and "Stopped" not in follower.status.text()
    assert tray.status.run is follower.job.state and tray.status.state == "training"
    assert not follower.start_button.isEnabled() and follower.stop_button.isEnabled()
    with qtbot.waitSignal(follower.job.ended, timeout=LONG):
        pass
    assert follower.run.phase == "finished" and follower.status.text().startswith("Finished after 120 steps")
    qtbot.waitUntil(lambda: follower.charts.loss.count("train") == len(follower.run.train_points), timeout=5_000)
    assert follower.charts.loss.series["train"].x[0] == 10  # the run from its first report on
    assert tray.status.state == "finished" and tray.notices[-1].title == "Fine-tuning finished"
    tray.rebuild()
    assert ("Stop training", False) in tray.items() and "Finished 120 steps" in tray.items()[0][0]
    assert follower.ready() and not follower.resume_button.isVisible() and reopened.next.isEnabled()
    (listed,) = runs.list_runs()
    assert listed["status"] == "finished"
    train.job.running = False  # the first window's bridge never saw the end; nothing left to stop


def test_a_small_csv_with_its_own_columns_trains_well_and_starts_again_on_itself(qtbot, window, tmp_path):
    csv = tmp_path / "replies.csv"
    csv.write_text("Comment,Response\n" + "".join(f"Lovely dish {i}!,Thank you so much {i}!\n" for i in range(42)),
                   encoding="utf-8")
    continue_to(qtbot, window, 1)
    data = window.page(1)
    qtbot.waitUntil(lambda: not data.job.running, timeout=LONG)
    with qtbot.waitSignal(data.job.ended, timeout=LONG):
        data.set_sources([str(csv)], None)
    assert data.ready() and window.plan.mapping == {"prompt": "Comment", "completion": "Response"}
    continue_to(qtbot, window, 2)
    train = window.page(2)
    settings = window.plan.settings
    assert window.plan.split_sizes() == (34, 4) and settings["batch_size"] == 2 and settings["iters"] == 68
    assert train.length_note.text().startswith("68 steps: 4 times through your 34 examples.")
    warnings = train.data_note.text()
    assert "The demo model is tiny" in warnings and "Only 34 training examples: " in warnings
    window.plan.memory_limit = 8e9
    with qtbot.waitSignal(train.job.ended, timeout=LONG):
        qtbot.mouseClick(train.start_button, Qt.LeftButton)
    run = train.run
    assert run.phase == "finished" and run.step == 68
    assert [p[0] for p in run.val_points] == [0, 8, 16, 24, 32, 40, 48, 56, 64, 68]  # after those steps
    assert train.charts.loss.count("val") == len(run.val_points)
    assert (window.plan.run_dir / "adapters" / "best" / "adapters.safetensors").exists()
    assert f"at step {run.best[0]}, kept as the best adapter" in train.status.text()
    first = window.plan.run_dir

    window.go(4)  # Export reached; then other data: the run shown no longer belongs to it
    window.go(1)
    with qtbot.waitSignal(data.job.ended, timeout=LONG):
        qtbot.mouseClick(data.use_demo, Qt.LeftButton)
    assert window.plan.run_dir is None and window.reached == 2
    window.go(2)
    assert train.status.text() == "Press Start training when you are ready." and not window.next.isEnabled()
    assert train.start_button.text() == "Start training" and train.charts.loss.count("train") == 0

    window.go(5)  # the CSV run, opened from Past runs, starts again on the CSV with its own settings
    listed = window.page(5)
    row = next(r for r, run in enumerate(listed.rows) if run["path"] == str(first))
    listed.table.selectRow(row)
    qtbot.mouseClick(listed.open_button, Qt.LeftButton)
    assert window.current == 2 and window.plan.sources == [str(csv)] and window.plan.settings["iters"] == 68
    assert train.start_button.text() == "Start again" and window.steps.currentRow() == 2
    assert window.steps.item(2).text().startswith("\u25cf") and not window.runs_button.isChecked()
    qtbot.mouseClick(train.start_button, Qt.LeftButton)
    again = RunSpec.load(window.plan.run_dir)
    assert window.plan.run_dir != first and again.sources == [str(csv)] and again.mapping == window.plan.mapping
    train.job.cancel()  # what it trains on is known from its spec; no need to train it


def test_reopened_while_it_trains_every_step_shows_the_persons_own_workbook_and_starts_it_again(qtbot, window,
                                                                                                tmp_path):
    """Reopening Tailor to follow a run once showed the demo's data and settings, and Start again trained the demo."""
    from macapp.ui.wizard import MainWindow

    rows = [("Customer email", "Our reply", None), *[(q, a, None) for q, a in workbooks.EMAILS]]
    book = workbooks.xlsx(tmp_path / "support.xlsx", {"Read me": [("Replies we sent",)], "Emails": rows})
    continue_to(qtbot, window, 1)
    data = window.page(1)
    qtbot.waitUntil(lambda: not data.job.running, timeout=LONG)
    with qtbot.waitSignal(data.job.ended, timeout=LONG):
        data.set_sources([str(book)], None)
    assert data.ready() and data.sheet_row.isVisibleTo(data) and data.sheet.currentText() == "Emails"
    chosen = {"prompt": "Customer email", "completion": "Our reply", "sheet": "Emails"}
    assert window.plan.mapping == chosen
    data.split_box.test_slider.setValue(20)
    continue_to(qtbot, window, 2)
    train = window.page(2)
    set_advanced(train, iters=3000, steps_per_eval=50)
    window.plan.memory_limit = 8e9
    train.start()
    qtbot.waitUntil(lambda: train.charts.loss.count("train") >= 1, timeout=LONG)
    first = window.plan.run_dir
    train.job.timer.stop()  # "Quit, keep training"
    window.close()

    reopened = MainWindow()
    qtbot.addWidget(reopened)
    qtbot.waitUntil(lambda: reopened.current == 2, timeout=10_000)
    follower, plan = reopened.page(2), reopened.plan
    assert follower.job.pid == train.job.pid and plan.run_dir == first
    assert plan.sources == [str(book)] and plan.mapping == chosen and plan.ratios == (0.7, 0.1, 0.2)
    assert plan.settings["iters"] == 3000 and plan.model == "demo"
    reopened.go(1)
    shown = reopened.page(1)
    qtbot.waitUntil(lambda: plan.inspection is not None, timeout=LONG)
    assert shown.path.text() == "support.xlsx" and shown.sheet.currentText() == "Emails"
    assert shown.split_box.test_slider.value() == 20 and "Training 21" in shown.split_box.note.text()
    with qtbot.waitSignal(follower.job.ended, timeout=LONG):
        follower.stop()
    reopened.go(2)
    assert follower.start_button.text() == "Start again"
    qtbot.mouseClick(follower.start_button, Qt.LeftButton)
    again = RunSpec.load(plan.run_dir)
    assert plan.run_dir != first and (again.sources, again.mapping, again.ratios) == ([str(book)], chosen,
                                                                                      (0.7, 0.1, 0.2))
    qtbot.waitUntil(lambda: follower.charts.loss.count("train") >= 1, timeout=LONG)  # its data made, training
    with qtbot.waitSignal(follower.job.ended, timeout=LONG):
        follower.stop()
    split = [len((plan.run_dir / "data" / f"{name}.jsonl").read_text().splitlines()) for name in ("train", "test")]
    assert split == [21, 6]  # the workbook's 30 emails, trained on again
    train.job.running = False  # the first window's bridge never saw the end; nothing left to stop


def test_a_hugging_face_model_left_unnamed_is_not_trained(qtbot, window):
    window.reached = 2
    window.go(2)
    train = window.page(2)
    train.picker.kind.setCurrentIndex(HUB)
    qtbot.mouseClick(train.start_button, Qt.LeftButton)
    assert train.status.text().startswith("Cannot start: No model chosen") and not train.job.running
    assert runs.list_runs() == []
