"""The tiny policies' tokenizer: words, whole-sentence tokens, tags, and collapsed unknown runs."""

from memreasoner.agent.tokenizer import build_tokenizer, collapse_unknown

STORY = ["Mary got the milk there.", "John went to the kitchen."]


def test_sentences_are_one_token_and_only_on_whole_words():
    tok = build_tokenizer(STORY + ["Where is the milk?"], phrases=STORY)
    text = "<chunk> Rosemary got the milk there. Mary got the milk there. the Hall </chunk>"
    tokens = tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])
    assert tokens == ["<chunk>", "<unk>", "got", "the", "milk", "there", ".", "mary got the milk there.",
                      "the", "<unk>", "</chunk>"]


def test_replies_decode_to_text_that_encodes_the_same_way():
    tok = build_tokenizer(STORY, phrases=STORY)
    reply = "<thinking> milk mary </thinking> <update> Mary got the milk there. | John went to the kitchen. </update>"
    ids = tok(reply, add_special_tokens=False)["input_ids"]
    text = tok.decode(ids)
    assert text == "<thinking> milk mary </thinking> <update> mary got the milk there. | john went to the kitchen. </update>"
    assert tok(text, add_special_tokens=False)["input_ids"] == ids
    assert tok.decode(tok("\\boxed{ kitchen }", add_special_tokens=False)["input_ids"]) == "\\boxed{ kitchen }"


def test_runs_of_unknown_words_collapse_to_one():
    assert collapse_unknown([5, 1, 1, 1, 6, 1, 7, 1, 1], unk_id=1) == [5, 1, 6, 1, 7, 1]
    assert collapse_unknown([], unk_id=1) == []
