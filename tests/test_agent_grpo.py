"""The GRPO update on a tiny policy: the loss, and one step moving log-probabilities with the advantage."""

import copy
import math

import pytest
import torch

from memreasoner.agent.grpo import Turn, grpo_update, token_logprobs, turn_loss
from memreasoner.agent.train import new_policy

TEXTS = ["Mary went to the kitchen.", "John went to the garden.", "Where is Mary?"]


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return new_policy(TEXTS, dim=32, layers=1, heads=2)


def ids(policy, text):
    return policy.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_turn_loss_clips_the_ratio_and_adds_the_kl_penalty():
    logp, old, ref = torch.tensor([-1.0]), torch.tensor([-1.2]), torch.tensor([-1.0])
    # rho = e^0.2 = 1.2214 > 1 + eps: a positive advantage is capped at 1.2, a negative one is not.
    assert turn_loss(logp, old, ref, 1.0, 0.2, 0.0).item() == pytest.approx(-1.2)
    assert turn_loss(logp, old, ref, -1.0, 0.2, 0.0).item() == pytest.approx(math.exp(0.2))
    # k3 estimator of KL(pi || ref): e^(ref - logp) - (ref - logp) - 1, here with ref - logp = -0.5.
    kl = math.exp(-0.5) + 0.5 - 1
    assert turn_loss(logp, logp, torch.tensor([-1.5]), 0.0, 0.2, 0.1).item() == pytest.approx(0.1 * kl)


def test_one_grpo_step_moves_log_probabilities_with_the_advantage(policy):
    model = copy.deepcopy(policy.model)
    ref = copy.deepcopy(model).eval()
    # Two replies to one prompt that differ in their one token, with opposite advantages.
    prompt = ids(policy, "<question> Where is Mary? </question> <answer> \\boxed{")
    good = Turn(prompt, ids(policy, "kitchen"), advantage=1.0)
    bad = Turn(prompt, ids(policy, "garden"), advantage=-1.0)
    with torch.no_grad():
        before = [lp.sum().item() for lp in token_logprobs(model, [good, bad])]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = grpo_update(model, ref, optimizer, [good, bad], clip_eps=0.2, kl_coef=0.02, updates=1)
    with torch.no_grad():
        after = [lp.sum().item() for lp in token_logprobs(model, [good, bad])]
    assert stats["turns"] == 2
    assert after[0] > before[0] and after[1] < before[1]


def test_turns_without_advantage_are_skipped(policy):
    model = copy.deepcopy(policy.model)
    weights = [p.detach().clone() for p in model.parameters()]
    turn = Turn(ids(policy, "Where is Mary?"), ids(policy, "kitchen"), advantage=0.0)
    stats = grpo_update(model, copy.deepcopy(model), torch.optim.AdamW(model.parameters(), lr=1e-2), [turn])
    assert stats["turns"] == 0
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))


def test_token_logprobs_match_generation_with_left_padding(policy):
    """Rollouts are generated left-padded in batches; GRPO scores them right-padded, one by one."""
    prompts = [ids(policy, "Where is Mary? Mary went to the kitchen."), ids(policy, "Where is Mary?")]
    torch.manual_seed(1)
    outputs = policy.generate(prompts, sample=True, max_new_tokens=5)
    turns = [Turn(p, o, 1.0) for p, o in zip(prompts, outputs)]
    with torch.no_grad():
        batched = token_logprobs(policy.model, turns)
        alone = [token_logprobs(policy.model, [t])[0] for t in turns]
    for a, b in zip(batched, alone):
        assert torch.allclose(a, b, atol=1e-5)
