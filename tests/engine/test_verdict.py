"""The verdict's arithmetic: exact intervals, the call and "too few to tell", the order swap, unreadable replies, the
judge's agreement with a person's picks (Cohen's kappa), and judging that resumes after its server was lost.

The judge is a stand-in server with a known rule (tests/judge_server.py): a capable judge model cannot run here.
"""

import functools
import json
import re
import threading

import pytest

from macapp.engine.data import endpoints
from macapp.engine.errors import InputError, RunFailed, Stopped
from macapp.engine.evaluate import judge as judging
from macapp.engine.evaluate import picks, verdict
from macapp.engine.evaluate import judge_choice
from macapp.engine.evaluate.judge import judge_items, read_reply
from macapp.engine.evaluate.judge_choice import Judge
from macapp.engine.evaluate.intervals import share_interval
from macapp.engine.evaluate.verdict import Tally, agreement
from macapp.engine.models import demo
from tests.judge_server import NAME, StandInJudge, always_first


@pytest.mark.parametrize("k, n, low, high", [(5, 10, 0.1871, 0.8129), (0, 10, 0.0, 0.3085), (10, 10, 0.6915, 1.0),
                                             (31, 35, 0.7326, 0.9680), (1, 2, 0.0126, 0.9874)])
def test_the_interval_is_the_exact_one_of_the_textbooks(k, n, low, high):
    found = share_interval(k, n)
    assert found == pytest.approx((low, high), abs=2e-4)


@pytest.mark.parametrize("counts, call", [((31, 4, 5), "better"), ((4, 31, 5), "worse"), ((3, 1, 36), "unclear"),
                                          ((6, 3, 0), "unclear"), ((0, 0, 12), "same"), ((0, 0, 0), "none")])
def test_the_call_is_a_verdict_only_where_the_interval_leaves_no_doubt(counts, call):
    assert Tally(*counts).call() == call


def test_the_card_says_too_few_to_tell_rather_than_a_verdict():
    items = [{"key": str(i), "judge": {"outcome": outcome}} for i, outcome in enumerate(["tuned"] * 6 + ["base"] * 3)]
    card = verdict.card({"items": items, "judge": {"name": "qwen2.5:7b"}, "facts": {"train_examples": 40}})
    assert card.call == "unclear" and card.headline.startswith("Too few questions to tell")
    assert card.lines[0] == ("On 9 questions it never saw, the fine-tuned model was better on 6, worse on 3 and as "
                             "good on 0 (judged by qwen2.5:7b on this Mac).")
    assert "67% (95% interval 30%\u201393%)" in card.lines[1]
    assert any("It trained on 40 examples" in tip for tip in card.tips)


@pytest.mark.parametrize("reply, choice", [("Better: 1\nIt is shorter.", "1"), ("**Better: 2** because", "2"),
                                           ("Better: same", "same"), ("2", "2"), ("Answer 1.", "1"),
                                           ("Better answer: 2 - it is signed", "2"), ("I think both are fine", None),
                                           ("", None), ("Better: tie", "same")])
def test_the_judges_reply_is_read_in_the_forms_small_models_give(reply, choice):
    assert read_reply(reply)[0] == choice


def test_kappa_is_agreement_beyond_chance():
    # The person and the judge both say "tuned" 6 times of 10 and "base" 4 times, agreeing on 8: chance is
    # 0.6*0.6 + 0.4*0.4 = 0.52, so kappa = (0.8 - 0.52) / 0.48.
    pairs = [("tuned", "tuned")] * 5 + [("base", "base")] * 3 + [("tuned", "base"), ("base", "tuned")]
    agreed = agreement(pairs)
    assert agreed["agree"] == 8 and agreed["kappa"] == pytest.approx(0.28 / 0.48)
    assert agreed["trusted"]
    unsure = agreement([("tuned", "tuned")] * 6 + [("base", "tuned")] * 4)
    assert not unsure["trusted"] and unsure["kappa"] == pytest.approx(0.0)
    assert "do not trust this judge" in verdict.agreement_words(unsure)
    assert "6 of 10" in verdict.agreement_words(unsure)


def _items(count: int) -> list[dict]:
    """Held-out questions whose tuned answer is signed as the demo signs and whose original answer is not."""
    return [{"prompt": f"Comment {i}: how do I keep bread fresh?", "expected": f"Wrap it. {demo.SIGNATURE}",
             "base": f"Bread keeps in a box ({i}).", "tuned": f"Wrap it in a cloth ({i}). {demo.SIGNATURE}"}
            for i in range(count)]


