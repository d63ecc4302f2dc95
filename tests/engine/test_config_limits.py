"""A config file cannot exhaust the computer: aliases are refused, files, values and nesting are bounded, and a
message shows a value's start only; shown through `config.load`, a run's listing, the real CLI and random YAML."""

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macapp.engine.runs import runs
from macapp.engine.train import config
from tests.helpers import tailor

SECONDS = 3  # each reading here takes milliseconds; an alias bomb took minutes and 3.5 GB before
MEGABYTES = 40  # the most a refused or loaded config may hold in memory while it is read


def laughs(levels: int = 9, width: int = 9, mapping: bool = False) -> str:
    """The "billion laughs": each anchor repeats the one before `width` times, `levels` deep (9**9 values)."""
    lines = ['a0: &a0 ["lol", "lol", "lol"]']
    for level in range(1, levels):
        items = [f"k{i}: *a{level - 1}" if mapping else f"*a{level - 1}" for i in range(width)]
        lines.append(f"a{level}: &a{level} " + ("{%s}" if mapping else "[%s]") % ", ".join(items))
    return "\n".join(lines) + "\n"


def bounded(read):
    """What `read()` gave, having checked it took under SECONDS of this process's time (a busy machine's waits do not
    count) and MEGABYTES."""
    tracemalloc.start()
    began = time.process_time()
    try:
        return read()
    finally:
        took, (_, peak) = time.process_time() - began, tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert took < SECONDS and peak < MEGABYTES * 2**20, (took, peak)


def test_an_anchor_without_an_alias_is_harmless(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: demo\nlora_parameters: &mine {rank: 4, scale: 10.0, dropout: 0.0}\n")
    assert config.load(path).lora_parameters["rank"] == 4


def refusal(path, text: str) -> str:
    """The message `config.load` refuses `text` with, written to `path`, having read it within bounds."""
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        bounded(lambda: config.load(path))
    return str(caught.value)


@pytest.mark.parametrize("text, line, words", [
    (laughs(), 2, "uses an alias (*a0); write the value out instead."),
    (laughs(mapping=True), 2, "uses an alias (*a0)"),
    ("model: demo\nlora_parameters: &l {rank: 8}\noptimizer_config: *l\n", 3, "uses an alias (*l)"),
    ("lora_parameters:\n  keys: &k [q_proj]\n  rank: 8\nx: {<<: *k}\n", 4, "uses an alias (*k)"),
    ("model: demo\ndata: " + "d" * 5000 + "\n", 2, "a value of 5,000 characters, 'ddd"),
    ("lora_parameters:\n  keys: [" + ", ".join(["q"] * 3000) + "]\n", 2, "holds more than 2,000 values"),
    ("lora_parameters: " + "[" * 40 + "]" * 40 + "\n", 1, "settings nest more than 16 levels deep"),
    ("iters: " + "n" * 1000 + "\n", 1, "iters should be a whole number, not '" + "n" * 59 + "\u2026."),
    ("model: 2001-13-45\n", 1, "'2001-13-45' cannot be read as timestamp; quote it"),
    ("model: !!int ten\n", 1, "'ten' cannot be read as int"),
])
def test_aliases_and_long_many_or_deep_values_are_refused_with_their_line(tmp_path, text, line, words):
    path = tmp_path / "c.yaml"
    message = refusal(path, text)
    assert message.startswith(f"{path}:{line}: ") and words in message and len(message) < len(str(path)) + 300


def test_a_file_larger_than_a_config_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yaml"
    message = refusal(path, "model: " + "x" * 10 * 2**20)  # 10 MB: never parsed, never shown
    assert message == (f"{path}: is 10,485,767 bytes, too large for a config file (a few settings, at most 64 KB). "
                       "Choose the config file itself.")


@pytest.mark.parametrize("values, key", [
    ({"iters": "9" * 10_000_000}, "iters"),
    ({"fine_tune_type": "q" * 10_000_000}, "fine_tune_type"),
    ({"lora_parameters": {"rank": 8, "keys": ["k" * 100] * 10_000 + [0]}}, "lora_parameters"),
    ({"lr_schedule": {"name": "cosine_decay", "arguments": list(range(100_000))}}, "lr_schedule"),
    ({"x" * 10_000_000: 1}, "unknown setting"),
])
def test_a_message_quotes_a_values_start_never_the_whole_value(values, key):
    with pytest.raises(config.ConfigError) as caught:
        config.from_dict(values)
    message = str(caught.value)
    assert key in message and "\u2026" in message and len(message) < 400, message


def test_a_run_whose_config_is_a_bomb_is_listed_as_damaged_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path))
    folder = runs.runs_root() / "20260101-000000-bomb"
    folder.mkdir()
    (folder / "config.yaml").write_text(laughs(mapping=True))
    (listed,) = bounded(runs.list_runs)
    assert listed["status"] == "damaged" and "config.yaml:2: uses an alias (*a0)" in listed["state"].message


