"""bAbI v1.2 in its original text format.

A story is numbered lines, ids restarting at 1 for each new story:
    <id> <sentence>
    <id> <question>\t<answer>\t<supporting fact ids>
Each question becomes one `BabiSample`: the story's sentences before it (earlier questions left out, as
BABILong does), and its supporting facts as indices into those sentences, in the file's order (for qa2
that is the hop order: the object's fact, then where its holder was).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class BabiSample:
    task: str
    lines: list[str]  # story sentences before the question, in story order
    question: str
    answer: str
    support: list[int]  # indices into `lines`, in the file's order (= hop order)
    story: int = 0  # index of the story in its file
    meta: dict = field(default_factory=dict)  # "line": the question's line number in its file


def parse_babi(text: str, task: str = "", source: str | Path = "<text>") -> list[BabiSample]:
    """Parse bAbI text into one sample per question. Raises `InputError` naming the line on bad input."""
    samples: list[BabiSample] = []
    lines: list[str] = []  # sentences of the current story
    id_to_index: dict[int, int] = {}
    last_id = 0
    story = -1
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        head, _, rest = raw.strip().partition(" ")
        if not head.isdigit() or not rest.strip():
            raise InputError("expected '<id> <sentence>' (a line number, a space, then text)", source, lineno)
        line_id = int(head)
        if line_id == 1:
            lines, id_to_index, story = [], {}, story + 1
        elif line_id != last_id + 1:
            raise InputError(f"line id {line_id} does not follow {last_id} (ids count up from 1 within a story)", source, lineno)
        last_id = line_id
        if "\t" not in rest:
            id_to_index[line_id] = len(lines)
            lines.append(rest.strip())
            continue
        parts = rest.split("\t")
        if len(parts) != 3 or not parts[1].strip():
            raise InputError("a question line needs '<question>\\t<answer>\\t<supporting ids>'", source, lineno)
        question, answer, ids = parts[0].strip(), parts[1].strip(), parts[2].split()
        if not lines:
            raise InputError("question before any fact of its story", source, lineno)
        support = []
        for sid in ids:
            if not sid.isdigit() or int(sid) not in id_to_index:
                raise InputError(f"supporting fact id {sid!r} is not a fact earlier in this story", source, lineno)
            support.append(id_to_index[int(sid)])
        samples.append(BabiSample(task, list(lines), question, answer, support, story, meta={"line": lineno}))
    if not samples:
        raise InputError("no questions found (is this a bAbI task file?)", source)
    return samples


def guess_task(path: str | Path) -> str:
    name = Path(path).name
    for task, stem in (("qa1", "qa1_"), ("qa2", "qa2_")):
        if name.startswith(stem):
            return task
    return ""


def load_babi(path: str | Path, task: str | None = None) -> list[BabiSample]:
    """Load any bAbI-format file; `task` defaults to what the file name says (qa1_..., qa2_...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("bAbI file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text ({err.reason} at byte {err.start})", path) from None
    return parse_babi(text, task if task is not None else guess_task(path), source=path)


# --- The world behind qa1 and qa2 ---------------------------------------------------------------
#
# Re-deriving every answer from its story proves the loader keeps story order and support ids, and
# the same rules drive the generator, so generated stories are right by construction.

MOVE_VERBS = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
GET_VERBS = ("got", "grabbed", "picked up", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")

# Test-only phrasing (the generalization suite's `paraphrased` stories): verbs and sentence openers that
# no training story uses, so a score on them says whether a model reads what a sentence means or only
# bAbI's templates. `World` reads them too, so those stories' answers re-derive from the text as written.
PARAPHRASED_MOVE_VERBS = ("walked into", "headed to", "hurried to", "wandered into", "ran to", "strolled into")
PARAPHRASED_GET_VERBS = ("fetched", "collected", "lifted", "snatched", "obtained", "seized")
PARAPHRASED_DROP_VERBS = ("set down", "abandoned", "dumped", "released")
OPENERS = ("Later,", "Next,", "Eventually,", "Soon,", "Subsequently,")

_OPENER = rf"(?:(?:{'|'.join(OPENERS)}) )?"
_NAME = r"(?P<actor>\w+)"
_THING = r"the (?P<thing>\w+(?: \w+)*?)"
_MOVE = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(MOVE_VERBS + PARAPHRASED_MOVE_VERBS)}) {_THING}\.$")
_GET = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(GET_VERBS + PARAPHRASED_GET_VERBS)}) {_THING}(?: there)?\.$")
_DROP = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(DROP_VERBS + PARAPHRASED_DROP_VERBS)}) {_THING}(?: there)?\.$")
_WHERE_OBJECT = re.compile(r"^Where is the (?P<thing>\w+(?: \w+)*)\?$")
_WHERE_PERSON = re.compile(r"^Where is (?P<actor>\w+)\?$")


