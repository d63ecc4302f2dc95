"""Held-out that is held out: no example, or near copy of one, in two parts of a split, whatever the data repeats; what
inspect counts is what the split does; too few examples are said before anything is split."""

import json
import random

import pytest

from macapp.engine.data import datasets
from macapp.engine.errors import DataError
from tests.workbooks import EMAILS


def rows_with_repeats(seed: int = 0) -> list[dict]:
    """84 rows as a person's sheet holds them: 45 different emails, 39 rows repeating one of them, some exactly and
    some in another case, spacing or punctuation."""
    rng = random.Random(seed)
    emails = [(q, a) for q, a in EMAILS] + [(f"Can I change the address of order {n}?", f"Yes: reply with the new "
                                             f"address and we update order {n}.") for n in range(1, 16)]
    rows = [{"question": q, "answer": a} for q, a in emails]
    for i in range(39):
        q, a = emails[rng.randrange(len(emails))]
        if i % 3 == 1:
            q, a = q.upper(), a.replace("!", ".")
        elif i % 3 == 2:
            q, a = "  " + q.replace(" ", "  ") + " ", a.rstrip(".") + " ..."
        rows.append({"question": q, "answer": a})
    rng.shuffle(rows)
    return rows


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def parts(folder) -> dict[str, list[int]]:
    return {name: [datasets.same_text_key(json.loads(line)) for line in (folder / f"{name}.jsonl").read_text()
                   .splitlines()] if (folder / f"{name}.jsonl").exists() else [] for name in datasets.SPLITS}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("repeats", datasets.REPEATS)
def test_no_example_or_near_copy_is_in_two_parts(tmp_path, seed, repeats):
    path = write(tmp_path / "emails.jsonl", rows_with_repeats(seed))
    report = datasets.inspect(path)
    distinct = len({datasets.same_text_key({"prompt": r["question"], "completion": r["answer"]})
                    for r in rows_with_repeats(seed)})
    assert report.count == 84 and report.duplicates == 84 - distinct and report.near > 0
    manifest = datasets.prepare(path, tmp_path / "out", seed=seed, repeats=repeats)
    found = parts(tmp_path / "out")
    train, valid, test = (set(found[name]) for name in datasets.SPLITS)
    assert not train & valid and not train & test and not valid & test
    assert len(found["valid"]) == len(valid) and len(found["test"]) == len(test)  # nothing held out twice either
    written = tuple(manifest["files"][name]["count"] for name in datasets.SPLITS)
    assert written == datasets.report_split(report.to_dict(), datasets.DEFAULT_RATIOS, repeats)  # as inspect said
    if repeats == "drop":
        assert manifest["left_out"] == report.duplicates and len(found["train"]) == len(train)
    else:
        assert manifest["left_out"] == 0 and sum(written) == 84


def test_a_persons_own_split_that_shares_examples_is_said_and_held_out_kept_apart(tmp_path):
    folder = tmp_path / "split"
    folder.mkdir()
    rows = [{"prompt": q, "completion": a} for q, a in EMAILS]
    write(folder / "train.jsonl", rows[:24] + rows[:2])
    write(folder / "valid.jsonl", rows[24:27] + [{"prompt": rows[3]["prompt"].lower(), "completion": rows[3]
                                                  ["completion"]}])
    write(folder / "test.jsonl", rows[27:] + rows[24:25])
    report = datasets.inspect(folder)
    assert (report.duplicates, report.overlap) == (2, 2)
    shared = sorted(p.place() for p in report.problems if "also in the" in p.message)
    assert shared == [f"{folder / 'test.jsonl'}:4", f"{folder / 'valid.jsonl'}:4"]
    datasets.prepare(folder, tmp_path / "out")
    found = parts(tmp_path / "out")
    assert [len(found[name]) for name in datasets.SPLITS] == [24, 3, 3]
    assert tuple(len(found[n]) for n in datasets.SPLITS) == datasets.report_split(report.to_dict(), None)
    assert not set(found["train"]) & set(found["valid"]) and not set(found["valid"]) & set(found["test"])


