"""Oracle figures on the rows the simulated truth covers: a unit labelled from a closed warning
past the simulated months has no truth, and one such row took the oracle figures (and the
lift recovered) away from the whole run."""

from __future__ import annotations

import numpy as np
import pytest

from models.scorer import ScoredArrays
from training.evaluate import ORACLE_MIN_COVERAGE, _auc, evaluate_scores


def _slice(n: int, seed: int = 3) -> tuple[np.ndarray, ScoredArrays, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_prob = rng.uniform(0.01, 0.6, n)
    label = (rng.uniform(size=n) < true_prob).astype(float)
    margin = np.log(true_prob / (1 - true_prob)) + rng.normal(0, 1.0, n)
    scores = 1 / (1 + np.exp(-margin))
    levels = np.where(scores > 0.5, "red", np.where(scores > 0.3, "yellow", "green"))
    arrays = ScoredArrays(
        entity_ids=np.arange(n).astype(str),
        scores=scores,
        levels=levels,
        raw_margin=margin,
        base_value=0.0,
        contributions=None,
    )
    return label, arrays, true_prob


def test_a_few_rows_without_truth_keep_the_oracle_figures_on_the_others() -> None:
    label, arrays, true_prob = _slice(2000)
    full = evaluate_scores(label, arrays, true_prob)
    assert full["oracle_rows"] == 2000
    missing = true_prob.copy()
    missing[[5, 700]] = np.nan  # two feedback rows past the simulated months
    partial = evaluate_scores(label, arrays, missing)
    assert partial["oracle_rows"] == 1998
    known = ~np.isnan(missing)
    oracle_auc = _auc(label[known], true_prob[known])
    assert partial["oracle_roc_auc"] == pytest.approx(oracle_auc)
    # the lift compares the model and the oracle on the same rows
    model_auc = _auc(label[known], arrays.raw_margin[known])
    assert partial["lift_recovered"] == pytest.approx((model_auc - 0.5) / (oracle_auc - 0.5))
    assert partial["roc_auc"] == full["roc_auc"]  # the model's own figures: every row
    assert abs(partial["lift_recovered"] - full["lift_recovered"]) < 0.01


def test_truth_of_a_sliver_of_the_slice_gives_no_oracle_figures() -> None:
    label, arrays, true_prob = _slice(1000)
    sparse = true_prob.copy()
    sparse[: round(1000 * (1 - ORACLE_MIN_COVERAGE)) + 1] = np.nan  # just under the share
    metrics = evaluate_scores(label, arrays, sparse)
    assert not any(key.startswith("oracle_") for key in metrics)
    assert "lift_recovered" not in metrics
