"""The training data keep out what is measured: STARD half B and the dev sets."""
import dataclasses

import pytest

from training import data

pytestmark = pytest.mark.slow


def test_stard_halves_are_fixed_disjoint_and_complete():
    questions = data.load_questions("stard-train")
    a, b = data.stard_halves(questions, 12)
    again_a, _ = data.stard_halves(list(reversed(questions)), 12)
    assert [q.qid for q in a] == [q.qid for q in again_a]           # independent of file order
    assert not {q.qid for q in a} & {q.qid for q in b}
    assert len(a) + len(b) == len(questions) and abs(len(a) - len(b)) <= 1
    other, _ = data.stard_halves(questions, 13)
    assert {q.qid for q in other} != {q.qid for q in a}             # the seed decides


def test_training_pairs_never_hold_half_b_or_dev_questions():
    from training.pipeline import RunConfig, training_pairs
    config = dataclasses.replace(RunConfig(), heading_pairs=60, rewrites=40)
    pairs, inputs = training_pairs(config, log=lambda _: None)
    half_a, half_b = data.stard_halves(data.load_questions("stard-train"), config.split_seed)
    asked = {p.query for p in pairs}
    assert {q.question for q in half_a} & asked
    assert not {q.question for q in half_b} & asked
    dev = [q.question for name in ("demo-faq", "resident-dev") for q in data.load_questions(name)]
    assert not set(dev) & asked
    assert not any("问：" in p.positive for p in pairs)                # no FAQ chunk (demo-faq's answers)
    assert inputs["pairs"]["stard"] > 500 and "STARD half B" in inputs["never_trained_on"]
