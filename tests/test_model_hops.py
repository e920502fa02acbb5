import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.hops import HopReader, counted_order, counted_order_reference
from memreasoner.model.memory import EpisodicMemory
from memreasoner.model.word_match import WordMatch


def setup(update="mapped", hops=2, n=(5, 8), dim=32):
    torch.manual_seed(0)
    mem = EpisodicMemory(dim, 48, "exact")
    reader = HopReader(dim, hops=hops, update=update, match="none")
    keys = torch.zeros(len(n), max(n), dim)
    for b, k in enumerate(n):
        keys[b, :k] = F.normalize(torch.randn(k, dim), dim=-1)
    lengths = torch.tensor(n)
    return mem, reader, keys, lengths, mem.write(keys)


def test_first_hop_lands_on_the_line_the_query_names():
    mem, reader, keys, lengths, written = setup(hops=1)
    out = reader(mem, written, keys, lengths, keys[:, 2] + 0.05 * torch.randn(2, 32), hard=True)
    assert out.lines[:, 0].tolist() == [2, 2]
    assert torch.equal(out.final, F.one_hot(torch.tensor([2, 2]), 8).float())


def test_padding_is_never_chosen_and_soft_attention_sums_to_one():
    mem, reader, keys, lengths, written = setup()
    out = reader(mem, written, keys, lengths, torch.randn(2, 32))
    assert (out.attention[0, :, 5:] == 0).all()
    assert torch.allclose(out.attention.sum(-1), torch.ones(2, 2))
    assert (out.lines[0] < 5).all()


def test_literal_readout_update_cannot_move_the_second_hop():
    # With an exact pinv the readout is already in the written span: q + alpha r reads back along r.
    mem, reader, keys, lengths, written = setup(update="readout")
    reader.revisit = True
    query = torch.randn(2, 32)
    out = reader(mem, written, keys, lengths, query, hard=True)
    assert torch.equal(out.lines[:, 0], out.lines[:, 1])
    assert out.used.tolist() == [1, 1]  # the stopping threshold sees the readout stand still
    # When every hop's line is decoded (answer_from=each) every hop runs, standing still or not.
    assert reader(mem, written, keys, lengths, torch.randn(2, 32), hard=True, stop=False).used.tolist() == [2, 2]
    # Barred from revisiting (the default), the second hop takes the next nearest line instead.
    reader.revisit = False
    barred = reader(mem, written, keys, lengths, query, hard=True)
    assert torch.equal(barred.lines[:, 0], out.lines[:, 0]) and (barred.lines[:, 1] != barred.lines[:, 0]).all()
    second = torch.stack([barred.logits[b, 1] for b in range(2)])
    assert torch.isinf(second.gather(1, out.lines[:, :1])).all()  # the first hop's line is out of reach


@pytest.mark.parametrize("update", ["line", "mapped"])
def test_learned_update_can_move_the_second_hop(update):
    mem, reader, keys, lengths, _ = setup(update=update)
    with torch.no_grad():  # U maps line 1 onto line 4: a learned "follow this line to that one"
        reader.hop_map.weight.copy_(torch.outer(keys[0, 4], keys[0, 1]) * 10)
    out = reader(mem, mem.write(keys[:1]), keys[:1], lengths[:1], keys[:1, 1], hard=True)
    assert out.lines[0].tolist() == [1, 4]
    assert out.used.tolist() == [2]


def test_straight_through_forward_is_the_argmax_line():
    mem, reader, keys, lengths, written = setup()
    reader.select = "straight"
    out = reader(mem, written, keys, lengths, torch.randn(2, 32))
    assert torch.allclose(out.attention, F.one_hot(out.lines, 8).float())
    assert out.attention.requires_grad


def test_order_bias_starts_at_zero_and_equals_the_plain_hop():
    mem, reader, keys, lengths, written = setup()
    plain = HopReader(32, hops=2, update="mapped", order="none", match="none")
    plain.load_state_dict({k: v for k, v in reader.state_dict().items() if not k.startswith("order.")})
    query = torch.randn(2, 32)
    assert torch.equal(reader(mem, written, keys, lengths, query).logits, plain(mem, written, keys, lengths, query).logits)


