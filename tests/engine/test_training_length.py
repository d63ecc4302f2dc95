"""How long to train, said in steps, times through the data or minutes: the steps each comes to, and this Mac's
speed read from the events of real recorded runs (tests/runs) copied into run folders of a home of the test's own."""

import json
import statistics

import pytest

from macapp.engine.data import data_size
from macapp.engine.errors import ConfigError
from macapp.engine.runs import runs
from macapp.engine.train import training_length as length
from macapp.engine.train.run_spec import RunSpec
from macapp.engine.train.training_length import Length
from macapp.engine.words import THIS_COMPUTER
from tests.helpers import RECORDED, past_run


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A data home with no runs but the ones a test records."""
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    return tmp_path


def recorded_pace(name: str = "finished") -> tuple[float, float]:
    """(median seconds a step, median tokens a step) of a recorded run, from its own train events."""
    reports = [json.loads(line) for line in (RECORDED / f"{name}.jsonl").read_text().splitlines()]
    reports = [event for event in reports if event["type"] == "train"]
    return (statistics.median(1 / event["iterations_per_second"] for event in reports),
            statistics.median(event["tokens_per_second"] / event["iterations_per_second"] for event in reports))


@pytest.mark.parametrize("times, train_count, batch_size, expected", [
    (3, 34, 2, 51),  # the small CSV of the window's tests
    (1, 100, 4, 25),
    (4, 272, 4, 272),  # the demo's training split
    (1.5, 10, 4, 4),  # 3.75 steps: rounded up, so every example is seen one and a half times
    (0.1, 30, 1, 3),  # 0.1 * 30 is 3.0000000000000004 in floats: still 3 steps
    (2, 3, 4, 2),  # fewer examples than a batch: 1.5 steps, rounded up
    (0.01, 10, 4, 1),  # never no step at all
])
def test_times_through_the_data_become_steps(times, train_count, batch_size, expected):
    assert length.steps_for_passes(times, train_count, batch_size) == expected
    assert length.steps(Length("passes", times), train_count, batch_size, None) == expected


def test_minutes_become_the_steps_that_fit_in_them():
    assert length.steps_for_minutes(20, 0.5) == 2400
    assert length.steps_for_minutes(1, 7) == 8  # 8.6 steps: the ninth would end after the minute
    assert length.steps_for_minutes(0.1, 0.2) == 30  # 0.1 * 60 / 0.2 is 29.999999999999996 in floats
    assert length.steps_for_minutes(0.01, 10) == 1
    assert length.steps(Length("minutes", 20), 34, 2, 0.5) == 2400
    assert length.estimated_seconds(2400, 0.5) == 1200


def test_what_cannot_be_worked_out_yet_is_said_not_guessed():
    with pytest.raises(length.SpeedUnknown, match=f"Minutes need {THIS_COMPUTER}'s speed"):
        length.steps(Length("minutes", 20), 34, 2, None)
    with pytest.raises(length.SizeUnknown, match="once your data is checked"):
        length.steps(Length("passes", 3), 0, 2, 0.5)
    assert length.in_unit("minutes", 600, 34, 2, None) is None and length.in_unit("passes", 600, 0, 2, 1) is None
    assert length.describe(51, 34, 2, None) == ("51 steps: 3 times through your 34 examples. How long it takes is "
                                                "known after a first run of this model with this method on "
                                                f"{THIS_COMPUTER}.")
    for unit, amount in (("passes", 0), ("minutes", -5), ("steps", float("nan")), ("weeks", 3)):
        with pytest.raises(ConfigError):
            Length(unit, amount)


def test_the_line_says_steps_times_through_the_data_and_time():
    assert length.describe(600, 34, 2, 1.8) == (
        f"600 steps: 35.3 times through your 34 examples, about 18 minutes of training on {THIS_COMPUTER} (measured "
        "on your last run of this model with this method).")
    assert length.describe(17, 34, 2, 0.1).startswith("17 steps: once through your 34 examples, under a minute")
    assert "about 2.5 hours" in length.describe(9000, 0, 4, 1.0)
    assert length.in_unit("passes", 51, 34, 2, None) == 3.0 and length.in_unit("minutes", 2400, 34, 2, 0.5) == 20
    assert length.in_unit("steps", 51, 34, 2, None) == 51


def test_a_past_runs_length_is_read_back_as_asked():
    assert length.asked({"unit": "passes", "amount": 3}, 51) == Length("passes", 3)
    assert length.asked(None, 200) == Length("steps", 200)  # a run made before runs kept it
    assert length.asked({"unit": "weeks", "amount": 3}, 51) == Length("steps", 51)  # damaged
    assert length.asked({"unit": "passes"}, 51) == Length("steps", 51)


def test_the_speed_is_measured_on_the_last_run_of_the_same_model_and_method(home):
    assert length.measured_seconds_per_step("demo", "lora", 4) is None  # nothing has trained here yet
    seconds, tokens = recorded_pace()
    past_run("20260101-000000-finished")
    measured = length.measured_seconds_per_step("demo", "lora", 4)
    assert measured == pytest.approx(seconds, rel=0.2)  # the same batch: about the recorded run's own pace
    # scaled by the tokens a step holds: half the batch, or examples twice as long as the old run's
    assert length.measured_seconds_per_step("demo", "lora", 2) == pytest.approx(measured / 2)
    assert length.measured_seconds_per_step("demo", "lora", 4, tokens / 4 * 2) == pytest.approx(measured * 2)
    assert length.measured_seconds_per_step("demo", "dora", 4) is None
    assert length.measured_seconds_per_step("other-model", "lora", 4) is None

    past_run("20260102-000000-faster", faster=2.0)
    assert length.measured_seconds_per_step("demo", "lora", 4) == pytest.approx(measured / 2)  # the newest run's
    past_run("20260103-000000-failed", recorded="failed", batch_size=8)  # one report, at the other batch size
    (report,) = [json.loads(line) for line in (RECORDED / "failed.jsonl").read_text().splitlines()
                 if '"type": "train"' in line]
    assert length.measured_seconds_per_step("demo", "lora", 8) == pytest.approx(1 / report["iterations_per_second"])
    (runs.runs_root() / "20260104-000000-started").mkdir()  # a newer run with no spec nor step yet is passed over
    RunSpec("demo", [], method="lora").save(runs.runs_root() / "20260104-000000-started")
    assert length.measured_seconds_per_step("demo", "lora", 8) == pytest.approx(1 / report["iterations_per_second"])


def test_a_model_folder_is_the_same_however_it_is_written(home, monkeypatch, tmp_path):
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    past_run("20260101-000000-mine", model=str(folder), method="qlora")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for written in (str(folder), "~/models/mine", "models/mine"):
        assert length.measured_seconds_per_step(written, "qlora", 4) is not None
    assert length.measured_seconds_per_step(str(folder), "lora", 4) is None


def test_the_training_split_is_counted_as_the_data_will_be_split():
    ratios = (0.8, 0.1, 0.1)
    assert data_size.split_sizes({"count": 42, "splits": {}}, ratios) == (34, 4)
    assert data_size.split_sizes({"count": 50, "splits": {"train": 40, "valid": 10}}, ratios) == (40, 10)
    assert data_size.split_sizes({"count": 2, "splits": {}}, ratios) == (0, 0)  # too few to split
    assert data_size.split_sizes(None, ratios) == (0, 0)
