"""Training on the real demo model: events, adapters mlx-lm can load, stop within one step."""

import json

import pytest
from mlx_lm.tuner.utils import load_adapters

from macapp.engine.models import loading
from macapp.engine.train import config, training
from tests.helpers import train_settings as settings


@pytest.mark.parametrize("method", ["lora", "dora", "full"])
def test_methods_train_and_save_loadable_adapters(method, demo_data, tmp_path):
    events = []
    result = training.train(settings(demo_data, fine_tune_type=method), tmp_path / "adapters", events.append,
                            checkpoint_dir=tmp_path / "checkpoints")
    assert result["iterations"] == 12 and not result["stopped"]
    kinds = [e["type"] for e in events]
    assert kinds.count("train") == 3 and kinds.count("val") == 3  # steps 4, 8, 12; validated after 0, 6, 12 steps
    memory = next(e for e in events if e["type"] == "memory")
    assert memory["peak_gb"] > 0 and memory["rss_gb"] > memory["active_gb"] > 0
    assert [e["iteration"] for e in events if e["type"] == "checkpoint"] == [5, 10]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["0000005", "0000010"]
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "0000010").iterdir()) == [
        "adapters.safetensors", "optimizer.safetensors", "state.json"]
    best = next(e for e in reversed(events) if e["type"] == "best")
    assert best["val_loss"] == min(e["val_loss"] for e in events if e["type"] == "val")
    assert (tmp_path / "adapters" / "best" / "adapters.safetensors").exists()
    saved = json.loads((tmp_path / "adapters" / "adapter_config.json").read_text())
    assert saved["fine_tune_type"] == method
    model, _ = loading.load(saved["model"])
    load_adapters(model, str(tmp_path / "adapters"))  # mlx-lm's own loader accepts what we wrote
    assert not list(tmp_path.glob("adapters/.*tmp*"))


def test_validation_loss_goes_down(demo_data, tmp_path):
    events = []
    training.train(settings(demo_data, iters=40, steps_per_report=10, steps_per_eval=40, mask_prompt=True),
                   tmp_path, events.append)
    losses = [e["val_loss"] for e in events if e["type"] == "val"]
    assert len(losses) == 2 and losses[-1] < 0.5 * losses[0]


def test_stop_request_saves_within_one_step(demo_data, tmp_path):
    reported = []

    def report(event):
        if event["type"] == "train":
            reported.append(event["iteration"])

    result = training.train(settings(demo_data, iters=500, steps_per_report=1, steps_per_eval=1000), tmp_path,
                            report, should_stop=lambda: len(reported) >= 3)
    assert result["stopped"] and result["iterations"] == 3 and reported == [1, 2, 3]
    assert (tmp_path / "adapters.safetensors").exists()


def test_too_many_layers_is_a_config_error(demo_data, tmp_path):
    with pytest.raises(config.ConfigError, match="model has only 4 layers"):
        training.train(settings(demo_data, num_layers=16), tmp_path)


def test_batch_larger_than_data_is_a_data_error(demo_data, tmp_path):
    from macapp.engine.data.datasets import DataError

    with pytest.raises(DataError, match="lower the batch size"):
        training.train(settings(demo_data, batch_size=1000), tmp_path)


def test_same_seed_gives_the_same_run(demo_data, tmp_path):
    def losses(folder, seed):
        events = []
        training.train(settings(demo_data, iters=8, steps_per_report=2, seed=seed), folder, events.append)
        return [e["train_loss"] for e in events if e["type"] == "train"]

    first = losses(tmp_path / "a", 1)
    assert first == losses(tmp_path / "b", 1)
    assert first != losses(tmp_path / "c", 2)


def losses_by_step(events):
    return {e["iteration"]: e["train_loss"] for e in events if e["type"] == "train"}


class Killed(Exception):
    """Stands for a SIGKILL: training ends at once, with no saving."""


def kill():
    raise Killed


def interrupted_at_13_and_resumed(demo_data, tmp_path, values, interrupt):
    """An uninterrupted run, and one that `interrupt()` ends at step 13 and that is then resumed.

    Returns the interrupted run's result (None when it was killed), the resumed run's result, and
    the train losses by step of the uninterrupted run and of the resumed one.
    """
    straight, first, second = [], [], []
    training.train(settings(demo_data, **values), tmp_path / "a", straight.append, checkpoint_dir=tmp_path / "ca")
    try:
        interrupted = training.train(settings(demo_data, **values), tmp_path / "b", first.append,
                                     should_stop=lambda: len(losses_by_step(first)) >= 13 and interrupt(),
                                     checkpoint_dir=tmp_path / "cb")
    except Killed:
        interrupted = None
    resumed = training.train(settings(demo_data, **values), tmp_path / "b", second.append,
                             checkpoint_dir=tmp_path / "cb", resume=True)
    return interrupted, resumed, losses_by_step(straight), losses_by_step(second)


