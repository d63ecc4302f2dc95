"""The README's exit-code promise, for every sub-command: 2 for bad input with what to fix, never a traceback; random
bytes and random settings thrown at `tailor train --config` and at the run folders `tailor runs` reads."""

import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macapp.cli import main
from macapp.engine.runs import runs
from macapp.engine.train import config

MISSING = "no-such-run"


@pytest.mark.parametrize("args", [
    ["train", "--resume", MISSING],
    ["generate", "--run", MISSING, "--prompt", "hi"],
    ["chat", "--run", MISSING],
    ["eval", "--run", MISSING],
    ["fuse", "--run", MISSING],
    ["export", "--run", MISSING],
    ["serve", "--run", MISSING],
    ["upload", "--run", MISSING, "--repo", "someone/model", "--token", "x"],
    ["data", "inspect", "no-such-file.jsonl"],
    ["data", "prepare", "no-such-file.jsonl", "--out", "out"],
    ["data", "synth", "no-such-file.txt", "--out", "out", "--endpoint", "http://127.0.0.1:9/v1"],
    ["train", "--model", "demo", "--data", "no-such-file.jsonl"],
])
def test_every_command_answers_bad_input_with_2_and_what_to_fix(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    said = capsys.readouterr()
    assert "Traceback" not in said.err and "no-such" in said.out + said.err  # `data inspect` reports on stdout


def test_a_model_folder_that_cannot_train_is_refused_before_a_run_is_made(capsys, tmp_path, demo_model):
    before = set(runs.runs_root().iterdir())
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert main(["train", "--model", str(tmp_path / "model"), "--data", str(tmp_path)]) == 2
    assert "no model*.safetensors weights" in capsys.readouterr().err
    (tmp_path / "c.yaml").write_text("model: demo\ndata: .\nlora_parameters:\n  rank: 0\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 2
    assert f"{tmp_path / 'c.yaml'}:4: lora_parameters: rank must be" in capsys.readouterr().err
    assert set(runs.runs_root().iterdir()) == before


def test_a_batch_larger_than_the_data_leaves_no_run(capsys, tmp_path, demo_model):
    before = set(runs.runs_root().iterdir())
    data = tmp_path / "few.jsonl"
    data.write_text("".join(f'{{"prompt": "q{i}", "completion": "a{i}"}}\n' for i in range(12)))
    assert main(["train", "--model", "demo", "--data", str(data), "--batch-size", "16", "--iters", "2"]) == 2
    assert "only 10 training examples for a batch size of 16" in capsys.readouterr().err
    assert set(runs.runs_root().iterdir()) == before


SETTING_NAMES = [*config.TrainConfig.__dataclass_fields__, "alpha", "rank", "name", "arguments", "adam", "x-y"]
scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(SETTING_NAMES), inner, max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.dictionaries(st.sampled_from(SETTING_NAMES), values, max_size=6).map(
    lambda found: yaml.safe_dump({**found, "data": "no-such-data"} if "data" in found else found).encode()))
def test_train_config_of_random_bytes_and_settings_is_answered_plainly(tmp_path_factory, capsys, content):
    path = tmp_path_factory.mktemp("config") / "c.yaml"
    path.write_bytes(content)
    assert main(["train", "--config", str(path)]) == 2
    said = capsys.readouterr().err
    assert said.startswith("Error: ") and "Traceback" not in said


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200), st.binary(max_size=400) | st.lists(
    st.dictionaries(st.sampled_from(["type", "kind", "iteration", "val_loss", "train_loss", "total", "pid",
                                     "result", "peak_gb", "category"]),
                    st.none() | st.integers() | st.floats() | st.text(string.ascii_lowercase, max_size=6)
                    | st.sampled_from(["train", "val", "done", "error", "started", "best", "memory", "plan"])),
    max_size=5).map(lambda found: "\n".join(__import__("json").dumps(e) for e in found).encode()))
def test_runs_lists_damaged_run_folders_without_failing(tmp_path_factory, monkeypatch, capsys, config_bytes,
                                                        event_bytes):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TAILOR_HOME", str(home))
    folder = runs.runs_root() / "20260101-000000-random"
    folder.mkdir()
    (folder / "config.yaml").write_bytes(config_bytes)
    (folder / "events.jsonl").write_bytes(event_bytes)
    assert main(["runs"]) == 0
    shown = capsys.readouterr().out
    assert Path(folder).name in shown
