"""Checkpoint folders: weights that share memory are written and read back whole."""

from dataclasses import dataclass

import torch
from torch import nn

from memreasoner.checkpoint import load_weights, save_folder


class Packed(nn.Module):
    """Two weights that are views of one buffer, as cuDNN packs an RNN's weights on a GPU, and a tied pair."""

    def __init__(self):
        super().__init__()
        flat = torch.arange(10.0)
        self.first, self.second = nn.Parameter(flat[:4].view(2, 2)), nn.Parameter(flat[4:])
        self.embed = nn.Embedding(3, 2)
        self.out = nn.Linear(2, 3, bias=False)
        self.out.weight = self.embed.weight  # tied: one tensor under two names


@dataclass
class Config:
    name: str = "packed"


def test_views_of_one_buffer_and_tied_weights_round_trip(tmp_path):
    model = Packed()
    save_folder(tmp_path / "m", Config(), model)
    loaded = Packed()
    for p in loaded.parameters():
        nn.init.zeros_(p)
    load_weights(loaded, tmp_path / "m")
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    assert loaded.out.weight is loaded.embed.weight  # still one tensor
