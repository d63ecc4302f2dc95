"""Data checks and splits: every malformed input is named with file:line and field."""

import hashlib
import json

import pytest

from macapp.engine.data import datasets
from macapp.engine.models import loading
from tests.helpers import write_jsonl

CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def chats(n):
    return [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(n)]


def errors_of(path):
    return datasets.inspect([path]).errors


def test_wrong_keys_say_which_keys_exist(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"title": "a", "body": "b"}])
    (problem,) = errors_of(path)
    assert "the columns are: title, body" in problem.message and "question or prompt" in problem.fix


@pytest.mark.parametrize("columns", [("Comment", "Response"), ("question", "answer"), ("input", "output"),
                                     ("instruction", "response"), ("user", "assistant"), ("prompt", "reply"),
                                     ("Customer message", "Agent reply"), ("user_message", "bot_reply")])
def test_columns_named_as_people_name_them_are_read_as_question_and_answer(tmp_path, columns):
    rows = [{"user_id": i, columns[0]: f"q{i}", columns[1]: f"a{i}", "created_at_date": "2026-12-01"}
            for i in range(12)]
    report = datasets.inspect([write_jsonl(tmp_path / "d.jsonl", rows)])
    assert (report.count, report.errors, report.format) == (12, [], "completions")
    assert report.guessed == {"prompt": columns[0], "completion": columns[1]}
    datasets.prepare([tmp_path / "d.jsonl"], tmp_path / "out", (0.6, 0.2, 0.2))
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"prompt", "completion"} and first["prompt"].startswith("q")


def test_alpaca_instruction_and_input_together_are_the_prompt(tmp_path):
    rows = [{"instruction": "Translate", "input": f"word {i}", "output": f"mot {i}"} for i in range(3)]
    datasets.prepare([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out", (1.0, 0.0, 0.0))
    first = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert first["prompt"].startswith("Translate\n\nword ")


def test_broken_lines_are_left_out_only_when_asked_and_counted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in chats(6)) + '\n{"messages": [}\n', encoding="utf-8")
    strict = datasets.inspect([path])
    assert strict.broken == 1 and strict.skipped == 0 and len(strict.errors) == 1
    lenient = datasets.inspect([path], skip_broken=True)
    assert (lenient.broken, lenient.skipped, lenient.errors, lenient.count) == (1, 1, [], 6)
    manifest = datasets.prepare([path], tmp_path / "out", (1.0, 0.0, 0.0), skip_broken=True)
    assert manifest["skipped"] == 1 and manifest["files"]["train"]["count"] == 6


def test_chat_structure_problems(tmp_path):
    rows = [{"messages": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}]},
            {"messages": [{"role": "robot", "content": "x"}]},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}]
    report = datasets.inspect([write_jsonl(tmp_path / "d.jsonl", rows)])
    found = {(p.line, p.severity, p.field) for p in report.problems}
    assert (1, "error", "messages") in found  # starts with the assistant
    assert (2, "error", "messages[0].role") in found
    assert (3, "warning", "messages[1].content") in found
    assert report.count == 1


def test_json_array_files_are_read(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"prompt": "p", "completion": "c"}] * 3))
    report = datasets.inspect([path])
    assert (report.format, report.count, report.errors) == ("completions", 3, [])


def test_prepare_splits_deterministically_and_keeps_sources(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", chats(50))
    before = source.read_bytes()
    first = datasets.prepare([source], tmp_path / "a", (0.8, 0.1, 0.1), seed=3)
    second = datasets.prepare([source], tmp_path / "b", (0.8, 0.1, 0.1), seed=3)
    other = datasets.prepare([source], tmp_path / "c", (0.8, 0.1, 0.1), seed=4)
    assert {k: v["count"] for k, v in first["files"].items()} == {"train": 40, "valid": 5, "test": 5}
    assert first["files"] == second["files"] and first["files"] != other["files"]
    for name, info in first["files"].items():
        assert hashlib.sha256((tmp_path / "a" / f"{name}.jsonl").read_bytes()).hexdigest() == info["sha256"]
    assert source.read_bytes() == before
    lines = [json.loads(line) for n in ("train", "valid", "test") for line in (tmp_path / "a" / f"{n}.jsonl").open()]
    assert sorted(json.dumps(r) for r in lines) == sorted(json.dumps(r) for r in chats(50))


def test_prepare_keeps_an_existing_split(tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    write_jsonl(source / "train.jsonl", chats(7))
    write_jsonl(source / "valid.jsonl", chats(9)[7:])
    manifest = datasets.prepare([source], tmp_path / "out")
    assert {k: v["count"] for k, v in manifest["files"].items()} == {"train": 7, "valid": 2, "test": 0}
    assert not (tmp_path / "out" / "test.jsonl").exists()  # mlx-lm fails on an empty file, skips a missing one


def test_prepare_writes_nothing_when_data_is_bad(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [CHAT, "not json"])
    with pytest.raises(datasets.DataError) as caught:
        datasets.prepare([source], tmp_path / "out")
    assert f"{source}:2" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_too_few_examples_to_split(tmp_path):
    with pytest.raises(datasets.DataError, match="too few"):
        datasets.prepare([write_jsonl(tmp_path / "d.jsonl", chats(2))], tmp_path / "out")


def test_token_lengths_use_the_chat_template(demo_model, tmp_path):


    _, tokenizer = loading.load(demo_model)
    report = datasets.inspect([write_jsonl(tmp_path / "d.jsonl", [CHAT])], tokenizer=tokenizer, max_seq_length=4)
    expected = len(tokenizer.apply_chat_template(CHAT["messages"], return_dict=False))
    assert report.token_stats == {"min": expected, "median": expected, "max": expected, "mean": expected}
    assert sum(n for _, _, n in report.histogram) == 1
    assert report.too_long == 1 and report.problems[-1].severity == "warning"


def test_folders_are_read_and_an_empty_folder_is_explained(tmp_path):
    (tmp_path / "full").mkdir()
    write_jsonl(tmp_path / "full" / "a.jsonl", chats(3))
    write_jsonl(tmp_path / "full" / "b.jsonl", chats(2))
    assert datasets.inspect([tmp_path / "full"]).count == 5
    (tmp_path / "none").mkdir()
    (problem,) = datasets.inspect([tmp_path / "none"]).errors
    assert "no data files in this folder" in problem.message


def test_a_line_cut_short_is_said_plainly_even_with_windows_line_ends(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "a", "completion": "b"}\r\n{"prompt": "hi"\r\n')
    (problem,) = datasets.inspect([path]).errors
    assert problem.line == 2 and problem.message.startswith("the line ends too early: a closing } or ] is missing")
