"""Scoring a prompt set: reading it, the checks, the loss against mlx-lm's own, and the demo's figures."""

import json
import math
import shutil
import types

import mlx.core as mx
import pytest
from mlx_lm.tuner.trainer import default_loss

from macapp.engine.errors import DataError, InputError
from macapp.engine.evaluate import evaluation, scores
from macapp.engine.evaluate.evaluation import Item
from macapp.engine.evaluate.generation import Sampling, TunedModel
from macapp.engine.evaluate.scores import Check
from macapp.engine.models import demo
from macapp.engine.train import batches
from tests.helpers import write_jsonl


def test_prompt_sets_in_every_shape(tmp_path):
    text = tmp_path / "prompts.txt"
    text.write_text("First question\n\n  Second question  \n", encoding="utf-8")
    assert [(i.prompt, i.expected, i.place) for i in evaluation.read_prompt_set(text)] == [
        ("First question", None, f"{text}:1"), ("Second question", None, f"{text}:3")]
    rows = write_jsonl(tmp_path / "set.jsonl", [
        {"prompt": "Hi", "expected": "Hello"},
        {"prompt": "Bye", "completion": "See you"},
        {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Q"},
                      {"role": "assistant", "content": "A"}]},
        {"messages": [{"role": "user", "content": "Only a question"}]}])
    items = evaluation.read_prompt_set(rows)
    assert [(i.prompt, i.expected) for i in items] == [("Hi", "Hello"), ("Bye", "See you"), ("Q", "A"),
                                                       ("Only a question", None)]
    assert items[2].messages[0] == {"role": "system", "content": "Be brief"}
    table = tmp_path / "set.csv"
    table.write_text("prompt,answer\nWhat is 2+2?,4\n", encoding="utf-8")
    assert [(i.prompt, i.expected) for i in evaluation.read_prompt_set(table)] == [("What is 2+2?", "4")]


def test_every_bad_record_is_reported_with_its_line(tmp_path):
    path = write_jsonl(tmp_path / "set.jsonl", ['{"prompt": "fine"}', '{"question": "no prompt"}', "{broken",
                                                '{"messages": [{"role": "assistant", "content": "x"}]}'])
    with pytest.raises(DataError) as error:
        evaluation.read_prompt_set(path)
    places = [p.place() for p in error.value.problems]
    assert places == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "has no prompt (its columns: question)" in str(error.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="the file is empty"):
        evaluation.read_prompt_set(empty)
    with pytest.raises(DataError, match="file not found"):
        evaluation.read_prompt_set(tmp_path / "missing.jsonl")


def test_a_spreadsheet_with_the_persons_own_column_names_is_read_as_the_data_step_reads_it(tmp_path):
    table = tmp_path / "new questions.csv"
    table.write_text("Customer email,Our reply\nWhere is my bike?,On its way.\nCan I return it?,Yes.\n",
                     encoding="utf-8")
    assert [(i.prompt, i.expected) for i in evaluation.read_prompt_set(table)] == [
        ("Where is my bike?", "On its way."), ("Can I return it?", "Yes.")]
    other = tmp_path / "other.csv"
    other.write_text("Ticket,Colour\n" + "".join(f"{i},red\n" for i in range(25)), encoding="utf-8")
    with pytest.raises(DataError) as error:
        evaluation.read_prompt_set(other)
    (problem,) = error.value.problems  # said once, not on each of the 25 rows
    assert problem.message == "has no prompt (its columns: Ticket, Colour) (and 24 more like it)"
    assert "a column of questions" in problem.fix


def test_checks_and_scores():
    ends = Check("ends_with", "-- Sam")
    assert ends.passes("Thanks! -- Sam \n") and not ends.passes("-- Sam said hi")
    regex = Check("regex", r"^\d+$")
    assert regex.passes("42") and not regex.passes("forty-two")
    with pytest.raises(InputError, match="not valid"):
        Check("regex", "([unclosed")
    with pytest.raises(InputError):
        Check("starts_with", "x")
    tokenizer = types.SimpleNamespace(encode=lambda text, add_special_tokens: text.split())
    result = scores.answer_scores("The answer is  Paris.", "the answer is paris.", ends, tokenizer)
    assert result["exact"] and result["contains"] and not result["check"] and result["length"] == 4
    assert 0 < result["similarity"] < 1
    assert scores.answer_scores("x", None, None, tokenizer) == {"answer": "x", "length": 1}


