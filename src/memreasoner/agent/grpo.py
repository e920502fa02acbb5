"""GRPO on multi-turn agent trajectories.

Every model call of a rollout (each reading step and the final answer) is one `Turn`: its prompt
tokens, its reply tokens and the advantage of that turn (`rewards.mix` of the rollout's outcome
advantage and the step's step advantage). The loss of a turn is the token mean of

    -min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) + beta * KL_k3(pi || pi_ref),
    rho = pi(token) / pi_old(token),   KL_k3 = exp(ref - logp) - (ref - logp) - 1  (always >= 0)

and the batch loss is the mean over turns, so a long memory rewrite and a one-word answer weigh
the same. pi_old is the policy that sampled the rollouts (its log-probabilities are computed once,
before the first update); pi_ref is the frozen imitation policy. Turns whose advantage is 0 carry
no policy gradient and are skipped, as in DAPO's dynamic sampling (their KL term is dropped too).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import rewards


@dataclass
class Turn:
    prompt_ids: list[int]
    output_ids: list[int]
    advantage: float
    old_logp: torch.Tensor | None = None  # per reply token
    ref_logp: torch.Tensor | None = None


def token_logprobs(model, turns: list[Turn], device: str = "cpu") -> list[torch.Tensor]:
    """log pi(reply token | prompt, earlier reply tokens) for each turn; differentiable.

    Rows are right-padded, so positions start at 0 as in unpadded use.
    """
    seqs = [t.prompt_ids + t.output_ids for t in turns]
    width = max(map(len, seqs))
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
    out = []
    for row, t in enumerate(turns):
        start, end = len(t.prompt_ids), len(t.prompt_ids) + len(t.output_ids)
        # The logits at position k predict token k+1.
        logp = F.log_softmax(logits[row, start - 1 : end - 1].float(), dim=-1)
        out.append(logp.gather(1, ids[row, start:end].to(device)[:, None]).squeeze(1))
    return out


def turn_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantage: float,
              clip_eps: float, kl_coef: float) -> torch.Tensor:
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * advantage)
    log_ref_ratio = ref_logp - logp
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1
    return (-surrogate + kl_coef * kl).mean()


@torch.no_grad()
def _fill_fixed_logprobs(policy_model, ref_model, turns: list[Turn], micro_batch: int, device: str) -> None:
    for start in range(0, len(turns), micro_batch):
        batch = turns[start : start + micro_batch]
        for t, old, ref in zip(batch, token_logprobs(policy_model, batch, device), token_logprobs(ref_model, batch, device)):
            t.old_logp, t.ref_logp = old.detach(), ref.detach()


def grpo_update(model, ref_model, optimizer, turns: list[Turn], clip_eps: float = 0.2, kl_coef: float = 0.02,
                updates: int = 1, micro_batch: int = 16, max_grad_norm: float = 1.0, device: str = "cpu",
                rng: random.Random | None = None) -> dict:
    """`updates` optimizer steps over the same turns (gradients accumulated over micro-batches)."""
    turns = [t for t in turns if t.advantage != 0.0 and t.output_ids]
    if not turns:
        return {"turns": 0, "loss": 0.0}
    rng = rng or random.Random(0)
    model.train()
    _fill_fixed_logprobs(model, ref_model, turns, micro_batch, device)
    total = 0.0
    for _ in range(updates):
        order = list(turns)
        rng.shuffle(order)
        optimizer.zero_grad()
        total = 0.0
        for start in range(0, len(order), micro_batch):
            batch = order[start : start + micro_batch]
            losses = [turn_loss(lp, t.old_logp, t.ref_logp, t.advantage, clip_eps, kl_coef)
                      for t, lp in zip(batch, token_logprobs(model, batch, device))]
            loss = torch.stack(losses).sum() / len(order)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
    return {"turns": len(turns), "loss": total}


def group_turns(episodes, golds_of, mix_weight: float = 0.8, step_weights: dict | None = None) -> tuple[list[Turn], list[float]]:
    """Turns with advantages for the G rollouts of ONE question (episodes with replies holding ids).

    Returns (turns, outcome rewards of the rollouts). `golds_of(sample)` lists the gold answers.
    """
    step_weights = step_weights or {}
    golds = golds_of(episodes[0].sample)
    outcome = [rewards.outcome_reward(e.answer, golds) for e in episodes]
    steps = []
    for e in episodes:
        recalled_after = [e.memories[e.shown[t + 1]] if t + 1 < len(e.shown) and e.shown[t + 1] is not None else None
                          for t in range(len(e.memories))]
        reading = rewards.step_rewards(e.memories, recalled_after, e.format_ok[: len(e.memories)], golds, **step_weights)
        steps.append(reading + [step_weights.get("w_format", 1.0) * float(e.format_ok[-1])])
    out_adv = rewards.outcome_advantages(outcome)
    step_adv = rewards.step_advantages(steps)
    turns = []
    for e, a_out, a_steps in zip(episodes, out_adv, step_adv):
        for reply, a_step in zip(e.replies, a_steps, strict=True):
            turns.append(Turn(reply.prompt_ids, reply.output_ids, rewards.mix(a_out, a_step, mix_weight)))
    return turns, outcome
