import json

from memreasoner.data.sample import Sample, read_samples


def test_a_question_with_spaces_around_it_enters_as_the_plain_question(tmp_path):
    # "Where is the football? " is how the BABILong releases write questions (the bAbI file's trailing space).
    record = {"input": "Mary went to the kitchen.", "question": " Where is  Mary? ", "target": "kitchen"}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n")
    assert read_samples(path)[0].question == "Where is Mary?"
    assert Sample("x.", "Where is Mary?\t", "kitchen").question == "Where is Mary?"
