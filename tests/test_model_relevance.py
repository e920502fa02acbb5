import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.relevance import RelevanceFilter

DIM = 16


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


@pytest.fixture()
def world():
    """Training lines cluster (templated sentences); story lines are training lines plus a little
    noise; book lines point anywhere."""
    train = F.normalize(unit(DIM, seed=3) + 0.4 * unit(12, DIM), dim=-1)
    story = F.normalize(train[[3, 7, 1]] + 0.05 * unit(3, DIM, seed=1), dim=-1)
    books = unit(40, DIM, seed=2)
    lines = [f"book {i}" for i in range(40)]
    for at, name in zip((5, 17, 33), ("story 0", "story 1", "story 2")):
        lines.insert(at, name)
    table = {f"book {i}": books[i] for i in range(40)} | {f"story {i}": story[i] for i in range(3)}
    return train, lines, (lambda texts: torch.stack([table[t] for t in texts]) if texts else torch.empty(0, DIM))


@pytest.mark.parametrize("score", ["knn", "centroid"])
def test_story_lines_survive_and_book_lines_do_not(world, score):
    train, lines, encode = world
    filt = RelevanceFilter(DIM, score, eta=10, margin=0.2, bank=len(train))
    filt.fit(train)
    kept, z, _ = filt.select(lines, torch.zeros(DIM), encode)
    assert [lines[i] for i in kept] == ["story 0", "story 1", "story 2"]  # in document order
    assert torch.equal(z, encode(["story 0", "story 1", "story 2"]))


def test_streaming_keeps_the_same_lines_as_one_pass(world):
    train, lines, encode = world
    filt = RelevanceFilter(DIM, "knn", eta=6, margin=2.0, stream_lines=7, bank=len(train))  # margin: no threshold cut
    filt.fit(train)
    streamed = filt.select(lines, torch.zeros(DIM), encode)[0]
    filt.stream_lines = 10_000
    assert filt.select(lines, torch.zeros(DIM), encode)[0] == streamed
    assert len(streamed) == 6 and {5, 17, 33} <= set(streamed)


def test_knn_calibration_is_leave_one_out():
    train = torch.eye(DIM)[:4]
    train[1] = F.normalize(train[0] + train[1], dim=0)  # lines 0 and 1 are 0.707 apart, the rest orthogonal
    filt = RelevanceFilter(DIM, "knn", margin=0.1, bank=4)
    filt.fit(train)
    assert filt.calibration.item() == pytest.approx(0.0)  # lines 2 and 3 have no near neighbour
    assert filt.threshold == pytest.approx(-0.1)


def test_a_threshold_that_would_drop_everything_keeps_the_top_eta(world):
    train, lines, encode = world
    filt = RelevanceFilter(DIM, "knn", eta=4, margin=-5.0, bank=len(train))  # threshold above any cosine
    filt.fit(train)
    assert len(filt.select(lines, torch.zeros(DIM), encode)[0]) == 4


def test_question_score_has_no_threshold(world):
    _, lines, encode = world
    filt = RelevanceFilter(DIM, "question", eta=5)
    assert filt.threshold == float("-inf")
    kept = filt.select(lines, encode(["story 1"])[0], encode)[0]
    assert lines.index("story 1") in kept and len(kept) == 5
