"""The fast TreeSHAP explainer equals LightGBM's `pred_contrib` on every row and column.

Property tests train random LightGBM models (numerical and categorical columns, NaN and zeros,
random depth, leaves, missing-value handling and objective) and compare on the training rows
plus rows built to hit every decision rule's corner: unseen, negative, fractional and huge
category codes, NaN, exact and denormal zeros, infinities. Unsupported models must say so once
and still answer with `pred_contrib`'s numbers.
"""

from __future__ import annotations

import logging

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from models.explainer import TreeExplainer

TOLERANCE = 1e-9


def _edge_rows(n_num: int, n_cat: int, n_categories: int, rng: np.random.Generator) -> np.ndarray:
    """Rows whose values sit on LightGBM's special cases, mixed with ordinary ones."""
    specials_num = [np.nan, 0.0, -0.0, 1e-40, -1e-40, np.inf, -np.inf, 1e300, -3.0, 3.0]
    specials_cat = [np.nan, -1.0, -0.5, 0.0, 0.7, 1.0, n_categories + 3.0, 31.0, 32.0, 1e10]
    rows = np.empty((60, n_num + n_cat))
    for column in range(n_num):
        rows[:, column] = rng.choice(specials_num + list(rng.normal(size=10)), size=60)
    for column in range(n_num, n_num + n_cat):
        codes = list(rng.integers(0, n_categories, 10).astype(float))
        rows[:, column] = rng.choice(specials_cat + codes, size=60)
    return rows


def _assert_matches(booster: lgb.Booster, explainer: TreeExplainer, rows: np.ndarray) -> None:
    """Every entry within 1e-9 of `pred_contrib`, or, for a row whose contributions are so large
    that 1e-9 is below float64 rounding (a random model with leaf values near 1e14: one ulp of
    1e14 is 0.016), within 8 ulps of the row's summed |contribution|: the two sum the same
    terms in a different order. Below a summed magnitude of about 5e5 the bound is 1e-9."""
    expected = np.asarray(booster.predict(rows, pred_contrib=True, num_threads=1))
    got = explainer.contributions(rows)
    assert got.shape == expected.shape
    difference = np.abs(got - expected)
    rounding = 8 * np.finfo(np.float64).eps * np.abs(expected).sum(axis=1, keepdims=True)
    excess = difference - np.maximum(TOLERANCE, rounding)
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    assert excess.max() <= 0, (
        f"row {worst[0]} column {worst[1]}: {got[worst]} vs pred_contrib {expected[worst]}"
    )


#: The largest |leaf value| of a random model the property test explains: a calibrated risk
#: model's leaves are log-odds steps well below 10
LEAF_LIMIT = 1e6


def _leaves_within(booster: lgb.Booster, limit: float) -> bool:
    """Whether every leaf value of `booster` is finite and within `limit` in magnitude."""
    for line in booster.model_to_string().splitlines():
        if line.startswith("leaf_value="):
            values = np.array(line.removeprefix("leaf_value=").split(), dtype=float)
            if not np.all(np.isfinite(values)) or np.abs(values).max(initial=0.0) > limit:
                return False
    return True


