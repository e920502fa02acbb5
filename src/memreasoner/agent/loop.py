"""The agent loop: read every episode's chunks in lockstep, one batched model call per step.

Per episode and step t (0-based) the model sees the question, memory M_{t-1} (empty at t = 0), the
recalled memory if step t-1 asked for one, and chunk t; its reply's `<update>` becomes M_t (a broken
reply keeps M_{t-1}: see `prompts.parse_step`). A `<recall>query</recall>` at step t retrieves the
best match among the *past* memories M_0..M_{t-1} (M_t is already in the next prompt) and shows it at
step t+1 (a recall at the last chunk is not served). After the last chunk, a final call answers
from the last memory in `\\boxed{}`.
MemAgent is this loop with `recall=False`: recall tags are then ignored.

A policy is anything with `act(requests, *, sample, max_new_tokens) -> list[Reply]`; a request
carries the prompt messages and the episode (the oracle reads the episode, models only the messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data.sample import Sample
from ..errors import InputError
from . import prompts
from .chunking import Chunk, chunk_lines
from .retrieval import METHODS, best_memory


@dataclass
class AgentConfig:
    chunk_tokens: int = 5000  # GPT-2 tokens per chunk (the paper's size)
    recall: bool = True  # False: MemAgent
    recall_method: str = "tfidf"  # or "bm25"
    template: str = "instruct"  # or "compact" (the tiny policies trained here)
    max_new_tokens: int = 1024  # per reading step
    final_max_new_tokens: int = 256

    def check(self) -> "AgentConfig":
        if self.chunk_tokens < 1:
            raise InputError(f"chunk size must be at least 1 token, got {self.chunk_tokens}")
        if self.recall_method not in METHODS:
            raise InputError(f"unknown recall method {self.recall_method!r}; known: {', '.join(METHODS)}")
        if self.template not in prompts.TEMPLATES:
            raise InputError(f"unknown prompt template {self.template!r}; known: {', '.join(prompts.TEMPLATES)}")
        return self


@dataclass
class Reply:
    text: str
    prompt_ids: list[int] | None = None  # token ids, when the backend has them (GRPO needs them)
    output_ids: list[int] | None = None


@dataclass
class Request:
    messages: list[dict]
    episode: "Episode"


@dataclass
class Episode:
    sample: Sample
    lines: list[str]  # sample.lines(), split once
    chunks: list[Chunk]
    rollout: int = 0  # which rollout of this sample (GRPO groups rollouts of one question)
    step: int = 0  # the chunk being read next
    memory: str = ""
    memories: list[str] = field(default_factory=list)  # M_0.. after each chunk
    format_ok: list[bool] = field(default_factory=list)  # per reading step, then the final call
    recalls: list[str | None] = field(default_factory=list)  # query issued at each step
    shown: list[int | None] = field(default_factory=list)  # index of the memory recalled into each step's prompt
    recalled_index: int | None = None  # memory shown at the current step (from the previous step's recall)
    recalled_text: str | None = None  # its text ("" when the recall matched nothing); None: no recall shown
    replies: list[Reply] = field(default_factory=list)  # every model call, reading steps then final
    final_reply: str = ""
    answer: str | None = None  # the boxed answer; None when the final reply had none

    @property
    def done(self) -> bool:
        return self.step >= len(self.chunks)

    def step_messages(self, config: AgentConfig) -> list[dict]:
        return prompts.step_messages(config.template, self.sample.question, self.memory,
                                     self.chunks[self.step].text, self.recalled_text, config.recall)

    def apply_step(self, reply: Reply, config: AgentConfig) -> None:
        parsed = prompts.parse_step(reply.text)
        if parsed.update is not None:
            self.memory = parsed.update
        self.memories.append(self.memory)
        self.format_ok.append(parsed.ok)
        self.shown.append(self.recalled_index)
        self.replies.append(reply)
        query = parsed.recall if config.recall else None
        self.recalls.append(query)
        self.recalled_index, self.recalled_text = None, None
        if query is not None and self.step + 1 < len(self.chunks):  # the final call shows no recall
            past = self.memories[:-1]
            self.recalled_index = best_memory(query, past, config.recall_method)
            self.recalled_text = past[self.recalled_index] if self.recalled_index is not None else ""
        self.step += 1

    def apply_final(self, reply: Reply) -> None:
        self.final_reply = reply.text
        self.answer = prompts.parse_final(reply.text)
        self.format_ok.append(self.answer is not None)
        self.replies.append(reply)

    @property
    def answer_text(self) -> str:
        return self.answer if self.answer is not None else prompts.fallback_answer(self.final_reply)

    def trace(self) -> dict:
        """What `Answer.trace` keeps: memory after each chunk, recalls and what they retrieved."""
        recalls = []
        for t, query in enumerate(self.recalls):
            if query is not None:
                got = self.shown[t + 1] if t + 1 < len(self.shown) else None
                recalls.append({"step": t, "query": query, "retrieved_step": got,
                                "retrieved": self.memories[got] if got is not None else None})
        return {
            "chunks": len(self.chunks),
            "memories": list(self.memories),
            "recalls": recalls,
            "format_failures": self.format_ok.count(False),
            "final_reply": self.final_reply,
        }


def new_episodes(samples: list[Sample], config: AgentConfig, rollouts: int = 1) -> list[Episode]:
    """`rollouts` episodes per sample, adjacent; chunking is done once per sample."""
    episodes = []
    for sample in samples:
        lines = sample.lines()
        chunks = chunk_lines(lines, config.chunk_tokens)
        if not chunks:  # an empty context still gets one (empty) step, so the loop is uniform
            chunks = [Chunk("", [])]
        episodes.extend(Episode(sample, lines, chunks, rollout=r) for r in range(rollouts))
    return episodes


def run_episodes(policy, episodes: list[Episode], config: AgentConfig, sample: bool = False) -> list[Episode]:
    """Run every episode to its final answer. `sample`: draw replies instead of greedy decoding."""
    config.check()
    while True:
        active = [e for e in episodes if not e.done]
        if not active:
            break
        requests = [Request(e.step_messages(config), e) for e in active]
        replies = policy.act(requests, sample=sample, max_new_tokens=config.max_new_tokens)
        for episode, reply in zip(active, replies):
            episode.apply_step(reply, config)
    finals = [Request(prompts.final_messages(config.template, e.sample.question, e.memory), e) for e in episodes]
    for episode, reply in zip(episodes, policy.act(finals, sample=sample, max_new_tokens=config.final_max_new_tokens)):
        episode.apply_final(reply)
    return episodes
