"""bAbI v1.2 in its original text format, and the world behind tasks qa1-qa5.

A story is numbered lines, ids restarting at 1 for each new story:
    <id> <sentence>
    <id> <question>\t<answer>\t<supporting fact ids>
Each question becomes one `BabiSample`: the story's sentences before it (earlier questions left out, as
BABILong does), and its supporting facts as indices into those sentences, in the file's order. Any of the
twenty tasks loads. `World` re-derives the answers of qa1-qa5 and lists their supporting facts in the
files' order:
    qa1 "Where is Mary?"            the person's latest move
    qa2 "Where is the milk?"        the object's latest get or drop, then the holder's move to where the object is
    qa3 "Where was the milk before the office?"
                                    the object's latest get or drop, the move that took it into the office
                                    (its latest visit), then the move that took it to the place before
    qa4 "What is north of the kitchen?"
                                    the one fact relating the two places, said either way round
    qa5 "Who received the milk?", "Who gave the milk (to Fred)?", "Who did Bill give the milk to?",
        "What did Bill give to Fred?"   the latest give that fits
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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


def recent_lines(samples: list[BabiSample], window: int) -> list[BabiSample]:
    """Each story cut to its last `window` lines where its supporting facts all lie within them; a story
    with a fact further back stays whole. Why: training cost grows with the longest story of a batch, and
    qa3's stories run to 224 lines with their facts at most 31 back."""
    cut = []
    for s in samples:
        start = len(s.lines) - window
        if start > 0 and min(s.support, default=0) >= start:
            s = replace(s, lines=s.lines[start:], support=[i - start for i in s.support])
        cut.append(s)
    return cut


def guess_task(path: str | Path) -> str:
    """The task a bAbI file's name says ("qa3_three-supporting-facts_test.txt": "qa3"), else an empty string."""
    match = re.match(r"^(qa\d+)_", Path(path).name)
    return match[1] if match else ""


