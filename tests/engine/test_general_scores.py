"""The general knowledge check's arithmetic: question by question, a change is called only when the questions one model
alone got right lean to one side beyond chance, and the card says it in words with the base's interval."""

from macapp.engine.evaluate import verdict
from macapp.engine.evaluate.general_scores import LOST_TIP, GeneralCheck, compare, line


def answers(pattern: str) -> dict:
    """{question id: 1 or 0} from a string of 1s and 0s."""
    return {str(number): int(mark) for number, mark in enumerate(pattern)}


def test_only_the_questions_both_models_answered_are_compared_pair_by_pair():
    base = {"arc": answers("1100"), "other": answers("1")}
    tuned = {"arc": {**answers("1010"), "9": 1}}  # question 9 the base never answered; "other" the tuned never did
    found = compare(base, tuned)
    assert list(found["sets"]) == ["arc"]
    assert found["all"] == {"questions": 4, "base_right": 2, "tuned_right": 2, "lost": 1, "gained": 1, "call": "same"}


def test_a_change_is_called_only_beyond_chance():
    # 60 right before; after, 20 of them lost and none gained: a sign test of 0 of 20 leaves no doubt.
    lost = compare({"arc": answers("1" * 60 + "0" * 40)}, {"arc": answers("1" * 40 + "0" * 60)})["all"]
    assert lost["call"] == "lost" and (lost["lost"], lost["gained"]) == (20, 0)
    # 3 lost against 1 gained is within what chance gives, though the share right fell.
    same = compare({"arc": answers("1110" + "1" * 10)}, {"arc": answers("0001" + "1" * 10)})["all"]
    assert same["call"] == "same" and (same["lost"], same["gained"]) == (3, 1)
    gained = compare({"arc": answers("0" * 30)}, {"arc": answers("1" * 30)})["all"]
    assert gained["call"] == "gained"


def test_the_card_says_the_change_in_words_and_what_to_try_when_ability_was_lost():
    general = compare({"arc_easy": answers("1" * 61 + "0" * 39)}, {"arc_easy": answers("1" * 59 + "0" * 41)})
    said = line(general)
    assert said.startswith("General knowledge (arc_easy, 100 questions): 61% before (95% interval 51%")
    assert "59% after (95% interval 49%" in said and said.endswith("): about the same (a difference this small can be "
                                                                   "chance).")
    report = {"items": [], "general": compare({"a": answers("1" * 30)}, {"a": answers("0" * 30)})}
    card = verdict.card(report)
    assert "it lost general knowledge (30 questions the original got right are now wrong, 0" in card.general
    assert LOST_TIP in card.tips


def test_a_score_at_guessing_level_is_said_to_show_little():
    general = compare({"arc": answers("1000" * 10)}, {"arc": answers("0100" * 10)}, {"arc": 0.25})
    assert general["all"]["guess"] == 0.25
    assert line(general).endswith("The original model scores about what guessing alone gets (25%): these questions "
                                  "are too hard for it to show much.")
    assert "guessing" not in line(compare({"arc": answers("1" * 40)}, {"arc": answers("1" * 40)}, {"arc": 0.25}))


def test_many_sets_are_counted_not_named():
    many = {f"mmlu_{n}": answers("10") for n in range(57)}
    assert line(compare(many, many)).startswith("General knowledge (57 question sets, 114 questions): 50% before")


def test_the_sets_are_named_as_a_person_types_them():
    assert GeneralCheck.from_text("").tasks == GeneralCheck().tasks
    assert GeneralCheck.from_text(" hellaswag,  arc_easy ;piqa", 40) == GeneralCheck(("hellaswag", "arc_easy", "piqa"),
                                                                                     40)
    assert GeneralCheck.from_dict(GeneralCheck(("x.yaml",), 7).to_dict()) == GeneralCheck(("x.yaml",), 7)