def assert_same_losses(expected, got, steps):
    assert sorted(got) == list(steps)
    for step in got:
        assert got[step] == pytest.approx(expected[step], rel=1e-4), step


def test_resume_after_a_kill_continues_exactly_from_the_last_checkpoint(demo_data, tmp_path):
    values = {"iters": 20, "steps_per_report": 1, "steps_per_eval": 10, "save_every": 5,
              "lora_parameters": {"scale": 10.0, "dropout": 0.1}}  # dropout: the RNG must resume exactly too
    killed, resumed, expected, got = interrupted_at_13_and_resumed(demo_data, tmp_path, values, kill)
    assert killed is None
    assert resumed["resumed_from"] == 10 and resumed["iterations"] == 20
    assert_same_losses(expected, got, range(11, 21))


def test_resume_after_a_stop_goes_on_from_the_step_it_stopped_at(demo_data, tmp_path):
    values = {"iters": 20, "steps_per_report": 1, "steps_per_eval": 10, "save_every": 5}
    stopped, resumed, expected, got = interrupted_at_13_and_resumed(demo_data, tmp_path, values, lambda: True)
    assert stopped["stopped"] and stopped["iterations"] == 13
    assert resumed["resumed_from"] == 13 and resumed["iterations"] == 20
    assert_same_losses(expected, got, range(14, 21))


def test_early_stop_keeps_the_best_adapter(demo_data, tmp_path):
    events = []
    result = training.train(settings(demo_data, iters=200, learning_rate=3e-2, steps_per_eval=2, val_batches=2,
                                     early_stop_patience=2), tmp_path, events.append)
    assert result["stopped_early"] and result["iterations"] < 200
    vals = [e["val_loss"] for e in events if e["type"] == "val"]
    assert result["best_val_loss"] == min(vals)
    assert any("Stopping early" in e.get("message", "") for e in events)


def test_nan_loss_stops_with_a_plain_message_and_keeps_the_last_adapter(demo_data, tmp_path):
    import mlx.core as mx

    from macapp.engine.errors import RunFailed

    training.train(settings(demo_data, iters=4), tmp_path / "run")
    good = (tmp_path / "run" / "adapters.safetensors").read_bytes()
    broken = {k: v * mx.array(float("nan")) for k, v in mx.load(str(tmp_path / "run" / "adapters.safetensors")).items()}
    mx.save_safetensors(str(tmp_path / "broken.safetensors"), broken)
    with pytest.raises(RunFailed, match="NaN") as caught:
        training.train(settings(demo_data, iters=20, steps_per_report=1,
                                resume_adapter_file=str(tmp_path / "broken.safetensors")), tmp_path / "run")
    assert "learning rate" in caught.value.fix
    assert (tmp_path / "run" / "adapters.safetensors").read_bytes() == good
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_accumulation_checkpointing_and_warmup_schedule(demo_data, tmp_path):
    events = []
    schedule = {"name": "cosine_decay", "warmup": 4, "warmup_init": 0.0, "arguments": [1e-3, 12, 1e-5]}
    result = training.train(settings(demo_data, iters=12, steps_per_report=2, grad_accumulation_steps=2,
                                     grad_checkpoint=True, lr_schedule=schedule, optimizer="adamw"),
                            tmp_path, events.append)
    rates = [e["learning_rate"] for e in events if e["type"] == "train"]
    assert result["iterations"] == 12 and rates[0] < rates[1]  # warming up
    assert rates[-1] < max(rates)  # then decaying


def test_qlora_on_a_quantized_copy(demo_model, demo_data, tmp_path):
    from macapp.engine.models import models, obtain

    quantized = obtain.quantized(demo_model, 4)
    assert models.read_config(quantized)["quantization"]["bits"] == 4
    assert obtain.quantized(demo_model, 4) == quantized  # cached
    result = training.train(settings(demo_data, model=str(quantized), iters=6), tmp_path / "adapters")
    assert result["iterations"] == 6
    model, _ = loading.load(quantized)
    load_adapters(model, str(tmp_path / "adapters"))


def test_a_validation_split_smaller_than_a_batch_is_still_read(demo_data, tmp_path):
    """42 rows split 90/10 leave 4 validation examples; with a batch of 8 they are one smaller batch, so the
    run still gets its validation curve and a best adapter."""
    data = tmp_path / "data"
    data.mkdir()
    lines = (demo_data / "train.jsonl").read_text().splitlines()
    (data / "train.jsonl").write_text("\n".join(lines[:38]) + "\n")
    (data / "valid.jsonl").write_text("\n".join(lines[38:42]) + "\n")
    events = []
    training.train(settings(data, iters=6, batch_size=8, steps_per_eval=3), tmp_path / "adapters", events.append)
    assert [e["iteration"] for e in events if e["type"] == "val"] == [0, 3, 6]  # validated after 0, 3 and 6 steps
    assert (tmp_path / "adapters" / "best" / "adapters.safetensors").exists()

