"""The window's parts on their own: settings, the plan behind the steps, charts, the step list, launch.
"""

import subprocess
import sys

from PySide6.QtCore import QByteArray, QSettings

from macapp import jobs
from macapp.engine.models import demo
from macapp.engine.runs.run_state import RunState
from macapp.engine.train import config
from macapp.engine.train.run_spec import RunSpec
from macapp.ui.plan import Plan
from macapp.ui.settings import Settings
from macapp.ui.widgets.model_picker import FOLDER, HUB


def test_settings_are_typed_and_kept_in_the_test_home(app_home, qtbot):
    settings = Settings()
    assert settings.store.fileName() == str(app_home / "settings.ini")
    assert settings.preferred_model == "demo" and settings.last_data_folder == ""
    settings.store.setValue("folders/data", 42)  # a value of the wrong type comes back as the type asked for
    assert Settings().last_data_folder == "42"
    settings.preferred_model = "/models/mistral"
    settings.sync()
    assert QSettings(str(app_home / "settings.ini"), QSettings.IniFormat).value("model/preferred") == "/models/mistral"


def test_the_window_remembers_its_geometry(qtbot, app_home):
    from macapp.ui.wizard import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.setGeometry(40, 50, 720, 520)  # inside the offscreen screen (800 x 600)
    first.close()
    assert not Settings().geometry.isEmpty()
    second = MainWindow()
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (720, 520)
    assert isinstance(Settings().geometry, QByteArray)


def test_the_preferred_model_is_the_one_the_train_step_shows(qtbot, app_home, tmp_path):
    from macapp.ui.wizard import MainWindow

    Settings().preferred_model = str(tmp_path)
    window = MainWindow()
    qtbot.addWidget(window)
    picker = window.page(2).picker
    assert window.plan.model == picker.name() == str(tmp_path) and picker.kind.currentIndex() == FOLDER
    picker.show_model("someone/some-model")
    assert picker.name() == "someone/some-model" and window.plan.model == str(tmp_path)  # shown, not announced


def test_presets_and_methods_make_a_valid_config_and_a_memory_plan(app_home):
    plan = Plan(memory_limit=16 * 10**9)
    assert plan.settings["iters"] == 200 and plan.settings["lora_parameters"]["rank"] == 16  # the demo's own
    plan.apply_preset("quick")
    assert plan.train_config().iters == 100
    plan.method = "full"
    assert plan.train_config().fine_tune_type == "full"
    full = plan.memory_plan()["predicted_bytes"]
    plan.method = "qlora"
    assert plan.memory_plan()["predicted_bytes"] < full
    plan.memory_limit = 10**6
    too_big = plan.memory_plan()
    assert too_big["status"] == "too_big" and "suggestion" in too_big


def test_a_model_of_its_own_gets_generic_settings(app_home, tmp_path):
    plan = Plan(model=str(tmp_path))
    plan.apply_preset("balanced")
    assert plan.settings["learning_rate"] == 1e-5 and plan.settings["iters"] == 600
    assert plan.memory_plan() is None  # no config.json there yet: no guess


def test_a_new_run_holds_the_config_and_a_job_that_prepares_the_data(app_home):
    plan = Plan()
    job = plan.new_run()
    saved = config.load(plan.run_dir / "config.yaml")
    assert saved.data == str(plan.run_dir / "data") and saved.model == "demo" and saved.iters == 200
    assert job == jobs.TrainJob(run=str(plan.run_dir))
    spec = RunSpec.load(plan.run_dir)
    assert spec.sources == [str(demo.REPLIES)] and spec.quantize_bits == 0 and spec.preset == "balanced"
    assert plan.run_dir.name.endswith("-demo")


def test_the_demo_task_is_known_by_its_replies_contents_wherever_the_app_is(app_home, tmp_path):
    """macOS runs a downloaded app from a random place until it is moved: the demo's replies are known by contents,
    and a run made on them before the move reopens on them where they are now."""
    import json

    from macapp.engine.data import datasets
    from macapp.engine.train import run_spec

    copy = tmp_path / "replies.jsonl"
    copy.write_bytes(demo.REPLIES.read_bytes())
    assert Plan(sources=[str(copy)]).is_demo_task
    copy.write_bytes(demo.REPLIES.read_bytes().replace(b"Sam", b"Sal", 1))  # the same size, other data
    assert not Plan(sources=[str(copy)]).is_demo_task
    assert not Plan(sources=[str(tmp_path / "gone.jsonl")]).is_demo_task

    plan = Plan()
    plan.new_run()
    datasets.prepare([demo.REPLIES], plan.run_dir / "data", plan.ratios)
    spec = plan.run_dir / run_spec.FILE
    before_the_move = "/private/var/folders/xy/AppTranslocation/Tailor.app/Contents/Resources/demo/replies.jsonl"
    spec.write_text(json.dumps({**json.loads(spec.read_text()), "sources": [before_the_move]}))
    reopened = Plan(sources=[str(copy)])
    reopened.open_run(plan.run_dir)
    assert reopened.sources == [str(demo.REPLIES)] and reopened.is_demo_task


