"""What the baselines share: bAbI training data, the GPT-2 token format, checkpoints and one training loop.

Every baseline trains like MemReasoner does (P): on the bAbI train split, no distractors; the
haystack is only seen at test time. Each is a `BaselineReader`: a torch module with a dataclass
`config` whose checkpoint is a folder `config.json` (the config, with "model": its name) +
`model.safetensors`, written atomically, plus `trainer.pt` (optimiser, step, time) for `--resume`
and `metrics.json` (held-out bAbI accuracy, time, losses) once training ends.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import CONFIG_FILE, load_weights, read_config, save_folder
from ..data.babi import BabiSample, load_babi, recent_lines
from ..data.haystack import Context
from ..data.sample import Sample, normalize_question
from ..data.tokens import gpt2_encoding
from ..errors import InputError
from ..files import write_atomic
from ..metrics import exact_match
from ..paths import babi_file
from ..reader import Reader
from ..training_loop import METRICS_FILE, load_state, restore_state, save_state, warmup_cosine

EOT = 50256  # GPT-2's <|endoftext|>: ends every answer the GPT-2-token models generate
HELD_OUT = 200  # bAbI test questions answered (0k) when training ends: a quick sanity number, not the benchmark
CHECKPOINT_SECONDS = 300  # a crash loses at most this much training
CLIP = 1.0  # gradient-norm clip, as MemReasoner's trainer
WARMUP = 0.05  # share of the run the learning rate warms up over


# -- data ------------------------------------------------------------------------------------------
def babi_train(args) -> list[BabiSample]:
    """The training questions: --babi, else the data dir's train split of --task (--variant: 1k or 10k),
    each story cut to its last --window lines as MemReasoner's trainer cuts it for the task."""
    from ..model.train import story_window  # imported here: the model package takes seconds to import

    path = Path(args.babi) if args.babi else babi_file(args.task, "train", args.variant)
    window = story_window(args.task, args.window)  # before reading: a bad flag fails fast
    return recent_lines(load_babi(path, args.task), window)


def babi_held_out(task: str, n: int = HELD_OUT) -> list[Sample]:
    """The first n questions of the bAbI test split as 0k samples (the bare story)."""
    return [as_sample(b, f"{task}-heldout-{i}") for i, b in enumerate(load_babi(babi_file(task, "test"), task)[:n])]


def as_sample(babi: BabiSample, id_: str = "") -> Sample:
    """A bAbI question as the harness's record, its story joined exactly as a 0k haystack joins it."""
    text, starts = Context(list(babi.lines), list(range(len(babi.lines)))).joined()
    return Sample(input=text, question=babi.question, target=babi.answer, task=babi.task, length="0k",
                  sentence_starts=starts, facts=list(babi.support), story=list(range(len(babi.lines))), id=id_)


class TokenFormat:
    """How the token models (RMT, Mamba, transformer) read a question: token ids of

        "Question: <question>\n" context "\nQuestion: <question>\nAnswer:" " <answer>" <end of text>

    The question comes after the context, as in BABILong's prompts, and also before it: a model that
    reads once, left to right, with a fixed-size state (Mamba, the RMT's memory) can then keep what the
    question asks about instead of everything (the "just read twice" prompt of Arora et al., 2024, which
    lifts recurrent models on recall tasks). The full-attention transformer reads the same text.

    Tokens are GPT-2's (the offline BPE file), or, for a pretrained model that has its own, the
    Hugging Face tokenizer in a local folder.
    """

    def __init__(self, tokenizer: str = ""):
        if tokenizer:
            from transformers import AutoTokenizer

            try:
                hf = AutoTokenizer.from_pretrained(tokenizer)
            except (OSError, ValueError) as err:
                raise InputError(f"cannot load a tokenizer from {tokenizer!r}: {str(err).splitlines()[0]}") from None
            if hf.eos_token_id is None:
                raise InputError("the tokenizer has no end-of-text token to end answers with", tokenizer)
            self.encode = lambda text: hf.encode(text, add_special_tokens=False)
            self.decode, self.eos = hf.decode, hf.eos_token_id
        else:
            encoding = gpt2_encoding()
            self.encode, self.decode, self.eos = encoding.encode_ordinary, encoding.decode, EOT

    def lines(self, lines: list[str]) -> list[list[int]]:
        """Ids of each line, each after its joining space but the first: their concatenation is the
        ids of the joined text (GPT-2 never merges a space with the word before it)."""
        return [self.encode(line if i == 0 else " " + line) for i, line in enumerate(lines)]

    def lead(self, question: str) -> list[int]:
        return self.encode(f"Question: {normalize_question(question)}\n")

    def prompt(self, question: str) -> list[int]:
        return self.encode(f"\nQuestion: {normalize_question(question)}\nAnswer:")

    def answer(self, answer: str) -> list[int]:
        return self.encode(" " + answer) + [self.eos]

    def read(self, context: str, question: str) -> list[int]:
        """Everything a model reads before answering."""
        return self.lead(question) + self.encode(context) + self.prompt(question)

    @torch.no_grad()
    def generate(self, next_logits: Callable[[list[int]], torch.Tensor], max_tokens: int) -> str:
        """Greedy decoding: next_logits(ids generated so far) -> [V] logits; stops at the end of text."""
        out: list[int] = []
        for _ in range(max_tokens):
            token = int(next_logits(out).argmax())
            if token == self.eos:
                break
            out.append(token)
        return self.decode(out).strip()


@dataclass
class TokenExample:
    lead: list[int]  # the question before the context
    lines: list[list[int]]  # context ids per line
    prompt: list[int]  # the question after the context, then "Answer:"
    answer: list[int]  # ends with the end-of-text token

    @property
    def inputs(self) -> list[int]:
        """What the model reads before answering (TokenFormat.read of the same text)."""
        return self.lead + [t for line in self.lines for t in line] + self.prompt


