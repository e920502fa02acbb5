"""The one learning-rate schedule and the trainer state every resumable trainer keeps."""

import random

import pytest
import torch

from memreasoner.errors import InputError
from memreasoner.training_loop import TRAINER_FILE, load_state, restore_state, save_state, warmup_cosine


def test_schedule_warms_up_linearly_then_decays_to_a_tenth():
    steps, warmup = 50, 10
    factors = [warmup_cosine(s, steps, warmup) for s in range(steps)]
    assert factors[0] == pytest.approx(0.1) and factors[warmup - 1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(factors[:warmup], factors[1:warmup]))  # rising during warm-up
    assert factors[warmup] == pytest.approx(1.0)
    assert all(b < a for a, b in zip(factors[warmup:], factors[warmup + 1:]))  # falling after it
    assert warmup_cosine(steps, steps, warmup) == pytest.approx(0.1)
    # the same curve over a share of the run (the baselines, whose runs may stop on time)
    assert warmup_cosine(0.0, 1.0, 0.05, first=1e-3) == pytest.approx(0.02)
    assert warmup_cosine(0.999, 1.0, 0.05, first=1e-3) == pytest.approx(0.1, abs=1e-4)
    assert warmup_cosine(3, 2, 100) == pytest.approx(0.04)  # a run shorter than its warm-up stays in it


def draws(gen):
    return torch.randint(1000, (3,), generator=gen).tolist(), torch.rand(2).tolist(), random.random()


def test_a_restored_state_repeats_the_draws_of_the_saved_one(tmp_path):
    layer = torch.nn.Linear(2, 2)
    optimiser = torch.optim.AdamW(layer.parameters(), lr=0.1)
    layer(torch.ones(1, 2)).sum().backward()
    optimiser.step()
    gen = torch.Generator().manual_seed(3)
    save_state(tmp_path, step=4, steps=9, elapsed=1.5, optimiser=optimiser, generator=gen, losses=[0.5])
    expected = draws(gen)

    fresh = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    other = torch.Generator().manual_seed(99)
    state = load_state(tmp_path)
    restore_state(state, fresh, other)
    assert draws(other) == expected
    assert (state["step"], state["steps"], state["losses"]) == (4, 9, [0.5])
    assert fresh.state_dict()["state"][0]["step"] == optimiser.state_dict()["state"][0]["step"]


def test_an_old_state_with_one_torch_generator_state_still_restores(tmp_path):
    gen = torch.Generator().manual_seed(1)
    optimiser = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())
    save_state(tmp_path, step=1, steps=2, elapsed=0.0, optimiser=optimiser, generator=gen)
    state = load_state(tmp_path)
    state["torch_rng"] = state.pop("rngs")[0][0]  # how the baselines' trainer kept it before
    expected = draws(gen)
    restored = torch.Generator()
    restore_state(state, optimiser, restored)
    assert draws(restored) == expected


def test_nothing_to_resume_is_an_input_error_naming_the_folder(tmp_path):
    with pytest.raises(InputError, match=TRAINER_FILE) as err:
        load_state(tmp_path)
    assert str(tmp_path) in str(err.value)
