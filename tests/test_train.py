"""MemReasoner training end to end on CPU: a small qa1 run, and resuming an interrupted one."""

import argparse
import json

import pytest
import torch

from memreasoner.commands import train as train_command
from memreasoner.model import train as trainer
from memreasoner.model.memreasoner import MemReasoner
from memreasoner.model.parallel import Ranks

# Small enough for the test suite: a 1-layer decoder, small GRU and memory.
SMALL = ["--augment", "0", "--decoder-layers", "1", "--decoder-dim", "64", "--decoder-heads", "2", "--gru-hidden", "64",
         "--slots", "64", "--threads", "1", "--no-first-pass"]


@pytest.fixture(autouse=True)
def restore_threads():
    """`--threads 1` sets torch's process-wide thread count; give the rest of the suite its own back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def parse(*argv):
    parser = argparse.ArgumentParser()
    train_command.shared_flags(parser)  # what `memreasoner train --model memreasoner` parses
    trainer.add_arguments(parser)
    return parser.parse_args(argv)


def tiny_run(out, task: str, *flags, train_limit: int = 20) -> dict:
    """Three steps of a small model on a few training questions; the metrics.json it writes."""
    args = parse("--task", task, "--out", str(out), "--steps", "3", "--batch-size", "4", "--train-limit",
                 str(train_limit), "--eval-limit", "4", *SMALL, *flags)  # flags win over SMALL's
    assert trainer.run(args) == 0
    return json.loads((out / "metrics.json").read_text())


def short_run(out, task: str, train_limit: int, eval_limit: int) -> dict:
    """150 steps of a small model; the metrics.json it writes."""
    args = parse("--task", task, "--out", str(out), "--steps", "150", "--batch-size", "16", "--warmup", "20",
                 "--lr", "3e-3", "--train-limit", str(train_limit), "--eval-limit", str(eval_limit), *SMALL)
    assert trainer.run(args) == 0
    return json.loads((out / "metrics.json").read_text())


def test_short_qa1_run_answers_held_out_stories_well_above_chance(tmp_path):
    out = tmp_path / "qa1"
    metrics = short_run(out, "qa1", train_limit=500, eval_limit=100)
    # 100 questions from the bAbI test split, never seen in training; chance is 1/6 (six places).
    assert metrics["n"] == 100 and metrics["steps"] == 150
    assert metrics["accuracy"] >= 0.9, metrics  # measured: 1.00 in ~10-20 s
    model = MemReasoner.load(out)
    answer = model.answer_question(["Sandra went to the garden.", "Mary went to the office.",
                                    "Sandra travelled to the kitchen."], "Where is Sandra?")
    assert answer.hops and answer.trace["hop_lines"]


@pytest.mark.parametrize("groups", ["1", "5"])  # plain batches; batches drawn five at a time, cut mid-group
def test_resume_continues_an_interrupted_run_exactly(tmp_path, monkeypatch, groups):
    common = ["--task", "qa1", "--steps", "8", "--batch-size", "4", "--train-limit", "40", "--eval-limit", "4",
              "--checkpoint-every", "3", "--warmup", "2", "--length-groups", groups, *SMALL]
    assert trainer.run(parse("--out", str(tmp_path / "straight"), *common)) == 0

    real_losses, calls = trainer.losses, {"n": 0}

    def interrupted(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:  # dies during step 5; the checkpoint of step 3 survives
            raise KeyboardInterrupt
        return real_losses(*a, **k)

    monkeypatch.setattr(trainer, "losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(parse("--out", str(tmp_path / "resumed"), *common))
    assert torch.load(tmp_path / "resumed" / "trainer.pt", weights_only=False)["step"] == 3
    monkeypatch.setattr(trainer, "losses", real_losses)
    assert trainer.run(parse("--out", str(tmp_path / "resumed"), "--resume", *common)) == 0

    assert json.loads((tmp_path / "resumed" / "metrics.json").read_text())["steps"] == 8
    straight = MemReasoner.load(tmp_path / "straight").state_dict()
    resumed = MemReasoner.load(tmp_path / "resumed").state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_resume_without_a_checkpoint_is_an_input_error(tmp_path):
    from memreasoner.errors import InputError

    with pytest.raises(InputError):
        trainer.run(parse("--task", "qa1", "--out", str(tmp_path / "none"), "--resume"))


def test_short_vt_run_follows_every_chain_hop_on_held_out_chains(tmp_path):
    out = tmp_path / "vt"
    metrics = short_run(out, "vt", train_limit=300, eval_limit=50)
    # Fresh chains of five random five-letter names: every name must be copied right, in chain order.
    assert metrics["n"] == 50 and metrics["supporting_facts_hit"] >= 0.9, metrics
    assert metrics["accuracy"] >= 0.5, metrics
    assert "of 2 chain(s)" in metrics["train_data"]  # by default the queried chain and one other, interleaved
    model = MemReasoner.load(out)
    assert model.config.answer_from == "each" and model.config.hops == 5
    lines = ["VAR QWERT = 31337.", "The grass is green.", "VAR ASDFG = VAR QWERT.", "VAR ZXCVB = VAR ASDFG.",
             "The sky is blue.", "VAR POIUY = VAR ZXCVB.", "VAR LKJHG = VAR POIUY."]
    answer = model.answer_question(lines, "Find all variables that are assigned the value 31337 in the text above.")
    assert answer.hops == [0, 2, 3, 5, 6]  # IU drops the filler; one hop per statement, in order


def test_augment_adds_generated_stories_to_the_bAbI_questions(tmp_path):
    metrics = tiny_run(tmp_path / "aug", "qa1", "--augment", "3")
    assert metrics["train_questions"] == 20 + 3 * 5  # five questions per generated story
    assert "3 generated stories" in metrics["train_data"]


@pytest.mark.parametrize("flags", [["--augment", "-1"], ["--task", "vt", "--augment", "2"], ["--chains", "2"],
                                   ["--length-groups", "0"]])
def test_bad_training_data_flags_are_input_errors(tmp_path, flags):
    from memreasoner.errors import InputError

    with pytest.raises(InputError):
        trainer.run(parse("--task", "qa1", "--out", str(tmp_path / "bad"), *flags))


@pytest.mark.parametrize("task, question", [("qa4", "What is the bathroom east of?"),
                                            ("qa5", "Who gave the football to Jeff?")])
def test_one_hop_relation_tasks_train_and_answer(tmp_path, task, question):
    out = tmp_path / task
    tiny_run(out, task, train_limit=40)
    model = MemReasoner.load(out)
    assert model.config.task == task and model.config.hops == 1
    story = {"qa4": ["The hallway is east of the bathroom.", "The bedroom is west of the bathroom."],
             "qa5": ["Fred gave the football to Jeff.", "Jeff went to the kitchen."]}[task]
    # the relation lines are what its IU keeps: they fit templates fitted on the task's training lines
    assert all(model.relevance.is_story_like(line) for line in story)
    answer = model.answer_question(story, question)
    assert answer.hops and all(0 <= i < len(story) for i in answer.hops)


def test_training_flags_question_words_in_answer_rows_only(tmp_path, monkeypatch):
    from memreasoner.model.decoder import LatentDecoder

    sources, loss = [], LatentDecoder.loss
    monkeypatch.setattr(LatentDecoder, "loss", lambda self, *a: sources.append(a[4]) or loss(self, *a))
    tiny_run(tmp_path / "qa5", "qa5", train_limit=40)
    for source in sources:  # rows: each question's answer, then each story's autoencoded line
        answers, autoencoded = source.asked.chunk(2)
        assert answers.flatten(1).sum(1).min() > 0  # a qa5 question names words of its story
        assert autoencoded.sum() == 0


def test_qa3_trains_three_hops_on_bAbI_and_generated_stories_and_answers(tmp_path):
    out = tmp_path / "qa3"
    metrics = tiny_run(out, "qa3", "--augment", "2")
    assert metrics["train_questions"] == 20 + 2 * 5 and metrics["sf_fraction"] == 0.1
    model = MemReasoner.load(out)
    assert model.config.task == "qa3" and model.config.hops == 3
    story = ["John picked up the apple.", "John went to the office.", "Mary went to the garden.", "John went to the kitchen."]
    answer = model.answer_question(story, "Where was the apple before the kitchen?")
    assert 1 <= len(answer.hops) <= 3 and len(set(answer.hops)) == len(answer.hops)  # distinct lines, hop by hop
    assert all(model.relevance.is_story_like(line) for line in story)


def test_qa3_takes_generated_stories_by_default():
    args = parse("--task", "qa3", "--out", "unused")
    settings = trainer.plan(args, Ranks())
    assert settings.augment == trainer.TASK_DEFAULTS["qa3"]["augment"] > 0 and settings.variant == "en"
    assert trainer.plan(parse("--task", "qa3", "--out", "unused", "--augment", "0"), Ranks()).augment == 0


def test_length_groups_regroup_the_same_draws_into_batches_of_like_length():
    from memreasoner.model.train_data import TrainSet

    data = TrainSet.__new__(TrainSet)  # drawing reads only the stories' line counts
    data.samples = [None] * 300
    data.lines = [torch.arange(1 + i % 60) for i in range(300)]
    gen = torch.Generator().manual_seed(3)
    plain = [data.draw(8, gen) for _ in range(10)]
    grouped = data.draw_grouped(8, 10, torch.Generator().manual_seed(3))

    def pairs(batches):
        return sorted(pair for idx, ae_line in batches for pair in zip(idx, ae_line))

    assert pairs(grouped) == pairs(plain)  # the same questions and autoencoded lines, only regrouped
    assert [len(idx) for idx, _ in grouped] == [8] * 10
    lengths = [[len(data.lines[i]) for i in idx] for idx, _ in grouped]
    spans = sorted((min(batch), max(batch)) for batch in lengths)
    assert all(shorter[1] <= longer[0] for shorter, longer in zip(spans, spans[1:]))  # no two batches overlap
    padded = sum(8 * max(batch) for batch in lengths)
    assert padded < sum(8 * max(len(data.lines[i]) for i in idx) for idx, _ in plain)
    assert lengths != sorted(lengths)  # taken in random order, not shortest first
    assert data.draw_grouped(8, 1, torch.Generator().manual_seed(3)) == plain[:1]
