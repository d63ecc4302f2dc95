"""Answers from one loaded base with its adapter switched on and off: exact, repeatable, side by side."""

import mlx.core as mx
import pytest
from mlx_lm import load as mlx_lm_load

from macapp.engine.errors import InputError
from macapp.engine.evaluate import generation
from macapp.engine.evaluate.generation import Sampling, TunedModel, user
from macapp.engine.models import demo
from macapp.engine.runs import runs
from macapp.engine.train import training
from tests.helpers import train_settings

PROMPT = user(demo.held_out_comments()[0])


def logits(model, tokenizer):
    tokens = mx.array(tokenizer.encode(generation.format_chat(tokenizer, PROMPT), add_special_tokens=False))
    return model(tokens[None])


@pytest.mark.parametrize("method", ["lora", "dora", "full"])
def test_switching_the_adapter_off_gives_the_base_exactly(method, demo_model, demo_data, tmp_path):
    training.train(train_settings(demo_data, fine_tune_type=method, num_layers=2), tmp_path)
    plain = TunedModel("demo")
    base = logits(plain.model, plain.tokenizer)
    tuned = TunedModel("demo", tmp_path)
    assert tuned.switch_is_cheap == (method != "full")
    assert mx.array_equal(logits(tuned.model, tuned.tokenizer), base)  # starts switched off
    tuned.use("tuned")
    with_adapter = logits(tuned.model, tuned.tokenizer)
    reference, tokenizer = mlx_lm_load(str(demo_model), adapter_path=str(tmp_path))
    assert mx.allclose(with_adapter, logits(reference, tokenizer), atol=1e-5)
    assert not mx.allclose(with_adapter, base, atol=1e-3)
    tuned.use("base")
    assert mx.array_equal(logits(tuned.model, tuned.tokenizer), base)
    tuned.use("tuned")
    assert mx.array_equal(logits(tuned.model, tuned.tokenizer), with_adapter)


def test_an_adapter_trained_with_dropout_answers_without_it(demo_model, demo_data, tmp_path):
    training.train(train_settings(demo_data, iters=4, lora_parameters={"scale": 10.0, "dropout": 0.5}), tmp_path)
    tuned = TunedModel("demo", tmp_path)
    tuned.use("tuned")
    first, second = logits(tuned.model, tuned.tokenizer), logits(tuned.model, tuned.tokenizer)
    reference, tokenizer = mlx_lm_load(str(demo_model), adapter_path=str(tmp_path))  # mlx-lm's own, in eval mode
    assert mx.allclose(first, second, atol=1e-5) and mx.allclose(first, logits(reference, tokenizer), atol=1e-5)


def test_greedy_answers_repeat_and_side_by_side_matches_one_at_a_time(demo_run):
    _, run_dir = demo_run
    tuned = TunedModel("demo", run_dir / "adapters")
    greedy = Sampling(max_tokens=40)
    alone = {side: tuned.answer(side, PROMPT, greedy) for side in generation.SIDES}
    assert alone == {side: tuned.answer(side, PROMPT, greedy) for side in generation.SIDES}
    assert alone["base"] != alone["tuned"] and alone["tuned"].endswith(demo.SIGNATURE)
    streamed, order = {"base": "", "tuned": ""}, []
    for side, text, _ in tuned.side_by_side(PROMPT, greedy):
        streamed[side] += text
        order.append(side)
    assert {side: text.strip() for side, text in streamed.items()} == alone
    assert order[:4] == ["base", "tuned", "base", "tuned"]  # both panes fill at once


def test_sampling_with_a_seed_repeats_even_interleaved(demo_run):
    _, run_dir = demo_run
    tuned = TunedModel("demo", run_dir / "adapters")
    warm = Sampling(temperature=1.0, top_p=0.95, max_tokens=40, seed=7)
    alone = tuned.answer("base", PROMPT, warm)
    assert alone == tuned.answer("base", PROMPT, warm)
    interleaved = "".join(text for side, text, _ in tuned.side_by_side(PROMPT, warm) if side == "base")
    assert interleaved.strip() == alone
    others = {tuned.answer("base", PROMPT, Sampling(temperature=1.0, max_tokens=40, seed=s)) for s in range(4)}
    assert len(others) > 1  # the seed matters


@pytest.mark.parametrize("values, field", [({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"),
                                           ({"max_tokens": 0}, "max_tokens"), ({"seed": "x"}, "seed")])
def test_bad_sampling_settings_name_the_setting(values, field):
    with pytest.raises(InputError, match=field):
        Sampling.from_dict(values)


def test_a_folder_without_an_adapter_is_explained(tmp_path):
    with pytest.raises(InputError, match="no adapter here"):
        TunedModel("demo", tmp_path)


def test_a_run_offers_its_last_and_best_adapters(demo_run):
    _, run_dir = demo_run
    choices = runs.adapter_paths(run_dir)
    assert choices == {"last": run_dir / "adapters", "best": run_dir / "adapters" / "best"}


def test_answers_made_in_batches_end_each_in_its_place_and_a_stop_ends_them(demo_run):
    """More prompts than one batch holds: every answer lands at its prompt's place, the tuned model's signed as it
    was taught and the original's not; `done` hears each once; a stop between tokens gives None."""
    _, run_dir = demo_run
    tuned = TunedModel(*runs.model_and_adapter(run_dir))
    comments = demo.held_out_comments()[:generation.BATCH + 4]
    heard = []
    answers = tuned.answer_all("tuned", [user(c) for c in comments], Sampling(max_tokens=48),
                               done=lambda index, text: heard.append((index, text)))
    assert len(answers) == len(comments) and sorted(heard) == sorted(enumerate(answers))
    assert sum(a.endswith(demo.SIGNATURE) for a in answers) >= 0.9 * len(comments)
    base = tuned.answer_all("base", [user(c) for c in comments[:6]], Sampling(max_tokens=48))
    assert not any(a.endswith(demo.SIGNATURE) for a in base) and all(base)
    steps = []
    assert tuned.answer_all("tuned", [user(c) for c in comments], Sampling(max_tokens=48),
                            should_stop=lambda: steps.append(1) or len(steps) > 3) is None
