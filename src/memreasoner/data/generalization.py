"""The generalization suite: qa1/qa2 stories outside bAbI's distribution, one knob turned at a time.

A model that scores well on bAbI may have learnt bAbI's habits rather than to follow the facts: its
four names, six places and three objects, its few verbs, two moves before every qa1 question, a
supporting fact never more than four sentences back, and in qa2 only two shapes of question (the
object taken and its holder moved afterwards, or dropped where the holder had gone before; never
"went there, took it, and has stayed"). Each knob of `Knobs` changes one of these; each named variant
is a fixed setting of them, and `babi-words` leaves them all at bAbI's, the row the others compare to.

Stories are written in two steps. First the events, with placeholder words ("p0", "l3", "o1") and
bAbI's templates, by `babi.py`'s own story writer and world; a block of sentences before a question
is drawn again until a question meeting the knobs can be asked. Then each story is rendered: its
placeholders become words drawn from a vocabulary, and with `paraphrased` phrasing each sentence is
written anew with verbs and openers no training story uses. Events come from their own random
stream, so variants that differ only in words or phrasing tell the same stories. `babi.World` reads
every phrasing, so each answer and supporting fact can be re-derived from the text as written.

Test words and phrasings are disjoint from everything a model may have been trained or tuned on
(bAbI, the `--augment` pools, `--unseen`'s words); `check_unseen` enforces it whenever a story is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..errors import InputError
from .babi import (
    BABI_NAMES,
    BABI_OBJECTS,
    BABI_PLACES,
    DROP_VERBS,
    GET_VERBS,
    MOVE_VERBS,
    OPENERS,
    PARAPHRASED_DROP_VERBS,
    PARAPHRASED_GET_VERBS,
    PARAPHRASED_MOVE_VERBS,
    UNSEEN_NAMES,
    UNSEEN_OBJECTS,
    UNSEEN_PLACES,
    VARIED_NAMES,
    VARIED_OBJECTS,
    VARIED_PLACES,
    TRAINING_DROP_VERBS,
    TRAINING_GET_VERBS,
    TRAINING_MOVE_VERBS,
    TRAINING_OPENERS,
    StoryWriter,
    generate_babi,
    pick,
    read_event,
    write_act,
    write_move,
)

# Each word one GPT-2 token with its leading space.
ONE_PIECE_NAMES = ("Kevin", "Steve", "Tom", "Lisa", "Tony", "Eddie", "Rick", "Gary", "Larry", "Nancy", "Betty", "Sally")
ONE_PIECE_PLACES = ("church", "hospital", "prison", "station", "market", "harbor", "castle", "temple")
ONE_PIECE_OBJECTS = ("hat", "knife", "ball", "coin", "sword", "shirt", "pen", "cake")
# Each word two or more GPT-2 tokens with its leading space.
SEVERAL_PIECE_NAMES = ("Bartholomew", "Gwendolyn", "Ignatius", "Philippa", "Cornelius", "Octavia", "Mortimer", "Millicent")
SEVERAL_PIECE_PLACES = ("scullery", "conservatory", "larder", "solarium", "vestibule", "belfry", "boathouse", "dovecote")
SEVERAL_PIECE_OBJECTS = ("harmonica", "thimble", "kaleidoscope", "tambourine", "spatula", "abacus", "accordion", "metronome")
# Two one-piece words: the answer is a phrase, not a word.
TWO_WORD_PLACES = ("living room", "dining room", "music room", "boiler room", "guest room", "engine room",
                   "waiting room", "throne room")

# name -> (names, places, objects)
VOCABULARIES: dict[str, tuple[Sequence[str], Sequence[str], Sequence[str]]] = {
    "babi": (BABI_NAMES, BABI_PLACES, BABI_OBJECTS),
    "one-piece": (ONE_PIECE_NAMES, ONE_PIECE_PLACES, ONE_PIECE_OBJECTS),
    "several-pieces": (SEVERAL_PIECE_NAMES, SEVERAL_PIECE_PLACES, SEVERAL_PIECE_OBJECTS),
    "two-word": (ONE_PIECE_NAMES, TWO_WORD_PLACES, ONE_PIECE_OBJECTS),
    # Training's own words (`memreasoner train --augment`): never a test vocabulary, which check_unseen enforces.
    "training": (VARIED_NAMES, VARIED_PLACES, VARIED_OBJECTS),
}
# phrasing -> (verbs of each kind of sentence, openers); "babi" keeps bAbI's templates. "training" is
# training's own (bAbI's verbs and more), never a test's, which check_unseen enforces.
PHRASES = {
    "paraphrased": ({"move": PARAPHRASED_MOVE_VERBS, "get": PARAPHRASED_GET_VERBS, "drop": PARAPHRASED_DROP_VERBS}, OPENERS),
    "training": ({"move": MOVE_VERBS + TRAINING_MOVE_VERBS, "get": GET_VERBS + TRAINING_GET_VERBS,
                  "drop": DROP_VERBS + TRAINING_DROP_VERBS}, TRAINING_OPENERS),
}
PHRASINGS = ("babi", *PHRASES)
TRAINING_TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")  # what `generate_training_stories` writes
HOLDERS = ("babi", "stays")
PLACES_PER_STORY, OBJECTS_PER_STORY, QUESTIONS_PER_STORY = 6, 3, 5  # as in bAbI
_TRIES = 2000  # draws of one block before the knobs are declared impossible

# Every word a model may have been trained on (bAbI qa1/qa2, `--augment`'s pools) or tuned on (`--unseen`).
SEEN_WORDS = frozenset(
    word.lower()
    for pool in (BABI_NAMES, BABI_PLACES, BABI_OBJECTS, MOVE_VERBS, GET_VERBS, DROP_VERBS, ("Where is the there",),
                 VARIED_NAMES, VARIED_PLACES, VARIED_OBJECTS, UNSEEN_NAMES, UNSEEN_PLACES, UNSEEN_OBJECTS,
                 TRAINING_MOVE_VERBS, TRAINING_GET_VERBS, TRAINING_DROP_VERBS, TRAINING_OPENERS)
    for entry in pool
    for word in entry.rstrip(",").split()
)


def check_unseen(label: str, pool: Sequence[str], heads_only: bool = False) -> None:
    """InputError if a word of `pool` (only each entry's first word with `heads_only`, for verbs such as
    "headed to") is one training or `--unseen` already uses."""
    words = [entry.split()[0] for entry in pool] if heads_only else [w for entry in pool for w in entry.split()]
    seen = sorted({w for w in words if w.lower().rstrip(",") in SEEN_WORDS})
    if seen:
        raise InputError(f"the {label} pool is meant to be unseen but training or --unseen uses {', '.join(seen)}")


@dataclass(frozen=True)
class Knobs:
    """One story distribution. The defaults are bAbI's qa1; `babi_knobs(task)` gives each task's."""

    vocabulary: str = "babi"  # a key of VOCABULARIES
    phrasing: str = "babi"  # a key of PHRASINGS: babi (its templates), paraphrased (test-only verbs and openers)
    people: int = 4  # people in each story
    events: tuple[int, ...] = (2,)  # sentences between one question and the next: one of these, drawn uniformly
    distance: tuple[int, int] = (0, 4)  # sentences between a question and its last supporting fact (inclusive)
    gap: tuple[int, int] | None = None  # qa2: sentences between the object's fact and its holder's move (None: any)
    holder: str = "babi"  # qa2: babi (taken then moved, or dropped where the holder went) or stays (went, took, stayed)

    def check(self, task: str) -> None:
        """One-line InputError naming the first knob `task` cannot take."""
        if self.vocabulary not in VOCABULARIES:
            raise InputError(f"unknown vocabulary {self.vocabulary!r}; known: {', '.join(VOCABULARIES)}")
        if self.phrasing not in PHRASINGS:
            raise InputError(f"unknown phrasing {self.phrasing!r}; known: {', '.join(PHRASINGS)}")
        if self.holder not in HOLDERS:
            raise InputError(f"unknown holder pattern {self.holder!r}; known: {', '.join(HOLDERS)}")
        names = VOCABULARIES[self.vocabulary][0]
        if not 1 <= self.people <= len(names):
            raise InputError(f"people must be 1 to {len(names)} (the {self.vocabulary} vocabulary's names), got {self.people}")
        if not self.events or min(self.events) < 1:
            raise InputError(f"events must be sentence counts of at least 1, got {self.events}")
        for knob in ("distance", "gap"):
            span = getattr(self, knob)
            if span is not None and not (len(span) == 2 and 0 <= span[0] <= span[1]):
                raise InputError(f"{knob} must be a range LO-HI with 0 <= LO <= HI, got {span}")
        if task == "qa1" and (self.gap is not None or self.holder != "babi"):
            raise InputError("gap and holder are qa2 knobs (where an object's holder went); qa1 asks about people")
        need = self.distance[0] + (1 if task == "qa1" else 2 + (self.gap[0] if self.gap else 0))
        if max(self.events) < need:  # else a block could never hold a question's facts
            raise InputError(f"events must allow at least {need} sentences, what the lowest distance and gap need")

    def with_setting(self, setting: str) -> Knobs:
        """This with one KEY=VALUE changed, e.g. people=6, events=3-9, events=2,4, gap=any, holder=stays."""
        key, sep, value = (part.strip() for part in setting.partition("="))
        known = [f.name for f in fields(self)]
        if not sep or key not in known:
            raise InputError(f"a knob is KEY=VALUE with KEY one of {', '.join(known)}, got {setting!r}")
        if key in ("vocabulary", "phrasing", "holder"):
            return replace(self, **{key: value})
        if key == "gap" and value == "any":
            return replace(self, gap=None)
        if key == "events" and re.fullmatch(r"\d+(?:,\d+)+", value):
            return replace(self, events=tuple(int(v) for v in value.split(",")))
        span = re.fullmatch(r"(\d+)(?:-(\d+))?", value)
        if not span or (key == "people" and span[2]):
            raise InputError(f"bad value for {key}: {value!r} (e.g. people=6, events=3-9 or 2,4,6, distance=5-12, gap=any)")
        lo, hi = int(span[1]), int(span[2] or span[1])
        if key == "people":
            return replace(self, people=lo)
        if key == "events":
            return replace(self, events=tuple(range(lo, hi + 1)))
        return replace(self, **{key: (lo, hi)})


def babi_knobs(task: str) -> Knobs:
    """bAbI's own statistics: qa2 has blocks of 2 to 8 sentences (its commonest), qa1 always 2."""
    return Knobs(events=(2, 4, 6, 8)) if task == "qa2" else Knobs()


