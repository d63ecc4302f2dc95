"""Learning by choosing on the real demo model: DPO and ORPO learn the demo's preference (short and signed over long
and unsigned), report their margins and accuracies, resume exactly, and refuse data of the other kind."""

import math

import mlx.core as mx
import pytest
from mlx_lm import generate
from mlx_lm.tuner.utils import load_adapters

from macapp.engine.data import datasets
from macapp.engine.errors import DataError
from macapp.engine.models import demo, loading
from macapp.engine.train import preference, training
from tests.engine.test_training import assert_same_losses, interrupted_at_13_and_resumed, kill
from tests.helpers import train_settings as settings
from tests.helpers import write_jsonl


@pytest.fixture(scope="module")
def demo_pairs(demo_model, tmp_path_factory):
    """The demo's pairs, prepared into train/valid/test."""
    folder = tmp_path_factory.mktemp("demo-pairs")
    source = write_jsonl(folder / "pairs.jsonl", demo.preference_pairs())
    datasets.prepare([source], folder / "data", (0.8, 0.1, 0.1), seed=0)
    return folder / "data"


def test_the_losses_are_dpo_and_orpo_written_out():
    logps, counts = mx.array([-10.0, -30.0, -12.0, -20.0]), mx.array([5.0, 10.0, 6.0, 4.0])
    reference = mx.array([-11.0, -29.0, -11.0, -21.0])
    each, margin = preference.pair_terms("dpo", 0.1, logps, counts, reference)
    assert margin.tolist() == pytest.approx([0.1 * (1 - -1), 0.1 * (-1 - 1)])
    assert each.tolist() == pytest.approx([math.log1p(math.exp(-0.2)), math.log1p(math.exp(0.2))])
    each, margin = preference.pair_terms("orpo", 0.5, logps, counts, reference)
    for i, (chosen, rejected) in enumerate([(-10 / 5, -12 / 6), (-30 / 10, -20 / 4)]):
        odds = (chosen - rejected) - (math.log(1 - math.exp(chosen)) - math.log(1 - math.exp(rejected)))
        assert each[i].item() == pytest.approx(-chosen + 0.5 * math.log1p(math.exp(-odds)), rel=1e-5)
        assert margin[i].item() == pytest.approx(0.5 * (chosen - rejected), rel=1e-5)


def held_out_figures(data, adapters) -> tuple[float, float, float]:
    """The share of held-out pairs whose better answer the tuned model prefers more than its base does (the base
    against itself: 50%), and the share of the base's and the tuned model's own answers that are signed."""
    pairs = datasets.load_split(data, "test")
    model, tokenizer = loading.load(demo.model_folder())
    comments = demo.held_out_comments()[:10]

    def signed() -> float:
        answers = [generate(model, tokenizer, tokenizer.apply_chat_template(
            [{"role": "user", "content": comment}], add_generation_prompt=True), max_tokens=60) for comment in comments]
        return sum(demo.SIGNATURE in answer for answer in answers) / len(answers)

    before, signed_before = preference.gaps(model, tokenizer, pairs), signed()
    load_adapters(model, str(adapters))
    after, signed_after = preference.gaps(model, tokenizer, pairs), signed()
    return float((after > before).mean()), signed_before, signed_after


