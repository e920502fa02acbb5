import json

import pytest
import torch

from memreasoner.data.sample import Sample
from memreasoner.errors import InputError
from memreasoner.model.memreasoner import MemReasoner, MemReasonerConfig
from memreasoner.model.pointer import token_words
from memreasoner.model.word_match import words
from memreasoner.reader import Answer, load_reader

STORY = ["Mary moved to the bathroom.", "John went to the hallway.", "Mary went back to the kitchen."]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = MemReasonerConfig(task="qa1", gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                               hops=2, max_answer_tokens=3)
    m = MemReasoner(config)
    m.fit_relevance(m.encoder(STORY), STORY)
    return m


def sample(lines, question="Where is Mary?"):
    text, starts = " ".join(lines), []
    for line in lines:
        starts.append(text.index(line, starts[-1] if starts else 0))
    return Sample(input=text, question=question, target="kitchen", sentence_starts=starts)


def test_answer_reports_hops_as_line_indices(model):
    answers = model.answer([sample(STORY), sample(STORY[:2], "Where is John?")])
    assert len(answers) == 2 and all(isinstance(a, Answer) for a in answers)
    for a, n in zip(answers, (3, 2)):
        assert 1 <= len(a.hops) <= 2 and all(0 <= i < n for i in a.hops)
        assert a.seconds > 0 and a.trace["hop_lines"] == [(STORY)[i] for i in a.hops]


def test_answer_from_each_hop_joins_one_decoded_part_per_hop(model):
    try:
        each = model.with_options(answer_from="each").answer([sample(STORY)])[0]
        last = model.with_options(answer_from="last", stop_threshold=0.0).answer([sample(STORY)])[0]
        assert len(each.hops) == len(last.hops) == 2 and each.hops == last.hops
        # The last hop's part is the answer_from=last answer; the first hop's part comes before it.
        assert each.text.endswith(last.text) and len(each.text) > len(last.text)
        with pytest.raises(InputError):
            model.with_options(answer_from="every")
    finally:
        model.with_options(answer_from="last", stop_threshold=MemReasonerConfig.stop_threshold)


def test_empty_context_gets_an_empty_answer(model):
    a = model.answer_question([], "Where is Mary?")
    assert a.text == "" and a.hops == []