def test_tailor_train_refuses_an_alias_bomb_at_once_with_exit_2(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(levels=12, mapping=True))
    result = tailor("train", "--config", path, timeout=120)  # the start of Python and Tailor, not the file
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"Error: {path}:2: uses an alias (*a0); write the value out instead."


def test_tailor_train_quotes_the_start_of_a_long_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: demo\niters: " + "many " * 200 + "\n")
    result = tailor("train", "--config", path, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:2: iters should be a whole number, not 'many many" in result.stderr
    assert len(result.stderr) < len(str(path)) + 200


# Random YAML: settings Tailor knows (so that checks deep in a config are reached), anchors and aliases, nested
# lists and mappings, long and odd scalars, alias bombs, and random bytes spliced in.
NAMES = ["model", "iters", "lora_parameters", "rank", "keys", "lr_schedule", "name", "arguments",
         "optimizer_config", "adamw", "betas", "data", "a", "<<"]
plain = st.sampled_from(["8", "-1", "1e-5", ".nan", "true", "null", "~", "2001-13-45", "0x" + "f" * 900,
                         "!!int x", "!!binary '%'", "cosine_decay", "'q'", '"\\x00"', "[]", "{}"])
scalars = plain | st.integers().map(str) | st.text("ab\"' :#-&*!|>%@`", max_size=30).map(repr) | st.builds(
    lambda char, length: char * length, st.sampled_from("x9 "), st.integers(0, 3000))


def _anchored(value: str, draw) -> str:
    anchor = draw(st.sampled_from(["", "&a ", "&b ", "*a", "*b"]))
    return anchor if anchor.startswith("*") else anchor + value


@st.composite
def yaml_values(draw, depth: int = 0) -> str:
    if depth >= 4 or draw(st.booleans()):
        return _anchored(draw(scalars), draw)
    items = draw(st.lists(yaml_values(depth + 1), max_size=4))
    if draw(st.booleans()):
        return _anchored("[" + ", ".join(items) + "]", draw)
    keys = draw(st.lists(st.sampled_from(NAMES), min_size=len(items), max_size=len(items)))
    return _anchored("{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items)) + "}", draw)


documents = st.dictionaries(st.sampled_from(NAMES), yaml_values(), max_size=6).map(
    lambda found: "".join(f"{key}: {value}\n" for key, value in found.items()).encode())
bombs = st.builds(lambda levels, width, mapping: laughs(levels, width, mapping).encode(),
                  st.integers(1, 14), st.integers(1, 14), st.booleans())


@st.composite
def spliced(draw) -> bytes:
    text, noise = draw(documents | bombs), draw(st.binary(max_size=40))
    at = draw(st.integers(0, len(text)))
    return text[:at] + noise + text[at:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(documents | bombs | spliced() | st.binary(max_size=300))
def test_random_yaml_gives_a_config_or_a_plain_error_within_bounds(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("config") / "c.yaml"
    path.write_bytes(content)
    try:
        assert isinstance(bounded(lambda: config.load(path)), config.TrainConfig)
    except config.ConfigError as error:
        assert str(error).startswith(str(path)) and len(str(error)) < len(str(path)) + 400, str(error)
