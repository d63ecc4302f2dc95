"""`tailor eval --judge` in real processes: the verdict card first, the order swap through the whole path, a judge
that is not found, the held-out questions also in training left out, and `mlx_lm server` as a real judge.

The stand-in judge (tests/judge_server.py) has a rule the test knows: a capable judge model cannot run here, so only
the mechanics are asserted with `mlx_lm server` on the demo model.
"""

import json

import pytest

from macapp.engine.evaluate import verdict
from macapp.engine.evaluate.judge import JUDGEMENTS_FILE
from macapp.engine.models import demo
from tests.helpers import tailor, write_jsonl
from tests.judge_server import NAME, StandInJudge, always_first


def test_the_verdict_comes_first_and_a_judge_that_prefers_signed_answers_finds_the_tuned_model_better(run_copy):
    judge = StandInJudge()
    with judge.serving() as address:
        result = tailor("eval", "--run", run_copy, "--judge", address, "--max-tokens", 48)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(verdict.HEADLINES["better"]), result.stdout
    comments = len(demo.held_out_comments())
    assert f"On {comments} questions it never saw, the fine-tuned model was better on" in result.stdout
    assert f"(judged by {NAME} on this Mac)" in result.stdout and "95% interval" in result.stdout
    report = json.loads((run_copy / "report.json").read_text())
    outcomes = [item["judge"]["outcome"] for item in report["items"]]
    assert outcomes.count("tuned") >= 0.9 * comments and "base" not in outcomes
    assert len(judge.asked) == 2 * comments
    page = (run_copy / "report.html").read_text()
    assert '<section class="verdict better">' in page and "Fine-tuned better" in page
    # Asked again with nothing changed, the answers are used again and no pair is judged twice.
    with StandInJudge().serving() as address:
        again = tailor("eval", "--run", run_copy, "--judge", address, "--max-tokens", 48)
    assert again.returncode == 0 and "Nothing changed since the last scoring" in again.stderr + again.stdout


def test_a_judge_for_the_first_place_gives_no_wins_through_the_whole_path(run_copy):
    with StandInJudge(always_first).serving() as address:
        result = tailor("eval", "--run", run_copy, "--judge", address, "--limit", 10, "--max-tokens", 24)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(verdict.HEADLINES["same"]), result.stdout
    assert "better on 0, worse on 0 and as good on 10" in result.stdout


@pytest.mark.parametrize("judge, words", [("nothing-here", "No judge called 'nothing-here' was found"),
                                          ("127.0.0.1:9", "Nothing answers at http://127.0.0.1:9/v1")])
def test_a_judge_that_is_not_found_exits_2_with_what_to_do(run_copy, judge, words):
    result = tailor("eval", "--run", run_copy, "--judge", judge)
    assert result.returncode == 2, result.stderr[-2000:]
    assert words in result.stderr and "Traceback" not in result.stderr
    assert not (run_copy / "report.json").exists()


def test_mlx_lm_server_judges_with_the_same_mechanics(run_copy, mlx_server):
    """The demo model is no judge: whatever it replies, each question gets a verdict or is counted as none."""
    result = tailor("eval", "--run", run_copy, "--judge", mlx_server, "--limit", 4, "--max-tokens", 24)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run_copy / "report.json").read_text())
    assert all(item["judge"]["outcome"] in verdict.OUTCOMES for item in report["items"])
    assert len((run_copy / JUDGEMENTS_FILE).read_text().splitlines()) == 8
    assert result.stdout.splitlines()[0] in verdict.HEADLINES.values()
    assert "judged by the model served at 127.0.0.1:" in result.stdout or "could not be read" in result.stdout


def _chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


@pytest.mark.parametrize("name", ["llama3", "qwen2"])
def test_a_family_models_run_is_judged_and_test_questions_also_in_training_are_left_out(name, family_model, tmp_path):
    """The person's own split, where two test questions are also asked in training (with other answers): a score on
    them would measure memory, so they are not judged and the card says so."""
    data = tmp_path / "emails"
    data.mkdir()
    questions = [f"Customer {i} asks: where is my order number {1000 + i}?" for i in range(24)]
    write_jsonl(data / "train.jsonl", [_chat(q, f"It ships today. {demo.SIGNATURE}") for q in questions[:18]])
    write_jsonl(data / "valid.jsonl", [_chat(q, f"It left us. {demo.SIGNATURE}") for q in questions[18:20]])
    write_jsonl(data / "test.jsonl", [_chat(q, f"On its way. {demo.SIGNATURE}") for q in questions[20:]]
                + [_chat(questions[0].upper(), "Sent."), _chat(questions[1] + "!!", "Sent.")])
    trained = tailor("train", "--model", family_model(name), "--data", data, "--iters", 2, "--batch-size", 2,
                     "--max-seq-length", 96, "--name", f"verdict-{name}", timeout=900)
    assert trained.returncode == 0, trained.stderr[-3000:]
    from tests.helpers import run_folder

    with StandInJudge().serving() as address:
        # the run by the name it was given, as a person types it
        result = tailor("eval", "--run", f"verdict-{name}", "--judge", address, "--max-tokens", 12)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((run_folder(f"verdict-{name}") / "report.json").read_text())
    assert [item["in_training"] for item in report["items"]] == [False] * 4 + [True] * 2
    assert [bool(item.get("judge")) for item in report["items"]] == [True] * 4 + [False] * 2
    assert "On 4 questions it never saw" in result.stdout
    assert "2 questions of the test set left out: also in the training data" in result.stdout