def load_babi(path: str | Path, task: str | None = None, derive: bool = False) -> list[BabiSample]:
    """Load any bAbI-format file; `task` defaults to what the file name says (qa1_..., qa17_...).

    With `derive`, every question of a simulated task (SIMULATED_TASKS) must get its answer and
    supporting facts from its story (`check_derivation`); other tasks load without it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("bAbI file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text ({err.reason} at byte {err.start})", path) from None
    samples = parse_babi(text, task if task is not None else guess_task(path), source=path)
    if derive:
        check_derivation(samples, path)
    return samples


# --- The world behind qa1-qa5 -------------------------------------------------------------------
#
# Re-deriving every answer from its story proves the loader keeps story order and support ids, and
# the same rules drive the generator, so generated stories are right by construction.

SIMULATED_TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")

MOVE_VERBS = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
GET_VERBS = ("got", "grabbed", "picked up", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
GIVE_VERBS = ("gave", "passed", "handed")
BABI_DIRECTIONS = (("north", "south"), ("east", "west"))  # qa4: each direction with its opposite

# Test-only phrasing (the generalization suite's `paraphrased` stories): verbs and sentence openers that
# no training story uses, so a score on them says whether a model reads what a sentence means or only
# bAbI's templates. `World` reads them too, so those stories' answers re-derive from the text as written.
PARAPHRASED_MOVE_VERBS = ("walked into", "headed to", "hurried to", "wandered into", "ran to", "strolled into")
PARAPHRASED_GET_VERBS = ("fetched", "collected", "lifted", "snatched", "obtained", "seized")
PARAPHRASED_DROP_VERBS = ("set down", "abandoned", "dumped", "released")
OPENERS = ("Later,", "Next,", "Eventually,", "Soon,", "Subsequently,")
# Training's own phrasing (`memreasoner train --augment`), disjoint from the test-only phrasing above: trained
# on bAbI's five move verbs alone, a model reads "ran to" as noise; trained on many, it reads the sentence.
TRAINING_MOVE_VERBS = ("returned to", "marched to", "drove to", "rushed to", "stepped into", "jogged to", "crept into")
TRAINING_GET_VERBS = ("retrieved", "gathered", "caught", "acquired", "claimed", "scooped up")
TRAINING_DROP_VERBS = ("placed", "tossed", "ditched", "laid down")
TRAINING_OPENERS = ("Then,", "Afterwards,", "Meanwhile,", "Finally,", "After that,")

_OPENER = rf"(?:(?:{'|'.join(OPENERS + TRAINING_OPENERS)}) )?"
_NAME = r"(?P<actor>\w+)"
_WORDS = r"\w+(?: \w+)*?"
_THING = rf"the (?P<thing>{_WORDS})"
_MOVE = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(MOVE_VERBS + PARAPHRASED_MOVE_VERBS + TRAINING_MOVE_VERBS)}) {_THING}\.$")
_GET = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(GET_VERBS + PARAPHRASED_GET_VERBS + TRAINING_GET_VERBS)}) {_THING}(?: there)?\.$")
_DROP = re.compile(rf"^{_OPENER}{_NAME} (?:{'|'.join(DROP_VERBS + PARAPHRASED_DROP_VERBS + TRAINING_DROP_VERBS)}) {_THING}(?: there)?\.$")
_GIVE = re.compile(rf"^{_NAME} (?:{'|'.join(GIVE_VERBS)}) {_THING} to (?P<receiver>\w+)\.$")
_RELATION = re.compile(rf"^The (?P<place>{_WORDS}) is (?P<direction>\w+) of the (?P<other>{_WORDS})\.$")
_WHERE_OBJECT = re.compile(r"^Where is the (?P<thing>\w+(?: \w+)*)\?$")
_WHERE_PERSON = re.compile(r"^Where is (?P<actor>\w+)\?$")
_WHERE_BEFORE = re.compile(rf"^Where was {_THING} before the (?P<place>{_WORDS})\?$")
_WHAT_IS_OF = re.compile(rf"^What is (?P<direction>\w+) of the (?P<place>{_WORDS})\?$")
_WHAT_IS_THE_OF = re.compile(rf"^What is the (?P<place>{_WORDS}) (?P<direction>\w+) of\?$")
_WHAT_GAVE = re.compile(r"^What did (?P<giver>\w+) give to (?P<receiver>\w+)\?$")
_WHO_GAVE = re.compile(rf"^Who gave {_THING}(?: to (?P<receiver>\w+))?\?$")
_WHO_DID_GIVE = re.compile(rf"^Who did (?P<giver>\w+) give {_THING} to\?$")
_WHO_RECEIVED = re.compile(rf"^Who received {_THING}\?$")
_GIVE_SLOTS = {"giver": 0, "thing": 1, "receiver": 2}  # where each part of a qa5 question sits in a give


def read_event(sentence: str) -> tuple[str, ...]:
    """("move", person, place), ("get", person, object), ("drop", person, object), ("give", giver, object,
    receiver) or ("relation", place, direction, other place); ValueError if none."""
    for kind, pattern in (("move", _MOVE), ("get", _GET), ("drop", _DROP)):
        if match := pattern.match(sentence):
            return kind, match["actor"], match["thing"]
    if match := _GIVE.match(sentence):
        return "give", match["actor"], match["thing"], match["receiver"]
    if match := _RELATION.match(sentence):
        return "relation", match["place"], match["direction"], match["other"]
    raise ValueError(f"not a qa1-qa5 story sentence: {sentence!r}")


class World:
    """Who is where, who holds what, where each object has been, who gave what to whom and where places
    lie from each other, each with the index of the sentence that says so.

    `answers` lists every answer the story gives a question, the latest first; bAbI answers with the
    latest (`answer`), except a few qa5 questions in its files that ask "What did Bill give to Fred?"
    about an earlier give when Bill has since given Fred something else.
    """

    def __init__(self, directions: Sequence[tuple[str, str]] = BABI_DIRECTIONS) -> None:
        self.location: dict[str, tuple[str, int]] = {}  # person -> (place, index of the move)
        self.holder: dict[str, tuple[str, int]] = {}  # object -> (person, index of the get or give)
        self.dropped: dict[str, tuple[str, int, int]] = {}  # object -> (place, drop index, move index)
        self.trail: dict[str, list[tuple[str, int]]] = {}  # object -> each place it was in, and the move that says so
        self.handled: dict[str, int] = {}  # object -> index of its latest get, drop or give
        self.gives: list[tuple[str, str, str, int]] = []  # (giver, object, receiver, index), story order
        self.relations: list[tuple[str, str, str, int]] = []  # (place, direction, other, index), both ways round
        self.opposite = {a: b for pair in directions for a, b in (pair, pair[::-1])}

    def copy(self) -> "World":
        """An independent copy (a story generator tries events on it); far cheaper than deepcopy."""
        other = World.__new__(World)
        other.location, other.holder, other.dropped = dict(self.location), dict(self.holder), dict(self.dropped)
        other.trail = {thing: list(places) for thing, places in self.trail.items()}
        other.handled, other.gives, other.relations = dict(self.handled), list(self.gives), list(self.relations)
        other.opposite = self.opposite  # never changes
        return other

    def tell(self, sentence: str, index: int) -> None:
        """Apply one story sentence; ValueError if it is not a qa1-qa5 sentence."""
        kind, *event = read_event(sentence)
        if kind == "move":
            actor, place = event
            self.location[actor] = (place, index)
            for thing, (person, _) in self.holder.items():
                if person == actor:
                    self.trail.setdefault(thing, []).append((place, index))
        elif kind == "get":
            actor, thing = event
            self.holder[thing] = (actor, index)
            self.dropped.pop(thing, None)
            self.handled[thing] = index
            trail = self.trail.setdefault(thing, [])
            if actor in self.location and (not trail or trail[-1][0] != self.location[actor][0]):
                trail.append(self.location[actor])
        elif kind == "drop":
            actor, thing = event
            self.holder.pop(thing, None)
            self.handled[thing] = index
            if actor in self.location:  # bAbI lets people drop things before going anywhere
                place, moved_at = self.location[actor]
                self.dropped[thing] = (place, index, moved_at)
            else:
                self.dropped.pop(thing, None)
        elif kind == "give":
            giver, thing, receiver = event
            self.holder[thing] = (receiver, index)
            self.dropped.pop(thing, None)
            self.handled[thing] = index
            self.gives.append((giver, thing, receiver, index))
        else:
            place, direction, other = event
            if direction not in self.opposite:
                raise ValueError(f"unknown direction {direction!r} in {sentence!r}; known: {', '.join(self.opposite)}")
            self.relations += [(place, direction, other, index), (other, self.opposite[direction], place, index)]

    def answer(self, question: str) -> tuple[str, list[int]]:
        """The answer and its supporting sentences in bAbI's order; ValueError if the story does not say."""
        readings = self.answers(question)
        if not readings:
            raise ValueError(f"the story does not answer {question!r}")
        return readings[0]

    def answers(self, question: str) -> list[tuple[str, list[int]]]:
        """Every (answer, supporting sentences) the story gives `question`, the latest first."""
        if where := _WHERE_OBJECT.match(question):
            thing = where["thing"]
            if thing in self.holder:
                person, got_at = self.holder[thing]
                if person in self.location:
                    place, moved_at = self.location[person]
                    return [(place, [got_at, moved_at])]
            elif thing in self.dropped:
                place, dropped_at, moved_at = self.dropped[thing]
                return [(place, [dropped_at, moved_at])]
            return []
        if where := _WHERE_PERSON.match(question):
            if where["actor"] in self.location:
                place, moved_at = self.location[where["actor"]]
                return [(place, [moved_at])]
            return []
        if where := _WHERE_BEFORE.match(question):
            thing, trail = where["thing"], self.trail.get(where["thing"], [])
            return [(trail[i - 1][0], [self.handled[thing], trail[i][1], trail[i - 1][1]])
                    for i in range(len(trail) - 1, 0, -1) if trail[i][0] == where["place"]]
        if what := _WHAT_IS_OF.match(question):  # "What is north of the kitchen?": X is north of the kitchen
            return [(place, [i]) for place, direction, other, i in reversed(self.relations)
                    if (direction, other) == (what["direction"], what["place"])]
        if what := _WHAT_IS_THE_OF.match(question):  # "What is the kitchen north of?": the kitchen is north of X
            return [(other, [i]) for place, direction, other, i in reversed(self.relations)
                    if (place, direction) == (what["place"], what["direction"])]
        for pattern, asked, answered in (
            (_WHAT_GAVE, ("giver", "receiver"), 1),
            (_WHO_GAVE, ("thing", "receiver"), 0),
            (_WHO_DID_GIVE, ("giver", "thing"), 2),
            (_WHO_RECEIVED, ("thing",), 2),
        ):
            if match := pattern.match(question):
                wanted = {slot: match[slot] for slot in asked if match[slot] is not None}
                return [(give[answered], [give[3]]) for give in reversed(self.gives)
                        if all(give[_GIVE_SLOTS[slot]] == word for slot, word in wanted.items())]
        raise ValueError(f"not a qa1-qa5 question: {question!r}")