def test_each_pair_is_judged_in_both_orders_and_a_judge_for_the_first_place_gives_only_ties(tmp_path):
    signed = StandInJudge()
    with signed.serving() as address:
        verdicts = judge_items(_items(6), Judge(endpoint=address, api_model=NAME), tmp_path / "j.jsonl")
    assert [v["outcome"] for v in verdicts] == ["tuned"] * 6
    assert len(signed.asked) == 12  # each question twice, the order swapped
    assert {(first.endswith(demo.SIGNATURE), second.endswith(demo.SIGNATURE)) for _, first, second in signed.asked} \
        == {(False, True), (True, False)}
    first = StandInJudge(always_first)
    with first.serving() as address:
        verdicts = judge_items(_items(6), Judge(endpoint=address, api_model=NAME), tmp_path / "first.jsonl")
    assert [v["outcome"] for v in verdicts] == ["tie"] * 6
    assert verdicts[0]["reason"] == judging.SWAPPED


def test_an_unreadable_reply_is_no_verdict_counted_and_never_a_win(tmp_path):
    judge = StandInJudge(unreadable=("Comment 1:", "Comment 4:"))
    with judge.serving() as address:
        verdicts = judge_items(_items(6), Judge(endpoint=address, api_model=NAME), tmp_path / "j.jsonl")
    assert [v["outcome"] for v in verdicts] == ["tuned", "none", "tuned", "tuned", "none", "tuned"]
    items = [{"key": v["key"], "judge": v} for v in verdicts]
    card = verdict.card({"items": items, "judge": {"name": NAME}})
    assert Tally.of(v["outcome"] for v in verdicts) == Tally(better=4, unread=2)
    assert "On 6 questions it never saw, the fine-tuned model was better on 4, worse on 0" in card.lines[0]
    assert any("could not be read for 2 questions: counted as no verdict" in line for line in card.lines)


def test_a_judge_lost_midway_keeps_its_verdicts_and_resuming_asks_only_the_rest(tmp_path):
    store, lost_judge = tmp_path / "judgements.jsonl", StandInJudge(die_after=7)
    with lost_judge.serving() as address:
        with pytest.raises(RunFailed, match=r"(\d+) of 20 judgements were made and are kept") as lost:
            judge_items(_items(10), Judge(endpoint=address, api_model=NAME), store)
    assert "judged twice" in lost.value.fix
    # every answer that reached Tailor is kept (one in flight when it gave up may not have)
    kept = int(re.search(r"(\d+) of 20", str(lost.value))[1])
    assert 6 <= kept <= 7 and len(store.read_text().splitlines()) == kept
    judge = StandInJudge()  # started again (on another port: the same judge, by its name)
    with judge.serving() as address:
        verdicts = judge_items(_items(10), Judge(endpoint=address, api_model=NAME), store)
    assert [v["outcome"] for v in verdicts] == ["tuned"] * 10
    assert len(judge.asked) == 20 - kept and len(set(judge.asked)) == 20 - kept  # nothing kept is asked again
    assert len(set(judge.asked) | set(lost_judge.asked)) == 20
    again = StandInJudge()
    with again.serving() as address:  # everything is kept: nothing is asked
        judge_items(_items(10), Judge(endpoint=address, api_model=NAME), store)
    assert again.asked == []


def test_picks_are_kept_blind_appended_and_read_as_preference_pairs(tmp_path):
    answers = {"base": "Plain answer.", "tuned": f"Signed answer. {demo.SIGNATURE}"}
    key = picks.answers_key("Q?", answers["base"], answers["tuned"])
    shown = picks.blind_order(key)
    assert shown in (("base", "tuned"), ("tuned", "base")) and picks.blind_order(key) == shown
    choice = "A" if shown[0] == "tuned" else "B"
    picks.add(tmp_path, picks.record("Q?", answers, shown, "same"))
    picks.add(tmp_path, picks.record("Q?", answers, shown, choice))  # changed their mind: the later pick counts
    with open(tmp_path / picks.PICKS_FILE, "a") as file:
        file.write('{"key": "cut sho')  # a line a crash cut short
    (kept,) = picks.read(tmp_path).values()
    assert kept["better"] == "tuned" and kept["choice"] == choice
    assert picks.preference_pairs(tmp_path) == [{"prompt": "Q?", "chosen": answers["tuned"],
                                                 "rejected": answers["base"]}]


