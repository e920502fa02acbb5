"""The agent's reply parser and prompt templates."""

import pytest

from memreasoner.agent import prompts
from memreasoner.errors import InputError


def test_well_formed_reply():
    r = prompts.parse_step("<thinking> football mary </thinking> <update> Mary got the football. </update> <recall> Mary </recall>")
    assert (r.thinking, r.update, r.recall, r.ok) == ("football mary", "Mary got the football.", "Mary", True)


def test_thinking_and_recall_are_optional_and_text_around_tags_is_ignored():
    r = prompts.parse_step("Sure.\n<update>\nJohn went to the kitchen.\n</update>\nDone.")
    assert (r.thinking, r.update, r.recall, r.ok) == (None, "John went to the kitchen.", None, True)


def test_empty_update_clears_memory_and_is_well_formed():
    r = prompts.parse_step("<update></update>")
    assert r.update == "" and r.ok


@pytest.mark.parametrize("text", [
    "",  # nothing at all
    "<thinking> hmm </thinking> no update here",
    "<update> a </update> <update> b </update>",  # two updates
    "<update> cut off by max tokens",  # unclosed
    "</update> backwards <update>",
    "<update> a </update> </update>",
])
def test_broken_update_means_keep_the_old_memory(text):
    r = prompts.parse_step(text)
    assert r.update is None and not r.ok and r.problems


@pytest.mark.parametrize("text", [
    "<update> a </update> <recall> x </recall> <recall> y </recall>",
    "<update> a </update> <recall> x",
    "<update> a </update> <recall>   </recall>",
])
def test_broken_recall_is_dropped_but_the_update_stands(text):
    r = prompts.parse_step(text)
    assert r.update == "a" and r.recall is None and not r.ok


def test_broken_thinking_is_a_format_failure_only():
    r = prompts.parse_step("<thinking> a <thinking> b </thinking> <update> m </update>")
    assert r.update == "m" and r.thinking is None and not r.ok


@pytest.mark.parametrize("text, answer", [
    ("\\boxed{ kitchen }", "kitchen"),
    ("The answer is \\boxed{the garden}.", "the garden"),
    ("\\boxed{a} then \\boxed{office}", "office"),  # the last box counts
    ("\\boxed{\\text{hallway}}", "\\text{hallway}"),  # nested braces stay balanced
    ("\\boxed{office} and \\boxed{unclosed", "office"),  # an unclosed last box falls back to an earlier one
    ("kitchen", None),
    ("\\boxed{never closed", None),
])
def test_final_answer_is_the_last_balanced_box(text, answer):
    assert prompts.parse_final(text) == answer


def test_fallback_answer_is_the_first_line():
    assert prompts.fallback_answer("\n  kitchen, I think\nmore") == "kitchen, I think"


def test_compact_prompt_shows_recalled_memory_only_when_there_is_one():
    plain = prompts.step_messages("compact", "Where is the milk?", "", "Mary went home.", None, True)[0]["content"]
    assert plain == "<question> Where is the milk? </question> <memory> none </memory> <chunk> Mary went home. </chunk>"
    recalled = prompts.step_messages("compact", "Q?", "M.", "C.", "old memory", True)[0]["content"]
    assert "<recalled> old memory </recalled> <chunk>" in recalled
    final = prompts.final_messages("compact", "Q?", "M.")[0]["content"]
    assert final == "<question> Q? </question> <memory> M. </memory> <answer>"


def test_instruct_prompt_mentions_recall_only_when_enabled():
    with_recall = prompts.step_messages("instruct", "Q?", "", "C.", None, True)[0]["content"]
    without = prompts.step_messages("instruct", "Q?", "", "C.", None, False)[0]["content"]
    assert "<recall>" in with_recall and "<recall>" not in without and "<update>" in without
    assert "\\boxed{}" in prompts.final_messages("instruct", "Q?", "M.")[0]["content"]


def test_unknown_template_is_an_input_error():
    with pytest.raises(InputError):
        prompts.step_messages("fancy", "Q?", "", "C.", None, True)
