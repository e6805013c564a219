"""Cached explanations: a reused row is exactly the explainer's row, and only for the same row.

A real LightGBM model and the real explainer; the cache must return the same bytes as
explaining the whole batch afresh, find a row only by its exact values (a changed value, NaN
against 0, -0.0 against 0.0 are other rows), stay within its bound and be safe across threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from models.explainer import TreeExplainer
from models.explanation_cache import ExplanationCache


@pytest.fixture(scope="module")
def explainer() -> TreeExplainer:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 6))
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, 5] = rng.integers(0, 7, 600)
    label = (np.nan_to_num(x[:, 0]) + (x[:, 5] == 3) + rng.normal(0, 0.5, 600) > 0.8).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, label, categorical_feature=[5]),
        num_boost_round=30,
    )
    return TreeExplainer.from_booster(booster)


def _rows(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, 6))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    rows[:, 5] = rng.integers(0, 7, n)
    return rows


def test_reused_rows_are_the_explainers_numbers(explainer: TreeExplainer) -> None:
    cache = ExplanationCache(max_rows=1_000)
    rows = _rows(1, 200)
    first, reused = cache.contributions(rows, explainer.contributions)
    assert reused == 0
    assert np.array_equal(first, explainer.contributions(rows))
    # the same rows again, shuffled and mixed with new ones: old rows reused, new ones explained
    mixed = np.vstack([rows[::-1][:120], _rows(2, 80)])
    again, reused = cache.contributions(mixed, explainer.contributions)
    assert reused == 120
    assert np.array_equal(again, explainer.contributions(mixed), equal_nan=True)
    assert len(cache) == 280  # every row explained is kept, each once


@pytest.mark.parametrize(
    ("column", "before", "after"),
    [(0, 0.5, 0.5000000001), (1, 0.0, np.nan), (2, 0.0, -0.0), (5, 3.0, 4.0)],
    ids=["changed value", "zero to missing", "signed zero", "changed category"],
)
def test_a_changed_feature_row_is_explained_afresh(
    explainer: TreeExplainer, column: int, before: float, after: float
) -> None:
    cache = ExplanationCache(max_rows=100)
    row = _rows(3, 1)
    row[0, column] = before
    cache.contributions(row, explainer.contributions)
    changed = row.copy()
    changed[0, column] = after
    got, reused = cache.contributions(changed, explainer.contributions)
    assert reused == 0
    assert np.array_equal(got, explainer.contributions(changed))
    _, reused = cache.contributions(row, explainer.contributions)
    assert reused == 1


def test_the_bound_drops_the_least_recently_used(explainer: TreeExplainer) -> None:
    cache = ExplanationCache(max_rows=3)
    rows = _rows(4, 5)
    for index in range(3):
        cache.contributions(rows[[index]], explainer.contributions)
    cache.contributions(rows[[0]], explainer.contributions)  # row 0 is now the most recent
    cache.contributions(rows[[3]], explainer.contributions)  # drops row 1, the oldest
    assert len(cache) == 3
    assert cache.contributions(rows[[0, 2, 3]], explainer.contributions)[1] == 3
    assert cache.contributions(rows[[1]], explainer.contributions)[1] == 0


def test_size_zero_turns_reuse_off_and_a_negative_size_is_refused(
    explainer: TreeExplainer,
) -> None:
    cache = ExplanationCache(max_rows=0)
    rows = _rows(6, 10)
    cache.contributions(rows, explainer.contributions)
    got, reused = cache.contributions(rows, explainer.contributions)
    assert reused == 0 and len(cache) == 0
    assert np.array_equal(got, explainer.contributions(rows))
    with pytest.raises(ValueError, match="max_rows"):
        ExplanationCache(max_rows=-1)


def test_threads_sharing_a_cache_get_the_same_numbers(explainer: TreeExplainer) -> None:
    cache = ExplanationCache(max_rows=200)  # holds the three batches (180 distinct rows)
    batches = [_rows(seed % 3, 60) for seed in range(40)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: cache.contributions(b, explainer.contributions), batches))
    for batch, (got, _) in zip(batches, results, strict=True):
        assert np.array_equal(got, explainer.contributions(batch))
    assert sum(reused for _, reused in results) >= (40 - 3 * 4) * 60 and len(cache) <= 200
