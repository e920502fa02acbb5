"""The tokenizer of the tiny policies trained here: word-level, plus one token per story sentence.

Vocabulary: every word of the training stories and questions (lower-cased; words and punctuation
runs split as `\\w+|[^\\w\\s]+`), every distinct sentence of the training stories as ONE token
(`phrases`: 264 in bAbI qa2, e.g. "mary got the milk there."), the compact template's tags, and
`<pad>`, `<unk>`, `<eos>`.

Why sentence tokens: the agent's memory update copies facts from the chunk. Copying a sentence of
six word tokens needs an induction circuit, which a tiny model trained on ~10M tokens does not
grow (measured: a 4-layer policy copied the right facts in 23% of teacher-forced steps after 3000
steps, and mixed names and places of neighbouring facts); copying one sentence token is a single
attention lookup. A sentence token matches only whole words (a "Rosemary went to the kitchen."
in a book stays words), and text outside the vocabulary still reads word by word.

Runs of unknown words are collapsed to one `<unk>` before the model sees them (`collapse_unk`,
stored in the model's config so every backend does it): that cuts a chunk of book text about 4.6x
(2,116 words to 455 in a Pride and Prejudice sample), which is most of the CPU time of reading a
long context, and loses nothing the model could read.

Why not GPT-2's BPE: its 50k-entry embedding would be most of a tiny model's weights and time, and
nothing a bAbI-trained model reads needs it. The tokenizer is saved inside the checkpoint
(tokenizer.json), so loading never needs a download.
"""

from __future__ import annotations

import re

from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL = ["<pad>", "<unk>", "<eos>"]
TAGS = [
    "<question>", "</question>", "<memory>", "</memory>", "<recalled>", "</recalled>", "<chunk>", "</chunk>",
    "<answer>", "<thinking>", "</thinking>", "<update>", "</update>", "<recall>", "</recall>", "\\boxed{", "}",
]
EXTRA_WORDS = ["none", "|"]  # the empty memory, and the support/notes separator of the oracle's memory
_WORD = re.compile(r"\w+|[^\w\s]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_tokenizer(texts, phrases=()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is the words of `texts`, plus each of `phrases` as one
    token (matched case-insensitively, on whole words), the tags and the specials."""
    vocab: dict[str, int] = {}
    for token in SPECIAL + EXTRA_WORDS + sorted({w for text in texts for w in words(text)}):
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+|[^\w\s]+, the same split as `words`
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")
    tokenizer.add_tokens(TAGS)  # matched whole, before the word split
    tokenizer.add_tokens([AddedToken(p.lower(), single_word=True, normalized=True) for p in sorted(set(phrases))])
    return tokenizer


def collapse_unknown(ids: list[int], unk_id: int) -> list[int]:
    """Replace each run of `unk_id` by a single one."""
    return [t for i, t in enumerate(ids) if t != unk_id or i == 0 or ids[i - 1] != unk_id]
