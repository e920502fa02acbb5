"""The RMT's memory is the only road from an earlier segment to a later one, and it is open.

Synthetic: the first segment says which of four places is the key, the later segments are filler, and
the answer is asked in the last. With memory vectors, the last segment's output depends on the first
segment and the loss sends gradient back to it; with no memory (m = 0) neither happens; with BPTT
over one segment the gradient stops at the segment boundary while the forward dependence stays.
(Trained on this task -- 64 wide, 2 layers, lr 1e-3 -- the loss leaves chance, log 4 / 2, after ~350
steps and reaches 0.01 by ~750; too slow to repeat in a test on 2 CPU cores.)
"""

from __future__ import annotations

import pytest
import torch

from memreasoner.baselines.common import TokenExample
from memreasoner.baselines.rmt import RecurrentMemoryTransformer, RMTConfig, curriculum, split_lines

KEYS = ["kitchen", "garden", "office", "hallway"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(memory: int, bptt: int = 4) -> RecurrentMemoryTransformer:
    torch.manual_seed(0)
    model = RecurrentMemoryTransformer(RMTConfig(segment=16, memory=memory, bptt=bptt, layers=2, dim=32, heads=2,
                                                 random_positions=False))
    return model.eval()  # no dropout: outputs are a function of the inputs


def example(model, key: str) -> TokenExample:
    f = model.format
    question = "Where is the key?"
    return TokenExample(f.lead(question), f.lines([f"The key is the {key}.", "Nothing happened here at all today.",
                                                   "The sea was calm."]), f.prompt(question), f.answer(key))


def last_logits(model, key: str) -> torch.Tensor:
    """Logits of the first answer token after reading 3 segments: key | filler | filler + question."""
    segments = split_lines(example(model, key), 3)
    memory = model.initial(1)
    for seg in segments[:-1]:
        memory = model.write(memory, [seg])
    return model.last(memory, [segments[-1]])[0, -1]


def first_segment_grad(model) -> torch.Tensor:
    """Gradient of the answer loss with respect to the first segment's token embeddings."""
    captured = {}

    def keep(_module, _inputs, output):
        if "first" not in captured:  # the first wte call embeds the first segment
            if output.requires_grad:  # not when the segment ran outside the BPTT window
                output.retain_grad()
            captured["first"] = output

    handle = model.gpt2.wte.register_forward_hook(keep)
    model.loss([example(model, "garden")], 3, torch.Generator().manual_seed(0)).backward()
    handle.remove()
    grad = captured["first"].grad  # None when the loss does not depend on it at all
    return grad if grad is not None else torch.zeros_like(captured["first"])


def test_last_segment_reads_the_first_through_memory():
    model = tiny(memory=4)
    with torch.no_grad():
        assert not torch.allclose(last_logits(model, "kitchen"), last_logits(model, "garden"))


def test_without_memory_the_first_segment_is_invisible():
    model = tiny(memory=0)
    with torch.no_grad():
        assert torch.equal(last_logits(model, "kitchen"), last_logits(model, "garden"))
    assert first_segment_grad(model).abs().sum() == 0


def test_gradient_flows_back_through_memory_within_bptt():
    assert first_segment_grad(tiny(memory=4, bptt=3)).abs().sum() > 0


def test_bptt_window_stops_the_gradient():
    model = tiny(memory=4, bptt=1)
    with torch.no_grad():  # the memory still carries the first segment forward ...
        assert not torch.allclose(last_logits(model, "kitchen"), last_logits(model, "garden"))
    assert first_segment_grad(model).abs().sum() == 0  # ... but no gradient reaches it from two segments later


def test_inference_segments_and_curriculum():
    model = tiny(memory=4)
    from memreasoner.data.sample import Sample

    text = " ".join(["The sea was calm and the sky was grey."] * 10)
    sample = Sample(input=text, question="Where is the key?", target="kitchen")
    ids = model.format.read(text, sample.question)
    assert model.answer([sample])[0].trace["segments"] == -(-len(ids) // 16)
    gen = torch.Generator().manual_seed(0)
    assert {curriculum(0.0, 4, gen) for _ in range(50)} == {1}  # the run starts with one segment
    assert {curriculum(0.99, 4, gen) for _ in range(200)} == {1, 2, 3, 4}
    groups = split_lines(example(model, "office"), 5)  # more segments than lines: some are empty
    assert len(groups) == 5 and groups[-1][-len(model.format.prompt("Where is the key?")):] == model.format.prompt("Where is the key?")
