"""`memreasoner train --model rememr1|memagent`: a tiny policy, by imitation then GRPO, on this CPU.

1. Data. Training haystacks hide bAbI *train* questions (the 10k set unless --babi) in book text
   (`data.haystack`): `--imitation-questions` of them for imitation, the others for GRPO. The
   held-out haystacks hide the first `--agent-eval-samples` *test* questions (BABILong's 100-sample
   list first), never seen in training.
2. Policy. A GPT-2-architecture model, small enough for a CPU, with the word-level tokenizer of
   `agent.tokenizer` built from the training stories, prompted with the compact template.
3. Imitation. Supervised next-token loss on the oracle's replies (`agent.oracle`), on the prompts
   of the oracle's own episodes (teacher forcing).
4. GRPO. Rollouts of the policy itself on fresh training haystacks, `--group-size` per question,
   multi-level rewards (`agent.rewards`), the clipped KL-regularised update of `agent.grpo`.
5. Report. Greedy held-out accuracy (exact match) per length for both policies: DIR/report.json.

Outputs: DIR/imitation/ (the imitation checkpoint), DIR/config.json + DIR/policy/ (the GRPO
checkpoint, what `memreasoner eval --model rememr1:DIR` loads) and DIR/report.json.
`--minutes` bounds imitation plus GRPO (`--imitation-share` of it for imitation); evaluation is
extra. `--resume` reuses DIR/imitation if it is there and runs GRPO again from it.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from ..data.babi import load_babi
from ..data.books import load_books
from ..data.benchmark import official_indices, pick_questions
from ..data.haystack import build_haystacks, parse_lengths
from ..errors import InputError
from ..files import write_atomic
from ..metrics import exact_match
from ..paths import babi_file, babilong_index_file, books_dir
from ..training_loop import warmup_cosine
from . import prompts
from .backends import HFPolicy
from .grpo import group_turns, grpo_update
from .loop import AgentConfig, new_episodes, run_episodes
from .oracle import Oracle
from .reader import MemAgentReader, RememR1Reader
from .retrieval import METHODS
from .tokenizer import build_tokenizer
from .tokenizer import words as tokenizer_words

DEFAULT_LR, DEFAULT_BATCH = 2e-3, 32


def add_arguments(group) -> None:
    a = group.add_argument
    a("--chunk-tokens", type=int, default=128, help="GPT-2 tokens per chunk the agent reads (the paper: 5000)")
    a("--recall-method", default="tfidf", choices=METHODS, help="how a <recall> picks the past memory (rememr1)")
    a("--agent-train-lengths", default="1k,2k,4k", help="haystack lengths of the imitation training samples")
    a("--imitation-questions", type=int, default=4000,
      help="training questions the oracle is imitated on, each hidden once at one of the training lengths")
    a("--grpo-lengths", default="1k,2k", help="haystack lengths of the GRPO training samples")
    a("--agent-eval-lengths", default="1k,2k,4k,8k,16k", help="held-out haystack lengths of the report")
    a("--agent-eval-samples", type=int, default=100, help="held-out test questions per length")
    a("--agent-books", default=None, help="distractor books folder; unset: the data dir's books/")
    a("--policy-dim", type=int, default=96, help="width of the tiny GPT-2 policy")
    a("--policy-layers", type=int, default=4)
    a("--policy-heads", type=int, default=4)
    a("--imitation-steps", type=int, default=4000, help="optimiser steps of imitation (shared --lr, --batch-size)")
    a("--imitation-share", type=float, default=0.5, help="share of --minutes given to imitation")
    a("--grpo-steps", type=int, default=100, help="GRPO iterations (rollouts, then updates)")
    a("--grpo-questions", type=int, default=4, help="questions per GRPO iteration")
    a("--group-size", type=int, default=8, help="rollouts per question (the GRPO group)")
    a("--grpo-lr", type=float, default=5e-5)
    a("--grpo-updates", type=int, default=2, help="optimiser steps per batch of rollouts (the ratio is clipped)")
    a("--clip-eps", type=float, default=0.2, help="PPO clip range of the probability ratio")
    a("--kl-coef", type=float, default=0.02, help="weight of the KL penalty to the imitation policy")
    a("--mix-weight", type=float, default=0.8, help="outcome advantage weight; the step advantage gets the rest")
    a("--rollout-temperature", type=float, default=1.0, help="sampling temperature of the rollouts")


def _log(message: str) -> None:
    print(f"[agent] {message}", flush=True)


class _Recorder:
    """Wraps the oracle: records (prompt ids, reply ids) of every call for imitation.

    After each reading step it also records the final call as if the episode ended there, whenever
    the memory just written answers the question: an episode has one real final call but many
    steps, and the answer step (reading the place out of a sentence token) would otherwise get too
    few examples to be learnt.
    """

    def __init__(self, oracle: Oracle, policy: HFPolicy, template: str = "compact"):
        self.oracle, self.policy, self.template = oracle, policy, template
        self.pairs: list[tuple[list[int], list[int]]] = []

    def _record(self, messages, text: str) -> None:
        tok = self.policy.tokenizer
        target = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        self.pairs.append((self.policy.encode(messages), target))

    def act(self, requests, *, sample: bool = False, max_new_tokens: int = 0):
        replies = self.oracle.act(requests)
        for request, reply in zip(requests, replies):
            self._record(request.messages, reply.text)
            episode = request.episode
            if not episode.done:
                answer = self.oracle.answer_from(episode, self.oracle.last_memory(episode))
                memory = prompts.parse_step(reply.text).update
                if answer is not None:
                    self._record(prompts.final_messages(self.template, episode.sample.question, memory),
                                 f"\\boxed{{ {answer} }}")
        return replies


def new_policy(texts, phrases=(), dim: int = 128, layers: int = 4, heads: int = 4, device: str = "cpu",
               temperature: float = 1.0) -> HFPolicy:
    """A randomly initialised GPT-2-architecture policy; its tokenizer knows the words of `texts`
    and each of `phrases` (story sentences) as one token."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer(texts, phrases)
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=1024, n_embd=dim, n_layer=layers, n_head=heads,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # no dropout: rollouts and updates see the same policy
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    config.collapse_unk = True  # read by HFPolicy: runs of unknown words become one <unk>
    model = GPT2LMHeadModel(config)
    # A sentence token starts as the (norm-keeping) sum of its words' embeddings, so that from the
    # first step the model can read the place out of "mary went to the hallway." and answer it.
    wte = model.transformer.wte.weight
    with torch.no_grad():
        for phrase in set(phrases):
            words = tokenizer(" ".join(tokenizer_words(phrase)), add_special_tokens=False)["input_ids"]
            wte[tokenizer.convert_tokens_to_ids(phrase.lower())] = wte[words].sum(0) / len(words) ** 0.5
    return HFPolicy(model, tokenizer, device=device, batch_size=64, temperature=temperature)


