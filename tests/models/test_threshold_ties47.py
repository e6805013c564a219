"""Level cuts on tied scores: a calibrator's steps or a model of few trees give blocks of equal
scores that no cut can split. A quantile cut inside a block let the whole block in (a red level
at 2.5% where 1% was planned); each cut is now the score whose share is nearest the plan."""

from __future__ import annotations

import numpy as np
import pytest

from models.risk_model import Thresholds, planned_shares
from models.spec import get_spec

SPEC = get_spec("wage-arrears")


def _blocks(*blocks: tuple[float, int]) -> np.ndarray:
    """Scores as blocks of (value, how many), shuffled."""
    scores = np.concatenate([np.full(count, value) for value, count in blocks])
    return np.random.default_rng(0).permutation(scores)


def test_the_planned_shares_are_the_specs_capacities_summed_down_the_levels() -> None:
    assert planned_shares(SPEC) == pytest.approx({"red": 0.01, "orange": 0.05, "yellow": 0.15})


def test_a_cut_inside_a_tied_block_takes_the_nearer_share() -> None:
    # 1,000 units: 5 at 0.95, 20 at 0.9, 30 at 0.7, 95 at 0.5, the rest low.
    # red planned 1%: the quantile fell in the 0.9 block (2.5%); 0.5% is nearer as a ratio
    scores = _blocks((0.95, 5), (0.9, 20), (0.7, 30), (0.5, 95), (0.1, 850))
    thresholds = Thresholds.from_capacity(SPEC, scores)
    assert thresholds.as_dict() == {"red": 0.95, "orange": 0.7, "yellow": 0.5}
    assert thresholds.shares(scores) == pytest.approx(
        {"red": 0.005, "orange": 0.055, "yellow": 0.15}
    )
    levels = thresholds.levels(scores)
    assert [(levels == level).sum() for level in ("red", "orange", "yellow")] == [5, 50, 95]


def test_a_block_too_big_for_a_level_still_holds_it_and_the_shares_say_so() -> None:
    # a model with three scores: the top block is 2.1%, more than red's 1%, but the only
    # red there can be (never an empty level for want of an exact fit)
    scores = _blocks((0.8, 21), (0.4, 76), (0.05, 903))
    thresholds = Thresholds.from_capacity(SPEC, scores)
    assert thresholds.red == 0.8
    assert thresholds.shares(scores)["red"] == pytest.approx(0.021)
    assert thresholds.red >= thresholds.orange >= thresholds.yellow


def test_distinct_scores_hold_the_planned_shares_to_one_unit() -> None:
    scores = np.random.default_rng(1).random(20_000)
    shares = Thresholds.from_capacity(SPEC, scores).shares(scores)
    for level, planned in planned_shares(SPEC).items():
        assert abs(shares[level] - planned) <= 1 / 20_000, level


def test_no_scores_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="need scores"):
        Thresholds.from_capacity(SPEC, np.array([]))