def simulate(lines: Sequence[str], directions: Sequence[tuple[str, str]] = BABI_DIRECTIONS) -> World:
    """The world after the story sentences `lines`."""
    world = World(directions)
    for index, sentence in enumerate(lines):
        world.tell(sentence, index)
    return world


def derive_answer(lines: list[str], question: str, directions: Sequence[tuple[str, str]] = BABI_DIRECTIONS) -> tuple[str, list[int]]:
    """Simulate the story in `lines` and answer `question`: (answer, supporting line indices)."""
    return simulate(lines, directions).answer(question)


def check_derivation(samples: Sequence[BabiSample], source: str | Path = "<bAbI>") -> None:
    """InputError naming the first question of a simulated task whose answer and supporting facts are not
    one its story gives; questions of other tasks pass. Each story is simulated once, question by question."""
    world, story, told = World(), None, 0
    for sample in samples:
        if sample.task not in SIMULATED_TASKS:
            continue
        if sample.story != story:
            world, story, told = World(), sample.story, 0
        line = sample.meta.get("line")
        try:
            for index in range(told, len(sample.lines)):
                world.tell(sample.lines[index], index)
            told = len(sample.lines)
            readings = world.answers(sample.question)
        except ValueError as err:
            raise InputError(f"cannot derive the answer: {err}", source, line) from None
        if (sample.answer, sample.support) not in readings:
            gives = f"{readings[0][0]!r} from {_quoted(sample.lines, readings[0][1])}" if readings else "no answer"
            raise InputError(f"the story gives {gives}, not the file's {sample.answer!r} from "
                             f"{_quoted(sample.lines, sample.support)}", source, line)


