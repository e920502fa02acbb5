import pytest

from memreasoner.metrics import babilong_correct, exact_match, facts_hit


@pytest.mark.parametrize(
    "prediction, target, expected",
    [
        ("kitchen", "kitchen", True),
        ("  Kitchen. ", "kitchen", True),
        ("KITCHEN!", "kitchen", True),
        ("the kitchen", "kitchen", False),
        ("kitchens", "kitchen", False),
        ("CURLL WCSFC", "CURLL WCSFC", True),
    ],
)
def test_exact_match(prediction, target, expected):
    assert exact_match(prediction, target) is expected


Q = "Where is the milk?"


@pytest.mark.parametrize(
    "prediction, target, question, expected",
    [
        ("The milk is in the kitchen.", "kitchen", Q, True),
        ("kitchen", "kitchen", Q, True),
        ("The milk is in the Kitchen", "kitchen", Q, True),
        ("It is in the kitchen or the garden.", "kitchen", Q, False),  # two labels named
        ("The garden.", "kitchen", Q, False),
        ("In the office. Before that it was in the kitchen.", "kitchen", Q, False),  # first sentence only
        ("In the kitchen. Before that the office.", "kitchen", Q, True),
        ("From the garden to the kitchen", "kitchen", "Where was the milk before the garden?", True),  # question label excepted
        ("I do not know", "kitchen", Q, False),
        ("kitchen <context> garden", "kitchen", Q, True),  # an echoed prompt does not count
    ],
)
def test_babilong_rule(prediction, target, question, expected):
    assert babilong_correct(prediction, target, question, "qa1") is expected


def test_unseen_answers_and_custom_labels():
    assert babilong_correct("It is in the attic.", "attic", Q, "qa2")  # a target outside the set joins it
    assert not babilong_correct("attic or kitchen", "attic", Q, "qa2")
    places = ["attic", "cellar"]
    assert not babilong_correct("attic or cellar", "attic", Q, "qa2", labels=places)
    assert babilong_correct("attic, not the kitchen", "attic", Q, "qa2", labels=places)


def test_other_tasks_fall_back_to_exact_match_and_vt_needs_every_name():
    assert babilong_correct("yes.", "yes", "Is it?", "qa6")
    assert not babilong_correct("yes, no", "yes", "Is it?", "qa6")
    assert babilong_correct("They are: curll, WCSFC and NZTTS.", "CURLL WCSFC NZTTS", "Find all ...", "vt")
    assert not babilong_correct("CURLL WCSFC", "CURLL WCSFC NZTTS", "Find all ...", "vt")


def test_facts_hit_needs_every_fact_in_any_order_and_has_nothing_to_score_without_facts_or_hops():
    assert facts_hit([4, 9], [9, 4]) is True  # order does not matter
    assert facts_hit([4, 7, 9], [4, 9]) is True  # an extra hop does not hurt
    assert facts_hit([4], [4, 9]) is False  # a fact missed
    assert facts_hit([], [4]) is None and facts_hit([4], []) is None


def test_babilong_labels_for_the_five_tasks():
    # qa5's labels are people and objects: naming a second one of them is wrong, a place is not a label
    assert babilong_correct("Fred gave it.", "Fred", "Who gave the football to Bill?", "qa5")
    assert not babilong_correct("Fred or Jeff.", "Fred", "Who gave the football to Bill?", "qa5")
    assert babilong_correct("Fred, in the kitchen.", "Fred", "Who gave the football to Bill?", "qa5")
    # qa4 scores places, and the place the question names does not count against the answer
    assert babilong_correct("The kitchen is north of the bedroom", "kitchen", "What is the bedroom north of?", "qa4")
    assert not babilong_correct("kitchen or garden", "kitchen", "What is the bedroom north of?", "qa4")