@st.composite
def random_models(draw: st.DrawFn) -> tuple[lgb.Booster, np.ndarray, dict[str, int]]:
    """A LightGBM model trained on random data, and the rows to explain."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_rows = draw(st.integers(40, 400))
    n_num = draw(st.integers(1, 5))
    n_cat = draw(st.integers(0, 3))
    n_categories = draw(st.sampled_from([2, 5, 12, 40]))
    nan_share = draw(st.sampled_from([0.0, 0.1, 0.4]))
    zero_share = draw(st.sampled_from([0.0, 0.2, 0.5]))
    numeric = rng.normal(size=(n_rows, n_num))
    numeric[rng.random(numeric.shape) < zero_share] = 0.0
    numeric[rng.random(numeric.shape) < nan_share] = np.nan
    categories = rng.integers(0, n_categories, size=(n_rows, n_cat)).astype(float)
    categories[rng.random(categories.shape) < nan_share / 2] = np.nan
    x = np.hstack([numeric, categories])
    signal = np.nan_to_num(numeric[:, 0]) + (np.nan_to_num(x[:, -1]) % 3 == 1)
    objective = draw(st.sampled_from(["binary", "regression"]))
    noisy = signal + rng.normal(scale=0.7, size=n_rows)
    label = (noisy > np.median(noisy)).astype(float) if objective == "binary" else noisy
    params = {
        "objective": objective,
        "verbose": -1,
        "num_threads": 1,
        "seed": 1,
        "num_leaves": draw(st.integers(2, 48)),
        "max_depth": draw(st.sampled_from([-1, 1, 2, 3, 5, 6, 8, 12])),
        "min_data_in_leaf": draw(st.sampled_from([1, 3, 10, 30, 1000])),
        "min_sum_hessian_in_leaf": 0.0,
        "learning_rate": draw(st.sampled_from([0.05, 0.3, 1.0])),
        "use_missing": draw(st.booleans()),
        "zero_as_missing": draw(st.booleans()),
        "max_cat_to_onehot": draw(st.sampled_from([1, 4, 64])),
        "min_data_per_group": draw(st.sampled_from([1, 5, 50])),
        "cat_smooth": draw(st.sampled_from([0.0, 10.0])),
        "cat_l2": 1.0,
        "max_bin": draw(st.sampled_from([4, 63, 255])),
    }
    dataset = lgb.Dataset(
        x,
        label,
        categorical_feature=list(range(n_num, n_num + n_cat)),
        params={"verbose": -1, "min_data_in_bin": 1},
        free_raw_data=False,
    )
    rounds = draw(st.integers(1, 25))
    try:
        booster = lgb.train(params, dataset, num_boost_round=rounds)
    except lgb.basic.LightGBMError as error:
        # LightGBM itself gives up on a few extreme settings (min_sum_hessian_in_leaf=0 with
        # min_data_in_leaf=1 can pick a split with an empty side): no model to explain
        assume("Check failed" not in str(error))
        raise
    # ... or trains one whose leaves hold values near 1e12 and more (it logs the same "Check
    # failed" and goes on; its own JSON dump may then not parse): at that size one ulp is
    # 1e-4, and two exact sums of the same terms in another order differ by more than any
    # fixed bound. No training setting of riskloop makes such a model (`LEAF_LIMIT`).
    assume(_leaves_within(booster, LEAF_LIMIT))
    rows = np.vstack([x, _edge_rows(n_num, n_cat, n_categories, rng)])
    knobs = {
        "block_entries": draw(st.sampled_from([0, 64, 2048, 1 << 14])),
        "table_max_d": draw(st.sampled_from([0, 2, 10])),
    }
    return booster, rows, knobs


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(random_models())
def test_random_models_match_pred_contrib(
    case: tuple[lgb.Booster, np.ndarray, dict[str, int]],
) -> None:
    booster, rows, knobs = case
    for kind in _split_kinds(booster):
        event(kind)  # `pytest --hypothesis-show-statistics` shows what the examples covered
    explainer = TreeExplainer.from_booster(booster, **knobs)
    assert explainer.fallback_reason is None, explainer.fallback_reason
    _assert_matches(booster, explainer, rows)
    _assert_matches(booster, explainer, rows[:1])  # a one-row call: the service's common case


def _split_kinds(booster: lgb.Booster) -> set[str]:
    """The kinds of split a model holds: categorical, and each missing type by default side."""
    kinds = set()
    for tree in booster.dump_model()["tree_info"]:
        nodes = _internal_nodes(tree["tree_structure"])
        if not nodes:
            kinds.add("single-leaf tree")
        for node in nodes:
            if node["decision_type"] == "==":
                kinds.add("categorical split")
            else:
                side = "left" if node["default_left"] else "right"
                kinds.add(f"missing_type {node['missing_type']}, default {side}")
    return kinds


def _trained(x: np.ndarray, label: np.ndarray, **params: object) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": 3}
    categorical = list(params.pop("categorical", []))  # type: ignore[call-overload]
    dataset = lgb.Dataset(x, label, categorical_feature=categorical, params={"verbose": -1})
    rounds = int(params.pop("rounds", 20))  # type: ignore[call-overload]
    return lgb.train({**base, **params}, dataset, num_boost_round=rounds)


def test_many_categories_use_multi_word_bitsets() -> None:
    """70 categories: split bitsets span three 32-bit words, and codes past them go right."""
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 70, 3000).astype(float)
    label = ((codes % 7 == 3) | (codes > 60)).astype(float)
    x = np.column_stack([codes, rng.normal(size=3000)])
    booster = _trained(
        x, label, categorical=[0], max_cat_to_onehot=1, max_cat_threshold=64, min_data_per_group=5
    )
    model = booster.dump_model()
    thresholds = [
        node["threshold"]
        for tree in model["tree_info"]
        for node in _internal_nodes(tree["tree_structure"])
        if node["decision_type"] == "=="
    ]
    assert any(max(int(c) for c in str(t).split("||")) >= 32 for t in thresholds), thresholds
    rows = np.column_stack([np.arange(-2, 100, 0.5), np.zeros(204)])
    explainer = TreeExplainer.from_booster(booster)
    assert explainer.fallback_reason is None
    _assert_matches(booster, explainer, np.vstack([x, rows]))


def _internal_nodes(node: dict[str, object]) -> list[dict[str, object]]:
    if "split_index" not in node:
        return []
    left, right = node["left_child"], node["right_child"]
    assert isinstance(left, dict) and isinstance(right, dict)
    return [node, *_internal_nodes(left), *_internal_nodes(right)]


def test_deep_leaves_are_explained_per_row_exactly() -> None:
    """Paths over more distinct features than a table holds take the per-row path, still exact."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, 16))
    label = (np.sin(x).sum(axis=1) + rng.normal(scale=0.3, size=4000) > 0).astype(float)
    booster = _trained(x, label, num_leaves=255, max_depth=-1, min_data_in_leaf=1, rounds=4)
    explainer = TreeExplainer.from_booster(booster)
    assert explainer.fallback_reason is None
    assert explainer.untabulated_blocks > 0, "the model should have a leaf deeper than a table"
    _assert_matches(booster, explainer, x[:300])


