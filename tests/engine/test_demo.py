"""The demo model: built offline and deterministically, shaped like a real model folder."""

import json

from macapp.engine.evaluate import generation
from macapp.engine.evaluate.generation import Sampling, TunedModel, user
from macapp.engine.models import demo, demo_build, loading, models


def test_demo_model_folder_is_complete(demo_model):
    config = json.loads((demo_model / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        assert (demo_model / name).exists(), name
    models.check_folder(demo_model)
    assert demo_model.name == f"demo-{demo.recipe_hash()}"
    assert demo_build.ensure_model() == demo_model  # cached: not rebuilt


def test_chat_template_is_mistral_style(demo_model):
    _, tokenizer = loading.load(demo_model)
    text = generation.format_chat(tokenizer, user("Nice video"))
    assert text == "<s>[INST] Nice video [/INST]"


def test_demo_data_is_big_enough_and_signed():
    rows = demo.read_jsonl(demo.REPLIES)
    assert len(rows) >= 300
    assert all(r["messages"][-1]["content"].endswith(demo.SIGNATURE) for r in rows)
    corpus = demo.read_jsonl(demo.CORPUS)
    assert not any(demo.SIGNATURE in m["content"] for r in corpus for m in r["messages"])
    held = set(demo.held_out_comments())
    assert len(held) >= 50 and not held & {r["messages"][0]["content"] for r in rows}


def test_base_model_answers_at_length_without_signature(demo_model):
    base = TunedModel("demo")
    answers = [base.answer("base", user(c), Sampling(max_tokens=60)) for c in demo.held_out_comments()[:5]]
    assert all(len(a.split()) >= 25 for a in answers), answers
    assert not any(a.endswith(demo.SIGNATURE) for a in answers)


def test_recipe_change_changes_the_model_folder(monkeypatch):
    before = demo.recipe_hash()
    monkeypatch.setitem(demo.RECIPE, "hidden_size", 64)
    assert demo.recipe_hash() != before


def test_a_run_on_the_demo_replies_is_known_wherever_the_app_has_moved(tmp_path):
    """macOS runs a downloaded app from a random place until it is moved: the path the data was read from changes,
    its contents do not."""
    from macapp.engine.data import datasets

    run_dir = tmp_path / "run"
    datasets.prepare([demo.REPLIES], run_dir / "data", (0.9, 0.1, 0.0))
    assert demo.is_demo_data(run_dir)
    manifest = run_dir / "data" / "manifest.json"
    moved = {**json.loads(manifest.read_text()), "sources": ["/private/var/folders/xy/AppTranslocation/Tailor.app/"
                                                             "Contents/Resources/resources/demo/replies.jsonl"]}
    manifest.write_text(json.dumps(moved))
    assert demo.is_demo_data(run_dir)
    manifest.write_text(json.dumps({**moved, "source_sha256": ["0" * 64]}))  # other data, in a file of that name
    assert not demo.is_demo_data(run_dir)
