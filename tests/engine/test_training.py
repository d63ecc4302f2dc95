"""Training on the real demo model: events, adapters mlx-lm can load, stop within one step."""

import json

import pytest
from mlx_lm.tuner.utils import load_adapters

from macapp.engine import config, models, training


def settings(data, **overrides):
    values = {"model": "demo", "data": str(data), "iters": 12, "batch_size": 4, "learning_rate": 1e-3,
              "steps_per_report": 4, "steps_per_eval": 6, "val_batches": 2, "save_every": 5,
              "max_seq_length": 128, "lora_parameters": {"scale": 10.0}, **overrides}
    return config.from_dict(values)


@pytest.mark.parametrize("method", ["lora", "dora", "full"])
def test_methods_train_and_save_loadable_adapters(method, demo_data, tmp_path):
    events = []
    result = training.train(settings(demo_data, fine_tune_type=method), tmp_path / "adapters", events.append,
                            checkpoint_dir=tmp_path / "checkpoints")
    assert result["iterations"] == 12 and not result["stopped"]
    kinds = [e["type"] for e in events]
    assert kinds.count("train") == 3 and kinds.count("val") == 3  # steps 4, 8, 12; evals at 1, 6, 12
    memory = next(e for e in events if e["type"] == "memory")
    assert memory["peak_gb"] > 0 and memory["rss_gb"] > memory["active_gb"] > 0
    assert [e["iteration"] for e in events if e["type"] == "checkpoint"] == [5, 10]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "0000005_adapters.safetensors", "0000010_adapters.safetensors"]
    saved = json.loads((tmp_path / "adapters" / "adapter_config.json").read_text())
    assert saved["fine_tune_type"] == method
    model, _ = models.load(saved["model"])
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
    from macapp.engine.datasets import DataError

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