def test_single_leaf_trees_only_move_the_bias() -> None:
    """A constant label grows trees without splits: every contribution 0, bias = the margin."""
    x = np.random.default_rng(2).normal(size=(200, 3))
    booster = _trained(x, np.ones(200) * 3.0, objective="regression", rounds=3)
    assert booster.dump_model()["tree_info"][0]["num_leaves"] == 1
    explainer = TreeExplainer.from_booster(booster)
    assert explainer.fallback_reason is None
    contributions = explainer.contributions(x[:5])
    assert np.all(contributions[:, :-1] == 0.0)
    _assert_matches(booster, explainer, x)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"objective": "multiclass", "num_class": 3}, "several trees per iteration"),
        ({"boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1}, "averages its trees"),
    ],
)
def test_unsupported_models_say_so_once_and_fall_back(
    params: dict[str, object], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 4))
    label = rng.integers(0, 3, 600).astype(float)
    if params.get("objective") != "multiclass":
        label = (label > 0).astype(float)
    booster = _trained(x, label, **dict(params))
    with caplog.at_level(logging.WARNING, logger="models.explainer"):
        explainer = TreeExplainer.from_booster(booster)
        explainer.contributions(x[:50])
        explainer.contributions(x[:1])
    assert explainer.fallback_reason is not None and reason in explainer.fallback_reason
    warnings = [r for r in caplog.records if r.name == "models.explainer"]
    assert len(warnings) == 1 and "pred_contrib" in warnings[0].getMessage()
    expected = booster.predict(x[:50], pred_contrib=True, num_threads=1)
    assert np.array_equal(explainer.contributions(x[:50]), expected)


def test_linear_trees_are_refused_as_lightgbm_refuses_them() -> None:
    """LightGBM has no TreeSHAP for linear trees either: the fallback passes its error on."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(600, 3))
    booster = _trained(x, (x[:, 0] > 0).astype(float), linear_tree=True)
    explainer = TreeExplainer.from_booster(booster)
    assert explainer.fallback_reason == "the model has linear trees"
    with pytest.raises(lgb.basic.LightGBMError, match="linear trees"):
        explainer.contributions(x[:3])


def test_wrong_column_count_is_a_clear_error() -> None:
    x = np.random.default_rng(6).normal(size=(300, 3))
    booster = _trained(x, (x[:, 0] > 0).astype(float))
    explainer = TreeExplainer.from_booster(booster)
    with pytest.raises(ValueError, match="3 feature columns"):
        explainer.contributions(x[:, :2])


def test_best_iteration_is_the_one_explained() -> None:
    """An early-stopped booster predicts with its best iteration; so must the explainer."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(1500, 4))
    label = (x[:, 0] + rng.normal(scale=2.0, size=1500) > 0).astype(float)
    train = lgb.Dataset(x[:1000], label[:1000], params={"verbose": -1})
    valid = train.create_valid(x[1000:], label[1000:])
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "learning_rate": 0.5},
        train,
        num_boost_round=200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(5, verbose=False)],
        keep_training_booster=True,  # keeps the trees past the best iteration
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    explainer = TreeExplainer.from_booster(booster)
    _assert_matches(booster, explainer, x)


def test_install_self_check_passes() -> None:
    """`make install` runs `python -m models.explainer`; it must compile, agree and exit 0."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "models.explainer"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "compiled and cached" in done.stdout


def test_expected_value_is_the_bias_column() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(400, 3))
    booster = _trained(x, (x[:, 1] > 0.3).astype(float))
    bias = float(np.asarray(booster.predict(x[:1], pred_contrib=True))[0, -1])
    assert TreeExplainer.from_booster(booster).expected_value == pytest.approx(bias, abs=1e-12)
    fallback = TreeExplainer(booster, 3, "forced slow path for the test")
    assert fallback.expected_value == bias


def test_threads_and_memory_layouts_give_the_same_numbers() -> None:
    """The service explains on several threads at once (the kernel releases the GIL), and
    callers pass float32, Fortran-ordered or strided matrices."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(13)
    x = rng.normal(size=(2000, 5))
    x[rng.random(x.shape) < 0.1] = np.nan
    booster = _trained(x, (np.nan_to_num(x[:, 2]) > 0).astype(float), num_leaves=15)
    explainer = TreeExplainer.from_booster(booster)
    expected = explainer.contributions(x)
    parts = np.array_split(np.arange(len(x)), 8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda rows: explainer.contributions(x[rows]), parts))
    assert np.array_equal(np.vstack(results), expected)
    assert np.array_equal(explainer.contributions(np.asfortranarray(x)), expected)
    wide = np.hstack([x, x])[:, ::2]  # a strided view of other values: compare with LightGBM
    _assert_matches(booster, explainer, wide)
    _assert_matches(booster, explainer, x.astype(np.float32))