def variants(task: str) -> dict[str, Knobs]:
    """The named variants of `task`, in table order; each differs from babi-words as its name says."""
    if task not in ("qa1", "qa2"):
        raise InputError(f"the generalization suite has qa1 and qa2 stories, not {task!r}")
    babi = babi_knobs(task)
    named = {
        "babi-words": babi,
        # longer blocks, facts further back (and in qa2 the holder's move further from the object's fact)
        "other-stats": replace(babi, events=tuple(range(6, 16)), distance=(5, 12), gap=(6, 15) if task == "qa2" else None),
        "crowded": replace(babi, people=10, vocabulary="one-piece"),  # compare with unseen-one-piece
    }
    if task == "qa2":
        named["holder-stays"] = replace(babi, holder="stays")
    named.update({
        "unseen-one-piece": replace(babi, vocabulary="one-piece"),
        "unseen-several-pieces": replace(babi, vocabulary="several-pieces"),
        "two-word-places": replace(babi, vocabulary="two-word"),  # compare with unseen-one-piece
        "paraphrased": replace(babi, phrasing="paraphrased"),
    })
    return named


def variant_knobs(task: str, variant: str, settings: Sequence[str] = ()) -> Knobs:
    """The knobs of a named variant, with any KEY=VALUE `settings` applied on top, checked."""
    named = variants(task)
    if variant not in named:
        hint = " (it is a qa2 variant)" if variant in variants("qa2") else ""
        raise InputError(f"unknown {task} variant {variant!r}{hint}; known: {', '.join(named)}")
    knobs = named[variant]
    for setting in settings:
        knobs = knobs.with_setting(setting)
    knobs.check(task)
    return knobs