def _quoted(lines: list[str], support: list[int]) -> str:
    return " ".join(repr(lines[i]) for i in support)


# --- Generating new stories ---------------------------------------------------------------------

BABI_NAMES = ("Mary", "John", "Sandra", "Daniel")
BABI_QA5_NAMES = ("Bill", "Fred", "Jeff", "Mary")  # qa5's people; qa1-qa3 have BABI_NAMES
BABI_PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
BABI_OBJECTS = ("apple", "football", "milk")

# Disjoint from every word of the bAbI files, so answers built from them are never seen in training.
UNSEEN_NAMES = ("Alice", "Oliver", "Grace", "Henry")
UNSEEN_PLACES = ("attic", "cellar", "library", "garage", "porch", "studio")
UNSEEN_OBJECTS = ("umbrella", "lantern", "violin")

# Training-time variety (`memreasoner train --augment N`, data/generalization.py): pools disjoint from both
# sets above, each generated story drawing its own names, places and objects from them. Trained on bAbI's
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
Valerie Victor Vincent Violet Walter Wendy William Yvonne Zachary Zoe
Abdul Ada Aisha Akira Amara Ana Anders Arjun Astrid Ayumi Bjorn Carmen Chen Chiara Dario Dmitri Elena Emeka Esther
Fatima Hamid Hiroshi Ingrid Jamal Javier Kenji Kofi Lars Leila Lena Luca Malik Mateo Mei Mohammed Nadia Niamh Nikolai
Omar Pablo Priya Rahul Rosa Sakura Santiago Sven Tariq Wei Yara Yusuf Zainab""".split())
VARIED_PLACES = tuple("""
balcony barn basement bakery cabin cafeteria chapel classroom closet corridor courtyard den greenhouse gym
laboratory laundry lobby lounge museum nursery orchard pantry parlor patio playroom sauna shed stable storeroom
sunroom terrace theater tower vault veranda warehouse workshop yard
airport arena bank beach bridge cafe canyon cathedral cave cinema cliff cottage desert dock factory farm field forest
fortress glacier hill hotel island jungle lake lighthouse mall manor marina meadow mill monastery mountain palace
pasture pier plaza pond ranch restaurant river school shipyard stadium supermarket swamp university valley vineyard
volcano waterfall wharf zoo""".split()) + (
    # answers of two words, so the decoder learns to copy a phrase
    "tool shed", "coffee shop", "bus stop", "front hall", "car park", "tea house", "ice rink", "gift shop",
    "post office", "town hall", "art gallery", "bowling alley", "tennis court", "train depot", "pool hall", "flower shop",
    "fire hall", "guard post", "pump house", "bike shed", "corner shop", "snack bar", "golf course", "boat dock",
    "toy shop", "wood mill", "dance hall", "chess club") + tuple("""