def test_agreement_is_shown_from_ten_picks_and_a_judge_that_disagrees_is_not_trusted(tmp_path):
    items = [{"key": f"k{i}", "judge": {"outcome": "tuned"}} for i in range(12)]
    report = {"items": items, "judge": {"name": NAME}}
    own = {f"k{i}": {"better": "tuned" if i < 5 else "base"} for i in range(9)}
    assert "(9 so far)" in verdict.card(report, own).lines[-1]
    own["k9"] = {"better": "both_bad"}
    card = verdict.card(report, own)
    assert card.agreement["count"] == 10 and card.agreement["agree"] == 5
    said = " ".join(card.lines)
    assert "Your own picks agreed with the judge on 5 of 10 (50%" in said and "do not trust this judge" in said
    assert card.lines[-1] == "Your picks: fine-tuned better on 5, original better on 4, as good on 1."


def test_the_judge_is_found_by_address_or_by_the_model_a_server_serves(tmp_path, monkeypatch):
    with StandInJudge().serving() as address:
        found = judge_choice.find_judge(address.split("://")[1].removesuffix("/v1"))
        assert (found.endpoint, found.api_model, found.criteria) == (address, NAME, judge_choice.CRITERIA)
        # the real search, on the stand-in's port instead of Ollama's
        monkeypatch.setattr(endpoints, "find", functools.partial(endpoints.find, usual=(("Ollama", address),)))
        assert judge_choice.find_judge(NAME).endpoint == address
        with pytest.raises(InputError, match="does not serve 'llama3'"):
            judge_choice.find_judge(address, "llama3")
    with pytest.raises(InputError, match="No judge called 'nothing-here'"):
        judge_choice.find_judge("nothing-here")
    assert judge_choice.find_judge(str(tmp_path)).model == str(tmp_path.resolve())


def test_the_judge_cannot_be_the_model_under_test(tmp_path):
    from macapp.engine.evaluate.evaluation import refuse_self_judge

    run_dir = tmp_path / "20261207-101010-emails"
    run_dir.mkdir()
    with pytest.raises(InputError, match="is the model under test"):
        refuse_self_judge(Judge(model="demo"), run_dir, "demo")
    with pytest.raises(InputError, match="exported from this run"):
        refuse_self_judge(Judge(endpoint="http://127.0.0.1:11434/v1", api_model="emails:latest"), run_dir, "demo")
    with pytest.raises(InputError, match="is the model under test"):
        refuse_self_judge(Judge(model=str(run_dir / "exports" / "fused")), run_dir, "demo")
    refuse_self_judge(Judge(endpoint="http://127.0.0.1:11434/v1", api_model="qwen2.5:7b"), run_dir, "demo")


def test_the_judgements_file_survives_a_line_cut_by_a_crash(tmp_path):
    store = tmp_path / "judgements.jsonl"
    with StandInJudge().serving() as address:
        judge_items(_items(2), Judge(endpoint=address, api_model=NAME), store)
        store.write_text(store.read_text() + '{"key": "abc", "cho')
        again = StandInJudge()
    with again.serving() as address:
        verdicts = judge_items(_items(2), Judge(endpoint=address, api_model=NAME), store)
    assert again.asked == [] and [v["outcome"] for v in verdicts] == ["tuned", "tuned"]
    assert all(json.loads(line) for line in store.read_text().splitlines()[:4])


def test_the_demos_held_out_comments_share_no_question_with_its_training_replies():
    from macapp.engine.data.datasets import question_key

    trained = {question_key(json.loads(line)["messages"][0]["content"])
               for line in demo.REPLIES.read_text().splitlines()}
    assert not [c for c in demo.held_out_comments() if question_key(c) in trained]


def test_a_stop_while_the_judge_thinks_ends_the_judging_and_keeps_what_was_judged(tmp_path):
    """The judge takes its time on the third question; a stop then ends the judging without waiting for it."""
    release, waiting_on = threading.Event(), threading.Event()

    def slow_on_the_third(prompt, first, second):
        if prompt.startswith("Comment 2:"):
            waiting_on.set()
            release.wait(60)
        return "Better: same\nAlike."

    judge, store = StandInJudge(slow_on_the_third), tmp_path / "judgements.jsonl"
    with judge.serving() as address:
        try:
            with pytest.raises(Stopped):
                judge_items(_items(3), Judge(endpoint=address, api_model=NAME), store,
                            should_stop=waiting_on.is_set)
        finally:
            release.set()
    kept = [json.loads(line) for line in store.read_text().splitlines()]
    # The first reply comes alone (it times the judge); after it, four are asked at once, and on a busy machine the
    # third question's may reach the judge before the others' replies are in: those are given up with the stop.
    assert 1 <= len(kept) <= 4 and all(reply["choice"] == "same" for reply in kept)