def generate_stories(task: str, knobs: Knobs, n_stories: int, seed: int = 0) -> str:
    """`n_stories` stories of five questions in bAbI's text format, as `knobs` say; the same per seed."""
    knobs.check(task)
    names, places, objects = VOCABULARIES[knobs.vocabulary]
    if knobs.vocabulary != "babi":
        for label, pool in zip(("names", "places", "objects"), (names, places, objects)):
            check_unseen(f"{knobs.vocabulary} {label}", pool)
    if knobs.phrasing in PHRASES:
        verbs, openers = PHRASES[knobs.phrasing]
        for label, pool in verbs.items():
            check_unseen(f"{knobs.phrasing} {label} verbs", pool, heads_only=True)
        check_unseen(f"{knobs.phrasing} opener", openers)
    events, words, phrasing = (np.random.default_rng([seed, stream]) for stream in range(3))
    out = []
    for _ in range(n_stories):
        out.extend(_render(_events(events, task, knobs), words, phrasing, knobs))
    return "\n".join(out) + "\n"


def generate_variant(task: str, variant: str, n_stories: int, seed: int = 0, settings: Sequence[str] = ()) -> str:
    """`generate_stories` with a named variant's knobs (and KEY=VALUE `settings` on top)."""
    return generate_stories(task, variant_knobs(task, variant, settings), n_stories, seed)


