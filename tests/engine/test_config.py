"""Configs in mlx-lm's lora YAML keys load as Tailor configs; mistakes are named with the fix."""

import pytest

from macapp.engine.train import config

MLX_LM_YAML = """\
model: "mlx-community/Mistral-7B-v0.1"
train: true
fine_tune_type: dora
optimizer: adamw
data: "/data/"
seed: 0
num_layers: 8
batch_size: 4
iters: 1000
val_batches: 25
learning_rate: 1e-5
steps_per_report: 10
steps_per_eval: 200
resume_adapter_file: null
adapter_path: "adapters"
save_every: 100
test: false
test_batches: 100
max_seq_length: 2048
grad_checkpoint: false
lora_parameters:
  keys: ["self_attn.q_proj", "self_attn.v_proj"]
  rank: 8
  scale: 20.0
  dropout: 0.0
lr_schedule:
  name: cosine_decay
  warmup: 100
  warmup_init: 1e-7
  arguments: [1e-5, 1000, 1e-7]
"""


def test_mlx_lm_lora_yaml_loads(tmp_path):
    path = tmp_path / "lora_config.yaml"
    path.write_text(MLX_LM_YAML)
    loaded = config.load(path)
    assert loaded.learning_rate == 1e-5 and isinstance(loaded.learning_rate, float)
    assert (loaded.fine_tune_type, loaded.optimizer, loaded.num_layers) == ("dora", "adamw", 8)
    assert loaded.lora_parameters["keys"] == ["self_attn.q_proj", "self_attn.v_proj"]
    assert loaded.lr_schedule["arguments"] == [1e-5, 1000, 1e-7]


def test_saved_config_loads_back(tmp_path):
    original = config.TrainConfig(data="x", iters=7, mask_prompt=True)
    original.save(tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == original


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batchsize: 4\n")
    with pytest.raises(config.ConfigError, match="unknown setting 'batchsize'.*'batch_size'"):
        config.load(path)


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("iters: 10\nlora_parameters:\n  rank: 8\n scale: 2\n")
    with pytest.raises(config.ConfigError, match=r"c\.yaml:4"):
        config.load(path)


@pytest.mark.parametrize("values, message", [
    ({"iters": "many"}, "iters should be a whole number"),
    ({"mask_prompt": "yes"}, "mask_prompt should be true or false"),
    ({"fine_tune_type": "qlora"}, "Use one of: lora, dora, full"),
    ({"lora_parameters": {"rank": 8, "alpha": 16}}, "calls it scale"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
])
def test_wrong_values_are_explained(values, message):
    with pytest.raises(config.ConfigError, match=message):
        config.from_dict(values)


@pytest.mark.parametrize("text, line, message", [
    ("model: demo\nbatch_size: \"eight\"\n", 2, "batch_size should be a whole number, not 'eight'"),
    ("iters: 10\n\nbatchsize: 2\n", 3, "unknown setting 'batchsize'. Did you mean 'batch_size'?"),
    ("val_batches: 0\n", 1, "val_batches must be -1 (all of the validation data) or at least 1"),
    ("lora_parameters:\n  scale: 10.0\n  rank: 0\n", 3, "rank must be a whole number of at least 1"),
    ("lora_parameters:\n  rank: 8\n  dropout: 1.5\n", 3, "dropout must be a number from 0"),
    ("lora_parameters:\n  ranks: 8\n", 2, "lora_parameters has no setting 'ranks'"),
    ("lr_schedule:\n  name: cosine\n  arguments: [1e-5, 100]\n", 2, "the schedule 'cosine' is unknown"),
    ("lr_schedule:\n  name: cosine_decay\n  arguments: [1e-5]\n", 3, "cosine_decay takes 2 or 3 numbers"),
    ("lr_schedule: fast\n", 1, "lr_schedule should be settings indented under it"),
    ("optimizer_config:\n  adamw:\n    weight_decay: lots\n", 3, "adamw's weight_decay should be a number"),
    ("optimizer_config:\n  adam:\n    betas: 0.9\n", 3, "adam's betas should be two numbers"),
    ("optimizer_config:\n  rmsprop: {}\n", 2, "optimizer_config has no setting 'rmsprop'"),
    ("iters: 5\nresume_adapter_file: nowhere.safetensors\n", 2, "resume_adapter_file: 'nowhere.safetensors' not found"),
    ("learning_rate: .nan\n", 1, "learning_rate must be a number above 0"),
    ("model: [a, b]\n", 1, "model should be text"),
])
def test_every_wrong_value_names_its_line(text, line, message, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") and message in str(caught.value)


def test_optimizer_options_follow_mlx():
    """The options each optimizer is offered are the ones MLX's optimizer takes, no more."""
    import inspect

    from macapp.engine.train.config_rules import OPTIMIZER_OPTIONS
    from macapp.engine.train.train_loop import OPTIMIZER_CLASSES

    for name, options in OPTIMIZER_OPTIONS.items():
        taken = set(inspect.signature(OPTIMIZER_CLASSES[name].__init__).parameters) - {"self", "learning_rate"}
        assert set(options) == taken, name