def token_examples(samples: list[BabiSample], fmt: TokenFormat) -> list[TokenExample]:
    return [TokenExample(fmt.lead(s.question), fmt.lines(s.lines), fmt.prompt(s.question), fmt.answer(s.answer))
            for s in samples]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())  # shared (tied) tensors are counted once


# -- checkpoints -----------------------------------------------------------------------------------
class BaselineReader(nn.Module, Reader):
    """A torch model with a dataclass `config` (class attribute `Config`), saved and loaded the same way."""

    Config: type

    def save(self, path: str | Path, extra: Callable[[Path], None] | None = None) -> None:
        """Replace the folder `path` atomically; `extra(folder)` may add files (trainer state, metrics)."""
        save_folder(path, self.config, self, extra)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "BaselineReader":
        obj = read_config(path, cls.name)
        config_file = Path(path) / CONFIG_FILE
        if obj.get("model") != cls.name:
            raise InputError(f"checkpoint holds model {obj.get('model')!r}, not {cls.name!r}", config_file)
        known = {f.name for f in fields(cls.Config)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise InputError(f"unknown {cls.name} config key(s): {', '.join(unknown)}", config_file)
        model = cls(cls.Config(**obj))
        load_weights(model, path)
        return model.to(device).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


# -- training --------------------------------------------------------------------------------------
@dataclass
class Defaults:
    steps: int
    lr: float
    batch_size: int


def add_common_arguments(group) -> None:
    """Flags every baseline trainer takes (named as MemReasoner's trainer names them)."""
    group.add_argument("--variant", default="en", choices=["en", "en-10k"], help="bAbI training set: 1k or 10k questions")
    group.add_argument("--window", type=int, default=None, metavar="N", help="train on each story's last N lines "
                       "where they hold its supporting facts (default: MemReasoner's for the task, e.g. 16 for qa5; "
                       "0 = whole stories)")
    group.add_argument("--eval-limit", type=int, default=HELD_OUT,
                       help="bAbI test questions answered (0k) when training ends, recorded in metrics.json")
    group.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default); 1 is faster on a busy machine")


def model_for(cls: type[BaselineReader], config, args) -> BaselineReader:
    """A fresh model from `config`, or the one in --out when resuming."""
    if args.resume:
        load_state(args.out)  # nothing to resume is one error, before the model is read
        return cls.load(args.out, args.device).train()
    return cls(config).to(args.device)


def fit(model: BaselineReader, step_loss: Callable[[int, float, torch.Generator], torch.Tensor], args,
        defaults: Defaults, info: dict | None = None) -> dict:
    """Train until --steps or --minutes, whichever comes first; save; return metrics.

    step_loss(batch_size, progress in [0, 1], generator) -> the loss of one freshly drawn batch.
    `info` (e.g. the number of training questions) is recorded in metrics.json as is.
    """
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    steps, lr, batch = args.steps or defaults.steps, args.lr or defaults.lr, args.batch_size or defaults.batch_size
    budget = args.minutes * 60 if args.minutes else math.inf
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed, losses = 0, 0.0, []
    if args.resume:
        state = load_state(out)
        restore_state(state, optimiser, gen)
        step, elapsed, losses, steps = state["step"], state["elapsed"], state["losses"], state["steps"]

    def checkpoint(metrics: dict | None = None) -> None:
        def write(folder: Path) -> None:
            save_state(folder, step=step, steps=steps, elapsed=elapsed, optimiser=optimiser, generator=gen,
                       losses=losses)
            if metrics is not None:
                write_atomic(folder / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
        model.save(out, extra=write)

    model.train()
    started, start_elapsed, last_save = time.perf_counter(), elapsed, time.perf_counter()
    bar = tqdm(total=steps, initial=step, desc=f"train {model.name} {args.task}", dynamic_ncols=True)
    while step < steps and elapsed < budget:
        # The larger of steps done and time used: a run stopped by --minutes still ends at a small rate.
        progress = max(step / steps, elapsed / budget)
        for group in optimiser.param_groups:
            group["lr"] = lr * warmup_cosine(progress, 1.0, WARMUP, first=1e-3)
        loss = step_loss(batch, progress, gen)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        optimiser.step()
        step += 1
        losses.append(round(loss.item(), 4))
        elapsed = start_elapsed + time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if time.perf_counter() - last_save > CHECKPOINT_SECONDS and step < steps:
            checkpoint()
            last_save = time.perf_counter()
    bar.close()

    t = time.perf_counter()
    test = babi_held_out(args.task, args.eval_limit) if args.eval_limit else []
    answers = model.answer(test) if test else []
    correct = sum(exact_match(a.text, s.target) for a, s in zip(answers, test))
    window = max(1, min(20, len(losses) // 4))  # mean of the first and last steps: is it learning?
    metrics = {
        "model": model.name, "task": args.task, "steps": step, "train_seconds": round(elapsed, 1),
        **(info or {}),
        "loss_first": round(sum(losses[:window]) / window, 4) if losses else None,
        "loss_last": round(sum(losses[-window:]) / window, 4) if losses else None,
        "held_out_accuracy": correct / len(test) if test else None, "held_out": len(test),
        "eval_seconds": round(time.perf_counter() - t, 1), "params": count_parameters(model),
    }
    model.eval()
    checkpoint(metrics)
    acc = f"held-out accuracy {metrics['held_out_accuracy']:.3f} on {len(test)} bAbI test questions (0k); " if test else ""
    print(f"{model.name}: {step} steps in {elapsed / 60:.1f} min, loss {metrics['loss_first']} -> {metrics['loss_last']}; "
          f"{acc}saved {out}")
    return metrics
