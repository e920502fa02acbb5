import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.decoder import EOT, LatentDecoder, small_gpt2_config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Compute-bound tests: on a busy 2-core machine one torch thread is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    return LatentDecoder(16, small_gpt2_config(layers=1, dim=32, heads=2, positions=32))


def next_logits(dec, latent, prompt):
    with torch.no_grad():
        hidden = dec._hidden(latent, dec.gpt2.transformer.wte(torch.tensor([prompt] * len(latent))),
                             dec._prefix(latent), 0)
        return dec.gpt2.lm_head(hidden[:, -1])


def test_each_conditioning_path_alone_changes_the_output(decoder):
    latents = torch.randn(2, 16)
    prompt, _ = decoder.answer_tokens("Where is Mary?")
    for silenced in (decoder.to_prefix, decoder.to_embed):
        saved = [p.detach().clone() for p in silenced.parameters()]
        with torch.no_grad():
            for p in silenced.parameters():
                p.zero_()
        logits = next_logits(decoder, latents, prompt)
        assert not torch.allclose(logits[0], logits[1], atol=1e-4)
        with torch.no_grad():
            for p, s in zip(silenced.parameters(), saved):
                p.copy_(s)


def test_different_latents_decode_to_different_answers():
    torch.manual_seed(0)
    dec = LatentDecoder(16, small_gpt2_config(layers=1, dim=32, heads=2, positions=32))
    latents = F.normalize(torch.randn(2, 16), dim=-1)
    prompt, kitchen = dec.answer_tokens("Where is Mary?", "kitchen")
    _, garden = dec.answer_tokens("Where is Mary?", "garden")
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    dec.train()
    for _ in range(60):  # same prompt, two latents, two answers: only the latent can tell them apart
        loss = dec.loss(latents, [prompt, prompt], [kitchen, garden]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    dec.eval()
    generated = dec.generate(latents, [prompt, prompt], max_new_tokens=6)
    assert [dec.decode(ids) for ids in generated] == ["kitchen", "garden"]
    assert [ids + [EOT] for ids in generated] == [kitchen, garden]  # stopped at <|endoftext|>


def test_loss_is_per_row_and_sampled_softmax_is_train_only(decoder):
    latents = torch.randn(3, 16)
    rows = [decoder.answer_tokens("Where is Mary?", "kitchen"), decoder.line_tokens("John went to the garden."),
            decoder.answer_tokens("Where is the football?", "office")]
    prompts, targets = [p for p, _ in rows], [t for _, t in rows]
    decoder.eval()
    together = decoder.loss(latents, prompts, targets, negatives=8)
    alone = torch.stack([decoder.loss(latents[i:i + 1], prompts[i:i + 1], targets[i:i + 1])[0] for i in range(3)])
    assert together.shape == (3,)
    assert torch.allclose(together, alone, atol=1e-5)  # eval: negatives ignored, full softmax
    decoder.train()
    torch.manual_seed(0)
    sampled = decoder.loss(latents, prompts, targets, negatives=4096)
    # The log(rest / negatives) shift keeps the sampled partition function an estimate of the full one.
    assert torch.allclose(sampled, together, atol=0.2)
    decoder.eval()