def read_event(sentence: str) -> tuple[str, str, str]:
    """("move", person, place), ("get", person, object) or ("drop", person, object); ValueError if none."""
    for kind, pattern in (("move", _MOVE), ("get", _GET), ("drop", _DROP)):
        if match := pattern.match(sentence):
            return kind, match["actor"], match["thing"]
    raise ValueError(f"not a qa1/qa2 story sentence: {sentence!r}")


class World:
    """Who is where and who holds what, with the index of the sentence that says so."""

    def __init__(self) -> None:
        self.location: dict[str, tuple[str, int]] = {}  # person -> (place, index of the move)
        self.holder: dict[str, tuple[str, int]] = {}  # object -> (person, index of the get)
        self.dropped: dict[str, tuple[str, int, int]] = {}  # object -> (place, drop index, move index)

    def tell(self, sentence: str, index: int) -> None:
        """Apply one story sentence; ValueError if it is not a qa1/qa2 sentence."""
        kind, actor, thing = read_event(sentence)
        if kind == "move":
            self.location[actor] = (thing, index)
        elif kind == "get":
            self.holder[thing] = (actor, index)
            self.dropped.pop(thing, None)
        else:
            self.holder.pop(thing, None)
            if actor in self.location:  # bAbI lets people drop things before going anywhere
                place, moved_at = self.location[actor]
                self.dropped[thing] = (place, index, moved_at)
            else:
                self.dropped.pop(thing, None)

    def answer(self, question: str) -> tuple[str, list[int]]:
        """The answer and its supporting sentences in bAbI's order (object fact, then the move)."""
        if where := _WHERE_OBJECT.match(question):
            thing = where["thing"]
            if thing in self.holder:
                person, got_at = self.holder[thing]
                if person in self.location:
                    place, moved_at = self.location[person]
                    return place, [got_at, moved_at]
            elif thing in self.dropped:
                place, dropped_at, moved_at = self.dropped[thing]
                return place, [dropped_at, moved_at]
            raise ValueError(f"the story does not say where the {thing} is")
        if where := _WHERE_PERSON.match(question):
            if where["actor"] in self.location:
                place, moved_at = self.location[where["actor"]]
                return place, [moved_at]
            raise ValueError(f"the story does not say where {where['actor']} is")
        raise ValueError(f"not a qa1/qa2 question: {question!r}")


def derive_answer(lines: list[str], question: str) -> tuple[str, list[int]]:
    """Simulate the story in `lines` and answer `question`: (answer, supporting line indices)."""
    world = World()
    for index, sentence in enumerate(lines):
        world.tell(sentence, index)
    return world.answer(question)


# --- Generating new stories ---------------------------------------------------------------------

BABI_NAMES = ("Mary", "John", "Sandra", "Daniel")
BABI_PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
BABI_OBJECTS = ("apple", "football", "milk")

# Disjoint from every word of the bAbI files, so answers built from them are never seen in training.
UNSEEN_NAMES = ("Alice", "Oliver", "Grace", "Henry")
UNSEEN_PLACES = ("attic", "cellar", "library", "garage", "porch", "studio")
UNSEEN_OBJECTS = ("umbrella", "lantern", "violin")

