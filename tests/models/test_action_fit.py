"""Recommended actions fit the reason's value, and every declared action can be given.

A QA tester found a dispute handled at county level told to move to county level (its
handling level raised the risk), and the group-dispute action given to no one: its only
feature was not actionable.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.catalog import FeatureDef
from models.risk_model import RiskModel, feature_columns
from models.scorer import ACTION_REASONS, score_arrays, score_frame, scored_dicts, scored_records
from models.spec import RISK_LEVELS, TASK_NAMES, Action, TaskSpec, get_spec

MOVE_TO_COUNTY = ("Consider moving the case to county-level handling.", "研究提级至县级处置。")
HIGHER_LEVEL = ("Consider handling the case at a higher level.", "研究提级处置。")
MEET_THE_GROUP = ("Name a responsible official and meet the group's representatives.",
                  "明确包案领导，约谈群体代表。")  # fmt: skip

#: the QA tester's record (features it left out are missing, as the API takes them)
QA_COUNTY_RECORD: dict[str, Any] = {
    "entity_id": "qa-county-1", "dispute_type": "labour", "is_high_risk_type": True,
    "group_flag": True, "n_parties": 12, "party_prior_police_calls": 8,
    "party_prior_petitions": 8, "mediation_attempts": 2, "mediation_failures": 2,
    "mediation_agreement": False, "handling_level": "county", "county_handling": True,
    "registration_channel": "walk_in", "dispute_amount": 51040.0,
}  # fmt: skip


def _city(spec: TaskSpec, seed: int, n_rows: int = 3000) -> pd.DataFrame:
    """Disputes whose cases handled above the grid, most of all at county level, escalate
    more (the hardest cases are sent up), as do group disputes; other features are noise."""
    rng = np.random.default_rng(seed)
    rows: dict[str, Any] = {"entity_id": [f"d-{i}" for i in range(n_rows)]}
    for feature in spec.features:
        if feature.dtype == "category":
            rows[feature.name] = pd.Categorical(
                rng.choice(list(feature.categories), n_rows), categories=list(feature.categories)
            )
        elif feature.dtype == "bool":
            rows[feature.name] = rng.random(n_rows) < 0.3
        elif feature.dtype == "int":
            rows[feature.name] = rng.poisson(1.0, n_rows).astype("int64")
        else:
            rows[feature.name] = rng.gamma(2.0, 100.0, n_rows)
    level = np.asarray(rows["handling_level"]).astype(str)
    rows["county_handling"] = level == "county"
    above_grid = 2.0 * (level == "township") + 3.0 * (level == "county")
    logit = -3.0 + above_grid + 1.5 * rows["group_flag"]
    rows["label"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype("int8")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def county_risk_model() -> RiskModel:
    spec = get_spec("dispute-escalation")
    spec = dataclasses.replace(spec, params=dataclasses.replace(spec.params, num_boost_round=40))
    train, valid = _city(spec, seed=0), _city(spec, seed=1)
    return RiskModel(spec).fit(train, train["label"], valid, valid["label"])


def _frame(model: RiskModel, records: list[dict[str, Any]]) -> pd.DataFrame:
    names = ["entity_id", *model.spec.feature_names]
    return pd.DataFrame([{name: record.get(name, np.nan) for name in names} for record in records])


def _texts(actions: list[Any]) -> set[str]:
    return {a["action"] if isinstance(a, dict) else a.action for a in actions}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_dispute_handled_at_county_is_not_asked_to_move_there(
    county_risk_model: RiskModel, lang: str
) -> None:
    """The QA record: its handling level raises the risk, yet no action proposes moving it to
    county level or to a higher level; the same dispute at township level is proposed both."""
    model = county_risk_model
    township = {**QA_COUNTY_RECORD, "entity_id": "qa-township-1", "handling_level": "township",
                "county_handling": False}  # fmt: skip
    frame = _frame(model, [QA_COUNTY_RECORD, township])
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, columns=columns)
    records = scored_records(model, arrays, columns, top_k=ACTION_REASONS, lang=lang)  # type: ignore[arg-type]
    dicts = scored_dicts(model, arrays, columns, top_k=ACTION_REASONS, lang=lang)  # type: ignore[arg-type]
    assert dicts == [asdict(record) for record in records]
    at_county, at_township = records
    index = 1 if lang == "zh" else 0
    for record in (at_county, at_township):
        assert record.risk_level != "green"
        raising = {r.feature for r in record.reasons if r.direction == "raises"}
        assert "handling_level" in raising, record.reasons
    assert not _texts(at_county.actions) & {MOVE_TO_COUNTY[index], HIGHER_LEVEL[index]}
    assert {MOVE_TO_COUNTY[index], HIGHER_LEVEL[index]} <= _texts(at_township.actions)
    # the rest of the county case's actions are still there: its level's and the group's
    assert at_county.actions[0].trigger == f"level:{at_county.risk_level}"
    assert MEET_THE_GROUP[index] in _texts(at_county.actions)


def test_the_batch_memo_of_actions_tells_the_values_apart(county_risk_model: RiskModel) -> None:
    """`scored_dicts` makes a batch's actions once per level and set of raising features:
    two rows with the same contributions, one at township level and one at county level,
    share both, and still get their own actions (township first, so the memo is filled
    with the action that does not fit the county row)."""
    model = county_risk_model
    frame = _frame(model, [QA_COUNTY_RECORD, QA_COUNTY_RECORD])
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, columns=columns)
    values = [np.asarray(column, dtype=object).copy() for column in columns]
    names = list(model.spec.feature_names)
    values[names.index("handling_level")][0] = "township"
    values[names.index("county_handling")][0] = False
    records = scored_records(model, arrays, values, top_k=ACTION_REASONS)  # type: ignore[arg-type]
    dicts = scored_dicts(model, arrays, values, top_k=ACTION_REASONS)  # type: ignore[arg-type]
    assert dicts == [asdict(record) for record in records]
    assert MOVE_TO_COUNTY[0] in _texts(dicts[0]["actions"])
    assert MOVE_TO_COUNTY[0] not in _texts(dicts[1]["actions"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_group_dispute_among_the_top_reasons_gets_its_action(
    county_risk_model: RiskModel, lang: str
) -> None:
    model = county_risk_model
    records = score_frame(model, _frame(model, [QA_COUNTY_RECORD]), lang=lang)  # type: ignore[arg-type]
    (record,) = records
    group = next(r for r in record.reasons if r.feature == "group_flag")
    assert group.direction == "raises" and group.actionable
    index = 1 if lang == "zh" else 0
    triggered = {a.action: a.trigger for a in record.actions}
    assert triggered[MEET_THE_GROUP[index]] == "reason:group_flag"


def _declared(spec: TaskSpec) -> list[Action]:
    groups = (*spec.level_actions.values(), *spec.driver_actions.values(),
              *spec.feature_actions.values())  # fmt: skip
    return list(dict.fromkeys(action for group in groups for action in group))


def _sample_values(feature: FeatureDef) -> list[Any]:
    """Values a feature can hold: every category or flag, and numbers across its range."""
    if feature.dtype == "category":
        return list(feature.categories)
    if feature.dtype == "bool":
        return [False, True]
    low = feature.min_value if feature.min_value is not None else -1e6
    high = feature.max_value if feature.max_value is not None else 1e6
    candidates = [low, -2.0, -1.0, -0.5, -0.01, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0, high]
    kept = [v for v in candidates if low <= v <= high]
    return [int(v) for v in kept if v == int(v)] if feature.dtype == "int" else kept


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_declared_action_is_reachable(task: str) -> None:
    """Each action a spec declares is given by some warning level, or by some actionable
    feature holding some value of its range."""
    spec = get_spec(task)
    given: set[Action] = set()
    for level in RISK_LEVELS:
        given.update(action for _, action in spec.actions_for(level, ()))
    for feature in spec.features:
        for value in _sample_values(feature):
            given.update(action for _, action in spec.actions_for("yellow", (feature,), (value,)))
    unreachable = [action.text_en for action in _declared(spec) if action not in given]
    assert not unreachable, f"{task}: never given: {unreachable}"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_value_fits_name_a_feature_that_triggers_the_action_and_values_it_can_hold(
    task: str,
) -> None:
    spec = get_spec(task)
    for action in _declared(spec):
        for fit in action.fits:
            feature = spec.feature(fit.feature)
            assert action in spec.reason_actions(feature), (fit, action.text_en)
            if feature.dtype == "category":
                assert set(fit.unless) <= set(feature.categories), fit
            elif feature.dtype == "bool":
                assert all(isinstance(v, bool) for v in fit.unless), fit
            else:
                assert all(isinstance(v, int | float) for v in fit.unless), fit
            if feature.dtype in ("category", "bool"):
                assert fit.below is None and fit.above is None, fit
            admitted = [v for v in _sample_values(feature) if fit.admits(v)]
            assert admitted, f"{fit} admits no value of {feature.name}"
    # the fits travel with the spec logged with every training run
    logged = json.loads(json.dumps(spec.to_dict()))
    assert all("fits" in action for actions in logged["driver_actions"].values()
               for action in actions)  # fmt: skip


@pytest.mark.parametrize(
    ("task", "feature", "shows_it", "asks_it", "text"),
    [
        ("dispute-escalation", "handling_level", "county", "township", MOVE_TO_COUNTY[0]),
        ("dispute-escalation", "handling_level", "county", "grid", HIGHER_LEVEL[0]),
        ("dispute-escalation", "county_handling", True, False, MOVE_TO_COUNTY[0]),
        ("dispute-escalation", "mediation_agreement", True, False,
         "No agreement yet: schedule another mediation session."),
        ("dispute-escalation", "mediation_agreement", True, False,
         "Change the mediator or move to a higher-level mediation."),
        ("dispute-escalation", "mediation_attempts", 0, 2,
         "Review the mediation record and change the approach."),
        ("dispute-escalation", "group_flag", False, True, MEET_THE_GROUP[0]),
        ("telecom-fraud", "antifraud_app_installed", True, False,
         "Help the resident install the national anti-fraud app."),
        ("telecom-fraud", "warnings_answered_30d", 2, 0,
         "The last warning went unanswered: repeat it by phone or visit."),
        ("telecom-fraud", "elderly_living_alone", False, True,
         "Arrange a volunteer check-in with the older resident living alone."),
        ("telecom-fraud", "night_transfers_30d", 0, 3,
         "Review the night-time transfers with the resident."),
        ("wage-arrears", "prior_wage_complaints_12m", 0, 2,
         "Review earlier complaints and how they were closed."),
        ("wage-arrears", "sales_trend_6m", 0.04, -0.04,
         "Share the sales decline with the labour office for a joint check."),
        ("wage-arrears", "si_shortfall_ratio_3m", 0.0, 0.3,
         "Verify the social-insurance arrears and urge payment."),
    ],
)  # fmt: skip
def test_no_action_asks_for_what_the_value_already_shows(
    task: str, feature: str, shows_it: Any, asks_it: Any, text: str
) -> None:
    """A reason whose value already shows what an action asks for (or that there is nothing
    for it to act on) does not trigger it; a value that asks for it does."""
    spec = get_spec(task)
    reason = (spec.feature(feature),)

    def given(value: Any) -> list[str]:
        return [action.text_en for _, action in spec.actions_for("orange", reason, (value,))]

    assert text not in given(shows_it)
    assert text in given(asks_it)
    assert given(np.asarray([shows_it])[0]) == given(shows_it)  # numpy scalars, as in frames
