import re

import pytest

from memreasoner.data import generalization as gen
from memreasoner.data.babi import (
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
    World,
    derive_answer,
    load_babi,
    parse_babi,
    read_event,
)
from memreasoner.data.tokens import gpt2_encoding
from memreasoner.errors import InputError

TEST_VOCABULARIES = [name for name in gen.VOCABULARIES if name not in ("babi", "training")]
PARAPHRASED_VERBS = {"move": PARAPHRASED_MOVE_VERBS, "get": PARAPHRASED_GET_VERBS, "drop": PARAPHRASED_DROP_VERBS}


def samples_of(task, variant, stories=20, seed=3):
    return parse_babi(gen.generate_variant(task, variant, stories, seed), task)


def shape(sample):
    """(sentences between the question and its last supporting fact, the qa2 pattern, the gap between its facts)."""
    distance = len(sample.lines) - 1 - max(sample.support)
    if sample.task == "qa1":
        return distance, None, None
    world = World()
    for index, line in enumerate(sample.lines):
        world.tell(line, index)
    fact, move = sample.support
    thing = sample.question[len("Where is the "):-1]
    pattern = ("held" if thing in world.holder else "dropped") + (", moved before" if move < fact else ", moved after")
    return distance, pattern, fact - move - 1 if move < fact else move - fact - 1


def blocks(samples):
    """Story sentences between one question and the next (the first: from the story's start)."""
    sizes, before = [], {}
    for s in samples:
        sizes.append(len(s.lines) - before.get(s.story, 0))
        before[s.story] = len(s.lines)
    return sizes


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_every_variant_rederives_from_its_text_and_answers_from_its_pool(task):
    for variant, knobs in gen.variants(task).items():
        names, places, objects = gen.VOCABULARIES[knobs.vocabulary]
        samples = samples_of(task, variant)
        assert len(samples) == 100, variant
        for s in samples:
            assert derive_answer(s.lines, s.question) == (s.answer, s.support), (variant, s.meta)
            assert s.answer in places, variant
            asked = s.question[len("Where is "):-1]
            assert asked in names if task == "qa1" else asked.removeprefix("the ") in objects, variant
            assert all(read_event(line)[1] in names for line in s.lines), variant


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_variants_are_reproducible_per_seed(task):
    for variant in gen.variants(task):
        text = gen.generate_variant(task, variant, 6, seed=11)
        assert text == gen.generate_variant(task, variant, 6, seed=11), variant
        assert text != gen.generate_variant(task, variant, 6, seed=12), variant


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_words_and_phrasing_change_nothing_but_words_and_phrasing(task):
    babi = samples_of(task, "babi-words")
    for variant in ("paraphrased", "unseen-one-piece", "unseen-several-pieces", "two-word-places"):
        other = samples_of(task, variant)
        assert [s.support for s in other] == [s.support for s in babi], variant
        assert [len(s.lines) for s in other] == [len(s.lines) for s in babi], variant
        kinds = [[read_event(line)[0] for line in s.lines] for s in other]
        assert kinds == [[read_event(line)[0] for line in s.lines] for s in babi], variant
    paraphrased = samples_of(task, "paraphrased")
    assert [(s.question, s.answer) for s in paraphrased] == [(s.question, s.answer) for s in babi]
    training_verb = re.compile(rf" (?:{'|'.join(MOVE_VERBS + GET_VERBS + DROP_VERBS)}) the ")
    openers = 0
    for s, b in zip(paraphrased, babi):
        for line, babi_line in zip(s.lines, b.lines):
            kind, actor, thing = read_event(line)
            assert (kind, actor, thing) == read_event(babi_line)
            assert not training_verb.search(line) and any(f" {verb} the " in line for verb in PARAPHRASED_VERBS[kind])
            openers += line.startswith(OPENERS)
    assert openers > 50


