"""Retrieve-then-read: keep the top-k lines most relevant to the question, then read only those.

Retrieval scores every line against the question: BM25 (`rank_bm25`'s Okapi BM25 over lower-cased
words, the default) or cosine similarity of sentence embeddings (`--retrieval-retriever embedding`:
the MiniLM-L6 encoder MemReasoner uses, or any Hugging Face encoder folder). The k best lines are
kept in document order -- the order is what tells "Mary went to the kitchen" from her later moves --
and read by a MemN2N (see memn2n.py) trained on exactly what retrieval returns from the bAbI
training stories.

The retriever only sees the question, so it finds the lines that share its words (qa1's "Where is
Mary?" -> Mary's moves) but not a second hop that shares none (qa2's "Where is the football?" ->
the move of whoever carried it): the weakness of question-only relevance the SPEC measures.

Default size: BM25, top 8 lines, a MemN2N 32 wide with 3 hops: on qa1 9,024 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from rank_bm25 import BM25Okapi

from ..errors import InputError
from ..reader import Answer, option
from ..model.embedding_cache import default_path as embedding_cache_path
from .common import BaselineReader, Defaults, add_common_arguments, babi_train, fit, model_for
from .memn2n import BagData, MemN2NCore, answer_loss, read_lines, vocabulary, words

DEFAULTS = Defaults(steps=3000, lr=1e-2, batch_size=32)
RETRIEVERS = ("bm25", "embedding")


@dataclass
class RetrievalConfig:
    model: str = "retrieval"
    task: str = ""  # what it was trained on; informative only
    retriever: str = "bm25"  # bm25 | embedding
    encoder: str = ""  # embedding retriever: Hugging Face encoder folder; "" = the bundled MiniLM-L6
    top_k: int = option(8, "lines kept for the reader")
    dim: int = 32  # the MemN2N reader
    hops: int = 3
    temporal: int = 50
    vocabulary: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


class RetrieveThenRead(BaselineReader):
    name = "retrieval"
    Config = RetrievalConfig

    def __init__(self, config: RetrievalConfig):
        super().__init__()
        if config.retriever not in RETRIEVERS:
            raise InputError(f"unknown retriever {config.retriever!r}; known: {', '.join(RETRIEVERS)}")
        self.config = config
        self.net = MemN2NCore(config.vocabulary, config.answers, config.dim, config.hops, config.temporal)
        self.encoder = None  # BM25 needs none
        if config.retriever == "embedding":
            from ..model.encoder import LineEncoder

            self.encoder = LineEncoder(config.encoder)  # frozen: holds no weights of the checkpoint

    def retrieve(self, lines: list[str], question: str) -> list[int]:
        """Indices of the top-k lines for the question, in document order."""
        if len(lines) <= self.config.top_k:
            return list(range(len(lines)))
        if self.config.retriever == "bm25":
            scores = BM25Okapi([words(line) for line in lines]).get_scores(words(question))
        else:
            scores = (self.encoder(lines) @ self.encoder([question])[0]).cpu().numpy()
        best = np.argsort(-np.asarray(scores), kind="stable")[: self.config.top_k]
        return sorted(int(i) for i in best)

    @torch.no_grad()
    def answer(self, samples) -> list[Answer]:
        if self.encoder is not None:  # through MemReasoner's on-disk cache: both are timed from the same one
            self.encoder.use_disk_cache(embedding_cache_path())
        answers = []
        for s in samples:
            lines = s.lines()
            kept = self.retrieve(lines, s.question)
            ans = read_lines(self.net, self.config.answers, [lines[i] for i in kept], s.question, line_ids=kept)
            ans.trace["retrieved"] = kept
            answers.append(ans)
        return answers


# -- `memreasoner train --model retrieval` ---------------------------------------------------------
def add_arguments(group) -> None:
    add_common_arguments(group)
    c = RetrievalConfig()
    group.add_argument("--retrieval-retriever", default=c.retriever, choices=RETRIEVERS)
    group.add_argument("--retrieval-encoder", default=c.encoder, help="embedding retriever: encoder folder")
    group.add_argument("--retrieval-top-k", type=int, default=c.top_k, help="lines kept for the reader")
    group.add_argument("--retrieval-dim", type=int, default=c.dim, help="MemN2N reader width")


def run(args) -> int:
    samples = babi_train(args)
    vocab, answers = vocabulary(samples)
    config = RetrievalConfig(task=args.task, retriever=args.retrieval_retriever, encoder=args.retrieval_encoder,
                             top_k=args.retrieval_top_k, dim=args.retrieval_dim, vocabulary=vocab, answers=answers)
    torch.manual_seed(args.seed)
    model = model_for(RetrieveThenRead, config, args)
    # The reader learns from what the retriever gives it at test time: the top-k of each training story.
    kept = [[s.lines[i] for i in model.retrieve(s.lines, s.question)] for s in samples]
    data = BagData(model.net, model.config.answers, kept, [s.question for s in samples], [s.answer for s in samples])

    def step_loss(batch: int, progress: float, gen: torch.Generator) -> torch.Tensor:
        return answer_loss(model.net, *data.draw(batch, gen))

    fit(model, step_loss, args, DEFAULTS, info={"train_questions": len(samples)})
    return 0