def test_too_few_examples_to_keep_some_apart_are_said_and_can_all_be_trained_on(tmp_path):
    path = write(tmp_path / "three.jsonl", [{"prompt": q, "completion": a} for q, a in EMAILS[:3]])
    report = datasets.inspect(path).to_dict()
    with pytest.raises(DataError, match="only 3 different examples: too few to keep some apart"):
        datasets.report_split(report, datasets.DEFAULT_RATIOS)
    with pytest.raises(DataError, match="too few to keep some apart"):
        datasets.prepare(path, tmp_path / "out")
    assert datasets.report_split(report, datasets.NO_SPLIT) == (3, 0, 0)
    manifest = datasets.prepare(path, tmp_path / "all", datasets.NO_SPLIT)
    assert [manifest["files"][n]["count"] for n in datasets.SPLITS] == [3, 0, 0]


def test_repeats_kept_in_training_never_go_to_the_held_out_parts(tmp_path):
    rows = [{"prompt": q, "completion": a} for q, a in EMAILS[:12]]
    path = write(tmp_path / "r.jsonl", rows + rows[:4] * 3)
    report = datasets.inspect(path)
    assert (report.duplicates, report.repeat_groups) == (12, 4)
    assert datasets.report_split(report.to_dict(), datasets.DEFAULT_RATIOS, "train") == (22, 1, 1)
    datasets.prepare(path, tmp_path / "out", repeats="train")
    found = parts(tmp_path / "out")
    repeated = {datasets.same_text_key(r) for r in rows[:4]}
    assert not repeated & set(found["valid"] + found["test"]) and len(found["train"]) == 22


def question_keys(folder, name: str) -> list[int]:
    path = folder / f"{name}.jsonl"
    return [datasets.asked_key(json.loads(line)) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("repeats", datasets.REPEATS)
def test_a_question_asked_again_with_another_answer_is_never_both_trained_on_and_held_out(tmp_path, seed, repeats):
    """A person's sheet often asks one question twice, answered in two ways: both rows are trained on, so the held-out
    parts (and the verdict) never ask a question training answered. What inspect says is what the split does."""
    rows = rows_with_repeats(seed)
    again = [{"question": q.lower() + "?", "answer": f"Another answer: {a}"} for q, a in EMAILS[:10]]
    path = write(tmp_path / "emails.jsonl", rows + again + again[:3])
    report = datasets.inspect(path)
    assert report.asked_again == 20 and report.asked_again_repeated >= 3  # the 10 first answers and the 10 others
    assert report.questions_asked_again == 10
    said = [p for p in report.problems if "asks the same question as" in p.message]
    assert len(said) == 10 and all(p.line for p in said) and "answered differently" in said[0].message
    manifest = datasets.prepare(path, tmp_path / "out", seed=seed, repeats=repeats)
    written = tuple(manifest["files"][name]["count"] for name in datasets.SPLITS)
    assert written == datasets.report_split(report.to_dict(), datasets.DEFAULT_RATIOS, repeats)
    trained = set(question_keys(tmp_path / "out", "train"))
    held_out = question_keys(tmp_path / "out", "valid") + question_keys(tmp_path / "out", "test")
    assert held_out and not trained & set(held_out)
    asked_twice = {datasets.question_key(q) for q, _ in EMAILS[:10]}
    assert asked_twice <= trained


def test_a_split_with_no_question_asked_twice_is_the_split_it_was():
    """The same seed gives the same parts as before questions were looked at, where none is asked twice."""
    rows = [{"prompt": q, "completion": a} for q, a in EMAILS]
    shuffled = [dict(r) for r in rows]
    random.Random(5).shuffle(shuffled)
    parts_made = datasets._parts({None: rows}, "drop", datasets.DEFAULT_RATIOS, 5)
    n_train, n_valid, _ = datasets.split_counts(len(rows), datasets.DEFAULT_RATIOS)
    assert parts_made["train"] == shuffled[:n_train] and parts_made["valid"] == shuffled[n_train:n_train + n_valid]
