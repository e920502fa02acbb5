"""Each baseline trains through `memreasoner train`, its loss falls, its checkpoint round-trips, and
`memreasoner eval --model NAME:CKPT` runs it. Models are tiny here; the defaults are documented per module."""

from __future__ import annotations

import json

import pytest
import torch

from memreasoner.baselines.common import as_sample
from memreasoner.baselines.mamba import MambaLM, MambaReaderConfig
from memreasoner.baselines.memn2n import MemN2NCore
from memreasoner.baselines.rmt import RecurrentMemoryTransformer, RMTConfig
from memreasoner.baselines.transformer import FullAttentionTransformer, TransformerConfig
from memreasoner.cli import main
from memreasoner.data.babi import load_babi
from memreasoner.data.sample import Sample, write_samples
from memreasoner.errors import InputError
from memreasoner.paths import babi_file
from memreasoner.reader import load_reader

TINY = {
    "transformer": ["--transformer-layers", "1", "--transformer-dim", "32", "--transformer-heads", "2",
                    "--transformer-window", "256", "--lr", "3e-3"],
    "rmt": ["--rmt-layers", "1", "--rmt-dim", "32", "--rmt-heads", "2", "--rmt-segment", "64", "--rmt-memory", "4",
            "--lr", "3e-3"],
    "mamba": ["--mamba-layers", "1", "--mamba-dim", "32", "--lr", "3e-3"],
    "memn2n": ["--memn2n-dim", "16"],
    "retrieval": ["--retrieval-dim", "16", "--retrieval-top-k", "4"],
}
STEPS = {"transformer": 25, "rmt": 25, "mamba": 25, "memn2n": 150, "retrieval": 150}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """name -> checkpoint folder, each trained a few steps through the CLI."""
    root = tmp_path_factory.mktemp("baselines")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    folders = {}
    for name, flags in TINY.items():
        folders[name] = root / name
        code = main(["train", "--model", name, "--task", "qa1", "--steps", str(STEPS[name]), "--batch-size", "16",
                     "--eval-limit", "4", *flags, "--out", str(folders[name])])
        assert code == 0, name
    torch.set_num_threads(before)
    return folders


@pytest.fixture(scope="module")
def samples():
    """Three bAbI test questions (0k) and one with a long made-up context."""
    babi = load_babi(babi_file("qa1", "test"), "qa1")[:3]
    out = [as_sample(b, f"t{i}") for i, b in enumerate(babi)]
    filler = " ".join(["The weather was fine and the sea was calm that day."] * 40)
    out.append(Sample(input=filler + " " + out[0].input, question=out[0].question, target=out[0].target,
                      task="qa1", length="1k", id="long"))
    return out


@pytest.mark.parametrize("name", list(TINY))
def test_trains_and_loss_falls(trained, name):
    metrics = json.loads((trained[name] / "metrics.json").read_text())
    assert metrics["steps"] == STEPS[name] and metrics["train_questions"] == 1000
    assert metrics["loss_last"] < metrics["loss_first"] * 0.9, metrics
    assert metrics["held_out"] == 4 and 0 <= metrics["held_out_accuracy"] <= 1
    assert json.loads((trained[name] / "config.json").read_text())["model"] == name


@pytest.mark.parametrize("name", list(TINY))
def test_save_load_round_trip(trained, samples, tmp_path, name):
    first = load_reader(str(trained[name]))  # the folder names its model
    assert first.name == name
    answers = first.answer(samples)
    assert len(answers) == len(samples) and all(isinstance(a.text, str) for a in answers)
    first.save(tmp_path / "again")
    second = load_reader(f"{name}:{tmp_path / 'again'}")
    assert [a.text for a in second.answer(samples)] == [a.text for a in answers]
    one, two = first.state_dict(), second.state_dict()
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