def test_checkpoint_round_trips_bit_exactly(model, tmp_path):
    model.save(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model"] == "memreasoner" and config["decoder_config"]["n_embd"] == 32
    loaded = load_reader(str(tmp_path / "ckpt"))
    assert isinstance(loaded, MemReasoner)
    mine, theirs = model.state_dict(), loaded.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    a, b = model.answer_question(STORY, "Where is Mary?"), loaded.answer_question(STORY, "Where is Mary?")
    assert (a.text, a.hops) == (b.text, b.hops)
    # saving again replaces the folder in place and leaves no temporary folders behind
    model.save(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def saved_without(model: MemReasoner, folder, *keys: str) -> MemReasoner:
    """Save `model`, drop `keys` from its config.json (what a checkpoint from before them looks like), load it."""
    model.save(folder)
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    for key in keys:
        del config[key]
    config_file.write_text(json.dumps(config))
    return MemReasoner.load(folder)


def test_a_checkpoint_from_before_the_copy_decoder_loads_with_a_plain_decoder(tmp_path):
    torch.manual_seed(0)
    old = MemReasoner(MemReasonerConfig(gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                                        copy=False, max_answer_tokens=3))
    loaded = saved_without(old, tmp_path / "old", "copy", "copy_keys")
    assert loaded.config.copy is False and loaded.decoder.copier is None
    assert loaded.answer_question(STORY, "Where is Mary?").text == old.answer_question(STORY, "Where is Mary?").text


def test_a_checkpoint_from_before_closed_class_copy_keys_loads_with_shape_keys(tmp_path):
    torch.manual_seed(0)
    old = MemReasoner(MemReasonerConfig(gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                                        copy_keys="shape", max_answer_tokens=3))
    loaded = saved_without(old, tmp_path / "old", "copy_keys")  # its copy head's shape layer takes 6 features
    assert loaded.config.copy_keys == "shape" and loaded.decoder.copier.shape.in_features == 6
    assert loaded.answer_question(STORY, "Where is Mary?").text == old.answer_question(STORY, "Where is Mary?").text


def test_a_words_keys_checkpoint_loads_without_question_flags_and_new_models_have_them(model, tmp_path):
    assert model.config.copy_keys == "question" and model.decoder.copier.in_question is not None
    torch.manual_seed(0)
    old = MemReasoner(MemReasonerConfig(gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                                        copy_keys="words", max_answer_tokens=3))
    old.save(tmp_path / "old")
    loaded = MemReasoner.load(tmp_path / "old")
    assert loaded.decoder.copier.in_question is None and loaded.decoder.copier.shape.in_features > 6
    assert loaded.answer_question(STORY, "Where is Mary?").text == old.answer_question(STORY, "Where is Mary?").text


def test_a_checkpoint_from_before_spaced_lines_reads_lines_from_their_first_character(model, tmp_path):
    assert model.config.line_space and model.decoder.copy_tokens("Mary went home.")[0] == \
        model.decoder.answer_tokens("Who went home?", "Mary")[1][0]
    loaded = saved_without(model, tmp_path / "old", "line_space")
    assert not loaded.config.line_space
    assert loaded.decoder.copy_tokens("Mary went home.") == loaded.decoder.encoding.encode_ordinary("Mary went home.")


@pytest.mark.parametrize("key, settings", [
    ("hop_roles", {}),  # token-level hop keys
    ("roles_follow", {"hops": 2}),  # keys that follow the previous hop
    ("roles_words", {"iu": False}),  # keys that read words (a line of several-piece words kept)
    ("first_order", {}),  # the first hop's order
    ("roles_rank", {}),  # keys that see which question word a token holds
    ("first_latest", {}),  # the first hop reads where the question's words were said last
    ("order_words", {"hops": 2}),  # later hops count lines by the previous line's words
    ("chain_words", {"hops": 3}),  # ... by the words every earlier hop's line holds
])
def test_a_checkpoint_from_before_a_hop_choice_loads_and_answers_without_it(tmp_path, key, settings):
    torch.manual_seed(0)
    old = MemReasoner(MemReasonerConfig(gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                                        max_answer_tokens=3, **{key: False}, **settings))
    if old.hop.roles is not None:
        torch.nn.init.normal_(old.hop.roles.score.weight)  # keys that count
    loaded = saved_without(old, tmp_path / "old", key)
    assert getattr(loaded.config, key) is False
    assert loaded.state_dict().keys() == old.state_dict().keys()  # the same parts, none of the choice's
    story = STORY + ["Octavia journeyed to the dovecote."]
    for question in ("Where is Mary?", "Where is Octavia?"):
        a, b = loaded.answer_question(story, question), old.answer_question(story, question)
        assert (a.text, a.hops) == (b.text, b.hops)


def test_answering_flags_the_question_words_of_the_line_it_copies_from(model, monkeypatch):
    seen = []
    generate = model.decoder.generate
    monkeypatch.setattr(model.decoder, "generate", lambda *a: seen.append(a[3]) or generate(*a))
    a = model.answer_question(STORY, "Where did Mary go after the hallway?")
    source = seen[0]
    line = STORY[a.hops[-1]]
    flagged = {w for w, f in zip(token_words(tuple(source.ids[0, 0][source.ids[0, 0] >= 0].tolist())),
                                 source.asked[0, 0].tolist()) if f}
    assert flagged == words(line) & set(model.question_words("Where did Mary go after the hallway?")) and "mary" in flagged


def test_answering_reads_every_kept_line_word_by_word_with_the_question_s_words_flagged(model, monkeypatch):
    seen = []
    states = model.hop.roles.states
    monkeypatch.setattr(model.hop.roles, "states", lambda *a: seen.append(a) or states(*a))
    monkeypatch.setattr(model.config, "iu", False)  # every line, the untrained IU's choice aside
    story = STORY + ["Octavia journeyed to the dovecote."]
    question = "Where did Octavia go after the dovecote?"
    a = model.answer_question(story, question)
    ids, asked, _ = seen[0]
    assert ids.shape[1] == a.trace["kept_lines"] == len(story)
    read = {tuple(model.decoder.encoding.decode([i]) for i in ids[0, n][ids[0, n] >= 0].tolist()): asked[0, n][ids[0, n] >= 0].tolist()
            for n in range(ids.shape[1])}
    assert (" Mary", " moved", " to", " the", " bathroom", ".") in read
    octavia = (" Oct", " journey", " to", " the", " do", ".")  # each word's first piece
    asked_words = model.question_words(question)
    expected = [p for p, w in zip(octavia, ("octavia", "journeyed", "to", "the", "dovecote", None)) if w in asked_words]
    assert [p for p, f in zip(octavia, read[octavia]) if f] == expected and {" Oct", " do"} <= set(expected)
    ranks = [asked_words.index(w) + 1 for w in ("octavia", "journeyed", "to", "the", "dovecote") if w in asked_words]
    assert [f for f in read[octavia] if f] == ranks  # which of the question's words, by its place in the question


def test_a_checkpoint_from_before_the_order_bias_and_shared_words_loads_without_them(tmp_path):
    torch.manual_seed(0)
    old = MemReasoner(MemReasonerConfig(gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32, decoder_heads=2,
                                        hops=2, hop_order="none", hop_match="none", max_answer_tokens=3))
    loaded = saved_without(old, tmp_path / "old", "hop_order", "hop_match")
    assert loaded.hop.order is None and loaded.hop.match_gates is None
    a, b = loaded.answer_question(STORY, "Where is Mary?"), old.answer_question(STORY, "Where is Mary?")
    assert (a.text, a.hops) == (b.text, b.hops)


def test_shared_words_are_on_for_a_new_model_and_change_its_hops_once_their_gates_open(model):
    assert model.config.hop_match == "words"
    question = "Where is Mary?"
    before = model.answer_question(STORY, question).hops
    assert before[0] != 1  # untrained, the first hop takes one of Mary's lines
    with torch.no_grad():
        model.hop.match_gates.bias.zero_()
        model.hop.match_gates.bias[0] = -50.0  # away from lines naming Mary
    try:
        assert model.answer_question(STORY, question).hops[0] == 1
    finally:
        with torch.no_grad():
            model.hop.match_gates.bias.zero_()
    assert model.answer_question(STORY, question).hops == before


def test_save_refuses_to_overwrite_a_folder_that_is_not_a_checkpoint(model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError):
        model.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_inference_time_update_keeps_story_lines_in_order(model):
    book = ["It was the best of times, it was the worst of times, it was the age of wisdom.",
            "Call me Ishmael, some years ago, never mind how long precisely, I thought I would sail about a little.",
            "The whale, the sea, and the long silence of the deck at night."] * 4
    lines = book[:5] + [STORY[0]] + book[5:9] + [STORY[1]] + book[9:] + [STORY[2]]
    zq = model.encoder(["Where is Mary?"])[0]
    kept, z, scores = model.relevance.select(lines, zq, model.encoder)
    assert [lines[i] for i in kept] == STORY
    # streamed in chunks of 2 lines, the same lines survive
    model.relevance.stream_lines = 2
    assert model.relevance.select(lines, zq, model.encoder)[0] == kept
    model.relevance.stream_lines = model.config.stream_lines


def test_inference_options_reach_the_parts_that_read_them(model):
    typical = float(model.relevance.calibration)
    model.with_options(eta=2, relevance_margin=0.7, relevance_quantile=0.0, alpha=1.0, hops=1)
    try:
        assert (model.relevance.eta, model.relevance.margin, model.hop.alpha, model.hop.hops) == (2, 0.7, 1.0, 1)
        assert float(model.relevance.calibration) < typical  # now the least typical line's, recomputed from the bank
        assert len(model.answer_question(STORY * 3, "Where is Mary?").hops) == 1
    finally:
        model.with_options(eta=128, relevance_margin=MemReasonerConfig.relevance_margin,
                           relevance_quantile=MemReasonerConfig.relevance_quantile, alpha=8.0, hops=2)
    assert float(model.relevance.calibration) == typical


def test_first_pass_needs_a_checkpoint_trained_with_it(model):
    with pytest.raises(InputError, match="--first-pass"):
        model.with_options(first_pass=True)
    model.config.first_pass = False


def test_a_fact_glued_to_a_cut_sentence_is_read_as_its_own_line(model):
    # How BABILong's generator may write a story: the last noise sentence cut by tokens, a fact right after it.
    glued = "Still later he removed to Mary went back to the kitchen."
    book = "It was a dark and stormy night, and the rain fell in torrents."
    lines = [STORY[0], book, STORY[1], glued]
    whole = Sample(input=" ".join(lines), question="Where is Mary?", target="kitchen")  # no line boundaries: Punkt's
    assert len(whole.lines()) == 4
    answer = model.answer([whole])[0]
    assert answer.trace["kept_lines"] == 3  # the three story lines; the book line and the cut piece dropped
    assert all(0 <= i < 4 for i in answer.hops)  # hops name lines of the input, not of the split
    for i, text in zip(answer.hops, answer.trace["hop_lines"]):
        assert text == (STORY[2] if i == 3 else lines[i])  # the glued fact is read without its cut piece


@pytest.mark.parametrize("options, why", [
    ({"temporal": "none"}, "temporal is fixed when the model is trained; answer-time options of memreasoner: "),
    ({"copy": "false"}, "copy is fixed when the model is trained; answer-time options"),
    ({"relevance_templates": []}, "relevance_templates is fixed when the model is trained"),  # fitted by training
    ({"tempo": "1"}, "tempo is no setting of memreasoner; answer-time options"),
    ({"eta": "many"}, "eta takes a whole number, not 'many'"),
    ({"iu": "perhaps"}, "iu takes true or false"),
    ({"relevance": "nearest"}, "relevance must be one of template, knn"),
    ({"relevance_quantile": "1.5"}, "relevance_quantile must be in [0, 1), not 1.5"),
])
def test_only_answer_time_options_change_and_a_refusal_says_why_and_changes_nothing(model, options, why):
    before = dict(vars(model.config))
    with pytest.raises(InputError) as err:
        model.with_options(alpha="3", **options)  # a good option beside the bad one is not applied either
    message = str(err.value)
    assert why in message and "\n" not in message
    if "answer-time options" in why:  # a wrong name lists the right ones, and only those
        listed = message.split(": ")[-1].split(", ")
        assert {"iu", "eta", "hops", "first_pass", "answer_batch"} <= set(listed)
        assert not {"temporal", "copy", "slots", "relevance_templates"} & set(listed)
    assert vars(model.config) == before and model.hop.alpha == before["alpha"]


def test_an_option_given_as_text_reaches_the_part_that_reads_it(model):
    try:
        model.with_options(hop_revisit="true", stop_threshold="0.25", first_pass_keep="7")
        assert model.hop.revisit is True and model.hop.threshold == 0.25
        assert model.config.first_pass_keep == 7
    finally:
        model.with_options(hop_revisit=False, stop_threshold=MemReasonerConfig.stop_threshold,
                           first_pass_keep=MemReasonerConfig.first_pass_keep)


def test_a_refused_first_pass_leaves_the_other_options_as_they_were(model):
    with pytest.raises(InputError, match="--first-pass"):
        model.with_options(first_pass=True, alpha=2.0)
    assert model.config.first_pass is False and model.config.alpha == model.hop.alpha == 8.0


def test_a_damaged_static_model_is_one_line_naming_its_file(model, tmp_path):
    model.save(tmp_path / "ckpt")
    static = tmp_path / "ckpt" / "static"
    static.mkdir()
    (static / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(InputError) as err:
        MemReasoner.load(tmp_path / "ckpt")
    assert "damaged weights file" in str(err.value) and str(static / "model.safetensors") in str(err.value)


def test_eval_records_the_checkpoint_and_every_option_and_refuses_a_fixed_setting_in_one_line(model, tmp_path, capsys):
    from memreasoner.cli import main
    from memreasoner.data.sample import write_samples

    model.save(tmp_path / "ckpt")
    data, out = tmp_path / "data.jsonl", tmp_path / "results.json"
    write_samples([sample(STORY)], data)
    base = ["eval", "--model", str(tmp_path / "ckpt"), "--data", str(data), "--device", "cpu"]
    assert main([*base, "--set", "eta=5", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["checkpoint"] == str(tmp_path / "ckpt")
    assert results["options"]["eta"] == 5 and results["options"]["iu"] is True  # the one set and the defaults used
    assert "temporal" not in results["options"] and "first_pass" in results["options"]
    capsys.readouterr()
    assert main([*base, "--set", "temporal=none"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "temporal is fixed when the model is trained" in error