def training_knobs(rng: np.random.Generator, task: str) -> Knobs:
    """The knobs of one generated training story, drawn anew for each: its words from training's own pools
    (or bAbI's), its phrasing training's own verbs and openers half the time, 2 to 8 people, blocks of up
    to 16 sentences, facts up to 12 sentences back and, in qa2, any of the three question shapes (bAbI's
    two and the one it never asks: the holder went, took it and stayed), half the time with the holder's
    move 2 to 16 sentences from the object's fact. Trained on bAbI's statistics alone, the hops learn
    where bAbI puts a fact; on these, whose fact it is."""
    fewest = 1 if task == "qa1" else 2
    longest = int(rng.integers(fewest + 1, 17))
    vocabulary = "training" if rng.random() < 0.75 else "babi"
    phrasing = "training" if rng.random() < 0.5 else "babi"
    people = min(int(rng.integers(2, 9)), len(VOCABULARIES[vocabulary][0]))  # qa5 gives to someone else: 2 at least
    gap = None
    if task == "qa2" and rng.random() < 0.5:
        low = int(rng.integers(2, 9))
        gap, longest = (low, low + 8), max(longest, low + 4)
    return Knobs(vocabulary=vocabulary, phrasing=phrasing, people=people,
                 events=tuple(range(fewest, longest + 1)), distance=(0, int(rng.integers(2, 13))), gap=gap,
                 holder=pick(rng, HOLDERS) if task == "qa2" else "babi")


def generate_training_stories(task: str, n_stories: int, seed: int = 0) -> str:
    """`n_stories` training stories, each with its own `training_knobs`, in bAbI's text format. qa3-qa5
    stories come from bAbI's own story writer (its statistics), with each story's words drawn as here."""
    if task not in TRAINING_TASKS:
        raise InputError(f"generated training stories are {', '.join(TRAINING_TASKS)} stories, not {task!r}")
    knobs_rng, events, words = (np.random.default_rng([seed, stream]) for stream in (3, 0, 1))
    out = []
    for _ in range(n_stories):
        knobs = training_knobs(knobs_rng, task)
        if task not in ("qa1", "qa2"):  # bAbI's story writer, with this story's words
            names, places, objects = (list(words.choice(pool, size, replace=False)) for pool, size in
                                      zip(VOCABULARIES[knobs.vocabulary], (knobs.people, PLACES_PER_STORY, OBJECTS_PER_STORY)))
            out.append(generate_babi(task, 1, names=names, places=places, objects=objects,
                                     seed=int(events.integers(2**32))).rstrip("\n"))
            continue
        while True:  # a draw no story can meet (a far move, and no one else to act meanwhile) is drawn again
            try:
                lines = _events(events, task, knobs)
                break
            except InputError:
                knobs = training_knobs(knobs_rng, task)
        out.extend(_render(lines, words, words, knobs))
    return "\n".join(out) + "\n"


