"""The scripted agent the tiny policy imitates before GRPO: it knows which lines are story facts.

It answers bAbI qa1 ("Where is Mary?") and qa2 ("Where is the football?") with the data layer's
story simulator (`data.babi.World`). At each chunk it computes the *true* current support -- the
facts that would answer the question if it were asked now: a person's latest move; an object's
latest get or drop and where its holder was (latest move for a get, the move before a drop) -- and
writes into memory only the part it can see (its memory, the recalled memory, the chunk).

    ReMemR1 (recall on): memory = support | this chunk's latest move of each person. Older moves are
        forgotten, so when someone picks the object up whose latest move was only noted in an
        earlier memory, the location is missing: it replies `<recall>holder</recall>` and copies the
        move from the recalled memory at the next step.
    MemAgent (recall off): memory = support | every person's latest move, so nothing goes missing,
        at the price of a longer memory to rewrite at every step.

Replies follow the compact template: "<thinking> ENTITY [HOLDER] </thinking> <update> MEMORY </update>
[<recall> HOLDER </recall>]", and at the end "\\boxed{ PLACE }".
"""

from __future__ import annotations

import re

from ..data.babi import World
from ..errors import InputError
from .loop import Reply

NOTES = "|"  # separates the support from the notes in a memory
_QUESTION = re.compile(r"^Where is (the )?(\w+)\s*\?$")


def parse_question(question: str) -> tuple[str, bool]:
    """(entity, is_object): "Where is the football?" -> ("football", True)."""
    m = _QUESTION.match(question.strip())
    if not m:
        raise InputError(f"the oracle answers bAbI 'Where is X?' questions (qa1, qa2), not {question!r}")
    return m.group(2), bool(m.group(1))


def simulate(lines: list[str], positions) -> World:
    """The world after the story sentences at `positions` (line indices), in document order."""
    world = World()
    for pos in sorted(positions):
        world.tell(lines[pos], pos)
    return world


def current_support(world: World, entity: str, is_object: bool) -> tuple[list[int], int | None]:
    """(positions of the facts that answer the question now, position of the object's last get/drop)."""
    if not is_object:
        return ([world.location[entity][1]] if entity in world.location else []), None
    if entity in world.holder:
        person, got_at = world.holder[entity]
        return [got_at] + ([world.location[person][1]] if person in world.location else []), got_at
    if entity in world.dropped:
        _, dropped_at, moved_at = world.dropped[entity]
        return [dropped_at, moved_at], dropped_at
    return [], None


class Oracle:
    """A policy for `loop.run_episodes`; keeps the facts (line positions) of each memory it wrote."""

    def __init__(self, recall: bool):
        self.recall = recall
        self._history: dict[int, list[set[int]]] = {}  # id(episode) -> fact positions of each memory

    def act(self, requests, *, sample: bool = False, max_new_tokens: int = 0) -> list[Reply]:
        return [Reply(self.reply(r.episode)) for r in requests]

    def answer_from(self, episode, memory: set[int]) -> str | None:
        """The answer the facts at `memory` give, or None if they do not say."""
        try:
            return simulate(episode.lines, memory).answer(episode.sample.question)[0]
        except ValueError:
            return None

    def last_memory(self, episode) -> set[int]:
        """The facts of the memory it wrote last for `episode`."""
        history = self._history.get(id(episode))
        return history[-1] if history else set()

    def reply(self, episode) -> str:
        entity, is_object = parse_question(episode.sample.question)
        lines = episode.lines
        history = self._history.setdefault(id(episode), [])
        memory = history[-1] if history else set()
        if episode.done:  # the final call
            del self._history[id(episode)]
            # A memory lacking a fact (a recall that failed) gets the target: the oracle is privileged.
            return f"\\boxed{{ {self.answer_from(episode, memory) or episode.sample.target} }}"

        story = set(episode.sample.story) if episode.sample.story else set(range(len(lines)))
        chunk = episode.chunks[episode.step]
        in_chunk = {i for i in chunk.lines if i in story}
        recalled = history[episode.recalled_index] if episode.recalled_index is not None else set()
        visible = memory | recalled | in_chunk
        # The truth so far: every story line up to the end of this chunk.
        end = max(chunk.lines, default=-1)
        truth, event = current_support(simulate(lines, [i for i in story if i <= end]), entity, is_object)
        kept = {p for p in truth if p in visible}

        notes: set[int] = set()
        if is_object:
            # ReMemR1 notes this chunk's moves only; MemAgent keeps everyone's latest move.
            seen = simulate(lines, in_chunk if self.recall else visible)
            notes = {pos for _, pos in seen.location.values()} - kept
        history.append(kept | notes)

        text = " ".join(lines[p] for p in sorted(kept))
        if notes:
            text += f" {NOTES} " + " ".join(lines[p] for p in sorted(notes))
        holder = lines[event].split()[0] if event is not None else None
        thinking = entity + (f" {holder}" if holder else "")
        reply = f"<thinking> {thinking} </thinking> <update> {text.strip()} </update>"
        if self.recall and len(kept) < len(truth) and holder and episode.recalled_text is None:
            reply += f" <recall> {holder} </recall>"
        return reply
