"""What the agent is shown at each step, and how its reply is read.

A step's prompt holds the question, the current memory, the recalled past memory (only at the step
right after a `<recall>`), and the chunk. The reply must hold exactly one `<update>new memory</update>`,
may hold one `<thinking>...</thinking>` and at most one `<recall>query</recall>`. The final call shows
the question and the last memory and wants the answer inside `\\boxed{}`.

Two templates, both returning chat messages (a list of {"role", "content"}):
    compact   tags only, for the tiny policies trained here (every prompt word costs CPU time):
              "<question> Q </question> <memory> M </memory> [<recalled> R </recalled>] <chunk> C </chunk>"
              and for the final call "<question> Q </question> <memory> M </memory> <answer>".
    instruct  plain-English instructions around the same fields, for real instruction-tuned LLMs.
A backend turns messages into model input with the tokenizer's chat template when it has one, and
otherwise by joining the message contents (see `backends.messages_to_text`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

TEMPLATES = ("compact", "instruct")
EMPTY_MEMORY = "none"  # what the compact template shows before anything was written

_INSTRUCT_STEP = """You are reading a long document one chunk at a time in order to answer a question. \
Between chunks you keep only a short memory, so write down every fact that may help answer the question.

Question: {question}

Your memory so far:
{memory}
{recalled}
Next chunk of the document:
{chunk}

First think briefly inside <thinking>...</thinking>. Then write your complete new memory inside exactly one \
<update>...</update>: keep the facts from your memory and from this chunk that help answer the question, in the \
order they happened, and drop the rest.{recall_rule}"""

_INSTRUCT_RECALL_RULE = """ If answering needs a fact that your memory has since dropped, you may add one \
<recall>query</recall> after the update: the earlier memory of yours that best matches the query will be shown \
to you together with the next chunk."""

_INSTRUCT_RECALLED = """
An earlier memory of yours, recalled as you asked:
{recalled}
"""

_INSTRUCT_FINAL = """You have read the whole document in order to answer a question.

Question: {question}

Your memory:
{memory}

Answer the question with a single word or a short phrase inside \\boxed{{}}."""


def step_messages(template: str, question: str, memory: str, chunk: str, recalled: str | None, recall_enabled: bool) -> list[dict]:
    """The prompt of one reading step."""
    if template == "compact":
        parts = [f"<question> {question} </question>", f"<memory> {memory or EMPTY_MEMORY} </memory>"]
        if recalled is not None:
            parts.append(f"<recalled> {recalled or EMPTY_MEMORY} </recalled>")
        parts.append(f"<chunk> {chunk} </chunk>")
        return [{"role": "user", "content": " ".join(parts)}]
    if template == "instruct":
        text = _INSTRUCT_STEP.format(
            question=question,
            memory=memory or "(empty)",
            recalled=_INSTRUCT_RECALLED.format(recalled=recalled or "(nothing matched)") if recalled is not None else "",
            chunk=chunk,
            recall_rule=_INSTRUCT_RECALL_RULE if recall_enabled else "",
        )
        return [{"role": "user", "content": text}]
    raise InputError(f"unknown prompt template {template!r}; known: {', '.join(TEMPLATES)}")


def final_messages(template: str, question: str, memory: str) -> list[dict]:
    """The prompt of the final, answering call."""
    if template == "compact":
        return [{"role": "user", "content": f"<question> {question} </question> <memory> {memory or EMPTY_MEMORY} </memory> <answer>"}]
    if template == "instruct":
        return [{"role": "user", "content": _INSTRUCT_FINAL.format(question=question, memory=memory or "(empty)")}]
    raise InputError(f"unknown prompt template {template!r}; known: {', '.join(TEMPLATES)}")


@dataclass
class StepReply:
    """A parsed step reply. `update is None` means no usable update: the loop keeps the old memory."""

    thinking: str | None = None
    update: str | None = None
    recall: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _block(text: str, tag: str, problems: list[str], required: bool) -> str | None:
    """The stripped inside of the one `<tag>...</tag>` block; None (and a problem noted) otherwise."""
    opens, closes = text.count(f"<{tag}>"), text.count(f"</{tag}>")
    if opens == 0 and closes == 0:
        if required:
            problems.append(f"no <{tag}>")
        return None
    start, end = text.find(f"<{tag}>"), text.find(f"</{tag}>")
    if opens != 1 or closes != 1 or end < start:
        problems.append(f"expected one <{tag}>...</{tag}>, got {opens} opening and {closes} closing tags")
        return None
    return text[start + len(tag) + 2 : end].strip()


def parse_step(text: str) -> StepReply:
    """Read a step reply. Never raises: what is malformed is listed in `problems`.

    Defined fallbacks: a missing, repeated or unclosed `<update>` gives `update=None` (keep the old
    memory); a repeated, unclosed or empty `<recall>` gives `recall=None` (no callback); a broken
    `<thinking>` is dropped. Any of these is one format failure for the step.
    """
    problems: list[str] = []
    thinking = _block(text, "thinking", problems, required=False)
    update = _block(text, "update", problems, required=True)
    recall = _block(text, "recall", problems, required=False)
    if recall == "":
        problems.append("empty <recall>")
        recall = None
    return StepReply(thinking, update, recall, problems)


_BOXED = "\\boxed{"


def parse_final(text: str) -> str | None:
    """The content of the last balanced `\\boxed{...}` (stripped), or None if there is none."""
    start = text.rfind(_BOXED)
    while start != -1:
        depth, i = 1, start + len(_BOXED)
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[start + len(_BOXED) : i - 1].strip()
        start = text.rfind(_BOXED, 0, start)  # unbalanced: try an earlier box
    return None


def fallback_answer(text: str) -> str:
    """What `Answer.text` holds when the final reply has no box: its first non-empty line."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