def test_charts_collect_points_and_draw_them_only_on_refresh(qtbot):
    from macapp.ui.widgets.training_charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    run = RunState()
    for step in range(1, 100_001):
        run.apply({"type": "train", "iteration": step, "total": 100_000, "train_loss": 1 / step,
                   "tokens_per_second": 100.0})
    charts.take(run)
    assert charts.loss.count("train") == 100_000
    assert charts.loss.curves["train"].xData is None or len(charts.loss.curves["train"].xData) == 0
    charts.refresh(everything=True)
    assert len(charts.loss.curves["train"].xData) == 100_000
    assert charts.loss.plotItem.clipToViewMode() and charts.loss.plotItem.downsampleMode()[1]
    charts.take(run.apply({"type": "plan", "limit_bytes": 8 * 10**9}))
    assert charts.loss.count("train") == 100_000  # nothing taken twice
    assert charts.memory.limit_line.value() == 8.0 and charts.memory.limit_line.isVisible()


def test_the_step_list_lets_the_user_go_back_but_not_skip_ahead(qtbot):
    from macapp.ui.widgets.step_list import StepList

    steps = StepList(["Check", "Data", "Train", "Test", "Export"])
    qtbot.addWidget(steps)
    steps.show_state(2, 2)
    assert [steps.state(i) for i in range(5)] == ["done", "done", "current", "todo", "todo"]
    with qtbot.assertNotEmitted(steps.chosen):
        steps._clicked(3)
    with qtbot.waitSignal(steps.chosen) as chosen:
        steps._clicked(0)
    assert chosen.args == [0]


def test_the_window_opens_without_loading_mlx_or_the_charting_library(app_home):
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from macapp.ui.wizard import MainWindow\nw = MainWindow(); w.show(); app.processEvents()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('mlx', 'pyqtgraph'))}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_page_loads_mlx_in_the_window_process(app_home):
    """Every page's work runs in workers; the window itself never needs MLX."""
    code = ("import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
            "from macapp.ui.wizard import MainWindow\nw = MainWindow()\n"
            "for i in range(6): w.page(i).enter()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('mlx')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_tailor_app_opens_the_window_and_a_second_launch_brings_it_forward(app_home):
    import subprocess
    import sys
    import time

    from macapp.ui import single
    from tests.helpers import tailor

    result = tailor("app", "--timing", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "window shown" in result.stdout
    first = subprocess.Popen([sys.executable, "-m", "macapp", "app"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):  # until the first one listens (asking it to show itself, as a launch would)
            if single.hand_over():
                break
            time.sleep(0.1)
        second = tailor("app", "--timing", timeout=60)
        assert second.returncode == 0 and "Tailor is already open" in second.stderr
        assert first.poll() is None  # the first goes on; no second window or menu-bar item
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_without_a_screen_tailor_app_runs_the_demo_in_the_terminal(app_home, monkeypatch, capsys):
    from macapp import cli
    from macapp.cli import demo

    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    ran = []
    monkeypatch.setattr(demo, "cmd_demo", lambda args: ran.append(args.iters) or 0)  # the demo has tests of its own
    assert cli.main(["app"]) == 0 and ran == [200]
    assert "No screen here" in capsys.readouterr().err


def test_a_model_that_cannot_be_downloaded_is_said_plainly(qtbot, app_home, monkeypatch):
    from macapp.ui.widgets.model_picker import ModelPicker

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub cannot be reached here; offline mode stands for that
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.kind.setCurrentIndex(HUB)
    picker.repo.setText("not a repo")
    picker._repo_entered()
    assert "owner/name" in picker.message.text()
    picker.repo.setText("someone/some-model")
    with qtbot.waitSignal(picker.job.ended, timeout=60_000) as ended:
        picker.download.click()
    assert ended.args[0]["type"] == "error"
    assert "someone/some-model is not on this computer, and downloading is turned off" in picker.message.text()
    assert picker.download.isEnabled() and not picker.progress.isVisible()


def test_a_model_folder_without_weights_is_refused_with_the_reason(qtbot, tmp_path):
    from macapp.ui.widgets.model_picker import ModelPicker

    picker = ModelPicker()
    qtbot.addWidget(picker)
    (tmp_path / "config.json").write_text("{}")
    with qtbot.assertNotEmitted(picker.changed):
        picker.select_folder(str(tmp_path))
    assert "no model*.safetensors" in picker.message.text()