def describe(task: str) -> dict[str, dict]:
    """variant -> its knobs, as results files record them."""
    return {name: asdict(knobs) for name, knobs in variants(task).items()}


# --- Events, with placeholder words ---------------------------------------------------------------

_SLOT = re.compile(r"\b[plo]\d+\b")


def _events(rng: np.random.Generator, task: str, knobs: Knobs) -> list[str]:
    """One story's numbered lines, people "p0".., places "l0".., objects "o0"..; questions meet the knobs."""
    names = [f"p{i}" for i in range(knobs.people)]
    places = [f"l{i}" for i in range(PLACES_PER_STORY)]
    objects = [f"o{i}" for i in range(OBJECTS_PER_STORY)]
    story = StoryWriter()
    for _ in range(QUESTIONS_PER_STORY):
        for _ in range(_TRIES):
            trial = story.copy()
            for _ in range(int(rng.choice(knobs.events))):
                if task == "qa1":
                    write_move(rng, trial, pick(rng, names), places)
                else:
                    write_act(rng, trial, pick(rng, names), places, objects)
            questions = _askable(trial, task, knobs, names, objects)
            if questions:
                trial.ask(pick(rng, questions))
                story = trial
                break
        else:
            raise InputError(f"no {task} story meets these knobs ({knobs}); widen distance, gap or events")
    return story.out


def _askable(story: StoryWriter, task: str, knobs: Knobs, names: list[str], objects: list[str]) -> list[str]:
    """The questions that may follow `story` now: answerable, and their facts as far back as the knobs say."""
    told = len(story.line_ids)
    asked = [(n, f"Where is {n}?") for n in names] if task == "qa1" else [(o, f"Where is the {o}?") for o in objects]
    keep = []
    for entity, question in asked:
        try:
            _, support = story.world.answer(question)
        except ValueError:
            continue
        if not knobs.distance[0] <= told - 1 - max(support) <= knobs.distance[1]:
            continue
        if task == "qa2":
            fact, move = support
            stays = entity in story.world.holder and move < fact
            if (knobs.holder == "stays") != stays:  # bAbI asks only: taken then moved, or dropped
                continue
            if knobs.gap and not knobs.gap[0] <= abs(fact - move) - 1 <= knobs.gap[1]:
                continue
        keep.append(question)
    return keep


# --- Rendering: words and phrasing --------------------------------------------------------------

def _render(lines: list[str], pick_words: np.random.Generator, phrasing: np.random.Generator, knobs: Knobs) -> list[str]:
    """The story with its placeholders replaced by words of the vocabulary drawn for it, and rephrased.

    Words and phrasing draw from streams of their own, so two variants that differ in one of them
    (babi-words and paraphrased) get the same words, and vocabularies of one size the same draws.
    """
    pools = VOCABULARIES[knobs.vocabulary]
    words = {}
    for prefix, pool, count in zip("plo", pools, (knobs.people, PLACES_PER_STORY, OBJECTS_PER_STORY)):
        words.update({f"{prefix}{i}": str(w) for i, w in enumerate(pick_words.choice(pool, count, replace=False))})

    def fill(text: str) -> str:
        return _SLOT.sub(lambda m: words[m[0]], text)

    out = []
    for line in lines:
        number, _, text = line.partition(" ")
        if "\t" in text:
            question, answer, ids = text.split("\t")
            out.append(f"{number} {fill(question)}\t{words[answer]}\t{ids}")
        elif knobs.phrasing in PHRASES:
            verbs, openers = PHRASES[knobs.phrasing]
            kind, actor, thing = read_event(text)
            opener = f"{pick(phrasing, openers)} " if number != "1" and phrasing.random() < 0.5 else ""
            out.append(f"{number} {opener}{words[actor]} {pick(phrasing, verbs[kind])} the {words[thing]}.")
        else:
            out.append(f"{number} {fill(text)}")
    return out
