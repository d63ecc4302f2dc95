"""The Train step's "How long" row: steps, times through the person's data or minutes, turned into steps with the
data's size and this Mac's measured speed, and the line that says what they come to."""

import pytest

from macapp.engine.errors import ConfigError
from macapp.engine.train import config
from macapp.engine.train.run_spec import RunSpec
from macapp.engine.train.training_length import Length
from macapp.engine.words import THIS_COMPUTER
from macapp.ui.plan import Plan
from macapp.ui.widgets.length_choice import UNITS
from tests.helpers import past_run


@pytest.fixture
def page(qtbot, tmp_path, monkeypatch):
    """The Train step on 42 examples of the person's own (34 to train on), checked, in a home with no runs."""
    from macapp.ui.pages.train_page import TrainPage

    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))
    plan = Plan(sources=[str(tmp_path / "replies.csv")])
    plan.inspection = {"report": {"count": 42, "splits": {}, "token_stats": {"mean": 40, "max": 60}}}
    train = TrainPage(plan)
    qtbot.addWidget(train)
    train.enter()
    return train


def choose(page, unit: str, amount: float) -> None:
    page.length.unit.setCurrentIndex(list(UNITS).index(unit))
    page.length.amount.setValue(amount)


def test_three_times_through_the_data_sets_the_steps_and_says_them(page):
    plan = page.plan
    assert plan.settings["batch_size"] == 2 and plan.length == Length("steps", plan.settings["iters"])
    assert not plan.customized and "How long it takes is known after a first run" in page.length_note.text()

    choose(page, "minutes", 20)  # nothing measured yet: said, and no run starts on a guess
    assert f"Minutes need {THIS_COMPUTER}'s speed" in page.length_note.text() and plan.settings["iters"] == 68
    with pytest.raises(ConfigError, match="Minutes need"):
        plan.new_run()

    past_run("20260101-000000-replies")  # a LoRA run of the demo model on this Mac, as recorded
    choose(page, "passes", 3)
    assert plan.settings["iters"] == 51 and plan.length == Length("passes", 3) and plan.customized
    assert page.length_note.text().startswith(
        f"51 steps: 3 times through your 34 examples, under a minute of training on {THIS_COMPUTER} (measured on "
        "your last "
        "run of this model with this method).")
    page.form.inputs["batch_size"].setValue(1)  # the same times through the data, in smaller steps
    assert plan.settings["iters"] == 102 and page.length_note.text().startswith("102 steps: 3 times through")

    plan.new_run()  # the run keeps what was asked, and mlx-lm's steps
    assert config.load(plan.run_dir / "config.yaml").iters == 102
    assert RunSpec.load(plan.run_dir).length == {"unit": "passes", "amount": 3.0}
    reopened = Plan()
    reopened.open_run(plan.run_dir)
    assert reopened.length == Length("passes", 3) and reopened.settings["iters"] == 102
    reopened.new_run()  # started again before its data is read again: the steps it came to
    assert config.load(reopened.run_dir / "config.yaml").iters == 102


def test_switching_units_keeps_about_the_same_length_and_a_preset_sets_steps_again(page):
    plan = page.plan
    past_run("20260101-000000-replies")
    choose(page, "passes", 3)
    page.length.unit.setCurrentIndex(list(UNITS).index("steps"))
    assert page.length.amount.value() == 51 and plan.length == Length("steps", 51)
    page.length.unit.setCurrentIndex(list(UNITS).index("minutes"))
    assert plan.length == Length("minutes", 1)  # under a minute's steps: the least a minute box says
    assert plan.settings["iters"] > 51 and "about 1 minute of training" in page.length_note.text()
    page.presets.buttons()[0].click()  # Quick
    assert plan.length == Length("steps", plan.settings["iters"]) and not plan.customized
    assert page.length.unit.currentData() == "steps" and page.length.amount.value() == plan.settings["iters"]