def imitate(policy: HFPolicy, pairs, steps: int, lr: float, batch_size: int, seconds: float | None, rng) -> dict:
    """Teacher-forced cross-entropy on the reply tokens; stops at `steps` or after `seconds`."""
    model = policy.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, min(100, steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    start, losses, step, batches = time.monotonic(), [], 0, []
    for step in range(1, steps + 1):
        if not batches:  # a new epoch: random batches of similar lengths (little padding)
            order = rng.sample(pairs, len(pairs))
            for k in range(0, len(order), 16 * batch_size):
                group = sorted(order[k : k + 16 * batch_size], key=lambda pair: len(pair[0]) + len(pair[1]))
                batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
            rng.shuffle(batches)
        batch = batches.pop()
        width = max(len(p) + len(t) for p, t in batch)
        ids = torch.full((len(batch), width), policy.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (p, t) in enumerate(batch):
            ids[row, : len(p) + len(t)] = torch.tensor(p + t)
            labels[row, len(p) : len(p) + len(t)] = torch.tensor(t)
            mask[row, : len(p) + len(t)] = 1
        loss = model(input_ids=ids.to(policy.device), attention_mask=mask.to(policy.device), labels=labels.to(policy.device)).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0:
            _log(f"imitation step {step}: loss {np.mean(losses[-100:]):.4f} ({time.monotonic() - start:.0f}s)")
        if seconds is not None and time.monotonic() - start > seconds:
            break
    model.eval()
    return {"steps": step, "final_loss": float(np.mean(losses[-50:])) if losses else None,
            "minutes": (time.monotonic() - start) / 60}


def evaluate(policy, samples, config: AgentConfig) -> dict:
    """Greedy held-out accuracy (exact match of the answer) and format failures, per length."""
    episodes = run_episodes(policy, new_episodes(samples, config), config)
    by_length: dict[str, list] = {}
    for e in episodes:
        by_length.setdefault(e.sample.length, []).append(e)
    return {
        "accuracy": {L: float(np.mean([exact_match(e.answer_text, e.sample.target) for e in es])) for L, es in by_length.items()},
        "format_failure_rate": {L: float(np.mean([f for e in es for f in (not ok for ok in e.format_ok)])) for L, es in by_length.items()},
        "recalls_per_sample": {L: float(np.mean([sum(q is not None for q in e.recalls) for e in es])) for L, es in by_length.items()},
        "samples": {L: len(es) for L, es in by_length.items()},
    }


def reinforce(policy: HFPolicy, ref_model, questions, books, args, config: AgentConfig, seconds: float | None, rng) -> dict:
    """GRPO iterations on fresh haystacks of training questions ((number, BabiSample) pairs)."""
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=args.grpo_lr, weight_decay=0.0)
    lengths = parse_lengths(args.grpo_lengths)
    start, history = time.monotonic(), []
    torch_rng = random.Random(args.seed + 3)
    for it in range(1, args.grpo_steps + 1):
        # A fresh haystack per question and iteration: its own length and seed.
        samples = [build_haystacks([pair], [rng.choice(lengths)], books, seed=args.seed + 1000 * it, progress=False)[0]
                   for pair in rng.sample(questions, args.grpo_questions)]
        episodes = run_episodes(policy, new_episodes(samples, config, rollouts=args.group_size), config, sample=True)
        turns, outcomes = [], []
        for q in range(len(samples)):
            group = episodes[q * args.group_size : (q + 1) * args.group_size]
            t, o = group_turns(group, lambda s: [s.target], args.mix_weight)
            turns += t
            outcomes += o
        stats = grpo_update(policy.model, ref_model, optimizer, turns, args.clip_eps, args.kl_coef,
                            args.grpo_updates, micro_batch=32, device=policy.device, rng=torch_rng)
        history.append(float(np.mean(outcomes)))
        policy.model.eval()
        if it % 5 == 0:
            _log(f"grpo iteration {it}: outcome reward {np.mean(history[-5:]):.3f}, {stats['turns']} turns trained "
                 f"({time.monotonic() - start:.0f}s)")
        if seconds is not None and time.monotonic() - start > seconds:
            break
    return {"iterations": len(history), "mean_outcome_reward": history, "minutes": (time.monotonic() - start) / 60}


def _questions(args, split: str):
    """bAbI questions: --babi, else the 10k training set; the test split is the same in both sets."""
    path = args.babi if (split == "train" and args.babi) else babi_file(args.task, split, variant="en-10k")
    return load_babi(path, task=args.task)


def run(args) -> int:
    if args.task not in ("qa1", "qa2"):
        raise InputError(f"the agent trains on qa1 or qa2 (its oracle simulates bAbI stories), not {args.task!r}")
    if args.steps is not None:
        raise InputError("the agent trains in two stages: use --imitation-steps and --grpo-steps instead of --steps")
    if not 0.0 < args.imitation_share < 1.0:
        raise InputError(f"--imitation-share must be between 0 and 1, got {args.imitation_share}")
    reader_class = RememR1Reader if args.model == "rememr1" else MemAgentReader
    began = time.monotonic()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budget = args.minutes * 60 if args.minutes else None
    config = AgentConfig(chunk_tokens=args.chunk_tokens, recall=reader_class.recall, recall_method=args.recall_method,
                         template="compact", max_new_tokens=64, final_max_new_tokens=8)

    train_questions = _questions(args, "train")
    test_questions = _questions(args, "test")
    books = load_books(args.agent_books or books_dir())
    try:
        indices = official_indices(args.task, babilong_index_file())
    except InputError:
        indices = None
    held_out = build_haystacks(pick_questions(test_questions, args.agent_eval_samples, indices),
                               parse_lengths(args.agent_eval_lengths), books, seed=args.seed + 7, progress=False)
    _log(f"{len(train_questions)} training questions; {len(held_out)} held-out samples")
    # Imitation and GRPO see different training questions (GRPO all of them if there are too few).
    numbered = list(enumerate(train_questions))
    rng.shuffle(numbered)
    imitation_set = numbered[: args.imitation_questions]
    grpo_set = numbered[args.imitation_questions :] or numbered

    imitation_dir = out / "imitation"
    if args.resume and (imitation_dir / "config.json").is_file():
        policy = RememR1Reader.load(imitation_dir, device=args.device).policy
        imitation_stats = {"resumed": True}
        _log(f"resumed the imitation policy from {imitation_dir}")
    else:
        sentences = sorted({line for q in train_questions for line in q.lines})
        texts = sentences + [q.question for q in train_questions] + [q.answer for q in train_questions]
        policy = new_policy(texts, sentences, args.policy_dim, args.policy_layers, args.policy_heads, args.device,
                            args.rollout_temperature)
        lengths = parse_lengths(args.agent_train_lengths)
        samples = [s for k, length in enumerate(lengths)
                   for s in build_haystacks(imitation_set[k :: len(lengths)], [length], books, seed=args.seed, progress=False)]
        recorder = _Recorder(Oracle(reader_class.recall), policy)
        run_episodes(recorder, new_episodes(samples, config), config)
        n_params = sum(p.numel() for p in policy.model.parameters())
        _log(f"imitation: {len(recorder.pairs)} oracle turns from {len(samples)} haystacks; policy of {n_params} parameters")
        imitation_stats = imitate(policy, recorder.pairs, args.imitation_steps, args.lr or DEFAULT_LR,
                                  args.batch_size or DEFAULT_BATCH, budget * args.imitation_share if budget else None, rng)
        reader_class(policy, config).save(imitation_dir)
    start = time.monotonic()
    imitation_eval = evaluate(policy, held_out, config)
    imitation_eval["eval_minutes"] = (time.monotonic() - start) / 60
    _log(f"imitation policy, held out: {imitation_eval['accuracy']} ({time.monotonic() - start:.0f}s)")

    ref_model = copy.deepcopy(policy.model).eval()
    for p in ref_model.parameters():
        p.requires_grad_(False)
    spent = imitation_stats.get("minutes", 0.0) * 60
    grpo_stats = reinforce(policy, ref_model, grpo_set, books, args, config,
                           budget - spent if budget else None, rng)
    reader_class(policy, config).save(out)
    start = time.monotonic()
    grpo_eval = evaluate(policy, held_out, config)
    grpo_eval["eval_minutes"] = (time.monotonic() - start) / 60
    _log(f"GRPO policy, held out: {grpo_eval['accuracy']} ({time.monotonic() - start:.0f}s)")

    report = {
        "model": args.model, "task": args.task, "minutes": (time.monotonic() - began) / 60,
        "imitation": {**imitation_eval, "training": imitation_stats},
        "grpo": {**grpo_eval, "training": grpo_stats},
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
    }
    write_atomic(out / "report.json", json.dumps(report, indent=2) + "\n")
    _log(f"wrote {out / 'report.json'}")
    return 0