def test_dpo_learns_the_demo_preference(demo_pairs, tmp_path):
    events = []
    training.train(settings(demo_pairs, train_mode="dpo", iters=24, learning_rate=5e-5, steps_per_eval=12,
                            val_batches=-1, max_seq_length=256), tmp_path, events.append)
    vals = [e for e in events if e["type"] == "val"]
    # The reference is the model as it starts: each pair's margin is 0 then, a tie, counted half.
    assert vals[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert vals[0]["val_preference_accuracy"] == pytest.approx(0.5, abs=0.1)
    assert vals[-1]["val_preference_accuracy"] >= 0.9 and vals[-1]["val_reward_margin"] > 1
    trains = [e for e in events if e["type"] == "train"]
    assert all("reward_margin" in e and 0 <= e["preference_accuracy"] <= 1 for e in trains)
    assert trains[-1]["train_loss"] < 0.5 * math.log(2)
    accuracy, signed_before, signed_after = held_out_figures(demo_pairs, tmp_path)
    print(f"DPO: held-out preference accuracy 50% -> {accuracy:.0%}; signed answers {signed_before:.0%} -> "
          f"{signed_after:.0%}")
    assert accuracy >= 0.9


def test_orpo_learns_the_demo_preference_and_its_answers_show_it(demo_pairs, tmp_path):
    events = []
    training.train(settings(demo_pairs, train_mode="orpo", iters=40, learning_rate=1e-4, steps_per_eval=20,
                            val_batches=-1, max_seq_length=256), tmp_path, events.append)
    vals = [e for e in events if e["type"] == "val"]
    assert vals[-1]["val_loss"] < 0.5 * vals[0]["val_loss"]
    assert vals[-1]["val_preference_accuracy"] > vals[0]["val_preference_accuracy"]
    accuracy, signed_before, signed_after = held_out_figures(demo_pairs, tmp_path)
    print(f"ORPO: held-out preference accuracy 50% -> {accuracy:.0%}; signed answers {signed_before:.0%} -> "
          f"{signed_after:.0%}")
    assert accuracy >= 0.9
    assert signed_before <= 0.2 and signed_after >= 0.7


def test_dpo_resumes_after_a_kill_exactly_with_its_reference(demo_pairs, tmp_path):
    values = {"train_mode": "dpo", "iters": 20, "steps_per_report": 1, "steps_per_eval": 10, "save_every": 5,
              "learning_rate": 1e-4, "max_seq_length": 256, "lora_parameters": {"scale": 10.0, "dropout": 0.1}}
    killed, resumed, expected, got = interrupted_at_13_and_resumed(demo_pairs, tmp_path, values, kill)
    assert killed is None and resumed["resumed_from"] == 10 and resumed["iterations"] == 20
    assert_same_losses(expected, got, range(11, 21))


def test_orpo_stops_and_resumes_from_the_step_it_stopped_at(demo_pairs, tmp_path):
    values = {"train_mode": "orpo", "beta": 0.2, "iters": 20, "steps_per_report": 1, "steps_per_eval": 10,
              "save_every": 5, "learning_rate": 1e-4, "max_seq_length": 256}
    stopped, resumed, expected, got = interrupted_at_13_and_resumed(demo_pairs, tmp_path, values, lambda: True)
    assert stopped["stopped"] and stopped["iterations"] == 13
    assert resumed["resumed_from"] == 13 and resumed["iterations"] == 20
    assert_same_losses(expected, got, range(14, 21))
    assert (tmp_path / "b" / "best" / "adapters.safetensors").exists()


def test_pairs_and_examples_each_need_their_method(demo_pairs, demo_data, tmp_path):
    with pytest.raises(DataError, match="pairs of a better and a worse answer.*Train on them with DPO or ORPO"):
        training.train(settings(demo_pairs), tmp_path)
    with pytest.raises(DataError, match="DPO learns from pairs.*holds examples with one answer"):
        training.train(settings(demo_data, train_mode="dpo"), tmp_path)


def test_scores_and_checks_are_made_without_the_adapters_dropout(demo_model):
    """LoRA layers added to a loaded model train (dropout on): the reference's scores and the chunked loss's check
    must see the model itself, as an adapter loaded to go on from makes dropout matter."""
    import numpy as np
    from mlx_lm.tuner.utils import linear_to_lora_layers

    from macapp.engine.train import losses

    model, tokenizer = loading.load(demo_model)
    model.freeze()
    linear_to_lora_layers(model, -1, {"rank": 8, "dropout": 0.3, "scale": 20.0})
    for _, module in model.named_modules():
        if hasattr(module, "lora_b"):  # an adapter that learnt something, as one gone on from
            module.lora_b = mx.random.normal(module.lora_b.shape) * 0.05
    model.train()
    assert losses.split(model) is not None and model.training
    pairs = demo.preference_pairs()[:8]
    first, second = preference.gaps(model, tokenizer, pairs), preference.gaps(model, tokenizer, pairs)
    assert np.allclose(first, second, atol=1e-4) and model.training