def equally_similar_story(dim=32):
    """Line 3 is what the question names; lines 1 and 5 are equally near what follows from it."""
    torch.manual_seed(1)
    keys = F.normalize(torch.randn(1, 7, dim), dim=-1)
    twin = F.normalize(torch.randn(dim), dim=-1)
    keys[0, 1] = keys[0, 5] = twin
    return keys


@pytest.mark.parametrize("order", ["rank", "relative"])
@pytest.mark.parametrize("side, expected", [("before", 1), ("after", 5)])
def test_order_bias_picks_the_side_the_previous_line_calls_for(side, expected, order):
    keys = equally_similar_story()
    mem = EpisodicMemory(32, 48, "exact")
    reader = HopReader(32, hops=2, update="mapped", match="none", order=order)
    with torch.no_grad():
        reader.hop_map.weight.copy_(torch.outer(keys[0, 1], keys[0, 3]) * 10)  # line 3 -> lines 1 and 5 alike
        reader.order.weight.zero_()
        # a_0 or b_0 (rows 0 and 3 of rank's gates, 0 and 2 of relative's): the previous line (3) says
        # "before" or "after", via a weight on its latent
        b0 = 3 if order == "rank" else 2
        reader.order.weight[b0 if side == "before" else 0] = 20 * keys[0, 3]
    out = reader(mem, mem.write(keys), keys, torch.tensor([7]), keys[:, 3], hard=True)
    assert out.lines[0].tolist() == [3, expected]


def test_order_bias_slope_prefers_the_latest_line_after():
    mem = EpisodicMemory(32, 48, "exact")
    keys = equally_similar_story()
    keys[0, 6] = keys[0, 5]  # two equally good lines after the previous one
    reader = HopReader(32, hops=2, update="mapped", match="none", order="relative")
    with torch.no_grad():
        reader.hop_map.weight.copy_(torch.outer(keys[0, 5], keys[0, 3]) * 10)
        reader.order.weight.zero_()
        reader.order.bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))  # a_1 > 0: further after is better
    out = reader(mem, mem.write(keys), keys, torch.tensor([7]), keys[:, 3], hard=True)
    assert out.lines[0].tolist() == [3, 6]


def candidates_story(n=40, dim=32):
    """Line 20 is the previous hop's; lines 3, 12, 27 and 38 are equally good candidates for the next."""
    torch.manual_seed(2)
    keys = F.normalize(torch.randn(1, n, dim), dim=-1)
    twin = F.normalize(torch.randn(dim), dim=-1)
    for i in (3, 12, 27, 38):
        keys[0, i] = twin
    return keys, twin


@pytest.mark.parametrize("gates, expected", [
    ((0.0, 0.0, 0.0, 5.0, -5.0, 0.0), 12),  # before, none between: the latest candidate before it
    ((5.0, 0.0, -5.0, 0.0, 0.0, 0.0), 38),  # after, none beyond: the latest candidate of all
    ((5.0, -5.0, 0.0, 0.0, 0.0, 0.0), 27),  # after, none between: the first candidate after it
])
def test_rank_order_counts_candidates_not_lines(gates, expected):
    keys, twin = candidates_story()
    mem = EpisodicMemory(32, 64, "exact")
    reader = HopReader(32, hops=2, update="mapped", match="none", order="rank")
    with torch.no_grad():
        reader.hop_map.weight.copy_(torch.outer(twin, keys[0, 20]) * 10)  # line 20 -> the four candidates alike
        reader.order.bias.copy_(torch.tensor(gates))
    out = reader(mem, mem.write(keys), keys, torch.tensor([40]), keys[:, 20], hard=True)
    assert out.lines[0].tolist() == [20, expected]


def test_rank_order_trains_on_padded_stories_without_nan():
    mem, reader, keys, lengths, written = setup(update="line")
    reader = HopReader(32, hops=2, update="line", match="none", order="rank")
    with torch.no_grad():  # open the order gates, so the candidates count
        reader.order.bias.fill_(1.0)
    out = reader(mem, written, keys, lengths, torch.randn(2, 32, requires_grad=True))
    out.attention[:, -1].max(-1).values.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in reader.parameters() if p.grad is not None)
    assert reader.order.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("weight, expected", [(0.0, None), (-5.0, 38), (5.0, 3)])
