"""MemReasoner's training data: the questions (bAbI, generated stories, vt chains) and their batches.

Every distinct sentence is tokenised once and, with the encoder frozen, encoded once: a batch then
indexes latents instead of running the encoder.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.babi import BabiSample, load_babi, parse_babi
from ..data.generalization import generate_training_stories
from ..data.ruler import build_vt
from ..errors import InputError
from ..paths import babi_file
from .memreasoner import LineFeatures, MemReasoner
from .pointer import asked_tokens, token_grid
from .word_match import words

# Seeds of the generated vt chains, offset from the benchmark's (build_vt seeds by (seed, length, number)),
# so that training and held-out chains are never the ones a `memreasoner build --task vt` test holds.
VT_TRAIN_SEED, VT_HELD_OUT_SEED = 1_000_000, 2_000_000
VT_TRAIN_SAMPLES, VT_HELD_OUT_SAMPLES = 2000, 200  # generated chains, unless --train-limit / --eval-limit


# -- questions and batches ------------------------------------------------------------------------------------------
@dataclass
class Batch:
    stories: list[torch.Tensor]  # B x [N_b, C]
    zq: torch.Tensor  # [B, C]
    prompts: list[list[int]]  # one per answer row: a question's answer, or (answer_from=each) each hop's part of it
    targets: list[list[int]]
    answer_story: torch.Tensor  # [R] the story of each answer row
    answer_hop: torch.Tensor  # [R] the hop whose line the row is decoded from
    line_prompts: list[list[int]]  # autoencoding: one line per story
    line_targets: list[list[int]]
    ae_line: torch.Tensor  # [B] which line is reconstructed
    support: list[list[int]]  # hop-ordered supporting facts, [] where unlabelled
    # What the losses average over: the global batch's rows and labelled hop facts, of which this
    # process holds a share (all of them on one process; see parallel.Ranks).
    rows: int
    facts: int
    features: LineFeatures  # what the hops read of the lines besides their latents
    # What a copy decoder copies from (None without one): the stories' lines as GPT-2 ids [B, N, L] (-1 padding),
    # and per decoder row (the answer rows, then one autoencoded line per story) the question's words' flags.
    copy_ids: torch.Tensor | None
    copy_asked: torch.Tensor | None


class TrainSet:
    """bAbI questions with every distinct sentence tokenised once, and encoded once (frozen encoder)
    or anew in every batch (trainable encoder: `--train-encoder`)."""

    def __init__(self, samples: list[BabiSample], model: MemReasoner, sf_fraction: float, seed: int):
        sentences = sorted({line for s in samples for line in s.lines})
        questions = sorted({s.question for s in samples})
        self.sentence_text, self.question_text = sentences, questions
        self.sentence_id = {t: i for i, t in enumerate(sentences)}
        self.question_id = {t: i for i, t in enumerate(questions)}
        self.encoder = model.encoder
        self.line_features, self.copy = model.line_features, model.config.copy
        with torch.no_grad():
            self.sentences = model.encoder(sentences)  # [U, C] (what IU's relevance score is fitted on)
            self.questions = model.encoder(questions)  # [Q, C]
        self.line_tokens = [model.decoder.line_tokens(t) for t in sentences]
        self.sentence_words = [words(t) for t in sentences]
        self.question_words = {t: model.question_words(t) for t in questions}  # after match_skip is fitted
        self.samples = samples
        self.lines = [torch.tensor([self.sentence_id[t] for t in s.lines]) for s in samples]
        # One answer row per question (the last hop's), or one per hop whose parts the answer lists in order.
        each = model.config.answer_from == "each"
        self.max_hops = model.config.hops  # the order loss scores at most this many facts per question
        self.answer_rows = self.max_hops if each else 1
        self.answer_tokens = []
        for s in samples:
            parts = s.answer.split() if each else [s.answer]
            if len(parts) != self.answer_rows:
                raise InputError(f"answer {s.answer!r} has {len(parts)} parts, one per hop needs {self.max_hops}")
            self.answer_tokens.append([model.decoder.answer_tokens(s.question, part) for part in parts])
        # The labelled subset is fixed for the whole run (P: "a fixed fraction of samples").
        n_labelled = round(sf_fraction * len(samples))
        self.labelled = set(random.Random(seed).sample(range(len(samples)), n_labelled))

    def __len__(self) -> int:
        return len(self.samples)

    def draw(self, batch_size: int, gen: torch.Generator) -> tuple[list[int], list[int]]:
        """A global batch: questions, and per question the line the autoencoding loss reconstructs.
        Every process draws the same one from the same seeded generator."""
        idx = torch.randint(len(self), (batch_size,), generator=gen).tolist()
        ae_line = [int(torch.randint(len(self.lines[i]), (1,), generator=gen)) for i in idx]
        return idx, ae_line

    def draw_grouped(self, batch_size: int, count: int, gen: torch.Generator) -> list[tuple[list[int], list[int]]]:
        """`count` global batches of questions whose stories are of like length, in random order.

        A batch costs as much as its longest story: the copy keys, the hops and the memory run over the padded
        [B, N] grid. So `count` batches are drawn as `draw` draws them, their questions sorted by story length
        and cut into `count` batches again, taken in random order. Every question is still drawn uniformly; only
        which questions share a batch changes (Hugging Face's `group_by_length`)."""
        if count == 1:
            return [self.draw(batch_size, gen)]
        drawn = [pair for _ in range(count) for pair in zip(*self.draw(batch_size, gen))]
        drawn.sort(key=lambda pair: len(self.lines[pair[0]]))
        groups = [drawn[start:start + batch_size] for start in range(0, len(drawn), batch_size)]
        return [([i for i, _ in groups[k]], [line for _, line in groups[k]])
                for k in torch.randperm(count, generator=gen).tolist()]

    def batch(self, idx: list[int], ae_line: list[int], of: list[int] | None = None) -> Batch:
        """The rows idx (with their autoencoded lines) of the global batch `of` (default: idx itself)."""
        of = idx if of is None else of
        facts = sum(min(len(self.samples[i].support), self.max_hops) for i in of if i in self.labelled)
        sentences, questions = self.sentences, self.questions
        if self.encoder.trainable:  # encode this batch's distinct sentences with gradients
            used = torch.cat([self.lines[i] for i in idx]).unique()
            sentences = torch.zeros(len(self.sentence_text), self.encoder.dim, device=self.encoder.device)
            sentences = sentences.index_put((used,), self.encoder([self.sentence_text[j] for j in used]))
            questions = self.encoder(self.question_text)
        stories = [sentences[self.lines[i]] for i in idx]
        ae_tokens = [self.line_tokens[int(self.lines[i][j])] for i, j in zip(idx, ae_line)]
        answers = [(b, t, tokens) for b, i in enumerate(idx) for t, tokens in enumerate(self.answer_tokens[i])]
        first_hop = self.max_hops - self.answer_rows  # the last hop, or hop 0 when every hop answers
        line_ids = [[self.line_tokens[int(j)][1][:-1] for j in self.lines[i]] for i in idx]
        question_words = [self.question_words[self.samples[i].question] for i in idx]
        copy_ids = copy_asked = None
        if self.copy:
            copy_ids = token_grid(line_ids)
            copy_asked = asked_tokens(line_ids, [b for b, _, _ in answers] + list(range(len(idx))),
                                      [question_words[b] for b, _, _ in answers] + [None] * len(idx), copy_ids.shape[1:])
        return Batch(
            stories=stories,
            zq=questions[[self.question_id[self.samples[i].question] for i in idx]],
            prompts=[p for _, _, (p, _) in answers],
            targets=[t for _, _, (_, t) in answers],
            answer_story=torch.tensor([b for b, _, _ in answers], dtype=torch.long),
            answer_hop=torch.tensor([first_hop + t for _, t, _ in answers], dtype=torch.long),
            line_prompts=[p for p, _ in ae_tokens],
            line_targets=[t for _, t in ae_tokens],
            ae_line=torch.tensor(ae_line),
            support=[self.samples[i].support if i in self.labelled else [] for i in idx],
            rows=len(of),
            facts=facts,
            features=self.line_features([[self.sentence_words[int(j)] for j in self.lines[i]] for i in idx],
                                        question_words, line_ids),
            copy_ids=copy_ids,
            copy_asked=copy_asked,
        )


def training_questions(args, variant: str | None, augment: int = 0, chains: int = 1) -> tuple[list[BabiSample], str]:
    """The training questions and where they come from: a bAbI train file (and --augment generated
    stories), or for vt generated bare chains."""
    if augment < 0:
        raise InputError(f"--augment takes a number of stories, not {augment}")
    if args.task == "vt":
        if args.babi or args.augment:
            raise InputError("vt trains on generated chains; --babi and --augment are for qa1 and qa2 "
                             "(--train-limit sets how many chains)")
        n = args.train_limit or VT_TRAIN_SAMPLES
        return vt_questions(n, VT_TRAIN_SEED + args.seed, chains), f"{n} generated samples of {chains} chain(s)"
    path = Path(args.babi) if args.babi else babi_file(args.task, "train", variant)
    samples = load_babi(path, args.task)[: args.train_limit]
    if not augment:
        return samples, str(path)
    generated = generate_training_stories(args.task, augment, seed=args.seed)
    return samples + parse_babi(generated, args.task, source="generated stories"), f"{path} and {augment} generated stories"


def held_out_questions(args, variant: str | None, chains: int = 1) -> tuple[list[BabiSample], str]:
    """What the model is scored on when training ends: the bAbI test split, or fresh vt chains."""
    if args.task == "vt":
        n = args.eval_limit or VT_HELD_OUT_SAMPLES
        return vt_questions(n, VT_HELD_OUT_SEED + args.seed, chains), f"{n} generated samples of {chains} chain(s)"
    path = babi_file(args.task, "test", variant)
    return load_babi(path, args.task)[: args.eval_limit], str(path)


def vt_questions(n: int, seed: int, chains: int = 1) -> list[BabiSample]:
    """n bare Variable Tracking samples (four hops after the value, RULER's default) as training questions."""
    return [BabiSample("vt", s.lines(), s.question, s.target, s.facts)
            for s in build_vt(["0k"], n, seed=seed, n_chains=chains, progress=False)]