scriptorium apiary gazebo atrium rotunda pavilion armory granary chancel cloister refectory buttery aviary arboretum
boudoir catacomb dormitory foyer gatehouse hayloft infirmary kennel mezzanine oratory pergola rectory sacristy smithy
stairwell tannery undercroft vicarage washhouse distillery bakehouse icehouse henhouse pigsty anteroom alcove portico
bathhouse emporium gymnasium mausoleum menagerie orangery planetarium rookery sanatorium stockroom summerhouse
treehouse watchtower windmill woodshed bungalow hacienda pagoda citadel hermitage priory parsonage almshouse
farmhouse""".split())  # rare words of several GPT-2 pieces: a place word's odd latent must not steer a hop
VARIED_OBJECTS = tuple("""
anchor backpack basket blanket book bottle bucket camera candle clock compass cup drum feather flute guitar hammer
helmet kettle key ladder lamp mirror notebook painting pillow radio ring rope saddle scarf shovel spoon telescope
trumpet vase wallet whistle
axe bell boot bowl brush chain coat crown dice envelope fork glove jar jacket kite lock map medal needle plate puzzle
rake ribbon rug sack shield soap sock stamp tent ticket torch towel trophy wand watch wheel wrench""".split()) + tuple("""
stapler ladle colander trowel sextant thermos saucepan teapot tureen goblet chalice quill inkwell spyglass hourglass
ukulele banjo mandolin tuba bugle cymbal xylophone trombone bassoon oboe sitar kazoo scalpel spindle bobbin almanac
satchel knapsack parasol bonnet cravat monocle locket brooch sceptre scabbard pestle chisel mallet candlestick
gramophone typewriter marionette pinwheel""".split())  # words of several GPT-2 pieces, as many names and places are


def generate_babi(
    task: str,
    n_stories: int,
    *,
    names: Sequence[str] | None = None,
    places: Sequence[str] = BABI_PLACES,
    objects: Sequence[str] = BABI_OBJECTS,
    directions: Sequence[tuple[str, str]] = BABI_DIRECTIONS,
    questions_per_story: int | None = None,
    seed: int = 0,
) -> str:
    """New qa1-qa5 stories in the exact bAbI text format, from any names (default: the task's bAbI
    names), places, objects and, for qa4, pairs of opposite directions.

    The shape follows the real files: qa1 stories are five rounds of two moves and a question about
    someone whose place is known; qa2 and qa3 stories mix moves with picking up and putting down
    objects and ask, after an even number (2, 4, ...) of sentences, where an object is (qa2) or where it
    was before a place it was taken into (qa3: mostly the place it is in now); qa5 stories add giving and
    ask about the latest give in one of five forms, now and then the previous question again. A qa4
    story is two facts about three places in a row and one question (`questions_per_story` must be 1).
    Answers and supporting ids come from the same `World` that re-derives the real files.
    """
    if task not in SIMULATED_TASKS:
        raise InputError(f"can only generate {', '.join(SIMULATED_TASKS)} stories, not {task!r}")
    names = list(names if names is not None else BABI_QA5_NAMES if task == "qa5" else BABI_NAMES)
    per_story = story_questions(task) if questions_per_story is None else questions_per_story
    if task == "qa4" and per_story != 1:
        raise InputError(f"qa4 stories ask one question each, as bAbI's do, not {per_story}")
    _check_vocabulary(task, names, places, objects, directions)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_stories):
        if task == "qa4":
            out.extend(_qa4_story(rng, list(places), list(directions)))
        else:
            out.extend(_STORY_WRITERS[task](rng, names, list(places), list(objects), per_story))
    return "\n".join(out) + "\n"


def story_questions(task: str) -> int:
    """Questions in each generated story of `task`: bAbI's, one for qa4 and five for the others."""
    return 1 if task == "qa4" else 5