# Training-time variety (`memreasoner train --augment N`): pools disjoint from both sets above, each
# generated story drawing its own four names, six places and three objects from them. Trained on bAbI's
# four names alone, the hops learn four name directions and cannot follow a fifth; trained on many,
# they must follow whichever name the line holds.
VARIED_NAMES = tuple("""
Aaron Abigail Adam Adrian Agnes Albert Alan Amelia Andrew Angela Anna Arthur Audrey Barbara Benjamin Bernard
Beatrice Brian Bruce Caleb Carl Caroline Catherine Charles Charlotte Chloe Christopher Clara Claire Colin Connor
Dana David Deborah Dennis Diana Donald Dorothy Douglas Edgar Edith Edward Eleanor Elijah Elizabeth Ellen Emily Emma
Eric Ethan Eugene Evelyn Felix Fiona Frank Frederick Gabriel George Gerald Gloria Gordon Hannah Harold Harriet Hazel
Helen Howard Hugo Ian Irene Isaac Isabel Ivan Jack Jacob James Jane Jasper Jean Jeffrey Jessica Joan Joseph Joshua
Joyce Judith Julia Julian Justin Karen Kate Keith Kenneth Laura Lawrence Leo Leonard Lillian Linda Lucas Lucy Luke
Lydia Margaret Marcus Martha Martin Matthew Maya Megan Melissa Michael Miriam Molly Nathan Neil Nicholas Nina Noah
Norman Olivia Oscar Owen Patricia Patrick Paul Pauline Peter Philip Rachel Ralph Raymond Rebecca Richard Robert
Roger Rose Ruth Samuel Sarah Sebastian Simon Sophia Stella Stephen Susan Sylvia Theodore Thomas Timothy Ursula
Valerie Victor Vincent Violet Walter Wendy William Yvonne Zachary Zoe""".split())
VARIED_PLACES = tuple("""
balcony barn basement bakery cabin cafeteria chapel classroom closet corridor courtyard den greenhouse gym
laboratory laundry lobby lounge museum nursery orchard pantry parlor patio playroom sauna shed stable storeroom
sunroom terrace theater tower vault veranda warehouse workshop yard""".split())
VARIED_OBJECTS = tuple("""
anchor backpack basket blanket book bottle bucket camera candle clock compass cup drum feather flute guitar hammer
helmet kettle key ladder lamp mirror notebook painting pillow radio ring rope saddle scarf shovel spoon telescope
trumpet vase wallet whistle""".split())


def generate_babi(
    task: str,
    n_stories: int,
    *,
    names: Sequence[str] = BABI_NAMES,
    places: Sequence[str] = BABI_PLACES,
    objects: Sequence[str] = BABI_OBJECTS,
    questions_per_story: int = 5,
    seed: int = 0,
) -> str:
    """New qa1 or qa2 stories in the exact bAbI text format, from any names, places and objects.

    The shape follows the real files: qa1 stories are five rounds of two moves and a question about
    someone whose place is known; qa2 stories mix moves with picking up and putting down objects and
    ask where an object is, after an even number (2, 4, ...) of sentences. Answers and supporting ids
    come from the same `World` that re-derives the real files.
    """
    if task not in ("qa1", "qa2"):
        raise InputError(f"can only generate qa1 and qa2 stories, not {task!r}")
    _check_vocabulary(task, names, places, objects)
    rng = np.random.default_rng(seed)
    write_story = _qa1_story if task == "qa1" else _qa2_story
    out = []
    for _ in range(n_stories):
        out.extend(write_story(rng, list(names), list(places), list(objects), questions_per_story))
    return "\n".join(out) + "\n"


def generate_varied_babi(task: str, n_stories: int, seed: int = 0) -> str:
    """`n_stories` qa1/qa2 stories, each with its own names, places and objects drawn from the VARIED pools."""
    rng = np.random.default_rng(seed)
    stories = []
    for _ in range(n_stories):
        names, places, objects = (list(rng.choice(pool, size, replace=False)) for pool, size in
                                  ((VARIED_NAMES, 4), (VARIED_PLACES, 6), (VARIED_OBJECTS, 3)))
        stories.append(generate_babi(task, 1, names=names, places=places, objects=objects,
                                     seed=int(rng.integers(2**32))))
    return "".join(stories)


