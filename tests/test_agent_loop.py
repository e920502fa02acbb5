"""The agent loop, chunking, the callback library and the oracle, with scripted policies (no model)."""

import pytest

from memreasoner.agent.chunking import chunk_lines
from memreasoner.agent.loop import AgentConfig, Reply, new_episodes, run_episodes
from memreasoner.agent.oracle import Oracle
from memreasoner.agent.retrieval import best_memory
from memreasoner.data.babi import load_babi
from memreasoner.data.sample import Sample
from memreasoner.paths import babi_file


def sample_of(lines, question, target, story=None, facts=()):
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    return Sample(" ".join(lines), question, target, "qa2", "0k", starts, list(facts),
                  list(range(len(lines))) if story is None else story)


class Script:
    """Replies from a list, in call order; records the prompts it was shown."""

    def __init__(self, replies):
        self.replies, self.prompts = list(replies), []

    def act(self, requests, *, sample=False, max_new_tokens=0):
        self.prompts += [r.messages[0]["content"] for r in requests]
        return [Reply(self.replies.pop(0)) for _ in requests]


MEMORIES = ["Mary went to the kitchen.", "John got the milk. | Mary went to the office.",
            "Sandra went to the garden.", "Mary went back to the bedroom."]


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_retrieval_finds_the_matching_memory(method):
    assert best_memory("milk", MEMORIES, method) == 1
    assert best_memory("Sandra garden", MEMORIES, method) == 2
    assert best_memory("where is SANDRA?", MEMORIES, method) == 2  # case and punctuation do not matter


@pytest.mark.parametrize("method", ["tfidf", "bm25"])
def test_retrieval_ties_go_to_the_latest_and_no_match_gives_none(method):
    same = ["Mary went to the kitchen.", "John went to the office.", "Mary went to the garden."]
    assert best_memory("Mary", same, method) == 2  # equal scores: the latest wins
    assert best_memory("football", MEMORIES, method) is None
    assert best_memory("", MEMORIES, method) is None
    assert best_memory("Mary", [], method) is None


def test_chunks_hold_whole_lines_within_the_budget():
    lines = ["Mary went to the kitchen.", "It was a dark and stormy night and the rain fell.", "John got the milk."]
    chunks = chunk_lines(lines, 16)
    assert [c.lines for c in chunks] == [[0], [1], [2]]
    assert [c.lines for c in chunk_lines(lines, 1000)] == [[0, 1, 2]]
    long = chunk_lines(["word " * 30], 8)  # a line longer than the budget is cut into pieces
    assert len(long) == 4 and all(c.lines == [0] for c in long)


def test_loop_updates_memory_recalls_the_right_past_memory_and_answers():
    s = sample_of(["Mary went to the kitchen.", "Mary got the milk there.", "John went to the office.", "Nothing happened here."],
                  "Where is the milk?", "kitchen")
    policy = Script([
        "<update> Mary went to the kitchen. </update>",
        "<thinking> t </thinking> <update> Mary got the milk there. </update>",
        "<update> Mary got the milk there. John went to the office. </update> <recall> kitchen </recall>",
        "<update> Mary got the milk there. Mary went to the kitchen. </update>",
        "\\boxed{kitchen}",
    ])
    config = AgentConfig(chunk_tokens=8, template="compact")
    [e] = run_episodes(policy, new_episodes([s], config), config)
    assert len(e.chunks) == 4 and e.answer == "kitchen" and e.format_ok == [True] * 5
    # The recall at step 2 searched M_0, M_1 and found M_0; step 3's prompt showed it.
    assert "<recalled> Mary went to the kitchen. </recalled>" in policy.prompts[3]
    assert "<recalled>" not in policy.prompts[2]
    trace = e.trace()
    assert trace["recalls"] == [{"step": 2, "query": "kitchen", "retrieved_step": 0, "retrieved": "Mary went to the kitchen."}]
    assert trace["memories"][-1] == "Mary got the milk there. Mary went to the kitchen."
    assert trace["format_failures"] == 0


def test_broken_replies_keep_the_memory_and_never_crash():
    s = sample_of(["Mary went to the kitchen.", "John got the milk there."], "Where is the milk?", "kitchen")
    policy = Script(["<update> first </update>", "garbage <update> no end", "no box at all"])
    config = AgentConfig(chunk_tokens=8, template="compact")
    [e] = run_episodes(policy, new_episodes([s], config), config)
    assert e.memories == ["first", "first"] and e.format_ok == [True, False, False]
    assert e.answer is None and e.answer_text == "no box at all" and e.trace()["format_failures"] == 2


def test_memagent_ignores_recall_and_a_recall_that_matches_nothing_shows_empty():
    s = sample_of(["A b c.", "D e f.", "G h i."], "Where is the milk?", "x")
    replies = ["<update> m1 </update>", "<update> m2 </update> <recall> zzz </recall>", "<update> m3 </update>", "\\boxed{x}"]
    off = Script(replies)
    config = AgentConfig(chunk_tokens=4, template="compact", recall=False)
    [e] = run_episodes(off, new_episodes([s], config), config)
    assert e.recalls == [None, None, None] and not any("<recalled>" in p for p in off.prompts)
    on = Script(replies)
    config = AgentConfig(chunk_tokens=4, template="compact", recall=True)
    [e] = run_episodes(on, new_episodes([s], config), config)
    assert "<recalled> none </recalled>" in on.prompts[2]  # searched, found nothing
    assert e.trace()["recalls"] == [{"step": 1, "query": "zzz", "retrieved_step": None, "retrieved": None}]


@pytest.mark.parametrize("recall", [True, False])
def test_oracle_answers_every_bare_story(recall):
    questions = load_babi(babi_file("qa2", "test"))[:150]
    samples = [sample_of(q.lines, q.question, q.answer) for q in questions]
    config = AgentConfig(chunk_tokens=10, template="compact", recall=recall)  # about one sentence per chunk
    episodes = run_episodes(Oracle(recall), new_episodes(samples, config), config)
    assert all(e.answer == e.sample.target for e in episodes)
    assert all(e.format_ok.count(False) == 0 for e in episodes)
    recalls = sum(q is not None for e in episodes for q in e.recalls)
    assert (recalls > 0) == recall  # ReMemR1's short memory needs callbacks; MemAgent's long one does not


def test_oracle_finds_the_holders_move_by_recall():
    lines = ["Mary went to the kitchen.", "Filler one.", "John went to the office.", "Filler two.",
             "Mary got the milk there.", "Filler three."]
    s = sample_of(lines, "Where is the milk?", "kitchen", story=[0, 2, 4])
    config = AgentConfig(chunk_tokens=7, template="compact", recall=True)
    [e] = run_episodes(Oracle(True), new_episodes([s], config), config)
    trace = e.trace()
    assert [r["query"] for r in trace["recalls"]] == ["Mary"]
    assert trace["recalls"][0]["retrieved"] == "| Mary went to the kitchen."
    assert trace["memories"][-1] == "Mary went to the kitchen. Mary got the milk there."
    assert e.answer == "kitchen"
