"""`memreasoner train --model memreasoner`: end-to-end training on bAbI without distractors (P).

Data: the bAbI train file of qa1 or qa2; with `--augment N` also N generated stories whose four names,
six places and three objects are drawn anew for each story from pools that share no word with bAbI
or with the unseen-answer tests (data/babi.py). Measured on 100 unseen-vocabulary questions at 0k
(hops allowed to revisit, as then): qa2 20% trained on bAbI alone, 56% with --augment 1000 (1000
steps), 64% with --augment 3000 (1500 steps, 8.4 min; bAbI test 99.8%); qa1 87% alone, 99% with
--augment 1000 (400 steps: 98% on the seen 100-question set, two recency errors; 800 steps, 3.7 min:
100% seen). vt (RULER Variable Tracking) trains on generated bare chains, one hop per statement,
the answer's names decoded one per hop (answer_from=each, memreasoner.py).

Losses, summed each step:
  answer    cross-entropy of the answer tokens, the decoder conditioned on the last hop's line (soft
            attention in training, see hops.py) with the question as its prompt (vt: one answer row
            per hop, each conditioned on that hop's line, with that hop's name as its target);
  autoencode (weight --ae-weight) one written line per story is read back from the memory with its own
            latent as the query, and the decoder reconstructs the line's text from the line it lands on;
  order     (weight --order-weight) on a fixed subset of the training questions (--sf-fraction; P: 0 for
            qa1, 1% for qa2) cross-entropy of each hop's nearest-line logits against the labelled
            supporting fact of that hop: it pulls the readout toward that fact's latent and away from
            the other lines'.
AdamW, linear warm-up then cosine decay, gradient-norm clipping, a seeded sampler.

What a step costs: each distinct sentence and question is encoded once up front (the encoder is
frozen; see encoder.py), so a step is the temporal encoding, the memory, the hops and the small
decoder, whose 50k-way output layer is replaced in training by a sampled softmax (--negatives; see
decoder.py). On a busy 2-core machine `--threads 1` is several times faster than torch's default.

Checkpoints: every --checkpoint-every steps and at the end, --out is replaced atomically by a folder
holding the model (config.json + model.safetensors) and `trainer.pt` (optimiser, scheduler, step,
RNG states, elapsed time); `--resume` continues from it. When training ends, the bAbI test split
(held out; 0k, no distractors) is answered with the inference path and `metrics.json` records accuracy,
steps and time.

Several processes or machines (data parallel): launch the same command with torchrun,

    torchrun --nproc-per-node 2 -m memreasoner train --task qa1 --out runs/qa1
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port PORT --nproc-per-node G -m memreasoner train ...

The trainer sees WORLD_SIZE/RANK/LOCAL_RANK in the environment (no flag) and joins the process group:
gloo on CPU, NCCL on CUDA, where each process takes GPU LOCAL_RANK. --batch-size stays the global
batch: every process draws the same global batch from the same seeded generator and trains on every
world-th question of it, each loss is divided by the global batch's count (`losses`), and one
all-reduce sums the gradients (`Ranks.sum_gradients`), so every rank steps the single-process
gradient and the weights stay identical across ranks. Only rank 0 prints, evaluates and writes the
checkpoint; `--resume` needs --out readable by every rank (a shared filesystem across machines).
Dropout masks and sampled-softmax negatives are drawn by each process for its own rows, so a run on
several processes equals one process in distribution; with both off it equals it in value up to
rounding (tests/test_distributed.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..data.babi import BabiSample, generate_varied_babi, load_babi, parse_babi
from ..data.ruler import build_vt
from ..device import resolve_device
from ..errors import InputError
from ..metrics import exact_match
from ..paths import babi_file
from .pointer import CopySource
from .memreasoner import MemReasoner, MemReasonerConfig
from .relevance import SCORES

TRAINER_FILE, METRICS_FILE = "trainer.pt", "metrics.json"

# Per-task defaults: hop cap (open: 1 for qa1, 2 for qa2), SF fraction (P), training set and length.
# qa1 is learned from the 1k set in 400 steps; qa2 overfits the 1k set (93.6% held out after 800
# steps) and needs the 10k one (98.8% after 800 steps).
# vt (RULER Variable Tracking) trains on generated bare chains of five statements (RULER's default:
# four hops after the value), one hop per statement, every hop's line decoded (answer_from=each).
TASK_DEFAULTS = {
    "qa1": {"hops": 1, "sf_fraction": 0.0, "variant": "en", "steps": 400},
    "qa2": {"hops": 2, "sf_fraction": 0.01, "variant": "en-10k", "steps": 1000},
    "vt": {"hops": 5, "sf_fraction": 0.01, "variant": None, "steps": 600, "train_samples": 2000,
           "answer_from": "each"},
}
# Seeds of the generated vt chains, offset from the benchmark's (build_vt seeds by (seed, length, number)),
# so that training and held-out chains are never the ones a `memreasoner build --task vt` test holds.
VT_TRAIN_SEED, VT_HELD_OUT_SEED = 1_000_000, 2_000_000
DEFAULT_LR, DEFAULT_BATCH = 1e-3, 32


def add_arguments(group) -> None:
    a = group.add_argument
    a("--variant", default=None, choices=["en", "en-10k"], help="bAbI training set, 1k or 10k questions "
      "(default: en for qa1, en-10k for qa2)")
    a("--train-limit", type=int, default=None, help="use only the first N training questions")
    a("--augment", type=int, default=0, metavar="N", help="also train on N generated stories whose names, places "
      "and objects vary from story to story (never the unseen-answer test words): what lets the hops follow "
      "names they were not trained on (default 0: the bAbI file alone, as the paper)")
    a("--chains", type=int, default=1, help="vt: chains per training sample, the queried one and distractor chains "
      "interleaved with it (1: RULER's default test shape)")
    a("--sf-fraction", type=float, default=None, help="fraction of questions with supporting-fact labels "
      "(default: 0 for qa1, 0.01 for qa2)")
    a("--order-weight", type=float, default=1.0, help="weight of the ordering (supporting-fact) loss")
    a("--ae-weight", type=float, default=0.5, help="weight of the autoencoding loss")
    a("--negatives", type=int, default=1024, help="sampled-softmax negatives per decoder loss (0: full 50257-way softmax)")
    a("--clip", type=float, default=1.0, help="gradient-norm clip")
    a("--warmup", type=int, default=100, help="linear warm-up steps")
    a("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    a("--threads", type=int, default=0, help="torch CPU threads (0: torch's default); 1 is faster on a busy machine")
    a("--eval-limit", type=int, default=None, help="held-out questions answered at the end (default: all)")
    a("--eval-every", type=int, default=0, help="also answer the held-out questions every N steps (a learning "
      "curve in metrics.json; nothing is selected on it)")
    m = MemReasonerConfig()
    a("--encoder", default=m.encoder, help="Hugging Face encoder name or folder (default: bundled MiniLM-L6)")
    a("--train-encoder", action="store_true", help="fine-tune the encoder too (slow: it is re-run on every batch)")
    a("--temporal", default=m.temporal, choices=["bigru", "sinusoidal", "none"])
    a("--gru-hidden", type=int, default=m.gru_hidden)
    a("--slots", type=int, default=m.slots, help="memory slots K")
    a("--solve", default=m.solve, choices=["ridge", "exact"], help="pseudo-inverse of the memory")
    a("--ridge", type=float, default=m.ridge)
    a("--hops", type=int, default=None, help="hop cap (default: 1 for qa1, 2 for qa2)")
    a("--alpha", type=float, default=m.alpha, help="weight of the readout in the query update")
    a("--hop-update", default=m.hop_update, choices=["line", "mapped", "readout"])
    a("--stop-threshold", type=float, default=m.stop_threshold)
    a("--select", default=m.select, choices=["soft", "straight"], help="training stand-in for the argmax line")
    a("--decoder", default=m.decoder, help="folder with pretrained GPT-2 weights (default: small, trained here)")
    a("--decoder-layers", type=int, default=m.decoder_layers)
    a("--decoder-dim", type=int, default=m.decoder_dim)
    a("--decoder-heads", type=int, default=m.decoder_heads)
    a("--copy", action=argparse.BooleanOptionalAction, default=m.copy,
      help="pointer-generator decoder that copies words from the chosen line (needed for unseen answers)")
    a("--eta", type=int, default=m.eta, help="IU: lines kept for long inputs")
    a("--relevance", default=m.relevance, choices=list(SCORES), help="IU relevance score")
    a("--relevance-margin", type=float, default=m.relevance_margin)
    a("--no-iu", dest="iu", action="store_false", help="write every line, no inference-time update")
    a("--first-pass", action=argparse.BooleanOptionalAction, default=True, help="fit the static first pass "
      "(model2vec distillation of the encoder, made once and cached) that picks the lines the full encoder reads in "
      "long inputs: the fast path; --no-first-pass for a checkpoint that only has the paper's path")


def model_config(args) -> MemReasonerConfig:
    task = TASK_DEFAULTS.get(args.task, TASK_DEFAULTS["qa1"])
    return MemReasonerConfig(
        task=args.task, encoder=args.encoder, train_encoder=args.train_encoder, temporal=args.temporal, gru_hidden=args.gru_hidden,
        slots=args.slots, solve=args.solve, ridge=args.ridge,
        hops=args.hops if args.hops is not None else task["hops"], alpha=args.alpha, hop_update=args.hop_update,
        stop_threshold=args.stop_threshold, select=args.select, decoder=args.decoder,
        decoder_layers=args.decoder_layers, decoder_dim=args.decoder_dim, decoder_heads=args.decoder_heads,
        copy=args.copy, answer_from=task.get("answer_from", "last"), iu=args.iu, eta=args.eta, relevance=args.relevance,
        relevance_margin=args.relevance_margin)


# -- data ------------------------------------------------------------------------------------------
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
    # process holds a share (all of them on one process; see Ranks).
    rows: int
    facts: int
    line_ids: list[list[list[int]]]  # each story's lines as GPT-2 ids (what a copy decoder copies from)


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
        with torch.no_grad():
            self.sentences = model.encoder(sentences)  # [U, C] (what IU's relevance score is fitted on)
            self.questions = model.encoder(questions)  # [Q, C]
        self.line_tokens = [model.decoder.line_tokens(t) for t in sentences]
        self.samples = samples
        self.lines = [torch.tensor([self.sentence_id[t] for t in s.lines]) for s in samples]
        # One answer row per question (the last hop's), or one per hop whose parts the answer lists in order.
        each = model.config.answer_from == "each"
        self.hops = model.config.hops  # the order loss scores at most this many facts per question
        self.answer_rows = self.hops if each else 1
        self.answer_tokens = []
        for s in samples:
            parts = s.answer.split() if each else [s.answer]
            if len(parts) != self.answer_rows:
                raise InputError(f"answer {s.answer!r} has {len(parts)} parts, one per hop needs {self.hops}")
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

    def batch(self, idx: list[int], ae_line: list[int], of: list[int] | None = None) -> Batch:
        """The rows idx (with their autoencoded lines) of the global batch `of` (default: idx itself)."""
        of = idx if of is None else of
        facts = sum(min(len(self.samples[i].support), self.hops) for i in of if i in self.labelled)
        sentences, questions = self.sentences, self.questions
        if self.encoder.trainable:  # encode this batch's distinct sentences with gradients
            used = torch.cat([self.lines[i] for i in idx]).unique()
            sentences = torch.zeros(len(self.sentence_text), self.encoder.dim, device=self.encoder.device)
            sentences = sentences.index_put((used,), self.encoder([self.sentence_text[j] for j in used]))
            questions = self.encoder(self.question_text)
        stories = [sentences[self.lines[i]] for i in idx]
        ae_tokens = [self.line_tokens[int(self.lines[i][j])] for i, j in zip(idx, ae_line)]
        answers = [(b, t, tokens) for b, i in enumerate(idx) for t, tokens in enumerate(self.answer_tokens[i])]
        first_hop = self.hops - self.answer_rows  # the last hop, or hop 0 when every hop answers
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
            line_ids=[[self.line_tokens[int(j)][1][:-1] for j in self.lines[i]] for i in idx],
        )


def training_questions(args, variant: str | None) -> tuple[list[BabiSample], str]:
    """The training questions and where they come from: a bAbI train file (and --augment generated
    stories), or for vt generated bare chains."""
    if args.augment < 0:
        raise InputError(f"--augment takes a number of stories, not {args.augment}")
    if args.task != "vt" and args.chains != 1:
        raise InputError("--chains is for vt (variable chains per training sample)")
    if args.task == "vt":
        if args.babi or args.augment:
            raise InputError("vt trains on generated chains; --babi and --augment are for qa1 and qa2 "
                             "(--train-limit sets how many chains)")
        n = args.train_limit or TASK_DEFAULTS["vt"]["train_samples"]
        return vt_questions(n, VT_TRAIN_SEED + args.seed, args.chains), f"{n} generated samples of {args.chains} chain(s)"
    path = Path(args.babi) if args.babi else babi_file(args.task, "train", variant)
    samples = load_babi(path, args.task)[: args.train_limit]
    if not args.augment:
        return samples, str(path)
    generated = generate_varied_babi(args.task, args.augment, seed=args.seed)
    return samples + parse_babi(generated, args.task, source="generated stories"), f"{path} and {args.augment} generated stories"


def held_out_questions(args, variant: str | None) -> tuple[list[BabiSample], str]:
    """What the model is scored on when training ends: the bAbI test split, or fresh vt chains."""
    if args.task == "vt":
        n = args.eval_limit or 200
        return vt_questions(n, VT_HELD_OUT_SEED + args.seed, args.chains), f"{n} generated samples of {args.chains} chain(s)"
    path = babi_file(args.task, "test", variant)
    return load_babi(path, args.task)[: args.eval_limit], str(path)


def vt_questions(n: int, seed: int, chains: int = 1) -> list[BabiSample]:
    """n bare Variable Tracking samples (four hops after the value, RULER's default) as training questions."""
    return [BabiSample("vt", s.lines(), s.question, s.target, s.facts)
            for s in build_vt(["0k"], n, seed=seed, n_chains=chains, progress=False)]


# -- one step --------------------------------------------------------------------------------------
def losses(model: MemReasoner, batch: Batch, negatives: int = 0) -> dict[str, torch.Tensor]:
    """Each loss summed over this batch's rows and divided by the global batch's count (batch.rows,
    batch.facts): on one process the batch means; on several, shares that add up to them."""
    device = model.device
    out = model.read([s.to(device) for s in batch.stories], batch.zq.to(device))
    B, R = len(batch.line_prompts), len(batch.prompts)
    story, hop = batch.answer_story.to(device), batch.answer_hop.to(device)
    picked = out.hops.attention[story, hop]  # [R, N] each answer row's hop attention (training runs every hop)
    latent = torch.einsum("rn,rnc->rc", picked, out.z[story])  # soft pick of an original line latent
    recall = model.recall(out, batch.ae_line.to(device))  # [B, N]
    ae_latent = torch.einsum("bn,bnc->bc", recall, out.z)
    # One decoder pass for both: answers in rows :R, reconstructions in rows R:. A copy decoder copies
    # from the story's lines, weighted as the latent was picked: by the answer row's hop, by the recall.
    weights = torch.cat([picked, recall])
    source = (CopySource.from_lines(batch.line_ids, weights, torch.cat([story.cpu(), torch.arange(B)]))
              if model.config.copy else None)
    per_row = model.decoder.loss(torch.cat([latent, ae_latent]), batch.prompts + batch.line_prompts,
                                 batch.targets + batch.line_targets, negatives, source)
    rows_per_question = R // B  # 1, or one per hop (answer_from=each): a question's answer loss is their mean
    parts = {"answer": per_row[:R].sum() / (batch.rows * rows_per_question), "autoencode": per_row[R:].sum() / batch.rows}
    logits, labels = [], []
    for b, support in enumerate(batch.support):
        for t, fact in enumerate(support[: out.hops.logits.shape[1]]):
            logits.append(out.hops.logits[b, t])
            labels.append(fact)
    if logits:
        parts["order"] = torch.nn.functional.cross_entropy(torch.stack(logits), torch.tensor(labels, device=device),
                                                           reduction="sum") / batch.facts
    return parts


# -- evaluation on held-out stories ----------------------------------------------------------------
def accuracy(model: MemReasoner, samples: list[BabiSample]) -> dict:
    answers = model._answer([(s.lines, s.question) for s in samples])
    correct = sum(exact_match(a.text, s.answer) for a, s in zip(answers, samples))
    hop_hits = sum(a.hops[: len(s.support)] == s.support for a, s in zip(answers, samples))
    return {"accuracy": correct / len(samples), "supporting_facts_hit": hop_hits / len(samples), "n": len(samples)}


# -- several processes ----------------------------------------------------------------------------
@dataclass
class Ranks:
    """This process's place in a data-parallel run: rank `rank` of `world` processes (0 of 1 alone)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"  # where this rank's tensors live (NCCL only moves CUDA tensors)

    @property
    def main(self) -> bool:
        """Rank 0 alone prints, evaluates and writes checkpoints."""
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's share of a global batch: every world-th item, so shares differ by at most one."""
        return items[self.rank::self.world]

    def start_equal(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's weights and buffers. The same seed already builds the same model
        everywhere; this makes it a guarantee (as DistributedDataParallel does) rather than an assumption."""
        if self.world > 1:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, 0)

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient across ranks, in one all-reduce of a flat buffer.

        Each rank's loss is its share of the global batch mean (see `losses`), so the sum is the
        gradient of the global batch: after it, every rank clips and steps the same gradient and the
        weights stay identical. A parameter that no rank used this step keeps `grad = None`, as on
        one process: AdamW skips it then, where a zero gradient would still decay it. Hence the one
        used/unused flag per parameter at the end of the buffer.
        """
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        used = torch.tensor([p.grad is not None for p in params], dtype=grads[0].dtype, device=grads[0].device)
        flat = torch.cat([g.flatten() for g in grads] + [used])
        dist.all_reduce(flat)
        summed = flat[: -len(params)].split([p.numel() for p in params])
        for p, g, n_used in zip(params, summed, flat[-len(params):].tolist()):
            p.grad = g.view_as(p) if n_used else None

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        objs = [None] * self.world
        dist.all_gather_object(objs, obj)
        return objs

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on one: a stop decision all ranks take together."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


@contextlib.contextmanager
def launch(device: str):
    """Yield this process's Ranks, joining the process group when torchrun started it.

    torchrun (or any launcher that sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)
    starts one process per rank; each trains on its share of every global batch. On CUDA each process
    takes GPU LOCAL_RANK and the NCCL backend; on CPU, gloo.
    """
    device = resolve_device(device)  # callers that bypass the CLI (tests) may still pass "auto"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Ranks(device=device)
        return
    if torch.device(device).type == "cuda":
        device = f"cuda:{os.environ['LOCAL_RANK']}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), device)
    finally:
        dist.destroy_process_group()


# -- the loop --------------------------------------------------------------------------------------
def lr_lambda(warmup: int, steps: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def run(args) -> int:
    if args.task not in TASK_DEFAULTS:
        raise InputError(f"--task {args.task}: MemReasoner trains on {', '.join(TASK_DEFAULTS)}")
    with launch(args.device) as ranks:
        return train(args, ranks)


def train(args, ranks: Ranks) -> int:
    out = Path(args.out)
    defaults = TASK_DEFAULTS[args.task]
    steps = args.steps or defaults["steps"]
    variant = args.variant or defaults["variant"]
    batch_size = args.batch_size or DEFAULT_BATCH
    if batch_size < ranks.world:
        raise InputError(f"--batch-size {batch_size} is the global batch: at least one question per process "
                         f"({ranks.world})")
    device = ranks.device
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.resume:
        if not (out / TRAINER_FILE).is_file():
            raise InputError(f"nothing to resume: no {TRAINER_FILE} in the checkpoint folder", out)
        model = MemReasoner.load(out, device)
        state = torch.load(out / TRAINER_FILE, weights_only=False)
        steps = args.steps or state["steps"]  # the interrupted run's schedule, unless --steps extends it
    else:
        model = MemReasoner(model_config(args)).to(device)
        state = None

    samples, train_source = training_questions(args, variant)
    sf_fraction = args.sf_fraction if args.sf_fraction is not None else defaults["sf_fraction"]
    t0 = time.perf_counter()
    data = TrainSet(samples, model, sf_fraction, args.seed)
    if ranks.main:
        print(f"{len(data)} training questions from {train_source} ({len(data.sentence_id)} distinct sentences encoded "
              f"in {time.perf_counter() - t0:.1f}s); {len(data.labelled)} with supporting-fact labels"
              + (f"; {ranks.world} processes share each batch of {batch_size}" if ranks.world > 1 else ""))
    if state is None:
        model.fit_relevance(data.sentences.to(model.device), data.sentence_text)
        if args.first_pass:
            model.fit_first_pass(data.sentence_text)
    ranks.start_equal(model)

    params = [p for p in model.parameters() if p.requires_grad]
    lr = args.lr or DEFAULT_LR
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, fused=device == "cpu" or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_lambda(args.warmup, steps))
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed = 0, 0.0
    if state is not None:
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        # Each rank its own generator states (a checkpoint from before there were several: rank 0's).
        # On a different number of processes the shards differ, so the draws cannot repeat anyway.
        rngs = state.get("rngs") or [(state["torch_rng"], None)]
        torch_rng, cuda_rng = rngs[ranks.rank % len(rngs)]
        torch.set_rng_state(torch_rng)
        if cuda_rng is not None and model.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_rng, model.device)
        random.setstate(state["python_rng"])
        step, elapsed = state["step"], state["elapsed"]
        if ranks.main:
            print(f"resuming at step {step}/{steps}")

    def checkpoint(extra_files: dict | None = None) -> None:
        # Dropout masks and sampled-softmax negatives come from each rank's own generators (the CUDA
        # one on a GPU), whose states drift apart as the shards' shapes differ: keep every rank's.
        cuda_rng = torch.cuda.get_rng_state(model.device) if model.device.type == "cuda" else None
        rngs = ranks.gather((torch.get_rng_state(), cuda_rng))
        if not ranks.main:  # the ranks hold identical weights; one writer keeps the folder swap atomic
            return

        def write(folder: Path) -> None:
            torch.save({"step": step, "steps": steps, "elapsed": elapsed, "optimiser": optimiser.state_dict(),
                        "scheduler": scheduler.state_dict(), "generator": gen.get_state(), "rngs": rngs,
                        "python_rng": random.getstate(), "curve": curve},
                       folder / TRAINER_FILE)
            for name, obj in (extra_files or {}).items():
                (folder / name).write_text(json.dumps(obj, indent=2) + "\n")
        model.save(out, extra=write)

    test, test_source = held_out_questions(args, variant)
    curve = state.get("curve", []) if state is not None else []

    model.train()
    budget = args.minutes * 60 if args.minutes else math.inf
    start_time, start_elapsed, start_step, paused = time.perf_counter(), elapsed, step, 0.0  # paused: evaluation time
    bar = tqdm(total=steps, initial=step, desc=f"train {args.task}", dynamic_ncols=True, disable=not ranks.main)
    # The budget check is collective: a rank that stopped alone would leave the others waiting in the
    # gradient all-reduce.
    while step < steps and not ranks.any(elapsed >= budget):
        idx, ae_line = data.draw(batch_size, gen)
        batch = data.batch(ranks.shard(idx), ranks.shard(ae_line), of=idx)
        parts = losses(model, batch, args.negatives)
        loss = parts["answer"] + args.ae_weight * parts["autoencode"] + args.order_weight * parts.get("order", 0.0)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        ranks.sum_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimiser.step()
        scheduler.step()
        step += 1
        elapsed = start_elapsed + time.perf_counter() - start_time - paused
        bar.update(1)
        own = batch.rows / len(batch.prompts)  # shown: the mean over rank 0's own rows
        bar.set_postfix(loss=f"{loss.item() * own:.3f}", ans=f"{parts['answer'].item() * own:.3f}",
                        ae=f"{parts['autoencode'].item() * own:.3f}",
                        samples_s=f"{(step - start_step) * batch_size / max(elapsed - start_elapsed, 1e-9):.0f}")
        if ranks.main and args.eval_every and step % args.eval_every == 0 and step < steps:
            t = time.perf_counter()
            curve.append({"step": step, "minutes": round(elapsed / 60, 2), **accuracy(model, test)})
            paused += time.perf_counter() - t
            bar.write(f"step {step}: held-out accuracy {curve[-1]['accuracy']:.3f}, "
                      f"supporting facts hit {curve[-1]['supporting_facts_hit']:.3f}")
        if step % args.checkpoint_every == 0 and step < steps:
            checkpoint()
    bar.close()
    if not ranks.main:
        checkpoint()  # hands rank 0 this rank's generator states for the final checkpoint (after its evaluation)
        return 0

    t = time.perf_counter()
    metrics = accuracy(model, test)
    metrics.update(task=args.task, steps=step, train_seconds=round(elapsed, 1),
                   eval_seconds=round(time.perf_counter() - t, 1), train_questions=len(data), train_data=train_source,
                   held_out=test_source, sf_fraction=sf_fraction, processes=ranks.world, curve=curve)
    checkpoint({METRICS_FILE: metrics})
    print(f"step {step}, {elapsed / 60:.1f} min: held-out accuracy {metrics['accuracy']:.3f} "
          f"(supporting facts hit {metrics['supporting_facts_hit']:.3f}) on {metrics['n']} {args.task} test questions; "
          f"saved {out}")
    return 0