def _check_vocabulary(task: str, names: Sequence[str], places: Sequence[str], objects: Sequence[str]) -> None:
    word = re.compile(r"^\w+$")
    phrase = re.compile(r"^\w+(?: \w+)*$")
    if not names or not all(word.match(n) for n in names):
        raise InputError(f"names must be single words, got {list(names)!r}")
    if len(places) < 2 or not all(phrase.match(p) for p in places):
        raise InputError(f"need at least two places, each words separated by single spaces, got {list(places)!r}")
    if task == "qa2" and (not objects or not all(phrase.match(o) for o in objects)):
        raise InputError(f"qa2 needs objects, each words separated by single spaces, got {list(objects)!r}")
    if len(set(names) | set(places) | set(objects)) < len(names) + len(places) + len(objects):
        raise InputError("names, places and objects must all differ")


class StoryWriter:
    """Numbers the lines of one story and keeps its `World` in step with what is written."""

    def __init__(self) -> None:
        self.world = World()
        self.out: list[str] = []  # the story's lines, numbered from 1
        self.line_ids: list[int] = []  # line id of each story sentence (questions take ids too)

    def say(self, sentence: str) -> None:
        self.world.tell(sentence, len(self.line_ids))
        self.line_ids.append(len(self.out) + 1)
        self.out.append(f"{len(self.out) + 1} {sentence}")

    def ask(self, question: str) -> None:
        answer, support = self.world.answer(question)
        ids = " ".join(str(self.line_ids[i]) for i in support)
        self.out.append(f"{len(self.out) + 1} {question} \t{answer}\t{ids}")


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def write_move(rng: np.random.Generator, story: StoryWriter, person: str, places: list[str]) -> None:
    here = story.world.location.get(person, (None, 0))[0]
    story.say(f"{person} {pick(rng, MOVE_VERBS)} the {pick(rng, [p for p in places if p != here])}.")


def _qa1_story(rng: np.random.Generator, names: list[str], places: list[str], objects: list[str], n_questions: int) -> list[str]:
    story = StoryWriter()
    for _ in range(n_questions):
        for _ in range(2):
            write_move(rng, story, pick(rng, names), places)
        story.ask(f"Where is {pick(rng, sorted(story.world.location))}?")
    return story.out


def _qa2_story(rng: np.random.Generator, names: list[str], places: list[str], objects: list[str], n_questions: int) -> list[str]:
    story = StoryWriter()
    for _ in range(n_questions):
        rounds = int(rng.geometric(0.55))  # pairs of sentences before the question: 1 most often, as in bAbI
        answerable: list[str] = []
        while rounds > 0 or not answerable:
            for _ in range(2):
                write_act(rng, story, pick(rng, names), places, objects)
            rounds -= 1
            answerable = [o for o in objects if _knows_where(story.world, o)]
        story.ask(f"Where is the {pick(rng, answerable)}?")
    return story.out


def write_act(rng: np.random.Generator, story: StoryWriter, person: str, places: list[str], objects: list[str]) -> None:
    """One sentence for `person`: a move, or (once they are somewhere) picking up or putting down."""
    world = story.world
    if person not in world.location or rng.random() < 0.55:
        write_move(rng, story, person, places)
        return
    here = world.location[person][0]
    held = [o for o in objects if world.holder.get(o, ("",))[0] == person]
    takeable = [o for o in objects if o not in world.holder and world.dropped.get(o, (here,))[0] == here]
    if held and (not takeable or rng.random() < 0.5):
        there = " there" if rng.random() < 0.2 else ""
        story.say(f"{person} {pick(rng, DROP_VERBS)} the {pick(rng, held)}{there}.")
    elif takeable:
        story.say(f"{person} {pick(rng, GET_VERBS)} the {pick(rng, takeable)} there.")
    else:
        write_move(rng, story, person, places)


def _knows_where(world: World, thing: str) -> bool:
    try:
        world.answer(f"Where is the {thing}?")
    except ValueError:
        return False
    return True