def test_summary_weights_the_loss_by_tokens():
    rows = [{"loss_sum": 2.0, "loss_tokens": 1, "check": True, "length": 3},
            {"loss_sum": 2.0, "loss_tokens": 3, "check": False, "length": 5}]
    summary = scores.summarize(rows)
    assert summary["loss"] == 1.0 and summary["perplexity"] == pytest.approx(math.e)
    assert summary["check"] == 0.5 and summary["length"] == 4 and "exact" not in summary
    assert scores.difference(summary, {**summary, "check": 1.0})["check"] == 0.5


def test_loss_on_expected_answers_equals_mlx_lm_loss(demo_run, demo_data):
    """Our masked loss against mlx-lm's own loss function on the same tokens and prompt offset.

    (mlx-lm's `evaluate` also counts the padding token after each example, one target too many, so
    it is compared at the loss function, with the example's true length.)
    """
    _, run_dir = demo_run
    records = [json.loads(line) for line in (demo_data / "test.jsonl").read_text().splitlines()][:6]
    tuned = TunedModel("demo", run_dir / "adapters")
    tuned.use("tuned")
    for record in records:
        total, count = evaluation.reference_loss(tuned, Item(record["messages"][:-1],
                                                             record["messages"][-1]["content"], ""), None)
        ((tokens, offset),) = batches.tokenize([record], tuned.tokenizer, mask_prompt=True)
        theirs, their_count = default_loss(tuned.model, mx.array([tokens]), mx.array([[offset, len(tokens) - 1]]))
        assert count == their_count.item() and total / count == pytest.approx(theirs.item(), rel=1e-5)


def test_a_stopped_evaluation_returns_nothing(demo_run):
    _, run_dir = demo_run
    calls = []
    result = evaluation.evaluate_run(run_dir, demo.HELD_OUT, sampling=Sampling(max_tokens=8),
                                     report=calls.append, should_stop=lambda: len(calls) >= 3)
    assert result is None


def test_a_run_without_a_test_split_asks_for_prompts_unless_it_is_the_demos(demo_run, tmp_path):
    _, run_dir = demo_run
    assert evaluation.run_prompt_set(run_dir) == (demo.HELD_OUT, "the demo's held-out comments")
    other = shutil.copytree(run_dir, tmp_path / "other")
    manifest = other / "data" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "sources": ["/elsewhere/chats.jsonl"],
                                    "source_sha256": ["0" * 64]}))  # other data, known by its contents
    with pytest.raises(InputError, match="has no test split"):
        evaluation.evaluate_run(other)
    with pytest.raises(InputError, match="no 'middle' adapter"):
        evaluation.evaluate_run(run_dir, demo.HELD_OUT, checkpoint="middle")


def test_demo_report_shows_what_fine_tuning_changed(demo_run):
    """The done-when figures: signature share tuned >= 90%, base <= 10%, lower loss on held-out comments."""
    _, run_dir = demo_run
    report = json.loads((run_dir / "report.json").read_text())
    summary = report["summary"]
    assert summary["tuned"]["count"] == len(demo.held_out_comments()) == len(report["items"])
    assert summary["tuned"]["check"] >= 0.9 and summary["base"]["check"] <= 0.1
    assert summary["tuned"]["loss"] < summary["base"]["loss"]
    assert summary["difference"]["check"] == summary["tuned"]["check"] - summary["base"]["check"]
    assert report["check"]["value"] == demo.SIGNATURE and report["sampling"]["temperature"] == 0
    assert report["training"]["train"] and report["training"]["valid"]


def test_per_prompt_cells_cover_sets_where_only_some_prompts_have_an_answer():
    items = [{"base": {"answer": "a", "length": 3}, "tuned": {"answer": "b", "length": 1}},
             {"base": {"answer": "a", "length": 2, "exact": False}, "tuned": {"answer": "b", "length": 2, "exact": True}}]
    assert scores.item_keys(items) == ["exact", "length"]
    assert scores.pair(items[0], "exact") is None
    assert scores.pair(items[1], "exact") == ("\u2717 \u2192 \u2713", 1.0)
    assert scores.pair(items[0], "length") == ("3 \u2192 1", -2.0)
    check = {"description": "ends with 'x'"}
    summary = {"base": {"check": 0.0, "loss": 2.0}, "tuned": {"check": 1.0}, "difference": {"check": 1.0}}
    assert scores.summary_rows(summary, check) == [("check", "Answer ends with 'x'", True)]
