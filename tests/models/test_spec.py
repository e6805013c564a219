"""The task specs: names, catalog-derived constraints, capacities and actions."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from features.catalog import CATALOG, CATALOG_VERSION
from models.spec import TASK_NAMES, UnknownTaskError, get_spec, task_slug


@pytest.mark.parametrize("task", TASK_NAMES)
def test_spec_accepts_task_name_and_slug(task: str) -> None:
    by_name = get_spec(task)
    by_slug = get_spec(task_slug(task))
    assert by_name.task == by_slug.task == task
    assert by_name.feature_names == tuple(f.name for f in CATALOG[by_name.slug])
    assert by_name.catalog_version == CATALOG_VERSION
    assert by_name.registered_model_name == f"riskloop-{task}"


def test_unknown_task_names_the_valid_ones() -> None:
    with pytest.raises(UnknownTaskError, match="wage-arrears, telecom-fraud, dispute-escalation"):
        get_spec("parking-fines")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_monotone_constraints_follow_catalog_directions(task: str) -> None:
    spec = get_spec(task)
    for feature, constraint in zip(spec.features, spec.monotone_constraints, strict=True):
        expected = 0 if feature.dtype == "category" else feature.direction
        assert constraint == expected, feature.name
    params = spec.params.to_lightgbm(spec.monotone_constraints)
    assert params["monotone_constraints"] == list(spec.monotone_constraints)
    assert params["deterministic"] is True


def test_horizons_match_the_contract() -> None:
    as_of = pd.Timestamp("2025-01-31")
    assert as_of + get_spec("wage-arrears").horizon == pd.Timestamp("2025-04-30")
    assert as_of + get_spec("telecom-fraud").horizon == pd.Timestamp("2025-03-02")
    assert as_of + get_spec("dispute-escalation").horizon == pd.Timestamp("2025-05-01")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_capacities_are_nested_shares(task: str) -> None:
    shares = [c.share for c in get_spec(task).capacities]
    assert [c.level for c in get_spec(task).capacities] == ["red", "orange", "yellow"]
    assert all(0 < s < 1 for s in shares) and sum(shares) < 1


@pytest.mark.parametrize("task", TASK_NAMES)
def test_actions_exist_per_level_and_name_real_drivers(task: str) -> None:
    spec = get_spec(task)
    catalog_drivers = {f.signal for f in spec.features if f.signal}
    assert set(spec.driver_actions) <= catalog_drivers
    for name in spec.feature_actions:
        assert spec.feature(name).actionable, name
    for feature in spec.features:
        if feature.actionable:
            assert spec.actions_for("yellow", (feature,))[1:], f"{feature.name} has no action"
    for level in ("red", "orange", "yellow"):
        assert spec.level_actions[level], level
        for action in spec.level_actions[level]:
            assert action.text("en") and action.text("zh") and action.department("zh")


def test_actions_come_from_level_and_actionable_reasons_only() -> None:
    spec = get_spec("wage-arrears")
    si = spec.feature("si_arrears_months_6m")
    construction = spec.feature("is_construction")
    assert si.actionable and not construction.actionable
    assert spec.actions_for("green", (si,)) == []
    triggers = [trigger for trigger, _ in spec.actions_for("orange", (si, construction))]
    assert triggers == ["level:orange", "reason:si_arrears_months_6m"]
    assert [t for t, _ in spec.actions_for("red", (construction,))] == ["level:red"]


def test_search_space_draws_within_bounds() -> None:
    import optuna

    spec = get_spec("telecom-fraud")
    space = spec.search_space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        params = space.suggest(study.ask(), spec.params)
        for field in dataclasses.fields(space):
            bounds = getattr(space, field.name)
            assert bounds.low <= getattr(params, field.name) <= bounds.high
        assert params.seed == spec.params.seed
        assert params.max_depth <= 6
