"""The `tailor` command end to end, in real processes: the demo figures, exit codes, clear errors."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from macapp.engine.models import demo
from macapp.engine.runs import runs
from macapp.engine.train import config, training_length
from macapp.engine.train.run_spec import RunSpec
from tests.bad_inputs import BAD_INPUTS
from tests.helpers import past_run, tailor, write_jsonl


def test_demo_prints_before_and_after_figures(demo_run):
    result, run_dir = demo_run
    row = re.search(r"Answer ends with '-- Sam, Tiny Kitchen'\s+(\d+)%\s+(\d+)%", result.stdout)
    assert row and int(row[1]) <= 10 and int(row[2]) >= 90, result.stdout
    assert re.search(r"Report: .*report\.html", result.stdout)
    assert (run_dir / "exports" / "fused" / "config.json").exists()
    assert (run_dir / "exports" / "fused" / "tokenizer.model").exists()
    assert "Traceback" not in result.stderr


def test_mlx_lm_generate_loads_the_adapter(demo_run, demo_model):
    _, run_dir = demo_run
    prompt = demo.held_out_comments()[0]
    result = subprocess.run([sys.executable, "-m", "mlx_lm", "generate", "--model", str(demo_model),
                             "--adapter-path", str(run_dir / "adapters"), "--prompt", prompt, "--max-tokens", "48",
                             "--temp", "0"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ours = tailor("generate", "--run", run_dir.name, "--prompt", prompt, "--max-tokens", 48)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() in result.stdout
    assert ours.stdout.strip().endswith(demo.SIGNATURE)


def test_fused_model_answers_like_model_plus_adapter(demo_run):
    _, run_dir = demo_run
    prompt = demo.held_out_comments()[1]
    fused = tailor("generate", "--model", run_dir / "exports" / "fused", "--prompt", prompt)
    with_adapter = tailor("generate", "--run", run_dir, "--prompt", prompt)
    assert fused.returncode == with_adapter.returncode == 0
    assert fused.stdout == with_adapter.stdout


def test_runs_lists_the_demo_run(demo_run):
    _, run_dir = demo_run
    result = tailor("runs")
    line = next(line for line in result.stdout.splitlines() if line.startswith(run_dir.name))
    assert "finished" in line and "best val" in line


def test_train_runs_an_mlx_lm_lora_yaml(demo_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", demo.read_jsonl(demo.REPLIES)[:40])
    write_jsonl(data / "valid.jsonl", demo.read_jsonl(demo.REPLIES)[40:48])
    (tmp_path / "lora.yaml").write_text(
        f"model: demo\ntrain: true\ndata: {data}\nfine_tune_type: lora\nnum_layers: -1\nbatch_size: 4\n"
        "iters: 8\nlearning_rate: 1e-4\nsteps_per_report: 4\nsteps_per_eval: 4\nval_batches: 2\n"
        "mask_prompt: true\nlora_parameters:\n  rank: 4\n  scale: 10.0\n  dropout: 0.0\n"
        "test: false\nreport_to: null\n")
    result = tailor("train", "--config", tmp_path / "lora.yaml", "--iters", 6, "--adapter-path", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "6/6" in result.stderr
    saved = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert saved["iters"] == 6 and saved["lora_parameters"]["rank"] == 4  # flags win over the file


def test_train_takes_mlx_lm_flags_and_a_plain_file(demo_model, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    result = tailor("train", "--model", "demo", "--data", source, "--iters", 3, "--batch-size", 2,
                    "--num-layers", 2, "--learning-rate", 1e-4, "--fine-tune-type", "dora", "--mask-prompt",
                    "--steps-per-report", 1, "--name", "flags")
    assert result.returncode == 0, result.stderr
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-flags")]
    run_dir = Path(run["path"])
    files = json.loads((run_dir / "data" / "manifest.json").read_text())["files"]
    assert (files["train"]["count"], files["valid"]["count"], files["test"]["count"]) == (24, 3, 3)
    assert RunSpec.load(run_dir).sources == [str(source)]  # the window can open it and start it again
    assert (run_dir / "adapters" / "adapters.safetensors").exists()


def test_train_epochs_works_out_the_steps_from_the_data(demo_model, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])  # 24 to train on
    result = tailor("train", "--model", "demo", "--data", source, "--epochs", 2, "--batch-size", 8,
                    "--steps-per-report", 2, "--name", "epochs")
    assert result.returncode == 0, result.stderr
    assert "6 steps: 2 times through your 24 examples" in result.stderr
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-epochs")]
    run_dir = Path(run["path"])
    assert config.load(run_dir / "config.yaml").iters == 6 and run["state"].step == 6
    assert RunSpec.load(run_dir).length == {"unit": "passes", "amount": 2.0}  # as asked, for the window to show


def test_train_minutes_take_the_speed_of_the_last_run_of_the_model(demo_model, tmp_path, monkeypatch):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / demo_model.name).symlink_to(demo_model, target_is_directory=True)
    monkeypatch.setenv("TAILOR_HOME", str(home))  # no run here yet, then one recorded
    result = tailor("train", "--model", "demo", "--data", source, "--minutes", 20)
    assert result.returncode == 2 and "Give --iters or --epochs instead" in result.stderr, result.stderr
    assert not any(runs.runs_root().iterdir())
    past_run("20260101-000000-before")
    steps = training_length.steps_for_minutes(0.02, training_length.measured_seconds_per_step("demo", "lora", 4))
    result = tailor("train", "--model", "demo", "--data", source, "--minutes", 0.02, "--name", "minutes")
    assert result.returncode == 0, result.stderr
    assert f"{steps} steps: " in result.stderr and "measured on your last run of this model" in result.stderr
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-minutes")]
    assert config.load(Path(run["path"]) / "config.yaml").iters == steps


@pytest.mark.parametrize("lengths, named", [(("--epochs", 2, "--iters", 5), "--iters and --epochs"),
                                            (("--minutes", 5, "--epochs", 2), "--epochs and --minutes")])
def test_two_lengths_at_once_exit_2_naming_both(lengths, named, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    result = tailor("train", "--model", "demo", "--data", source, *lengths)
    assert result.returncode == 2 and f"{named} each say how long to train" in result.stderr
    assert "Traceback" not in result.stderr


MALFORMED = ("bad-json", "unknown-keys", "empty", "mixed-formats")


def tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", MALFORMED)
def test_training_on_malformed_data_exits_2_and_harms_no_run(case, demo_run, tmp_path):
    _, run_dir = demo_run
    before, runs_before = tree_digest(run_dir), {r["id"] for r in runs.list_runs()}
    name, data, place, message = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(data)
    result = tailor("train", "--model", "demo", "--data", path, "--iters", 2)
    assert result.returncode == 2
    assert f"{path}{place}" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(run_dir) == before
    assert {r["id"] for r in runs.list_runs()} == runs_before


def test_bad_config_and_model_exit_2(tmp_path):
    (tmp_path / "c.yaml").write_text("iters: 10\nbatchsize: 2\n")
    result = tailor("train", "--config", tmp_path / "c.yaml")
    assert result.returncode == 2 and "Did you mean 'batch_size'" in result.stderr
    result = tailor("generate", "--model", tmp_path / "nothing", "--prompt", "hi")
    assert result.returncode == 2 and "no such model folder" in result.stderr


def test_check_reports_mlx(tmp_path):
    result = tailor("check")
    assert result.returncode == 0 and "[ok  ] Training engine: works, on the processor (MLX " in result.stdout


def test_ctrl_c_stops_training_and_exits_130(demo_model, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    process = subprocess.Popen([sys.executable, "-m", "macapp", "train", "--model", "demo", "--data", str(source),
                                "--iters", "100000", "--batch-size", "2", "--name", "interrupted"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Training 0." in line:  # the worker's "Training N parameters" line: it is about to step
            os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    assert process.wait(timeout=120) == 130, "".join(seen)
    assert any("stopped" in line for line in seen)
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-interrupted")]
    assert run["status"] == "stopped"
    assert (Path(run["path"]) / "adapters" / "adapters.safetensors").exists()


def test_train_qlora_quantizes_the_base_first(demo_model, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    result = tailor("train", "--model", "demo", "--data", source, "--quantize-base", 4, "--iters", 2,
                    "--batch-size", 2, "--name", "qlora")
    assert result.returncode == 0, result.stderr
    (run,) = [r for r in runs.list_runs() if r["id"].endswith("-qlora")]
    assert "-q4-" in run["model"] and run["status"] == "finished"


def test_a_killed_worker_is_explained(demo_model, tmp_path):
    source = write_jsonl(tmp_path / "mine.jsonl", demo.read_jsonl(demo.REPLIES)[:30])
    process = subprocess.Popen([sys.executable, "-m", "macapp", "train", "--model", "demo", "--data", str(source),
                                "--iters", "100000", "--batch-size", "2", "--name", "oom"],
                               stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "Training 0." in line:  # the worker is running: kill it as the system does when memory runs out
            (run,) = [r for r in runs.list_runs() if r["id"].endswith("-oom")]
            started = next(e for e in runs.read_events(Path(run["path"])) if e["type"] == "started")
            os.kill(started["pid"], signal.SIGKILL)
    assert process.wait(timeout=60) == 1
    message = "".join(seen)
    assert "was killed" in message and "batch size" in message and "--resume" in message
    assert "Traceback" not in message
