"""Preference pairs read in every shape people bring them (TRL's, mlx-lm-lora's, a table's columns), their problems
said with file:line, and their split keeping a question's pairs together."""

import json

from macapp.engine.data import datasets
from tests.helpers import write_jsonl
from tests.workbooks import xlsx

PAIR = {"prompt": "What knife?", "chosen": "A cheap one. -- Sam", "rejected": "I appreciate your question very much."}


def test_trl_and_mlx_lm_lora_shapes_become_one_kind_of_pair(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", [
        PAIR,
        {"prompt": [{"role": "system", "content": "Be short."}, {"role": "user", "content": "Salt?"}],
         "chosen": [{"role": "assistant", "content": "A pinch. -- Sam"}],
         "rejected": [{"role": "assistant", "content": "Well, it depends on many things."}]},
        {"chosen": [{"role": "user", "content": "Oven?"}, {"role": "assistant", "content": "200 C. -- Sam"}],
         "rejected": [{"role": "user", "content": "Oven?"}, {"role": "assistant", "content": "It depends."}]},
        {"system": "You are Sam.", "prompt": "Pan?", "chosen": "A big one. -- Sam", "rejected": "Any pan."},
    ])
    report = datasets.inspect(source)
    assert report.format == "preference" and report.count == 4 and not report.problems[:-1], report.problems
    datasets.prepare(source, tmp_path / "out", (1.0, 0.0, 0.0))
    kept = datasets.load_split(tmp_path / "out", "train")
    assert PAIR in kept
    assert {"prompt": [{"role": "system", "content": "Be short."}, {"role": "user", "content": "Salt?"}],
            "chosen": "A pinch. -- Sam", "rejected": "Well, it depends on many things."} in kept
    assert {"prompt": [{"role": "user", "content": "Oven?"}], "chosen": "200 C. -- Sam",
            "rejected": "It depends."} in kept
    assert {"system": "You are Sam.", "prompt": "Pan?", "chosen": "A big one. -- Sam", "rejected": "Any pan."} in kept


def test_columns_named_as_people_name_them(tmp_path):
    for better, worse in (("Better answer", "Worse answer"), ("preferred", "dispreferred"),
                          ("Good answer", "Bad answer"), ("chosen", "rejected")):
        rows = [["Question", better, worse]] + [[f"Question {i}?", f"Short {i}. -- Sam", f"A long answer {i}."]
                                                for i in range(12)]
        source = xlsx(tmp_path / f"{better}.xlsx", {"Pairs": rows})
        report = datasets.inspect(source)
        assert report.format == "preference" and report.count == 12, (better, report.problems)
        assert report.guessed == {"completion": None, "prompt": "Question", "chosen": better, "rejected": worse}
    csv = tmp_path / "pairs.csv"
    csv.write_text("Customer message,Good reply,Bad reply\nHi?,Hello! -- Sam,Greetings.\n", encoding="utf-8")
    assert datasets.inspect(csv).format == "preference"


def test_problems_are_said_with_their_line(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", [
        PAIR,
        {"prompt": "Same?", "chosen": "Yes.", "rejected": " Yes. "},
        {"prompt": "Empty?", "chosen": "Yes. -- Sam", "rejected": ""},
        {"chosen": "No prompt. -- Sam", "rejected": "None."},
        {"chosen": [{"role": "user", "content": "A?"}, {"role": "assistant", "content": "a"}],
         "rejected": [{"role": "user", "content": "B?"}, {"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
    ])
    said = {p.line: str(p) for p in datasets.inspect(source).problems if p.line}
    assert "pairs.jsonl:2: rejected: the better and the worse answer are the same" in said[2]
    assert "pairs.jsonl:3: rejected: the worse answer is empty: this pair is left out" in said[3]
    assert "has no prompt" in said[4] and "differ before their last answer" in said[5]
    assert "is an example with one answer, but" in said[6] and "pairs.jsonl:1 is a pair of answers" in said[6]
    assert "Traceback" not in json.dumps(said)


def test_a_pair_is_as_long_as_its_longer_side(tmp_path, demo_model):
    from macapp.engine.models import loading

    _, tokenizer = loading.load(demo_model)
    source = write_jsonl(tmp_path / "pairs.jsonl", [{**PAIR, "rejected": "very long " * 100}] +
                         [{**PAIR, "prompt": f"Question {i}?"} for i in range(12)])
    report = datasets.inspect(source, tokenizer=tokenizer, max_seq_length=128)
    assert report.too_long == 1 and report.token_stats["max"] > 200


def test_the_split_keeps_a_question_asked_twice_in_training(tmp_path):
    rows = [{**PAIR, "prompt": f"Question {i}?"} for i in range(20)]
    rows.append({**PAIR, "prompt": "Question 3?", "chosen": "Another good answer. -- Sam"})
    datasets.prepare(write_jsonl(tmp_path / "pairs.jsonl", rows), tmp_path / "out", (0.6, 0.2, 0.2))
    held_out = [p["prompt"] for name in ("valid", "test") for p in datasets.load_split(tmp_path / "out", name)]
    assert held_out and "Question 3?" not in held_out