def _check_vocabulary(task: str, names: Sequence[str], places: Sequence[str], objects: Sequence[str],
                      directions: Sequence[tuple[str, str]]) -> None:
    word = re.compile(r"^\w+$")
    phrase = re.compile(r"^\w+(?: \w+)*$")
    if not names or not all(word.match(n) for n in names):
        raise InputError(f"names must be single words, got {list(names)!r}")
    if task == "qa5" and len(set(names)) < 2:
        raise InputError(f"qa5 needs at least two names (someone to give to), got {list(names)!r}")
    fewest = 3 if task == "qa4" else 2
    if len(places) < fewest or not all(phrase.match(p) for p in places):
        raise InputError(f"need at least {'three' if fewest == 3 else 'two'} places, each words separated by single spaces, "
                         f"got {list(places)!r}")
    if task in ("qa2", "qa3", "qa5") and (not objects or not all(phrase.match(o) for o in objects)):
        raise InputError(f"{task} needs objects, each words separated by single spaces, got {list(objects)!r}")
    words = [*names, *places, *objects]
    if task == "qa4":
        if not directions or not all(len(pair) == 2 and all(word.match(d) for d in pair) for pair in directions):
            raise InputError(f"directions must be pairs of opposite single words, got {list(directions)!r}")
        words += [d for pair in directions for d in pair]
    if len(set(words)) < len(words):
        raise InputError("names, places, objects (and qa4's directions) must all differ")


class StoryWriter:
    """Numbers the lines of one story and keeps its `World` in step with what is written."""

    def __init__(self, directions: Sequence[tuple[str, str]] = BABI_DIRECTIONS) -> None:
        self.world = World(directions)
        self.out: list[str] = []  # the story's lines, numbered from 1
        self.line_ids: list[int] = []  # line id of each story sentence (questions take ids too)

    def copy(self) -> "StoryWriter":
        other = StoryWriter.__new__(StoryWriter)
        other.world, other.out, other.line_ids = self.world.copy(), list(self.out), list(self.line_ids)
        return other

    def say(self, sentence: str) -> None:
        self.world.tell(sentence, len(self.line_ids))
        self.line_ids.append(len(self.out) + 1)
        self.out.append(f"{len(self.out) + 1} {sentence}")

    def ask(self, question: str, spaced: bool = True) -> None:
        """Write the question, its answer and supporting ids; `spaced`: a space before the tab (all but qa4)."""
        answer, support = self.world.answer(question)
        ids = " ".join(str(self.line_ids[i]) for i in support)
        self.out.append(f"{len(self.out) + 1} {question}{' ' if spaced else ''}\t{answer}\t{ids}")


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