def test_first_order_counts_the_candidates_after_each_line(weight, expected):
    """Four equally good lines for the question: with no weight the first hop is the plain one; a negative
    weight takes the latest candidate (none beyond it), a positive one the earliest."""
    keys, twin = candidates_story()
    mem = EpisodicMemory(32, 64, "exact")
    plain = HopReader(32, hops=1, update="mapped", match="none")
    reader = HopReader(32, hops=1, update="mapped", match="none", first_order=True)
    reader.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        reader.first_order.bias.fill_(weight)
    out = reader(mem, mem.write(keys), keys, torch.tensor([40]), twin[None], hard=True)
    if expected is None:
        assert torch.equal(out.logits, plain(mem, mem.write(keys), keys, torch.tensor([40]), twin[None], hard=True).logits)
    else:
        assert out.lines[0].tolist() == [expected]


def test_first_latest_starts_at_zero_and_its_weight_takes_the_asked_word_s_last_line():
    """Line 2 is the question's nearest line; lines 2 and 5 hold the question's first word. No weight: the
    plain first hop (line 2); a weight on the first word: its last line (5), however far its latent is."""
    torch.manual_seed(0)
    keys = F.normalize(torch.randn(1, 7, 32), dim=-1)
    lines = [{"mary"}, {"went"}, {"football", "dropped"}, {"went"}, {"took"}, {"football", "took"}, {"went"}]
    question = ("football",)
    words = WordMatch.build([[frozenset(w) for w in lines]], [question], 7)
    mem = EpisodicMemory(32, 64, "exact")
    plain = HopReader(32, hops=1, update="mapped", match="none")
    reader = HopReader(32, hops=1, update="mapped", match="none", first_latest=True)
    reader.load_state_dict(plain.state_dict(), strict=False)
    run = lambda r: r(mem, mem.write(keys), keys, torch.tensor([7]), keys[:, 2], words=words, hard=True)
    assert torch.equal(run(reader).logits, run(plain).logits) and run(reader).lines.tolist() == [[2]]
    with torch.no_grad():
        reader.first_latest.bias[0] = 30.0  # the question's first word (beta * cos spans at most 2 beta = 20)
    assert run(reader).lines.tolist() == [[5]]


def test_counted_order_equals_its_reference():
    torch.manual_seed(3)
    gates, counts = torch.randn(2, 6), torch.rand(2, 9)
    previous = torch.randn(2, 9).softmax(-1)  # a soft previous hop, as in training
    assert torch.allclose(counted_order(gates, counts, previous), counted_order_reference(gates, counts, previous),
                          atol=1e-5)


def holders_story():
    """Line 11 ("Henry moved to the attic.") is the previous hop's; Henry went somewhere at lines 4 and 10 and
    took the lantern at 6. What hop 2 reads is nearest line 4's latent, then line 10's."""
    lines = [{"oliver", "went", "library"}, {"grace", "went", "garage"}, {"alice", "went", "studio"},
             {"oliver", "went", "porch"}, {"henry", "went", "porch"}, {"grace", "got", "violin"},
             {"henry", "got", "lantern"}, {"oliver", "went", "porch"}, {"alice", "went", "attic"},
             {"grace", "went", "cellar"}, {"henry", "went", "studio"}, {"henry", "moved", "attic"}]
    words = WordMatch.build([[frozenset(w) for w in lines]], [("lantern", "attic")], len(lines))
    torch.manual_seed(0)
    keys = F.normalize(torch.randn(1, len(lines), 32), dim=-1)
    return keys, words


def test_order_words_starts_at_zero_and_counts_the_holder_s_lines_not_the_logits():
    """No weight: the plain hop, on the holder's earlier move (4). A weight against the previous line's words
    between a line and it: the holder's latest move before it (10), although its latent reads lower."""
    keys, words = holders_story()
    mem = EpisodicMemory(32, 64, "exact")
    plain = HopReader(32, hops=2, update="mapped", match="none", order="none")
    reader = HopReader(32, hops=2, update="mapped", match="none", order="none", order_words=True)
    with torch.no_grad():
        plain.hop_map.weight.copy_(torch.outer(keys[0, 4] + 0.8 * keys[0, 10], keys[0, 11]) * 10)
    reader.load_state_dict(plain.state_dict(), strict=False)
    run = lambda r: r(mem, mem.write(keys), keys, torch.tensor([12]), keys[:, 11], words=words, hard=True)
    assert torch.equal(run(reader).logits, run(plain).logits) and run(plain).lines.tolist() == [[11, 4]]
    with torch.no_grad():
        reader.order_words.bias[4] = -10.0  # b'_in: Henry's lines between line i and line 11
    assert run(reader).lines.tolist() == [[11, 10]]


