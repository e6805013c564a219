"""Recommended actions fit the record's values, and every declared action can be given.

A QA tester found a dispute handled at county level told to move to county level (its
handling level raised the risk), and the group-dispute action given to no one: its only
feature was not actionable. A re-check found the fits incomplete: red disputes at county
level were still told by their level to move to the county centre, a resident who received no
warning was told to repeat the last one, a fit on one feature was ignored when another feature
triggered the action (a mediator changed after an agreement, flagged numbers checked when
there were none), and a township-level dispute got two "move up" steps from two departments.
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
from models.spec import (
    RISK_LEVELS,
    TASK_NAMES,
    Action,
    LevelCapacity,
    RiskLevel,
    TaskSpec,
    get_spec,
)

MOVE_TO_COUNTY = ("Consider moving the case to county-level handling.", "研究提级至县级处置。")
TAKE_UP_TO_TOWNSHIP = ("Consider taking the case up to the township centre.",
                       "研究提级至乡镇综治中心处置。")  # fmt: skip
REFER_TO_COUNTY = ("Refer the case to the county centre for county-level handling.",
                   "提请县级矛调中心提级处置。")  # fmt: skip
JOINT_MEETING = ("Joint meeting with police and petition office within 3 days.",
                 "3日内会同公安、信访联合研判。")  # fmt: skip
MOVE_UP = {*MOVE_TO_COUNTY, *TAKE_UP_TO_TOWNSHIP, *REFER_TO_COUNTY}
HANDLING_TRIGGERS = ("reason:handling_level", "reason:county_handling")
MEET_THE_GROUP = ("Name a responsible official and meet the group's representatives.",
                  "明确包案领导，约谈群体代表。")  # fmt: skip
CHANGE_MEDIATOR = "Change the mediator or move to a higher-level mediation."
REVIEW_MEDIATION = "Review the mediation record and change the approach."
UNANSWERED = "The last warning went unanswered: repeat it by phone or visit."
SEVERAL_WARNINGS = "Several warnings received: confirm in person that the resident understood them."
FLAGGED_NUMBERS = "Check the flagged numbers and warn the resident about that scam type."
OVERSEAS_CALLS = "Warn the resident about scam calls from abroad; offer to block overseas calls."

#: the QA tester's record (features it left out are missing, as the API takes them)
QA_COUNTY_RECORD: dict[str, Any] = {
    "entity_id": "qa-county-1", "dispute_type": "labour", "is_high_risk_type": True,
    "group_flag": True, "n_parties": 12, "party_prior_police_calls": 8,
    "party_prior_petitions": 8, "mediation_attempts": 2, "mediation_failures": 2,
    "mediation_agreement": False, "handling_level": "county", "county_handling": True,
    "registration_channel": "walk_in", "dispute_amount": 51040.0,
}  # fmt: skip
QA_TOWNSHIP_RECORD = {**QA_COUNTY_RECORD, "entity_id": "qa-township-1",
                      "handling_level": "township", "county_handling": False}  # fmt: skip
#: a resident the old spec told to repeat a warning never received and to check flagged
#: numbers that were none (triggered by overseas calls)
QA_UNWARNED_RESIDENT: dict[str, Any] = {
    "entity_id": "qa-resident-1", "warnings_received_30d": 0, "warnings_answered_30d": 0,
    "overseas_calls_30d": 4, "flagged_contacts_30d": 0,
}  # fmt: skip
#: where a warning level's share is larger than the default's (top 20% red), so the QA
#: records with the largest planted risks are red
WIDE_LEVELS = (LevelCapacity("red", 0.20), LevelCapacity("orange", 0.20),
               LevelCapacity("yellow", 0.20))  # fmt: skip


def _city(spec: TaskSpec, seed: int, n_rows: int = 3000) -> pd.DataFrame:
    """Disputes handled above the grid, most of all at county level, escalate more (the
    hardest cases are sent up), as do group disputes and failed mediations; residents
    contacted by overseas or flagged numbers are scammed more, and those who answered no
    warning (or got none) too. Other features are noise."""
    rng = np.random.default_rng(seed)
    rows: dict[str, Any] = {"entity_id": [f"u-{i}" for i in range(n_rows)]}
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
    if spec.task == "dispute-escalation":
        level = np.asarray(rows["handling_level"]).astype(str)
        rows["county_handling"] = level == "county"
        above_grid = 2.0 * (level == "township") + 3.0 * (level == "county")
        failures = 0.8 * np.minimum(rows["mediation_failures"], 3)
        logit = -3.5 + above_grid + 1.5 * rows["group_flag"] + failures
    else:
        rows["warnings_answered_30d"] = rng.binomial(rows["warnings_received_30d"], 0.5)
        contacts = np.minimum(rows["overseas_calls_30d"], 3) + np.minimum(
            rows["flagged_contacts_30d"], 3
        )
        logit = -3.5 + 0.8 * contacts + 2.0 * (rows["warnings_answered_30d"] == 0)
    rows["label"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype("int8")
    return pd.DataFrame(rows)


def _fit(task: str, capacities: tuple[LevelCapacity, ...] | None = None) -> RiskModel:
    spec = get_spec(task)
    spec = dataclasses.replace(
        spec,
        params=dataclasses.replace(spec.params, num_boost_round=40),
        capacities=capacities or spec.capacities,
    )
    train, valid = _city(spec, seed=0), _city(spec, seed=1)
    return RiskModel(spec).fit(train, train["label"], valid, valid["label"])


@pytest.fixture(scope="module")
def county_risk_model() -> RiskModel:
    return _fit("dispute-escalation")


@pytest.fixture(scope="module")
def wide_county_risk_model() -> RiskModel:
    return _fit("dispute-escalation", WIDE_LEVELS)


@pytest.fixture(scope="module")
def scam_risk_model() -> RiskModel:
    return _fit("telecom-fraud", WIDE_LEVELS)


def _frame(model: RiskModel, records: list[dict[str, Any]]) -> pd.DataFrame:
    names = ["entity_id", *model.spec.feature_names]
    return pd.DataFrame([{name: record.get(name, np.nan) for name in names} for record in records])


def _score(
    model: RiskModel, records: list[dict[str, Any]], lang: str = "en", values: Any = None
) -> list[Any]:
    """Both paths over the same records (dataclasses, checked equal to the service's dicts);
    `values` replaces the features' values read by reasons and actions, not the scores."""
    frame = _frame(model, records)
    columns = feature_columns(model.spec, frame)
    arrays = score_arrays(model, frame, columns=columns)
    read = columns if values is None else values(columns)
    records_ = scored_records(model, arrays, read, top_k=ACTION_REASONS, lang=lang)  # type: ignore[arg-type]
    dicts = scored_dicts(model, arrays, read, top_k=ACTION_REASONS, lang=lang)  # type: ignore[arg-type]
    assert dicts == [asdict(record) for record in records_]
    return records_


def _texts(actions: list[Any]) -> set[str]:
    return {a["action"] if isinstance(a, dict) else a.action for a in actions}


def _raising(record: Any) -> set[str]:
    return {r.feature for r in record.reasons if r.direction == "raises"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_dispute_handled_at_county_is_not_asked_to_move_there(
    county_risk_model: RiskModel, lang: str
) -> None:
    """The QA record, below red: its handling level raises the risk, yet no step moves it up;
    the same dispute at township level gets one step up (the county centre considers it)."""
    at_county, at_township = _score(county_risk_model, [QA_COUNTY_RECORD, QA_TOWNSHIP_RECORD], lang)
    index = 1 if lang == "zh" else 0
    for record in (at_county, at_township):
        assert record.risk_level in ("orange", "yellow")
        assert "handling_level" in _raising(record), record.reasons
    assert not _texts(at_county.actions) & MOVE_UP
    # one step up, not a second one from the township centre ("at a higher level")
    by_handling = [a for a in at_township.actions if a.trigger in HANDLING_TRIGGERS]
    assert [(a.department, a.action) for a in by_handling] == [
        (
            ("County conflict-resolution centre", "县级矛盾纠纷调处化解中心")[index],
            MOVE_TO_COUNTY[index],
        )
    ]
    # the rest of the county case's actions are still there: its level's and the group's
    assert at_county.actions[0].trigger == f"level:{at_county.risk_level}"
    assert MEET_THE_GROUP[index] in _texts(at_county.actions)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_red_dispute_handled_at_county_is_not_told_by_its_level_to_move_there(
    wide_county_risk_model: RiskModel, lang: str
) -> None:
    """QA: red disputes handled by the county centre were told "Move handling to the county
    centre; joint meeting ..." beside the reason 受理层级：县级. The joint meeting is every red
    case's; the referral to the county only a case below it, and a red case gets no other
    step up from its reasons (its level gives one)."""
    at_county, at_township = _score(
        wide_county_risk_model, [QA_COUNTY_RECORD, QA_TOWNSHIP_RECORD], lang
    )
    index = 1 if lang == "zh" else 0
    assert at_county.risk_level == at_township.risk_level == "red"
    assert "handling_level" in _raising(at_county)
    level_steps = [a.action for a in at_county.actions if a.trigger == "level:red"]
    assert level_steps == [JOINT_MEETING[index]]
    assert not _texts(at_county.actions) & MOVE_UP
    assert [(a.action, a.trigger) for a in at_township.actions][:2] == [
        (REFER_TO_COUNTY[index], "level:red"),
        (JOINT_MEETING[index], "level:red"),
    ]
    assert _texts(at_township.actions) & MOVE_UP == {REFER_TO_COUNTY[index]}


def _spec_text(spec: TaskSpec, text_en: str, lang: str) -> str:
    """An action's text in `lang`, found by its English text."""
    action = next(a for a in _declared(spec) if a.text_en == text_en)
    return action.text(lang)  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_resident_who_received_no_warning_is_not_asked_to_repeat_it(
    scam_risk_model: RiskModel, lang: str
) -> None:
    """QA: "The last warning went unanswered" was given to residents who received none (693
    of 807 in a seed-5 city), and "Check the flagged numbers" to one with none, triggered by
    overseas calls; each now reads the resident's own values of those features."""
    spec = scam_risk_model.spec
    unwarned, warned = _score(
        scam_risk_model,
        [QA_UNWARNED_RESIDENT,
         {**QA_UNWARNED_RESIDENT, "entity_id": "qa-resident-2", "warnings_received_30d": 2,
          "flagged_contacts_30d": 3}],
        lang,
    )  # fmt: skip
    texts = {
        key: _spec_text(spec, key, lang) for key in (UNANSWERED, FLAGGED_NUMBERS, OVERSEAS_CALLS)
    }
    for record in (unwarned, warned):
        assert record.risk_level != "green"
        assert {"warnings_answered_30d", "overseas_calls_30d"} <= _raising(record)
    assert not _texts(unwarned.actions) & {texts[UNANSWERED], texts[FLAGGED_NUMBERS]}
    given = {a.action: a.trigger for a in unwarned.actions}
    assert given[texts[OVERSEAS_CALLS]] == "reason:overseas_calls_30d"
    assert {texts[UNANSWERED], texts[FLAGGED_NUMBERS], texts[OVERSEAS_CALLS]} <= _texts(
        warned.actions
    )


def test_a_fit_on_another_feature_holds_whichever_reason_triggers_the_action(
    county_risk_model: RiskModel,
) -> None:
    """QA: "Change the mediator ..." (triggered by failed sessions) was given though the
    parties had reached an agreement: its fit on `mediation_agreement` was read only when
    that feature triggered it. Both paths read it, and the service's batch memo tells two
    rows apart that have the same contributions and reasons and differ only in that value
    (the one that fits first, so the memo is filled with the action)."""
    model = county_risk_model
    agreed = {**QA_TOWNSHIP_RECORD, "mediation_failures": 3}
    names = list(model.spec.feature_names)

    def agreement_on_the_second_row(columns: list[np.ndarray]) -> list[np.ndarray]:
        values = [np.asarray(column, dtype=object).copy() for column in columns]
        values[names.index("mediation_agreement")][1] = True
        return values

    no_agreement, agreement = _score(model, [agreed, agreed], values=agreement_on_the_second_row)
    assert no_agreement.contributions == agreement.contributions
    assert "mediation_failures" in _raising(agreement)
    assert "mediation_agreement" not in _raising(agreement)
    assert CHANGE_MEDIATOR in _texts(no_agreement.actions)
    assert CHANGE_MEDIATOR not in _texts(agreement.actions)


def test_the_batch_memo_tells_apart_the_values_of_features_that_are_no_reason(
    scam_risk_model: RiskModel,
) -> None:
    """Two residents with the same contributions, one who received two warnings and one who
    received none (not a reason of either): the first is asked to repeat the warning."""
    model = scam_risk_model
    names = list(model.spec.feature_names)

    def received_on_the_first_row(columns: list[np.ndarray]) -> list[np.ndarray]:
        values = [np.asarray(column, dtype=object).copy() for column in columns]
        values[names.index("warnings_received_30d")][0] = 2
        return values

    warned, unwarned = _score(
        model, [QA_UNWARNED_RESIDENT, QA_UNWARNED_RESIDENT], values=received_on_the_first_row
    )
    assert "warnings_received_30d" not in _raising(warned) | _raising(unwarned)
    assert UNANSWERED in _texts(warned.actions)
    assert UNANSWERED not in _texts(unwarned.actions)


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
    """Each action a spec declares is given to some record: by a warning level, or by some
    actionable feature among its reasons (records drawn across every feature's range)."""
    spec = get_spec(task)
    rng = np.random.default_rng(0)
    samples = {feature.name: _sample_values(feature) for feature in spec.features}
    given: set[Action] = set()
    for _ in range(200):
        record = {name: held[rng.integers(len(held))] for name, held in samples.items()}
        for level in RISK_LEVELS:
            given.update(action for _, action in spec.actions_for(level, (), record))
            for feature in spec.features:
                given.update(action for _, action in spec.actions_for(level, (feature,), record))
    unreachable = [action.text_en for action in _declared(spec) if action not in given]
    assert not unreachable, f"{task}: never given: {unreachable}"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_value_fits_name_a_feature_and_values_it_can_hold(task: str) -> None:
    spec = get_spec(task)
    for action in _declared(spec):
        for requirement in action.fits:
            assert requirement, action.text_en
        for fit in action.value_fits:
            feature = spec.feature(fit.feature)
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
    ("task", "level", "reason", "shows_it", "asks_it", "text"),
    [
        ("dispute-escalation", "orange", "handling_level",
         {"handling_level": "county", "county_handling": True},
         {"handling_level": "township", "county_handling": False}, MOVE_TO_COUNTY[0]),
        ("dispute-escalation", "orange", "county_handling",
         {"handling_level": "county", "county_handling": True},
         {"handling_level": "township", "county_handling": False}, MOVE_TO_COUNTY[0]),
        ("dispute-escalation", "yellow", "handling_level",
         {"handling_level": "township", "county_handling": False},
         {"handling_level": "grid", "county_handling": False}, TAKE_UP_TO_TOWNSHIP[0]),
        # a red case's level refers it to the county (once), not its reasons
        ("dispute-escalation", "red", "handling_level",
         {"handling_level": "township", "county_handling": False},
         {"handling_level": "township", "county_handling": False}, MOVE_TO_COUNTY[0]),
        ("dispute-escalation", "red", "group_flag",
         {"handling_level": "county", "county_handling": True, "group_flag": True},
         {"handling_level": "grid", "county_handling": False, "group_flag": True},
         REFER_TO_COUNTY[0]),
        ("dispute-escalation", "orange", "mediation_agreement",
         {"mediation_agreement": True}, {"mediation_agreement": False},
         "No agreement yet: schedule a mediation session."),
        ("dispute-escalation", "orange", "mediation_agreement",
         {"mediation_agreement": True, "mediation_failures": 2},
         {"mediation_agreement": False, "mediation_failures": 2}, CHANGE_MEDIATOR),
        ("dispute-escalation", "orange", "mediation_failures",
         {"mediation_agreement": True, "mediation_failures": 2},
         {"mediation_agreement": False, "mediation_failures": 2}, CHANGE_MEDIATOR),
        ("dispute-escalation", "orange", "mediation_agreement",
         {"mediation_agreement": False, "mediation_failures": 0},
         {"mediation_agreement": False, "mediation_failures": 1}, CHANGE_MEDIATOR),
        ("dispute-escalation", "orange", "mediation_attempts",
         {"mediation_attempts": 0}, {"mediation_attempts": 2}, REVIEW_MEDIATION),
        ("dispute-escalation", "orange", "mediation_attempts",
         {"mediation_attempts": 2, "mediation_agreement": True},
         {"mediation_attempts": 2, "mediation_agreement": False}, REVIEW_MEDIATION),
        ("dispute-escalation", "orange", "group_flag",
         {"group_flag": False}, {"group_flag": True}, MEET_THE_GROUP[0]),
        ("telecom-fraud", "orange", "antifraud_app_installed",
         {"antifraud_app_installed": True}, {"antifraud_app_installed": False},
         "Help the resident install the national anti-fraud app."),
        ("telecom-fraud", "orange", "warnings_answered_30d",
         {"warnings_answered_30d": 2, "warnings_received_30d": 3},
         {"warnings_answered_30d": 0, "warnings_received_30d": 3}, UNANSWERED),
        ("telecom-fraud", "orange", "warnings_answered_30d",
         {"warnings_answered_30d": 0, "warnings_received_30d": 0},
         {"warnings_answered_30d": 0, "warnings_received_30d": 1}, UNANSWERED),
        ("telecom-fraud", "orange", "warnings_answered_30d",
         {"warnings_answered_30d": 0}, {"warnings_answered_30d": 0, "warnings_received_30d": 1},
         UNANSWERED),  # no data on warnings received shows none
        ("telecom-fraud", "orange", "warnings_received_30d",
         {"warnings_received_30d": 1}, {"warnings_received_30d": 2}, SEVERAL_WARNINGS),
        ("telecom-fraud", "orange", "overseas_calls_30d",
         {"overseas_calls_30d": 4, "flagged_contacts_30d": 0},
         {"overseas_calls_30d": 4, "flagged_contacts_30d": 2}, FLAGGED_NUMBERS),
        ("telecom-fraud", "orange", "overseas_calls_30d",
         {"overseas_calls_30d": 0}, {"overseas_calls_30d": 4}, OVERSEAS_CALLS),
        ("telecom-fraud", "orange", "phishing_alerts_30d",
         {"phishing_alerts_30d": 2, "screen_sharing_alerts_30d": 0, "flagged_app_alerts_30d": 0},
         {"phishing_alerts_30d": 2, "screen_sharing_alerts_30d": 1, "flagged_app_alerts_30d": 0},
         "Contact the resident about the flagged app or screen sharing; advise removing it."),
        ("telecom-fraud", "orange", "elderly_living_alone",
         {"elderly_living_alone": False}, {"elderly_living_alone": True},
         "Arrange a volunteer check-in with the older resident living alone."),
        ("telecom-fraud", "orange", "night_transfers_30d",
         {"night_transfers_30d": 0}, {"night_transfers_30d": 3},
         "Review the night-time transfers with the resident."),
        ("wage-arrears", "orange", "prior_wage_complaints_12m",
         {"prior_wage_complaints_12m": 0, "labour_complaints_12m": 0},
         {"prior_wage_complaints_12m": 2, "labour_complaints_12m": 0},
         "Review earlier complaints and how they were closed."),
        ("wage-arrears", "orange", "labour_complaints_12m",
         {"prior_wage_complaints_12m": 2, "labour_complaints_12m": 0},
         {"prior_wage_complaints_12m": 0, "labour_complaints_12m": 1},
         "Review earlier complaints and how they were closed."),
        ("wage-arrears", "orange", "sales_trend_6m",
         {"sales_trend_6m": 0.04, "sales_change_3m": -0.2},
         {"sales_trend_6m": -0.04, "sales_change_3m": 0.2},
         "Share the sales decline with the labour office for a joint check."),
        ("wage-arrears", "orange", "si_shortfall_ratio_3m",
         {"si_shortfall_ratio_3m": 0.0, "si_arrears_months_6m": 2},
         {"si_shortfall_ratio_3m": 0.3, "si_arrears_months_6m": 0},
         "Verify the social-insurance arrears and urge payment."),
    ],
)  # fmt: skip
def test_no_action_asks_for_what_the_record_already_shows(
    task: str,
    level: RiskLevel,
    reason: str,
    shows_it: dict[str, Any],
    asks_it: dict[str, Any],
    text: str,
) -> None:
    """A record whose values already show what an action asks for (or that there is nothing
    for it to act on) is not given it, whichever reason asks it; one whose values ask for it
    is (unless the level gives another step for it: a red case's referral)."""
    spec = get_spec(task)
    reasons = (spec.feature(reason),)

    def given(values: dict[str, Any]) -> list[str]:
        return [action.text_en for _, action in spec.actions_for(level, reasons, values)]

    assert text not in given(shows_it)
    if shows_it != asks_it:
        assert text in given(asks_it)
    as_numpy = {name: np.asarray([value])[0] for name, value in shows_it.items()}
    assert given(as_numpy) == given(shows_it)  # numpy scalars, as in frames


@pytest.mark.parametrize(
    ("level", "handling", "steps_up"),
    [
        ("yellow", "grid", [TAKE_UP_TO_TOWNSHIP[0]]),
        ("orange", "township", [MOVE_TO_COUNTY[0]]),
        ("orange", "county", []),
        ("red", "grid", [REFER_TO_COUNTY[0]]),
        ("red", "township", [REFER_TO_COUNTY[0]]),
        ("red", "county", []),
    ],
)
def test_one_step_up_per_level_of_handling(
    level: RiskLevel, handling: str, steps_up: list[str]
) -> None:
    """QA: every township-level dispute got "Consider handling the case at a higher level"
    (township centre) and "Consider moving the case to county-level handling" (county
    centre), read as one step assigned twice. A case gets the one step up its level of
    handling calls for, whichever of the two handling features raise its risk."""
    spec = get_spec("dispute-escalation")
    both = (spec.feature("handling_level"), spec.feature("county_handling"))
    values = {"handling_level": handling, "county_handling": handling == "county"}
    given = [action.text_en for _, action in spec.actions_for(level, both, values)]
    assert [text for text in given if text in MOVE_UP] == steps_up