def test_eval_command_runs_a_baseline(trained, samples, tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    write_samples(samples, data)
    out = tmp_path / "res.json"
    assert main(["eval", "--model", f"rmt:{trained['rmt']}", "--data", str(data), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["n"] == {"0k": 3, "1k": 1}


def test_resume_continues_the_run(trained, tmp_path):
    import shutil

    folder = tmp_path / "memn2n"
    shutil.copytree(trained["memn2n"], folder)
    state = torch.load(folder / "trainer.pt", weights_only=False)
    state["steps"] = STEPS["memn2n"] + 10  # as if stopped 10 steps before the end of its schedule
    torch.save(state, folder / "trainer.pt")
    code = main(["train", "--model", "memn2n", "--task", "qa1", "--eval-limit", "2", "--resume", "--out", str(folder)])
    assert code == 0
    assert json.loads((folder / "metrics.json").read_text())["steps"] == STEPS["memn2n"] + 10
    assert len(torch.load(folder / "trainer.pt", weights_only=False)["losses"]) == STEPS["memn2n"] + 10


def test_transformer_over_window_answers_empty(samples):
    model = FullAttentionTransformer(TransformerConfig(window=128, layers=1, dim=16, heads=2)).eval()
    short, long = model.answer([samples[0], samples[3]])
    assert short.trace.get("status") != "over window"
    assert long.text == "" and long.trace["status"] == "over window" and long.trace["tokens"] > 128


def test_mamba_chunked_reading_equals_one_pass():
    torch.manual_seed(0)
    model = MambaLM(MambaReaderConfig(layers=2, dim=16)).eval()
    ids = torch.randint(50257, (2, 45))
    whole, _ = model(ids)
    x = model.embedding(ids)
    for layer in model.layers:  # mambapy's own forward, from a zero state
        x = layer(x)
    assert torch.allclose(whole, model.norm(x), atol=1e-5)
    head, state = model(ids[:, :17])
    tail, _ = model(ids[:, 17:], state)
    assert torch.allclose(torch.cat([head, tail], 1), whole, atol=1e-5)
    model.config.chunk = 7
    last, _ = model.read(ids[0].tolist())
    assert torch.allclose(last, whole[0, -1], atol=1e-5)


def test_memn2n_position_encoding_bags():
    net = MemN2NCore(["mary", "went", "to", "the", "kitchen"], ["kitchen"], dim=4, hops=1, temporal=5)
    bags = net._embed(net.bags(["Mary went to the kitchen.", "Mary zzz kitchen"]), 0)  # [2, d]
    E, d = net.embed[0], 4

    def explicit(words_, J):
        total = torch.zeros(d)
        for j, w in enumerate(words_, start=1):
            if w in net.index:
                k = torch.arange(1, d + 1)
                total += ((1 - j / J) - (k / d) * (1 - 2 * j / J)) * E[net.index[w]]
        return total

    assert torch.allclose(bags[0], explicit(["mary", "went", "to", "the", "kitchen"], 5), atol=1e-6)
    assert torch.allclose(bags[1], explicit(["mary", "zzz", "kitchen"], 3), atol=1e-6)  # unknown word: counted in J only


def test_larimar_is_memreasoner_without_order_and_hops(tmp_path):
    from memreasoner.baselines.larimar import Larimar

    folder = tmp_path / "larimar"
    code = main(["train", "--model", "larimar", "--task", "qa1", "--augment", "0", "--temporal", "bigru", "--steps", "2", "--eval-limit", "2",
                 "--train-limit", "20", "--decoder-layers", "1", "--decoder-dim", "32", "--out", str(folder)])
    assert code == 0
    config = json.loads((folder / "config.json").read_text())
    assert (config["model"], config["temporal"], config["hops"]) == ("larimar", "none", 1)  # --temporal overridden
    model = load_reader(str(folder))
    assert isinstance(model, Larimar) and model.name == "larimar"
    config["hops"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="not a Larimar checkpoint"):
        load_reader(f"larimar:{folder}")


def test_pretrained_backbones_load_from_a_local_folder(tmp_path):
    """Pretrained weights cannot be downloaded here: fake small checkpoints in the Hugging Face layouts."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, MambaConfig, MambaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    gpt2_dir = tmp_path / "gpt2"
    GPT2Model(GPT2Config(vocab_size=50257, n_positions=64, n_embd=16, n_layer=1, n_head=2)).save_pretrained(gpt2_dir)
    model = FullAttentionTransformer(TransformerConfig(backbone=str(gpt2_dir), window=1024))
    assert model.config.window == 64  # capped by the pretrained model's positions
    assert torch.equal(model.gpt2.wte.weight, GPT2Model.from_pretrained(gpt2_dir).wte.weight)
    with pytest.raises(InputError, match="positions"):  # 512-token segments do not fit 64 positions
        RecurrentMemoryTransformer(RMTConfig(backbone=str(gpt2_dir)))
    assert RecurrentMemoryTransformer(RMTConfig(backbone=str(gpt2_dir), segment=32, memory=4)).config.positions == 48

    mamba_dir = tmp_path / "mamba"
    words = ["<eos>", "[UNK]", "Question", ":", "Where", "is", "Mary", "?", "Answer", "went", "to", "the", "kitchen", "."]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="[UNK]").save_pretrained(mamba_dir)
    hf = MambaForCausalLM(MambaConfig(vocab_size=len(words), hidden_size=16, state_size=4, num_hidden_layers=2,
                                      expand=2, conv_kernel=4)).eval()
    hf.save_pretrained(mamba_dir)
    ours = MambaLM.from_pretrained(mamba_dir, MambaReaderConfig()).eval()
    assert (ours.config.dim, ours.config.vocab, ours.format.eos) == (16, len(words), 0)
    ids = torch.tensor([ours.format.read("Mary went to the kitchen.", "Where is Mary?")])
    hidden, _ = ours(ids)
    with torch.no_grad():
        assert torch.allclose(ours.logits(hidden), hf(ids).logits, atol=1e-4)
    assert isinstance(ours.answer([Sample(input="Mary went to the kitchen.", question="Where is Mary?", target="kitchen")])[0].text, str)


def test_baselines_change_only_their_answer_time_options():
    from memreasoner.agent.loop import AgentConfig
    from memreasoner.agent.reader import MemAgentReader
    from memreasoner.baselines.memn2n import MemN2N, MemN2NConfig

    rmt = RecurrentMemoryTransformer(RMTConfig(layers=1, dim=16, heads=2, segment=32, memory=2))
    assert rmt.with_options(max_answer_tokens="3").config.max_answer_tokens == 3
    with pytest.raises(InputError, match="segment is fixed when the model is trained; answer-time options of rmt: "
                                         "max_answer_tokens$"):
        rmt.with_options(segment="64")
    memn2n = MemN2N(MemN2NConfig(vocabulary=["mary"], answers=["kitchen"]))
    with pytest.raises(InputError, match="hops is fixed .* answer-time options of memn2n: none$"):
        memn2n.with_options(hops="1")
    agent = MemAgentReader(None, AgentConfig())
    assert agent.with_options(chunk_tokens="64").config.chunk_tokens == 64
    with pytest.raises(InputError, match="recall is fixed"):
        agent.with_options(recall="true")
    with pytest.raises(InputError, match="chunk size"):  # the agent's own check; the config stays as it was
        agent.with_options(chunk_tokens="0")
    assert agent.config.chunk_tokens == 64


def test_token_models_train_on_long_qa3_stories_only_as_they_read_them(tmp_path, monkeypatch):
    """qa3's stories run to ~1,400 tokens: the transformer trains only on those that fit its window, the
    RMT cuts each into at least as many segments as answering would."""
    from memreasoner.baselines import rmt
    from memreasoner.baselines.common import TokenFormat, token_examples

    small = tmp_path / "qa3.txt"
    small.write_text("\n".join(babi_file("qa3", "train").read_text().splitlines()[:300]) + "\n")
    lengths = [len(ex.inputs) + len(ex.answer) for ex in token_examples(load_babi(small, "qa3"), TokenFormat())]
    assert min(lengths) <= 256 < max(lengths)  # the file has stories on both sides of the window

    seen = {}
    for cls in (FullAttentionTransformer, RecurrentMemoryTransformer):
        loss = cls.loss
        monkeypatch.setattr(cls, "loss", lambda self, examples, *rest, loss=loss: (
            seen.setdefault(self.name, []).append((examples, *rest[:-1])), loss(self, examples, *rest))[1])
    for name in ("transformer", "rmt"):
        assert main(["train", "--model", name, "--task", "qa3", "--babi", str(small), "--window", "0", "--steps", "6",
                     "--batch-size", "8", "--eval-limit", "1", *TINY[name], "--out", str(tmp_path / name)]) == 0
    metrics = json.loads((tmp_path / "transformer" / "metrics.json").read_text())
    assert metrics["over_window"] == sum(n > 256 for n in lengths) and metrics["train_questions"] == len(lengths) - metrics["over_window"]
    assert all(len(ex.inputs) + len(ex.answer) <= 256 for (examples,) in seen["transformer"] for ex in examples)
    # The RMT's curriculum starts at one segment; a story longer than its 64-token segment gets more.
    assert any(k > 1 for _, k in seen["rmt"][:2])
    assert all(max(map(len, rmt.split_lines(ex, k))) <= 64 for examples, k in seen["rmt"] for ex in examples)


def test_peers_train_on_the_lines_memreasoner_trains_on():
    """--window defaults to MemReasoner's for the task (qa5: a story's last 16 lines, a story whose facts lie
    further back kept whole); 0 reads whole stories; a negative window is a one-line error."""
    from argparse import Namespace

    from memreasoner.baselines.common import babi_train
    from memreasoner.model.train import TASK_DEFAULTS

    def questions(task: str, window: int | None):
        return babi_train(Namespace(task=task, babi=None, variant="en-10k", window=window))

    whole, cut = questions("qa5", 0), questions("qa5", None)
    window = TASK_DEFAULTS["qa5"]["window"]
    assert max(len(q.lines) for q in whole) > window
    assert all(len(c.lines) == min(len(w.lines), window) or (c == w and min(w.support) < len(w.lines) - window)
               for w, c in zip(whole, cut))
    assert all([c.lines[i] for i in c.support] == [w.lines[i] for i in w.support] for w, c in zip(whole, cut))
    assert questions("qa1", None) == questions("qa1", 0)  # qa1 has no window
    with pytest.raises(InputError, match="--window"):
        questions("qa5", -1)