def test_order_words_leaves_out_the_lines_the_words_and_keys_do_not_pick():
    """Between line 4 and the previous line (11) lie Henry's take of the asked lantern (6) and his move (10).
    With shared words that push the question's other words down at the second hop, the take is no candidate:
    line 4's count holds the move alone; without them (every line a candidate), both."""
    keys, words = holders_story()
    mem = EpisodicMemory(32, 64, "exact")
    henry = words.matches(F.one_hot(torch.tensor([11]), 12).float(), (1, 12))[2, 0]  # the `previous` term
    for push, counted in ((0.0, henry[6] + henry[10]), (-30.0, henry[10])):
        reader = HopReader(32, hops=2, update="mapped", match="words", order="none", order_words=True)
        with torch.no_grad():
            reader.hop_map.weight.copy_(torch.outer(keys[0, 4] + 0.8 * keys[0, 10], keys[0, 11]) * 10)
            reader.match_gates.weight[0, 32:] = push * keys[0, 11]  # `new` words, at the hop after line 11 only
        run = lambda: reader(mem, mem.write(keys), keys, torch.tensor([12]), keys[:, 11], words=words, hard=True)
        plain = run().logits[0, 1]
        with torch.no_grad():
            reader.order_words.bias[4] = -10.0  # b'_in
        delta = run().logits[0, 1] - plain
        assert run().lines[0, 0] == 11 and torch.isclose(delta[4], -10.0 * counted, atol=1e-4)


def test_chain_words_match_the_holder_at_the_third_hop_not_the_last_line_s_verb():
    """Hops on "Henry got the apple." (1), then "Henry journeyed to the library." (5). The chain's gate adds, at the
    third hop only, the words a line shares with lines 1 and 5 both: Henry's lines (3) gain, Grace's "journeyed
    to" (6), which shares the verb with line 5 alone, gains nothing."""
    lines = [{"henry", "went", "to", "cellar"}, {"henry", "got", "apple"}, {"oliver", "went", "to", "hall"},
             {"henry", "went", "to", "studio"}, {"oliver", "journeyed", "to", "porch"},
             {"henry", "journeyed", "to", "library"}, {"grace", "journeyed", "to", "attic"}]
    n = len(lines)
    words = WordMatch.build([[frozenset(w) for w in lines]], [("apple", "library")], n)
    torch.manual_seed(0)
    keys = F.normalize(torch.randn(1, n, 32), dim=-1)
    mem = EpisodicMemory(32, 64, "exact")
    reader = HopReader(32, hops=3, update="mapped", match="words", order="none", chain_words=True)
    assert reader.match_gates.out_features == 4
    with torch.no_grad():
        reader.hop_map.weight.copy_(torch.outer(keys[0, 5], keys[0, 1]) * 10)  # the object's line leads to 5
    run = lambda: reader(mem, mem.write(keys), keys, torch.tensor([n]), keys[:, 1], words=words, hard=True)
    plain = run()
    with torch.no_grad():
        reader.match_gates.bias[3] = 0.5  # the chain's gate alone
    gated = run()
    assert plain.lines[0, :2].tolist() == [1, 5] and gated.lines[0, :2].tolist() == [1, 5]
    assert torch.equal(gated.logits[0, 1], plain.logits[0, 1])  # no chain at the second hop
    hop = lambda k: F.one_hot(torch.tensor([k]), n).float()
    holder = words.chain([hop(1), hop(5)], (1, n))[0]
    rest = [0, 2, 3, 4, 6]  # lines 1 and 5 are taken
    assert torch.allclose(gated.logits[0, 2, rest] - plain.logits[0, 2, rest], 0.5 * holder[rest], atol=1e-5)
    assert holder[3] > 0 and holder[6] == 0 and words.matches(hop(5), (1, n))[2, 0, 6] > 0
