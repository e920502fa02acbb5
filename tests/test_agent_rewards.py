"""Multi-level rewards and advantages, pinned on hand-made trajectories."""

import math

import pytest

from memreasoner.agent import rewards
from memreasoner.agent.grpo import group_turns
from memreasoner.agent.loop import AgentConfig, Reply, new_episodes, run_episodes
from memreasoner.data.sample import Sample

approx = lambda x: pytest.approx(x, abs=1e-5)  # noqa: E731  (eps = 1e-6 in the denominators)


def test_outcome_is_exact_match_of_the_boxed_answer_best_over_golds():
    assert rewards.outcome_reward("Kitchen.", ["kitchen"]) == 1.0
    assert rewards.outcome_reward("office", ["kitchen", "office"]) == 1.0
    assert rewards.outcome_reward("the kitchen", ["kitchen"]) == 0.0
    assert rewards.outcome_reward(None, ["kitchen"]) == 0.0  # no box, no reward


def test_answer_recall_counts_gold_words_in_the_text():
    assert rewards.answer_recall("Mary went to the Kitchen.", ["kitchen"]) == 1.0
    assert rewards.answer_recall("the garden", ["north garden", "office"]) == 0.5
    assert rewards.answer_recall("", ["kitchen"]) == 0.0


def test_step_rewards_on_a_hand_made_trajectory():
    memories = ["", "Mary went to the kitchen.", "Mary got the milk.", "Mary got the milk. Mary went to the kitchen."]
    # Step 2 recalled M_1, which holds the answer its own memory had lost: a callback gain of 1.
    recalled_after = [None, None, "Mary went to the kitchen.", None]
    format_ok = [True, True, True, False]
    got = rewards.step_rewards(memories, recalled_after, format_ok, ["kitchen"])
    # memory gain + callback gain + format
    assert got == [0 + 0 + 1, 1 + 0 + 1, -1 + 1 + 1, 1 + 0 + 0]
    weighted = rewards.step_rewards(memories, recalled_after, format_ok, ["kitchen"], w_memory=2.0, w_callback=0.5, w_format=0.0)
    assert weighted == [0.0, 2.0, -1.5, 2.0]


def test_group_normalisation():
    assert rewards.group_normalize([1, 0, 0, 1]) == approx([1, -1, -1, 1])
    assert rewards.group_normalize([3, 3, 3]) == [0.0, 0.0, 0.0]  # no signal, no advantage
    a = rewards.outcome_advantages([1, 0, 0, 0])
    assert a == approx([math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3), -1 / math.sqrt(3)])


def test_step_advantages_are_normalised_per_step_across_rollouts():
    s = math.sqrt(1.5)  # |x - mean| / std for [1, 0, 2]
    got = rewards.step_advantages([[1, 2], [0, 2], [2]])
    assert got[0] == approx([0, 0]) and got[1] == approx([-s, 0]) and got[2] == approx([s])


def test_mix_weights_outcome_and_step():
    assert rewards.mix(1.0, -1.0) == pytest.approx(0.6)
    assert rewards.mix(1.0, -1.0, weight=0.5) == pytest.approx(0.0)


class Script:
    def __init__(self, replies):
        self.replies = list(replies)

    def act(self, requests, *, sample=False, max_new_tokens=0):
        return [Reply(self.replies.pop(0), [1, 2], [3, 4]) for _ in requests]


def test_group_turns_mixes_outcome_and_step_advantages_per_turn():
    lines = ["Mary went to the kitchen.", "It rained on the town all day."]
    sample = Sample(" ".join(lines), "Where is Mary?", "kitchen", "qa1", "0k", [0, len(lines[0]) + 1], [0], [0])
    config = AgentConfig(chunk_tokens=10, template="compact")  # one line per chunk
    # Lockstep order: both rollouts' step 0, both step 1, both finals.
    policy = Script(["<update> Mary went to the kitchen. </update>", "<update> Nothing. </update>",
                     "<update> Mary went to the kitchen. </update>", "<update> Nothing. </update>",
                     "\\boxed{kitchen}", "\\boxed{garden}"])
    episodes = run_episodes(policy, new_episodes([sample], config, rollouts=2), config)
    turns, outcomes = group_turns(episodes, lambda s: [s.target])
    assert outcomes == [1.0, 0.0]
    # Outcome advantages +-1; step rewards [2, 1, 1] vs [1, 1, 1] give step advantages [1, 0, 0] vs [-1, 0, 0].
    assert [t.advantage for t in turns] == approx([1.0, 0.8, 0.8, -1.0, -0.8, -0.8])
    assert all(t.prompt_ids == [1, 2] and t.output_ids == [3, 4] for t in turns)