def _qa3_story(rng: np.random.Generator, names: list[str], places: list[str], objects: list[str], n_questions: int) -> list[str]:
    story = StoryWriter()
    for _ in range(n_questions):
        rounds = int(rng.geometric(0.55))
        travelled: list[str] = []
        while rounds > 0 or not travelled:
            for _ in range(2):
                write_act(rng, story, pick(rng, names), places, objects)
            rounds -= 1
            travelled = [o for o in objects if len(story.world.trail.get(o, ())) > 1]
        thing = pick(rng, travelled)
        visits = story.world.trail[thing][1:]  # the places it was taken into from another
        # mostly where it is now; as in bAbI, now and then a place it has since left
        place = visits[-1][0] if len(visits) == 1 or rng.random() < 0.8 else pick(rng, visits[:-1])[0]
        story.ask(f"Where was the {thing} before the {place}?")
    return story.out


def _qa4_story(rng: np.random.Generator, places: list[str], directions: list[tuple[str, str]]) -> list[str]:
    """Three places in a row, each `ahead` of the next; each fact said either way round, in either order."""
    story = StoryWriter(directions)
    row = [places[i] for i in rng.choice(len(places), size=3, replace=False)]
    ahead, behind = directions[int(rng.integers(len(directions)))][:: 1 if rng.random() < 0.5 else -1]
    pairs = [(row[0], row[1]), (row[1], row[2])]
    for first, second in (pairs[i] for i in rng.permutation(2)):
        story.say(f"The {first} is {ahead} of the {second}." if rng.random() < 0.5 else f"The {second} is {behind} of the {first}.")
    first, second = pairs[int(rng.integers(2))]
    story.ask(pick(rng, [f"What is {ahead} of the {second}?", f"What is the {second} {behind} of?",
                         f"What is {behind} of the {first}?", f"What is the {first} {ahead} of?"]), spaced=False)
    return story.out


def _qa5_story(rng: np.random.Generator, names: list[str], places: list[str], objects: list[str], n_questions: int) -> list[str]:
    story = StoryWriter()
    asked = ""
    for _ in range(n_questions):
        gives = len(story.world.gives)
        repeat = bool(asked) and rng.random() < 0.05  # the question again, two sentences on, as bAbI does now and then
        while True:
            for _ in range(2):
                _write_give_or_act(rng, story, pick(rng, names), names, places, objects)
            if repeat or len(story.world.gives) > gives:
                break
        if not repeat:
            giver, thing, receiver, _ = story.world.gives[-1]
            asked = pick(rng, [f"What did {giver} give to {receiver}?", f"Who gave the {thing}?", f"Who gave the {thing} to {receiver}?",
                               f"Who did {giver} give the {thing} to?", f"Who received the {thing}?"])
        story.ask(asked)
    return story.out


def _write_give_or_act(rng: np.random.Generator, story: StoryWriter, person: str, names: list[str], places: list[str],
                       objects: list[str]) -> None:
    """Half the time `person` holds something, they give it to someone else; otherwise `write_act`."""
    held = [o for o in objects if story.world.holder.get(o, ("",))[0] == person]
    if held and rng.random() < 0.5:
        receiver = pick(rng, [n for n in names if n != person])
        story.say(f"{person} {pick(rng, GIVE_VERBS)} the {pick(rng, held)} to {receiver}.")
    else:
        write_act(rng, story, person, places, objects)


_STORY_WRITERS = {"qa1": _qa1_story, "qa2": _qa2_story, "qa3": _qa3_story, "qa5": _qa5_story}
