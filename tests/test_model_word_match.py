import math

import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.hops import HopReader
from memreasoner.model.memory import EpisodicMemory
from memreasoner.model.word_match import WordMatch, ordered_words, question_template_words, words

STORY = ["Mary went to the kitchen.", "Zelda picked up the harmonica there.", "Mary went to the garden.",
         "Zelda went to the scullery.", "Zelda went to the living room."]


def match(stories, questions, n=None):
    n = n or max(len(s) for s in stories)
    return WordMatch.build([[words(line) for line in s] for s in stories], [words(q) for q in questions], n)


def test_words_are_lowercase_runs_of_letters_and_digits():
    assert words("Zelda went to the living room.") == {"zelda", "went", "to", "the", "living", "room"}
    assert words("VAR QWXZT = VAR ABC12") == {"var", "qwxzt", "abc12"}


def test_at_the_first_hop_a_rare_question_word_weighs_more_than_a_common_one():
    m = match([STORY], ["Where is the harmonica?"])
    n = len(STORY)
    harmonica = math.log((n + 1) / 1) / math.log(n + 1)  # in one line: weight 1
    the = math.log((n + 1) / n) / math.log(n + 1)  # in every line: almost nothing
    new, both, previous = m.matches(None, (1, n))
    assert new[0].tolist() == pytest.approx([the, harmonica + the, the, the, the])
    assert the < 0.12 and (both == 0).all() and (previous == 0).all()


def test_later_hops_split_the_words_by_question_and_previous_line_and_a_line_never_matches_itself():
    story = STORY + ["Zelda dropped the harmonica."]
    m = match([story], ["Where was the harmonica before the scullery?"])
    after_take = F.one_hot(torch.tensor([1]), len(story)).float()  # "Zelda picked up the harmonica there."
    new, both, previous = (term[0] for term in m.matches(after_take, (1, len(story))))
    assert new[3] > new[[0, 2, 4]].max()  # "scullery": asked, not in the previous line
    assert both[5] > both[[0, 2, 3, 4]].max()  # "harmonica": asked and in the previous line
    assert (previous[[3, 4, 5]] > previous[[0, 2]].max()).all()  # "zelda": only in the previous line
    assert both[1] == 0 and previous[1] == 0  # not itself


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_matches_equal_the_line_by_line_reference(seed):
    torch.manual_seed(seed)
    stories = [STORY, STORY[2:], ["VAR AB = 5", "VAR CD = VAR AB", "VAR EF = VAR CD"]]
    m = match(stories, ["Where is Zelda?", "Where is Mary?", "Which variables are 5?"], n=6)
    attention = torch.rand(3, 6)
    attention[1, 3:] = 0  # padding holds no weight
    attention[2, 3:] = 0
    attention = attention / attention.sum(-1, keepdim=True)
    fast = m.matches(attention, (3, 6))
    assert torch.allclose(fast, m.matches_reference(attention, (3, 6)), atol=1e-6)
    assert (fast[:, 2, 3:] == 0).all()  # padding rows hold no words, so they never get a bonus


@pytest.mark.parametrize("seed", [0, 1])
def test_chain_equals_its_reference_and_with_one_earlier_hop_the_previous_term(seed):
    torch.manual_seed(seed)
    stories = [STORY, STORY[2:], ["VAR AB = 5", "VAR CD = VAR AB", "VAR EF = VAR CD"]]
    m = match(stories, ["Where is Zelda?", "Where is Mary?", "Which variables are 5?"], n=6)
    hops = []
    for _ in range(2):
        attention = torch.rand(3, 6)
        attention[1, 3:] = attention[2, 3:] = 0  # padding holds no weight
        hops.append(attention / attention.sum(-1, keepdim=True))
    assert torch.allclose(m.chain(hops[:1], (3, 6)), m.matches(hops[0], (3, 6))[2], atol=1e-6)
    assert torch.allclose(m.chain(hops, (3, 6)), m.chain_reference(hops, (3, 6)), atol=1e-6)


def test_the_chain_of_two_hops_holds_the_holder_not_the_last_line_s_verb():
    """After "Henry got the apple." (1) and "Henry journeyed to the library." (5): Henry's move (3) shares the
    chain's words, Oliver's move with the same verb (4) only the last line's."""
    story = ["Henry went to the cellar.", "Henry got the apple.", "Oliver went to the hall.",
             "Henry went to the studio.", "Oliver journeyed to the porch.", "Henry journeyed to the library.",
             "Grace journeyed to the attic."]
    m = match([story], ["Where was the apple before the library?"])
    shape = (1, len(story))
    hop1, hop2 = (F.one_hot(torch.tensor([k]), len(story)).float() for k in (1, 5))
    previous = m.matches(hop2, shape)[2, 0]
    chain = m.chain([hop1, hop2], shape)[0]
    assert previous[4] > 0 and previous[6] > 0  # "journeyed", anyone's
    assert chain[[0, 3]].min() > 0 and chain[[2, 4, 6]].abs().max() < 1e-6  # Henry's lines only
    assert chain[1] == 0 and chain[5] == 0  # the chain's own lines match nothing


def hop_story(dim=32):
    """Lines 2 and 4 are equally near what the object's line (1) leads to; only line 4 is Zelda's."""
    torch.manual_seed(3)
    keys = F.normalize(torch.randn(1, 5, dim), dim=-1)
    keys[0, 4] = keys[0, 2]
    keys[0, 2] = F.normalize(keys[0, 2] + 0.05 * torch.randn(dim), dim=-1)  # and line 2 a shade nearer the readout
    return keys


