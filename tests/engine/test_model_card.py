"""The model card an upload carries, written from the session's trained and scored demo run: front matter the hub
reads, the data's size and format but never its examples, the settings, the losses and scores, how to use it."""

import json
import shutil

import yaml

from macapp.engine.export import model_card
from macapp.engine.runs import runs
from macapp.engine.runs.run_state import RunState
from macapp.engine.train.run_spec import RunSpec


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_the_card_of_the_demo_run_says_what_it_is_its_data_settings_and_scores(demo_run):
    _, run_dir = demo_run
    card = model_card.card(run_dir, "sam/tiny-kitchen", adapter=True)
    meta = front_matter(card)
    assert meta["library_name"] == "mlx" and meta["pipeline_tag"] == "text-generation"
    assert meta["tags"] == ["mlx", "lora", "tailor"] and "base_model" not in meta  # the demo is not on the hub
    assert "# tiny-kitchen" in card and "Method: LoRA" in card and "built-in demo model" in card
    manifest = json.loads((run_dir / "data" / "manifest.json").read_text())
    assert f"{manifest['files']['train']['count']} training, {manifest['files']['valid']['count']} validation " \
           "examples, as chats" in card
    for line in (run_dir / "data" / "train.jsonl").read_text().splitlines()[:20]:
        assert json.loads(line)["messages"][-1]["content"] not in card  # the examples are never published
    settings = yaml.safe_load((run_dir / "config.yaml").read_text())
    for row in (f"| Steps (iterations) | {settings['iters']} |", f"| Batch size | {settings['batch_size']} |",
                f"| Learning rate | {settings['learning_rate']:g} |", "| Layers trained | all |",
                f"| Rank | {settings['lora_parameters']['rank']} |"):
        assert row in card
    state = RunState.replay(runs.read_events(run_dir))
    assert f"{state.val_points[-1][1]:.3f} at the last check (step {state.val_points[-1][0]})" in card
    assert f"best {state.best[1]:.3f} at step {state.best[0]}" in card
    summary = json.loads((run_dir / "report.json").read_text())["summary"]
    assert f"| Answer ends with '-- Sam, Tiny Kitchen' | 0% | {summary['tuned']['check']:.0%} |" in card
    assert "hf download sam/tiny-kitchen --local-dir adapter" in card and "--adapter-path adapter" in card
    fused = model_card.card(run_dir, "sam/tiny-kitchen", adapter=False)
    assert "mlx_lm generate --model sam/tiny-kitchen" in fused and "--adapter-path" not in fused


def test_a_hub_base_model_is_named_with_its_licence_and_the_adapter_keeps_no_local_folders(demo_run, tmp_path):
    _, run_dir = demo_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "exports"))
    spec = RunSpec.load(copy)
    spec.model, spec.method = "mlx-community/Qwen2.5-0.5B-Instruct-4bit", "qlora"
    spec.save(copy)
    shared = model_card.files(copy, copy / "adapters", "sam/qwen-kitchen")
    meta = front_matter(shared["README.md"].decode())
    assert meta["base_model"] == spec.model and meta["base_model_relation"] == "adapter"
    assert meta["license"] == "apache-2.0"
    assert "Method: QLoRA" in shared["README.md"].decode()
    assert f"mlx_lm generate --model {spec.model} --adapter-path adapter" in shared["README.md"].decode()
    settings = json.loads(shared["adapter_config.json"])
    assert set(settings) == {"fine_tune_type", "num_layers", "lora_parameters", "model"}
    assert settings["model"] == spec.model and "/" not in json.dumps({k: settings[k] for k in model_card.ADAPTER_KEYS})
    assert str(run_dir.parents[1]) not in shared["adapter_config.json"].decode()  # Tailor's folder on this Mac
    assert settings["lora_parameters"] == json.loads((copy / "adapters" / "adapter_config.json").read_text())[
        "lora_parameters"]
    assert not (copy / "adapters" / "README.md").exists()  # nothing is written into the run


def test_an_adapter_shared_from_a_local_base_names_no_folder_of_this_mac(demo_run, tmp_path):
    _, run_dir = demo_run
    adapters = tmp_path / "adapters"
    shutil.copytree(run_dir / "adapters", adapters)
    written = json.loads((adapters / "adapter_config.json").read_text())
    home = "/Users/sam/Library/Application Support/Tailor"
    written.update(adapter_path=f"{home}/runs/x/adapters", resume_adapter_file=f"{home}/runs/x/checkpoints/a.npz",
                   model=f"{home}/models/demo", data=f"{home}/runs/x/data")
    (adapters / "adapter_config.json").write_text(json.dumps(written))
    shared = model_card.files(run_dir, adapters, "sam/tiny-kitchen")["adapter_config.json"].decode()
    assert set(json.loads(shared)) == {"fine_tune_type", "num_layers", "lora_parameters"}  # the demo is not on the hub
    assert "/Users" not in shared and str(tmp_path) not in shared
