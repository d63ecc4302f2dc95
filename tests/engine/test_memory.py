"""Memory prediction against MLX's measured peak on a real run, and the advice when a run will not fit."""

from macapp.engine.models import memory, models
from macapp.engine.train import config, training


def test_prediction_matches_a_measured_run(demo_model, demo_data, tmp_path):
    # a whole pass over the data, so the batch of the longest examples (the one predicted) is among them
    settings = config.from_dict({"model": "demo", "data": str(demo_data), "iters": 40, "batch_size": 8,
                                 "steps_per_report": 1, "steps_per_eval": 1000, "max_seq_length": 256})
    events = []
    training.train(settings, tmp_path, events.append)
    (plan,) = [e for e in events if e["type"] == "plan"]
    measured = max(e["peak_gb"] for e in events if e["type"] == "memory") * 1e9
    # MLX's peak on this run of mixed lengths varies with how its allocator reused buffers (52 to 60 MB measured for
    # a 48-52 MB prediction); bench/memory_prediction.py holds the prediction to 15% on equal-length batches
    assert abs(plan["predicted_bytes"] / measured - 1) < 0.2, (plan, measured)
    assert plan["status"] == "ok" and plan["limit_bytes"] > 1e9


def test_prediction_grows_with_the_run_and_shrinks_with_checkpointing(demo_model):
    model_config = models.read_config(demo_model)
    base = config.TrainConfig(batch_size=4)
    total = lambda **change: memory.predict(model_config, config.TrainConfig(**{"batch_size": 4, **change}), 200)[
        "total"]
    assert total(batch_size=8) > total() and total(lora_parameters={"rank": 64, "scale": 20.0}) > total()
    assert total(grad_checkpoint=True) < total() and total(num_layers=1) < total()
    assert memory.predict(model_config, base, 400)["total"] > memory.predict(model_config, base, 200)["total"]


def test_a_run_too_big_for_the_machine_gets_settings_that_fit(demo_model):
    model_config = models.read_config(demo_model)
    settings = config.TrainConfig(batch_size=64)
    limit = int(memory.predict(model_config, config.TrainConfig(batch_size=8), 512)["total"] / 0.7)
    result = memory.plan(model_config, settings, 512, limit)
    assert result["status"] == "too_big"
    suggestion = result["suggestion"]
    fitted = config.TrainConfig(batch_size=suggestion["batch_size"], grad_checkpoint=suggestion["grad_checkpoint"])
    assert memory.predict(model_config, fitted, suggestion["max_seq_length"])["total"] < 0.8 * limit
    assert suggestion["batch_size"] >= 8