def test_babi_words_keeps_babis_statistics_and_babi_never_asks_holder_stays(data_dir):
    for task in ("qa1", "qa2"):
        real = load_babi(next((data_dir / "babi/en-10k").glob(f"{task}_*_train.txt")), task)
        real_shapes, ours = {shape(s) for s in real}, samples_of(task, "babi-words", stories=60)
        assert {d for d, _, _ in real_shapes} == set(range(5))  # the fact is at most four sentences back
        assert {d for d, _, _ in map(shape, ours)} == set(range(5))
        assert {p for _, p, _ in map(shape, ours)} == {p for _, p, _ in real_shapes}
        assert set(blocks(ours)) == ({2} if task == "qa1" else {2, 4, 6, 8})
        assert set(blocks(ours)) <= set(blocks(real))
    assert {p for _, p, _ in real_shapes} == {"held, moved after", "dropped, moved before"}  # qa2
    stays = samples_of("qa2", "holder-stays", stories=60)
    assert {p for _, p, _ in map(shape, stays)} == {"held, moved before"}  # went there, took it, stayed


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_other_stats_and_crowded_turn_their_knobs(task):
    other = samples_of(task, "other-stats")
    shapes = [shape(s) for s in other]
    assert {d for d, _, _ in shapes} <= set(range(5, 13)) and max(d for d, _, _ in shapes) > 8
    assert set(blocks(other)) <= set(range(6, 16)) and len(set(blocks(other))) > 5
    if task == "qa2":
        assert {g for _, _, g in shapes} <= set(range(6, 16)) and max(g for _, _, g in shapes) > 10
        assert {p for _, p, _ in shapes} == {"held, moved after", "dropped, moved before"}
    crowded = samples_of(task, "crowded")
    people = {}
    for s in crowded:
        people.setdefault(s.story, set()).update(read_event(line)[1] for line in s.lines)
    assert max(map(len, people.values())) > 4 and all(len(p) <= 10 for p in people.values())


def test_test_pools_are_unseen_and_split_into_gpt2_pieces_as_named(data_dir):
    babi_words = set()
    for path in (data_dir / "babi").glob("*/*.txt"):  # every bAbI task, not only qa1/qa2
        babi_words |= {w.lower() for w in re.findall(r"[A-Za-z]+", path.read_text())}
    seen = babi_words | {w.lower().rstrip(",") for pool in (VARIED_NAMES, VARIED_PLACES, VARIED_OBJECTS, UNSEEN_NAMES,
                                                            UNSEEN_PLACES, UNSEEN_OBJECTS, *gen.PHRASES["training"][0].values(),
                                                            gen.PHRASES["training"][1]) for entry in pool for w in entry.split()}
    assert seen >= gen.SEEN_WORDS
    pools = {name: gen.VOCABULARIES[name] for name in TEST_VOCABULARIES}
    test_words = {w.lower() for vocabulary in pools.values() for pool in vocabulary for entry in pool for w in entry.split()}
    heads = {verb.split()[0] for verbs in PARAPHRASED_VERBS.values() for verb in verbs}
    openers = {w.lower().rstrip(",") for opener in OPENERS for w in opener.split()}
    assert not (test_words | {h.lower() for h in heads} | openers) & seen
    # move, get and drop never share a verb, so a sentence says one thing
    assert sum(len({v.split()[0] for v in verbs}) for verbs in PARAPHRASED_VERBS.values()) == len(heads)

    encoding = gpt2_encoding()

    def pieces(word):
        return len(encoding.encode_ordinary(" " + word))

    for vocabulary, (names, places, objects) in pools.items():
        assert len({*names, *places, *objects}) == len(names) + len(places) + len(objects), vocabulary
    assert all(pieces(w) == 1 for pool in gen.VOCABULARIES["one-piece"] for w in pool)
    assert all(pieces(w) >= 2 for pool in gen.VOCABULARIES["several-pieces"] for w in pool)
    assert all(len(p.split()) == 2 and all(pieces(w) == 1 for w in p.split()) for p in gen.TWO_WORD_PLACES)
    one, several = (set(w for pool in gen.VOCABULARIES[v] for w in pool) for v in ("one-piece", "several-pieces"))
    assert not one & several and not {w for p in gen.TWO_WORD_PLACES for w in p.split()} & (one | several)


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_training_stories_vary_words_and_statistics_and_never_use_a_test_word(task):
    text = gen.generate_training_stories(task, 60, seed=4)
    assert text == gen.generate_training_stories(task, 60, seed=4)
    samples = parse_babi(text, task)
    assert len(samples) == 300
    test_words = {w for name in TEST_VOCABULARIES for pool in gen.VOCABULARIES[name] for entry in pool
                  for w in entry.split()}
    story_words = {w for s in samples for line in s.lines for w in re.findall(r"[A-Za-z]+", line)}
    assert not story_words & test_words
    heads = {verb.split()[0] for verbs in PARAPHRASED_VERBS.values() for verb in verbs}
    assert not story_words & (heads | {opener.rstrip(",") for opener in OPENERS})  # the test-only phrasing
    assert {"Then", "Meanwhile", "returned" if task == "qa1" else "retrieved"} <= story_words  # training's own
    assert len(story_words & set(VARIED_NAMES)) > 40  # names drawn anew for every story
    people: dict[int, set[str]] = {}
    for s in samples:
        assert derive_answer(s.lines, s.question) == (s.answer, s.support)
        people.setdefault(s.story, set()).update(read_event(line)[1] for line in s.lines)
    assert min(map(len, people.values())) <= 3 and max(map(len, people.values())) >= 6
    distances = {shape(s)[0] for s in samples}
    assert max(distances) > 4  # bAbI's facts are never more than four sentences back
    if task == "qa2":  # bAbI's two question shapes and the one it never asks
        patterns = {shape(s)[1] for s in samples}
        assert {"held, moved after", "dropped, moved before", "held, moved before"} <= patterns


