"""`memreasoner train --model memreasoner`: end-to-end training on bAbI without distractors (P).

Data: the bAbI train file of the task (qa1-qa5); with `--augment N` also N generated
stories (data/generalization.py `generate_training_stories`), each with its own names, places and
objects from pools that share no word with any test, its own number of people, phrasing and story
statistics: trained on bAbI alone, the hops learn bAbI's four names and where bAbI puts a fact, and
follow neither a new name nor a fact placed elsewhere. vt (RULER Variable Tracking) trains on generated bare
chains, one hop per statement, the answer's names decoded one per hop (answer_from=each, memreasoner.py).

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
AdamW, linear warm-up then cosine decay (training_loop.py), gradient-norm clipping, a seeded sampler.
The model's flags are made from MemReasonerConfig (`config_flags`): what they set is stored in the
checkpoint, the answer-time options as the defaults `memreasoner eval --set` may change.

What a step costs: each distinct sentence and question is encoded once up front (the encoder is
frozen; see encoder.py), so a step is the temporal encoding, the memory, the hops and the small
decoder, whose 50k-way output layer is replaced in training by a sampled softmax (--negatives; see
decoder.py). A batch costs as much as its longest story, so `--length-groups N` draws N batches at a time and
regroups their questions by story length. On a busy 2-core machine `--threads 1` is faster than torch's default.

Checkpoints: every --checkpoint-every steps and at the end, --out is replaced atomically by a folder
holding the model (config.json + model.safetensors) and `trainer.pt` (optimiser, scheduler, step,
random states, elapsed time); `--resume` continues from it. When training ends, the bAbI test split
(held out; 0k, no distractors) is answered with the inference path and `metrics.json` records accuracy,
steps and time.

Several processes or machines (data parallel, parallel.py): launch the same command with torchrun,

    torchrun --nproc-per-node 2 -m memreasoner train --task qa1 --out runs/qa1
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port PORT --nproc-per-node G -m memreasoner train ...

--batch-size stays the global batch: every process draws the same global batch from the same seeded
generator and trains on every world-th question of it, each loss is divided by the global batch's
count (`losses`), and one all-reduce sums the gradients. Only rank 0 prints, evaluates and writes the
checkpoint; `--resume` needs --out readable by every rank (a shared filesystem across machines).
Dropout masks and sampled-softmax negatives are drawn by each process for its own rows, so a run on
several processes equals one process in distribution; with both off it equals it in value up to
rounding (tests/test_distributed.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.babi import BabiSample, recent_lines
from ..errors import InputError
from ..files import write_atomic
from ..metrics import exact_match, facts_hit
from ..training_loop import METRICS_FILE, load_state, local_rngs, restore_state, save_state, warmup_cosine
from .memreasoner import MemReasoner, MemReasonerConfig
from .parallel import Ranks, launch
from .pointer import CopySource
from .train_data import Batch, TrainSet, held_out_questions, training_questions
from .word_match import question_template_words

# Per-task defaults: hop cap (open: 1 for qa1, 2 for qa2), SF fraction (P), training set and length.
# qa1 is learned from the 1k set plus 1000 generated stories (the phrases, names and story statistics
# bAbI's qa1 never shows: "living room", ten people, facts far back); qa2 overfits the 1k set and
# needs the 10k one, and trained on bAbI alone its second hop learns where bAbI puts the holder's
# move, not whose move it is: 3000 generated stories
# (other words, phrasing and statistics; data/generalization.py) and supporting-fact labels on 10%.
# qa4 (a relation between two places) and qa5 (who gave what to whom) need one hop to the one line
# that answers; the decoder learns from the question which of the line's words is the answer, and
# from 2000 generated stories to copy it by its place in the line, not name it; qa5's hop (the latest give that
# matches one or two of giver, receiver, object) also needs supporting-fact labels on 10% of its
# questions and twice the steps. qa3 ("where was the apple before the kitchen?") takes three hops: the
# object's latest fact, its holder's move into the named place, and the holder's move before that,
# whose place answers; bAbI has only 1,000 qa3 training questions, so generated qa3 stories are added
# and a tenth of the questions carry supporting-fact labels; a story trains on its last 64 lines (--window).
# qa5 trains on a story's last 16 lines (a batch costs as much as its longest story; a story with a fact
# further back stays whole): the same accuracy, steps twice as fast. qa2 reads whole stories: the window
# saved it a tenth of its steps' time, and one of two runs with it scored 98 at 128k (README).
# vt (RULER Variable Tracking) trains on generated bare chains of five statements (RULER's default:
# four hops after the value), one hop per statement, every hop's line decoded (answer_from=each); each
# sample interleaves the queried chain with a second one, so the hops learn to follow the names.
# qa1, qa2 and qa3 stories differ widely in length, and a batch costs as much as its longest story:
# their batches are drawn 50 at a time and regrouped by story length (--length-groups): cheaper steps
# with the same held-out and generalization accuracy (README, "Training time"). qa4 and vt stories are
# all of one length, and qa5's window leaves little to regroup.
# Steps: about the fewest that keep a task's held-out and generalization accuracy, for the ten minutes a
# task may take on a 2-core CPU (README, "Training time", has the step counts measured against each other).
TASK_DEFAULTS = {
    "qa1": {"hops": 1, "sf_fraction": 0.0, "variant": "en", "steps": 400, "augment": 1000, "length_groups": 50},
    "qa2": {"hops": 2, "sf_fraction": 0.1, "variant": "en-10k", "steps": 1000, "augment": 3000, "length_groups": 50},
    "qa3": {"hops": 3, "sf_fraction": 0.1, "variant": "en", "steps": 700, "augment": 1000, "window": 64,
            "length_groups": 50},
    "qa4": {"hops": 1, "sf_fraction": 0.0, "variant": "en-10k", "steps": 800, "augment": 2000},
    "qa5": {"hops": 1, "sf_fraction": 0.1, "variant": "en-10k", "steps": 1600, "augment": 2000, "window": 16},
    "vt": {"hops": 5, "sf_fraction": 0.01, "variant": None, "steps": 600, "answer_from": "each", "chains": 2},
}
PER_TASK = ("hops", "answer_from")  # config fields whose flag defaults to the task's value
NO_FLAG = ("first_pass",)  # --first-pass fits the static first pass; the field only switches it on
DEFAULT_LR, DEFAULT_BATCH = 1e-3, 32


def add_arguments(group) -> None:
    a = group.add_argument
    a("--variant", default=None, choices=["en", "en-10k"], help="bAbI training set, 1k or 10k questions "
      "(default: the task's, e.g. en for qa1, en-10k for qa2)")
    a("--train-limit", type=int, default=None, help="use only the first N training questions")
    a("--augment", type=int, default=None, metavar="N", help="also train on N generated stories of the task "
      "whose words (never a test's), people, phrasing and story statistics vary from story to story: what lets the hops follow "
      "names and facts bAbI's habits do not show (default: the task's; 0 is the bAbI file alone, as the paper)")
    a("--window", type=int, default=None, metavar="N", help="train on each story's last N lines (where they hold its "
      "supporting facts): a batch costs as much as its longest story (default: the task's; 0 = whole stories)")
    a("--length-groups", type=int, default=None, metavar="N", help="draw N batches at a time and regroup their "
      "questions by story length: a batch costs as much as its longest story (default: the task's; 1 = plain random "
      "batches)")
    a("--chains", type=int, default=None, help="vt: chains per training sample, the queried one and distractor chains "
      "interleaved with it (default: 2 for vt, the queried chain and one other; RULER tests 1 by default)")
    a("--sf-fraction", type=float, default=None, help="fraction of questions with supporting-fact labels "
      "(default: the task's, e.g. 0 for qa1, 0.1 for qa2)")
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
    a("--first-pass", action=argparse.BooleanOptionalAction, default=True, help="fit the static first pass "
      "(model2vec distillation of the encoder, made once and cached) that picks the lines the full encoder reads in "
      "long inputs: the fast path; --no-first-pass for a checkpoint that only has the paper's path")
    config_flags(group)


def flagged_fields() -> list:
    """The MemReasonerConfig fields a training flag sets: those with a help text."""
    return [f for f in fields(MemReasonerConfig) if f.metadata.get("help") and f.name not in NO_FLAG]


def config_flags(group) -> None:
    """One flag per flagged config field (--gru-hidden for gru_hidden), its default and help the field's;
    a true/false field gets --NAME and --no-NAME."""
    for f in flagged_fields():
        flag = "--" + f.name.replace("_", "-")
        default = None if f.name in PER_TASK else f.default
        if isinstance(f.default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"])
        else:
            group.add_argument(flag, type=type(f.default), default=default, choices=f.metadata["choices"] or None,
                               help=f.metadata["help"])


def model_config(args) -> MemReasonerConfig:
    task = TASK_DEFAULTS.get(args.task, TASK_DEFAULTS["qa1"])
    values = {f.name: getattr(args, f.name) for f in flagged_fields()}
    for name in PER_TASK:
        if values[name] is None:
            values[name] = task.get(name, getattr(MemReasonerConfig, name))
    return MemReasonerConfig(task=args.task, **values)


# -- one step --------------------------------------------------------------------------------------
def losses(model: MemReasoner, batch: Batch, negatives: int = 0) -> dict[str, torch.Tensor]:
    """Each loss summed over this batch's rows and divided by the global batch's count (batch.rows,
    batch.facts): on one process the batch means; on several, shares that add up to them."""
    device = model.device
    out = model.read([s.to(device) for s in batch.stories], batch.zq.to(device), batch.features)
    B, R = len(batch.line_prompts), len(batch.prompts)
    row_story, row_hop = batch.answer_story.to(device), batch.answer_hop.to(device)
    picked = out.walk.attention[row_story, row_hop]  # [R, N] each answer row's hop attention (training runs every hop)
    latent = torch.einsum("rn,rnc->rc", picked, out.z[row_story])  # soft pick of an original line latent
    recall = model.recall(out, batch.ae_line.to(device))  # [B, N]
    ae_latent = torch.einsum("bn,bnc->bc", recall, out.z)
    # One decoder pass for both: answers in rows :R, reconstructions in rows R:. A copy decoder copies
    # from the story's lines, weighted as the latent was picked: by the answer row's hop, by the recall.
    weights = torch.cat([picked, recall])
    source = (CopySource(batch.copy_ids.to(device), weights, torch.cat([row_story, torch.arange(B, device=device)]),
                         batch.copy_asked.to(device)) if model.config.copy else None)
    per_row = model.decoder.loss(torch.cat([latent, ae_latent]), batch.prompts + batch.line_prompts,
                                 batch.targets + batch.line_targets, negatives, source)
    rows_per_question = R // B  # 1, or one per hop (answer_from=each): a question's answer loss is their mean
    parts = {"answer": per_row[:R].sum() / (batch.rows * rows_per_question), "autoencode": per_row[R:].sum() / batch.rows}
    logits, labels = [], []
    for b, support in enumerate(batch.support):
        for t, fact in enumerate(support[: out.walk.logits.shape[1]]):
            logits.append(out.walk.logits[b, t])
            labels.append(fact)
    if logits:
        parts["order"] = torch.nn.functional.cross_entropy(torch.stack(logits), torch.tensor(labels, device=device),
                                                           reduction="sum") / batch.facts
    return parts


def total_loss(parts: dict[str, torch.Tensor], args) -> torch.Tensor:
    """What a step descends: the answer loss plus the weighted autoencoding and ordering losses."""
    return parts["answer"] + args.ae_weight * parts["autoencode"] + args.order_weight * parts.get("order", 0.0)


# -- evaluation on held-out stories ----------------------------------------------------------------
def accuracy(model: MemReasoner, samples: list[BabiSample]) -> dict:
    """Exact match, and the share of answers whose hops landed on every labelled supporting fact."""
    answers = model._answer([(s.lines, s.question) for s in samples])
    correct = sum(exact_match(a.text, s.answer) for a, s in zip(answers, samples))
    hits = [hit for hit in (facts_hit(a.hops, s.support) for a, s in zip(answers, samples)) if hit is not None]
    return {"accuracy": correct / len(samples), "supporting_facts_hit": sum(hits) / len(hits) if hits else None,
            "n": len(samples)}


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# -- the loop --------------------------------------------------------------------------------------
@dataclass
class Plan:
    """A run's settings once the task's defaults fill in what the flags leave open."""

    steps: int
    variant: str | None
    batch_size: int
    sf_fraction: float
    augment: int
    window: int
    chains: int
    length_groups: int


def story_window(task: str, window: int | None) -> int:
    """The lines of each story a run trains on: --window, else the task's (0: whole stories). The
    baselines take it too, so that every model trains on the same text."""
    window = TASK_DEFAULTS.get(task, {}).get("window", 0) if window is None else window
    if window < 0:
        raise InputError(f"--window takes a number of lines, not {window}")
    return window


def plan(args, ranks: Ranks) -> Plan:
    defaults = TASK_DEFAULTS[args.task]
    batch_size = args.batch_size or DEFAULT_BATCH
    if batch_size < ranks.world:
        raise InputError(f"--batch-size {batch_size} is the global batch: at least one question per process "
                         f"({ranks.world})")
    sf_fraction = args.sf_fraction if args.sf_fraction is not None else defaults["sf_fraction"]
    augment = args.augment if args.augment is not None else defaults.get("augment", 0)
    window = story_window(args.task, args.window)
    if args.task != "vt" and args.chains is not None:
        raise InputError("--chains is for vt (variable chains per training sample)")
    chains = args.chains if args.chains is not None else defaults.get("chains", 1)
    length_groups = args.length_groups if args.length_groups is not None else defaults.get("length_groups", 1)
    if length_groups < 1:
        raise InputError(f"--length-groups takes a number of batches, at least 1, not {length_groups}")
    return Plan(args.steps or defaults["steps"], args.variant or defaults["variant"], batch_size, sf_fraction, augment,
                window, chains, length_groups)


class Trainer:
    """One run's optimiser, schedule, batch generator and progress; its steps and its checkpoints."""

    def __init__(self, model: MemReasoner, args, ranks: Ranks, settings: Plan, steps: int, state: dict | None):
        self.model, self.args, self.ranks, self.steps = model, args, ranks, steps
        self.batch_size = settings.batch_size
        # A resumed run keeps its grouping (a checkpoint from before there was one drew plain batches).
        self.group_size = state.get("length_groups", 1) if state else settings.length_groups
        self.group_start, self.group_index, self.group = torch.Generator(), None, []
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimiser = torch.optim.AdamW(self.params, lr=args.lr or DEFAULT_LR, weight_decay=0.01,
                                           fused=ranks.device == "cpu" or None)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimiser,
                                                           lambda step: warmup_cosine(step, steps, args.warmup))
        self.gen = torch.Generator().manual_seed(args.seed)
        self.step, self.elapsed, self.curve = 0, 0.0, []
        if state is not None:
            restore_state(state, self.optimiser, self.gen, ranks.rank, model.device)
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.elapsed, self.curve = state["step"], state["elapsed"], state.get("curve", [])
            if ranks.main:
                print(f"resuming at step {self.step}/{steps}")

    def save(self, extra_files: dict | None = None) -> None:
        """Replace --out by the model and trainer.pt (and `extra_files`, name -> JSON object)."""
        # Dropout masks and sampled-softmax negatives come from each rank's own generators (the CUDA
        # one on a GPU), whose states drift apart as the shards' shapes differ: keep every rank's.
        rngs = self.ranks.gather(local_rngs(self.model.device))
        if not self.ranks.main:  # the ranks hold identical weights; one writer keeps the folder swap atomic
            return

        def write(folder: Path) -> None:
            save_state(folder, step=self.step, steps=self.steps, elapsed=self.elapsed, optimiser=self.optimiser,
                       generator=self.group_start if self.step // self.group_size == self.group_index else self.gen,
                       length_groups=self.group_size, rngs=rngs, scheduler=self.scheduler.state_dict(), curve=self.curve)
            for name, obj in (extra_files or {}).items():
                write_atomic(folder / name, json.dumps(obj, indent=2) + "\n")
        self.model.save(self.args.out, extra=write)

    def next_batch(self, data: TrainSet) -> tuple[list[int], list[int]]:
        """This step's global batch. Batches are drawn a group at a time (`TrainSet.draw_grouped`); a checkpoint
        keeps the generator as it was before the step's group, so a resumed run draws that group again."""
        group, at = divmod(self.step, self.group_size)
        if group != self.group_index:
            self.group_start.set_state(self.gen.get_state())
            self.group = data.draw_grouped(self.batch_size, self.group_size, self.gen)
            self.group_index = group
        return self.group[at]

    def descend(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One optimiser step on this rank's share of a global batch; the losses it took."""
        args = self.args
        parts = losses(self.model, batch, args.negatives)
        parts["total"] = total_loss(parts, args)
        self.optimiser.zero_grad(set_to_none=True)
        parts["total"].backward()
        self.ranks.sum_gradients(self.params)
        torch.nn.utils.clip_grad_norm_(self.params, args.clip)
        self.optimiser.step()
        self.scheduler.step()
        self.step += 1
        return parts

    def fit(self, data: TrainSet, test: list[BabiSample]) -> None:
        """Step until --steps or --minutes; checkpoint every --checkpoint-every steps."""
        args, ranks = self.args, self.ranks
        budget = args.minutes * 60 if args.minutes else math.inf
        start_time, start_elapsed, start_step, paused = time.perf_counter(), self.elapsed, self.step, 0.0  # paused: evaluation
        bar = tqdm(total=self.steps, initial=self.step, desc=f"train {args.task}", dynamic_ncols=True,
                   disable=not ranks.main)
        # The budget check is collective: a rank that stopped alone would leave the others waiting in the
        # gradient all-reduce.
        while self.step < self.steps and not ranks.any(self.elapsed >= budget):
            idx, ae_line = self.next_batch(data)
            batch = data.batch(ranks.shard(idx), ranks.shard(ae_line), of=idx)
            parts = self.descend(batch)
            self.elapsed = start_elapsed + time.perf_counter() - start_time - paused
            bar.update(1)
            own = batch.rows / len(batch.prompts)  # shown: the mean over rank 0's own rows
            bar.set_postfix(loss=f"{parts['total'].item() * own:.3f}", ans=f"{parts['answer'].item() * own:.3f}",
                            ae=f"{parts['autoencode'].item() * own:.3f}",
                            samples_s=f"{(self.step - start_step) * self.batch_size / max(self.elapsed - start_elapsed, 1e-9):.0f}")
            if ranks.main and args.eval_every and self.step % args.eval_every == 0 and self.step < self.steps:
                t = time.perf_counter()
                self.curve.append({"step": self.step, "minutes": round(self.elapsed / 60, 2), **accuracy(self.model, test)})
                paused += time.perf_counter() - t
                bar.write(f"step {self.step}: held-out accuracy {share(self.curve[-1]['accuracy'])}, "
                          f"supporting facts hit {share(self.curve[-1]['supporting_facts_hit'])}")
            if self.step % args.checkpoint_every == 0 and self.step < self.steps:
                self.save()
        bar.close()


def run(args) -> int:
    if args.task not in TASK_DEFAULTS:
        raise InputError(f"--task {args.task}: MemReasoner trains on {', '.join(TASK_DEFAULTS)}")
    with launch(args.device) as ranks:
        return train(args, ranks)


def start_model(args, device: str) -> tuple[MemReasoner, dict | None]:
    """A fresh model from the flags, or the interrupted run's model and trainer state (--resume)."""
    if not args.resume:
        return MemReasoner(model_config(args)).to(device), None
    state = load_state(args.out)  # nothing to resume is one error, before the model is read
    return MemReasoner.load(args.out, device), state


def training_set(args, settings: Plan, model: MemReasoner, fit_skip: bool = True) -> tuple[TrainSet, str]:
    """The run's training questions, each story cut to the task's window, encoded; and where they come from.
    With fit_skip (a fresh model) the model first takes the questions' template words, which the hops do not
    match (word_match.py)."""
    samples, source = training_questions(args, settings.variant, settings.augment, settings.chains)
    if settings.window:
        samples = recent_lines(samples, settings.window)
    if fit_skip:
        model.config.match_skip = question_template_words([s.question for s in samples])
    return TrainSet(samples, model, settings.sf_fraction, args.seed), source


def train(args, ranks: Ranks) -> int:
    settings = plan(args, ranks)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, state = start_model(args, ranks.device)
    steps = args.steps or (state["steps"] if state else settings.steps)  # a resumed run keeps its schedule

    t0 = time.perf_counter()
    data, train_source = training_set(args, settings, model, fit_skip=state is None)
    if ranks.main:
        print(f"{len(data)} training questions from {train_source} ({len(data.sentence_id)} distinct sentences; read "
              f"and encoded in {time.perf_counter() - t0:.1f}s); {len(data.labelled)} with supporting-fact labels"
              + (f"; {ranks.world} processes share each batch of {settings.batch_size}" if ranks.world > 1 else ""))
    if state is None:  # what answering needs beside the weights, fitted on the training lines
        model.fit_relevance(data.sentences.to(model.device), data.sentence_text)
        if args.first_pass:
            model.fit_first_pass(data.sentence_text)
    ranks.start_equal(model)

    trainer = Trainer(model, args, ranks, settings, steps, state)
    test, test_source = held_out_questions(args, settings.variant, settings.chains)
    model.train()
    trainer.fit(data, test)
    if not ranks.main:
        trainer.save()  # hands rank 0 this rank's generator states for the final checkpoint (after its evaluation)
        return 0

    t = time.perf_counter()
    metrics = accuracy(model, test)
    metrics.update(task=args.task, steps=trainer.step, train_seconds=round(trainer.elapsed, 1),
                   eval_seconds=round(time.perf_counter() - t, 1), train_questions=len(data), train_data=train_source,
                   held_out=test_source, sf_fraction=settings.sf_fraction, processes=ranks.world, curve=trainer.curve)
    trainer.save({METRICS_FILE: metrics})
    print(f"step {trainer.step}, {trainer.elapsed / 60:.1f} min: held-out accuracy {share(metrics['accuracy'])} "
          f"(supporting facts hit {share(metrics['supporting_facts_hit'])}) on {metrics['n']} {args.task} test "
          f"questions; saved {args.out}")
    return 0
