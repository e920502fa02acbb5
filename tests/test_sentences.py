from memreasoner.data.sample import Sample
from memreasoner.data.sentences import split_sentences


def test_untrained_punkt_splits_sentences():
    text = "Mary moved to the bathroom.  John went to the hallway!\nWhere is Mary? She left."
    assert split_sentences(text) == ["Mary moved to the bathroom.", "John went to the hallway!", "Where is Mary?", "She left."]


def test_no_empty_sentences():
    assert split_sentences("   \n\n ") == []


def test_sample_lines_fall_back_to_punkt_without_offsets():
    sample = Sample(input="The grass is green. Mary moved to the bathroom.", question="Where is Mary?", target="bathroom")
    assert sample.lines() == ["The grass is green.", "Mary moved to the bathroom."]