@pytest.mark.parametrize("task", ["qa3", "qa4", "qa5"])
def test_training_stories_of_the_other_tasks_rederive_and_use_training_words(task):
    samples = parse_babi(gen.generate_training_stories(task, 40, seed=2), task)
    test_words = {w for name in TEST_VOCABULARIES for pool in gen.VOCABULARIES[name] for entry in pool
                  for w in entry.split()}
    for s in samples:
        assert derive_answer(s.lines, s.question) == (s.answer, s.support)
        assert not {w for line in s.lines for w in re.findall(r"[A-Za-z]+", line)} & test_words
    assert {s.answer for s in samples} & set(VARIED_PLACES if task != "qa5" else VARIED_NAMES + VARIED_OBJECTS)


@pytest.mark.parametrize("setting", ["vocabulary=training", "phrasing=training"])
def test_training_words_and_phrasing_are_refused_in_a_test_story(setting):
    with pytest.raises(InputError, match="meant to be unseen but training"):
        gen.generate_variant("qa1", "babi-words", 1, settings=[setting])


def test_a_pool_that_overlaps_training_is_a_one_line_error(monkeypatch):
    with pytest.raises(InputError, match="training or --unseen uses kitchen, violin$"):
        gen.check_unseen("places", ["tree fort", "kitchen", "violin"])
    with pytest.raises(InputError, match="uses went$"):
        gen.check_unseen("move verbs", ["went into", "headed to"], heads_only=True)
    gen.check_unseen("move verbs", ["headed to"], heads_only=True)  # "to" is bAbI's, the verb is not
    names, places, objects = gen.VOCABULARIES["one-piece"]
    monkeypatch.setitem(gen.VOCABULARIES, "one-piece", (names, (*places[:-1], "Office"), objects))
    with pytest.raises(InputError) as err:
        gen.generate_variant("qa1", "unseen-one-piece", 1)
    assert str(err.value) == "the one-piece places pool is meant to be unseen but training or --unseen uses Office"


@pytest.mark.parametrize(
    "task, variant, settings, message",
    [
        ("qa1", "nope", [], "unknown qa1 variant 'nope'; known: babi-words, other-stats"),
        ("qa1", "holder-stays", [], "(it is a qa2 variant)"),
        ("qa3", "babi-words", [], "qa1 and qa2 stories, not 'qa3'"),
        ("qa1", "babi-words", ["colour=red"], "KEY one of vocabulary, phrasing, people"),
        ("qa1", "babi-words", ["people"], "KEY=VALUE"),
        ("qa1", "babi-words", ["people=two"], "bad value for people: 'two'"),
        ("qa1", "babi-words", ["people=2-3"], "bad value for people"),
        ("qa1", "babi-words", ["people=5"], "people must be 1 to 4 (the babi vocabulary's names)"),
        ("qa1", "babi-words", ["vocabulary=klingon"], "unknown vocabulary 'klingon'"),
        ("qa1", "babi-words", ["phrasing=poetic"], "unknown phrasing 'poetic'"),
        ("qa2", "babi-words", ["holder=flies"], "unknown holder pattern 'flies'"),
        ("qa1", "babi-words", ["gap=1-2"], "gap and holder are qa2 knobs"),
        ("qa2", "babi-words", ["distance=4-2"], "distance must be a range LO-HI"),
        ("qa2", "other-stats", ["events=2,4"], "events must allow at least 13 sentences"),
    ],
)
def test_unknown_variants_and_knob_values_are_one_line_errors(task, variant, settings, message):
    with pytest.raises(InputError, match=re.escape(message)) as err:
        gen.variant_knobs(task, variant, settings)
    assert "\n" not in str(err.value)


def test_knob_settings_change_one_knob_and_impossible_ones_say_so():
    knobs = gen.variant_knobs("qa2", "other-stats", ["people=3", "events=20-22", "gap=any", "holder=stays"])
    assert knobs == gen.Knobs(people=3, events=(20, 21, 22), distance=(5, 12), gap=None, holder="stays")
    assert gen.variant_knobs("qa1", "babi-words", ["events=2,5"]).events == (2, 5)
    samples = parse_babi(gen.generate_stories("qa2", knobs, 4, seed=1), "qa2")
    assert {shape(s)[1] for s in samples} == {"held, moved before"} and set(blocks(samples)) <= {20, 21, 22}
    with pytest.raises(InputError, match="no qa1 story meets these knobs"):  # one person: every move is the last one
        gen.generate_stories("qa1", gen.Knobs(people=1, distance=(3, 4), events=(5,)), 1)