def test_zero_gates_leave_the_hop_as_it_was():
    keys, mem = hop_story(), EpisodicMemory(32, 48, "exact")
    with_words = HopReader(32, hops=2, update="mapped", match="words")
    plain = HopReader(32, hops=2, update="mapped", match="none")
    plain.load_state_dict({k: v for k, v in with_words.state_dict().items() if not k.startswith("match_gates.")})
    m, query = match([STORY], ["Where is the harmonica?"]), torch.randn(1, 32)
    assert torch.equal(with_words(mem, mem.write(keys), keys, torch.tensor([5]), query, m).logits,
                       plain(mem, mem.write(keys), keys, torch.tensor([5]), query).logits)
    with pytest.raises(ValueError):
        with_words(mem, mem.write(keys), keys, torch.tensor([5]), query)


def test_shared_words_take_the_second_hop_to_the_holders_line_when_the_nearest_line_is_someone_elses():
    keys, mem = hop_story(), EpisodicMemory(32, 48, "exact")
    reader = HopReader(32, hops=2, update="mapped", order="none", match="words")
    with torch.no_grad():
        reader.hop_map.weight.copy_(torch.outer(keys[0, 2], keys[0, 1]) * 10)  # the object's line -> a move line
    m = match([STORY], ["Where is the harmonica?"])
    args = (mem, mem.write(keys), keys, torch.tensor([5]), keys[:, 1], m)
    assert reader(*args, hard=True).lines[0].tolist() == [1, 2]  # nearest: Mary's move, the wrong person
    with torch.no_grad():
        reader.match_gates.bias.copy_(torch.tensor([0.0, 0.0, 20.0]))  # follow the previous line's own words
    assert reader(*args, hard=True).lines[0].tolist() == [1, 4]


def test_the_questions_template_words_are_those_in_half_of_them_or_more():
    questions = ["Where is Mary?", "Where is John?", "Where is the apple?", "Where is Zelda?"]
    assert question_template_words(questions) == ["is", "where"]  # names: a quarter each; "the": one in four


def test_previous_words_per_token_equal_the_word_by_word_reference_and_mark_the_holder_s_name():
    from memreasoner.data.tokens import gpt2_encoding

    encoding = gpt2_encoding()
    stories = [STORY, STORY[2:] + ["Zelda dropped the harmonica."]]
    questions = [words("Where is the harmonica?"), words("Where is Zelda?")]
    story_words = [[words(line) for line in s] for s in stories]
    tokens = [[encoding.encode_ordinary(" " + line) for line in s] for s in stories]
    width = max(len(ids) for s in tokens for ids in s)
    m = WordMatch.build(story_words, questions, 6, tokens=tokens, width=width)
    torch.manual_seed(0)
    attention = torch.rand(2, 6)
    attention[0, 5:] = attention[1, 4:] = 0
    attention = attention / attention.sum(-1, keepdim=True)
    assert torch.allclose(m.previous_tokens(attention), m.previous_tokens_reference(attention, story_words, questions,
                                                                                    tokens), atol=1e-6)
    after_take = F.one_hot(torch.tensor([1, 0]), 6).float()  # story 0: "Zelda picked up the harmonica there."
    flags = m.previous_tokens(after_take)[0]
    zelda = [int(flags[i, 0] > 0.3) for i in range(5)]  # the first token of each line: its subject
    assert zelda == [0, 0, 0, 1, 1]  # Zelda's later moves, not Mary's, not the line itself
    assert (flags[:, 1:] < 0.2).all()  # "went", "the", "to": in many lines; "harmonica": asked
    with pytest.raises(ValueError):
        match([STORY], ["Where is the harmonica?"]).previous_tokens(after_take[:1, :5])


def test_latest_marks_the_last_line_holding_each_question_word_by_its_place_in_the_question():
    story = STORY + ["Zelda dropped the harmonica."]
    question = ("harmonica", "scullery")  # "Where was the harmonica before the scullery?" less its template
    m = WordMatch.build([[words(line) for line in story]], [question], len(story) + 2)
    latest = m.latest((1, len(story) + 2), 4)[0]  # [N, ranks]
    assert latest[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]  # the drop, not the earlier take
    assert latest[:, 1].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert (latest[:, 2:] == 0).all()
    as_set = WordMatch.build([[words(line) for line in story]], [frozenset(question)], len(story))
    assert (as_set.latest((1, len(story)), 4) == 0).all()  # a set has no order: no word has a place


def test_latest_equals_its_reference_twin_on_random_stories():
    rng = torch.Generator().manual_seed(0)
    vocab = [f"w{i}" for i in range(12)]
    stories, questions = [], []
    for n in (3, 9, 14, 1):
        stories.append([frozenset(vocab[j] for j in torch.randint(12, (3,), generator=rng).tolist()) for _ in range(n)])
        questions.append(ordered_words(" ".join(vocab[j] for j in torch.randint(12, (7,), generator=rng).tolist())))
    m = WordMatch.build(stories, questions, 14)
    for ranks in (2, 4, 8):  # words from the ranks-th on share its column
        assert torch.equal(m.latest((4, 14), ranks), m.latest_reference(stories, questions, 14, ranks))
