"""The agent through the benchmark's Reader interface, locally and over HTTP.

The HTTP backend runs against `agent.serve` on 127.0.0.1, serving a tiny policy of the project's own
(briefly trained by imitation here); every server stops by itself after a minute at most.
"""

import random
import threading
import time

import pytest
import torch

from memreasoner.agent.backends import HFPolicy, OpenAIPolicy
from memreasoner.agent.loop import AgentConfig, Request, new_episodes, run_episodes
from memreasoner.agent.oracle import Oracle
from memreasoner.agent.reader import MemAgentReader, RememR1Reader
from memreasoner.agent.serve import make_server
from memreasoner.agent.train import _Recorder, imitate, new_policy
from memreasoner.data.babi import load_babi
from memreasoner.data.sample import Sample
from memreasoner.errors import InputError
from memreasoner.paths import babi_file
from memreasoner.reader import load_reader

# A few sentences per chunk and short replies keep the number of model calls small.
CONFIG = AgentConfig(chunk_tokens=40, template="compact", max_new_tokens=24, final_max_new_tokens=6)
URL_SETTINGS = "chunk_tokens=40&template=compact&max_new_tokens=24&final_max_new_tokens=6"


def bare(question):
    starts, pos = [], 0
    for line in question.lines:
        starts.append(pos)
        pos += len(line) + 1
    return Sample(" ".join(question.lines), question.question, question.answer, "qa2", "0k", starts,
                  question.support, list(range(len(question.lines))))


@pytest.fixture(scope="module")
def questions():
    return load_babi(babi_file("qa2", "train"))[:20]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, questions):
    """A tiny policy after a few imitation steps, saved as a ReMemR1 checkpoint."""
    torch.manual_seed(0)
    policy = new_policy([line for q in questions for line in q.lines] + [q.question for q in questions], dim=32, layers=2, heads=2)
    recorder = _Recorder(Oracle(True), policy)
    run_episodes(recorder, new_episodes([bare(q) for q in questions], CONFIG), CONFIG)
    imitate(policy, recorder.pairs, steps=20, lr=3e-3, batch_size=16, seconds=None, rng=random.Random(0))
    path = tmp_path_factory.mktemp("agent") / "ckpt"
    RememR1Reader(policy, CONFIG).save(path)
    return path


class serving:
    """Run `make_server(policy)` in a thread for the `with` block; a timer stops it after `limit` s."""

    def __init__(self, policy, limit=60.0):
        self.server = make_server(policy, "tiny")
        self.timer = threading.Timer(limit, self.server.shutdown)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.timer.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __exit__(self, *exc):
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()


def test_checkpoint_round_trip_through_load_reader(checkpoint, questions):
    reader = load_reader(str(checkpoint))  # config.json names the reader
    assert isinstance(reader, RememR1Reader) and reader.config == CONFIG
    as_memagent = load_reader(f"memagent:{checkpoint}")
    assert isinstance(as_memagent, MemAgentReader) and not as_memagent.config.recall
    answers = reader.answer([bare(q) for q in questions[:2]])
    assert len(answers) == 2
    for a in answers:
        assert a.trace["chunks"] == len(a.trace["memories"]) >= 1 and "recalls" in a.trace
        assert isinstance(a.text, str) and a.seconds > 0


def test_http_backend_gives_the_same_episodes_as_the_local_model(checkpoint, questions):
    samples = [bare(q) for q in questions[:2]]
    local = load_reader(f"rememr1:{checkpoint}").answer(samples)
    with serving(HFPolicy.from_path(checkpoint / "policy")) as url:
        remote_reader = load_reader(f"rememr1:{url}?{URL_SETTINGS}")
        assert remote_reader.policy.model == "tiny"  # asked the server which model it serves
        remote = remote_reader.answer(samples)
    assert [a.text for a in remote] == [a.text for a in local]
    assert [a.trace["memories"] for a in remote] == [a.trace["memories"] for a in local]


class Flaky:
    """A policy that fails its first `failures` calls, then answers; optionally slowly."""

    def __init__(self, inner, failures=0, delay=0.0):
        self.inner, self.failures, self.delay = inner, failures, delay
        self.eos_ids = inner.eos_ids
        self.temperature = 1.0

    def act(self, requests, **kwargs):
        time.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("temporarily out of memory")
        return self.inner.act(requests, **kwargs)


def test_http_backend_retries_a_failed_request(checkpoint):
    inner = HFPolicy.from_path(checkpoint / "policy")
    messages = [{"role": "user", "content": "<question> Where is the milk? </question> <answer>"}]
    with serving(Flaky(inner, failures=1)) as url:
        reply = OpenAIPolicy(url, timeout=20, retries=2).act([Request(messages, None)], max_new_tokens=4)[0]
    assert reply.text == inner.act([Request(messages, None)], max_new_tokens=4)[0].text


def test_http_backend_times_out_with_one_line_error(checkpoint):
    inner = HFPolicy.from_path(checkpoint / "policy")
    with serving(Flaky(inner, delay=1.5)) as url:
        client = OpenAIPolicy(url, timeout=0.5, retries=0)
        with pytest.raises(InputError, match="failed a chat request"):
            client.act([Request([{"role": "user", "content": "hi"}], None)], max_new_tokens=2)


def test_unreachable_server_is_an_input_error():
    with pytest.raises(InputError, match="cannot list the models"):
        OpenAIPolicy("http://127.0.0.1:9/v1", timeout=1, retries=0)
    with pytest.raises(InputError, match="unknown setting"):
        load_reader("rememr1:http://127.0.0.1:9/v1?colour=blue")
