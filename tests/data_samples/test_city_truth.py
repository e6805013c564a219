"""The truth files agree with the label tables, and the planted drivers really move the risk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TASKS = ("wage_arrears", "telecom_fraud", "dispute_escalation")

# Positive rates of the labelled units. The contract's ranges are for the default city; the
# small city is checked against the same ranges.
RATE_RANGES = {
    "wage_arrears": (0.01, 0.05),
    "telecom_fraud": (0.005, 0.02),
    "dispute_escalation": (0.05, 0.15),
}
# Wage labels of consecutive months share their events (3-month windows), so their errors are
# correlated; inflate the binomial variance accordingly.
DESIGN_EFFECT = {"wage_arrears": 3.0, "telecom_fraud": 1.5, "dispute_escalation": 1.0}

DRIVER_NAMES = {
    "wage_arrears": [
        "construction_sector",
        "owner_payment_delay",
        "si_arrears",
        "headcount_drop",
        "electricity_drop",
        "tax_overdue",
        "sales_decline",
        "creditor_suits",
        "abnormal_listing",
        "prior_complaints",
        "young_firm",
        "spring_festival",
    ],
    "telecom_fraud": [
        "flagged_contacts",
        "risky_app_alerts",
        "new_payees",
        "outflow_spike",
        "prior_victimisation",
        "warning_answered",
        "app_installed",
        "young_adult",
        "elderly_alone",
    ],
    "dispute_escalation": [
        "high_risk_type",
        "many_parties",
        "group_dispute",
        "large_amount",
        "prior_police_calls",
        "prior_petitions",
        "failed_mediation",
        "threat_emotion",
        "county_handling",
    ],
}
NOISE_NAMES = {
    "wage_arrears": ["water_use", "trademarks"],
    "telecom_fraud": ["education", "card_payments"],
    "dispute_escalation": ["registration_channel", "visit_duration"],
}


@pytest.fixture(scope="module")
def drivers(small_city: Path) -> dict:
    return json.loads((small_city / "truth" / "drivers.json").read_text())


def test_drivers_file_names_the_contract_drivers_and_their_columns(drivers, city_tables) -> None:
    assert sorted(drivers) == sorted(TASKS)
    for task in TASKS:
        assert [d["name"] for d in drivers[task]["drivers"]] == DRIVER_NAMES[task]
        assert [n["name"] for n in drivers[task]["noise"]] == NOISE_NAMES[task]
        for entry in drivers[task]["drivers"] + drivers[task]["noise"]:
            if entry.get("table") is None:
                assert entry["name"] == "spring_festival" and entry["columns"] == []
                continue
            assert set(entry["columns"]) <= set(city_tables[task][entry["table"]].columns)
        for entry in drivers[task]["drivers"]:
            assert entry["direction"] in (-1, 1) and entry["description"]


def test_truth_has_one_row_per_unit_and_as_of_date(
    city_tables, city_truth, small_city: Path
) -> None:
    manifest = json.loads((small_city / "manifest.json").read_text())
    for task in TASKS:
        truth = city_truth[task]
        assert list(truth.columns) == ["entity_id", "as_of", "true_prob", "dominant_driver"]
        assert not truth.duplicated(["entity_id", "as_of"]).any()
        assert truth["true_prob"].between(0, 1).all()
        assert set(truth["dominant_driver"]) <= set(DRIVER_NAMES[task]) | {"mixed", "none"}
        assert manifest["tasks"][task]["truth_rows"] == len(truth)
    wage, fraud = city_truth["wage_arrears"], city_truth["telecom_fraud"]
    months = city_tables["wage_arrears"]["social_insurance"]["month"]
    expected = pd.date_range(months.min(), months.max() - pd.DateOffset(months=2), freq="MS")
    assert (wage["as_of"].drop_duplicates().sort_values().to_numpy() == expected.to_numpy()).all()
    assert len(wage) == len(city_tables["wage_arrears"]["employers"]) * len(expected)
    assert len(fraud) == len(city_tables["telecom_fraud"]["residents"]) * fraud["as_of"].nunique()
    assert (fraud["as_of"].dt.day == 1).all()
    disputes = city_tables["dispute_escalation"]["disputes"].set_index("dispute_id")
    truth = city_truth["dispute_escalation"].set_index("entity_id")
    assert (
        truth["as_of"]
        == disputes.loc[truth.index, "event_time"].dt.normalize() + pd.Timedelta(days=7)
    ).all()


@pytest.mark.parametrize("task", TASKS)
def test_positive_rates_are_in_range(city_labels, task: str) -> None:
    rate = city_labels[task].mean()
    lo, hi = RATE_RANGES[task]
    assert lo <= rate <= hi, f"{task}: positive rate {rate:.4f}"
    assert city_labels[task].sum() >= 150


@pytest.mark.parametrize("task", TASKS)
def test_labels_are_calibrated_to_true_probability(city_labels, city_truth, task: str) -> None:
    frame = pd.DataFrame({"p": city_truth[task]["true_prob"], "y": city_labels[task]})
    frame["decile"] = pd.qcut(frame["p"].rank(method="first"), 10, labels=False)
    by_decile = frame.groupby("decile").agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    tolerance = (
        4 * np.sqrt(DESIGN_EFFECT[task] * by_decile["p"] * (1 - by_decile["p"]) / by_decile["n"])
        + 0.003
    )
    assert ((by_decile["y"] - by_decile["p"]).abs() <= tolerance).all(), by_decile
    overall_se = np.sqrt(DESIGN_EFFECT[task] * (frame["p"] * (1 - frame["p"])).sum()) / len(frame)
    assert abs(frame["y"].mean() - frame["p"].mean()) <= 4 * overall_se


@pytest.mark.parametrize("task", TASKS)
def test_each_driver_moves_true_probability_its_way(
    driver_splits, city_truth, drivers, task: str
) -> None:
    splits = driver_splits[task]
    prob = city_truth[task]["true_prob"].to_numpy()
    for entry in drivers[task]["drivers"]:
        high, low = splits[entry["name"]]
        assert high.sum() >= 30 and low.sum() >= 30, entry["name"]
        ratio = prob[high].mean() / prob[low].mean()
        if entry["direction"] > 0:
            assert ratio > 1.15, f"{entry['name']}: high/low true probability {ratio:.2f}"
        else:
            assert ratio < 0.87, f"{entry['name']}: high/low true probability {ratio:.2f}"


def _noise_values(
    task: str, tables: dict[str, pd.DataFrame], truth: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Each noise signal as one number per truth row."""
    if task == "wage_arrears":
        water = tables["utilities"].groupby("employer_id")["water_m3"].mean()
        marks = tables["employers"].set_index("employer_id")["trademark_count"]
        return {
            "water_use": water.reindex(truth["entity_id"]).to_numpy(),
            "trademarks": marks.reindex(truth["entity_id"]).to_numpy(),
        }
    if task == "telecom_fraud":
        education = (
            tables["residents"]
            .set_index("resident_id")["education_level"]
            .map({"primary": 0, "secondary": 1, "tertiary": 2})
        )
        cards = tables["bank_outflows"].groupby("resident_id")["card_payment_count"].mean()
        return {
            "education": education.reindex(truth["entity_id"]).to_numpy(),
            "card_payments": cards.reindex(truth["entity_id"]).to_numpy(),
        }
    channel = (
        tables["disputes"]
        .set_index("dispute_id")["registration_channel"]
        .map({"walk_in": 0, "hotline": 1, "online": 2})
    )
    duration = tables["grid_visits"].groupby("dispute_id")["visit_duration_min"].mean()
    return {
        "registration_channel": channel.reindex(truth["entity_id"]).to_numpy(),
        "visit_duration": duration.reindex(truth["entity_id"]).to_numpy(),
    }


@pytest.mark.parametrize("task", TASKS)
def test_noise_signals_do_not_move_true_probability(city_tables, city_truth, task: str) -> None:
    truth = city_truth[task]
    for name, values in _noise_values(task, city_tables[task], truth).items():
        ok = ~np.isnan(values)
        correlation = pd.Series(values[ok]).corr(
            pd.Series(truth["true_prob"].to_numpy()[ok]), method="spearman"
        )
        assert abs(correlation) < 0.08, f"{name}: Spearman correlation {correlation:.3f}"


def test_dominant_driver_points_at_a_driver_the_unit_shows(city_tables, city_truth) -> None:
    truth = city_truth["wage_arrears"]
    construction = set(
        city_tables["wage_arrears"]["employers"].query("sector == 'construction'")["employer_id"]
    )
    named = truth[truth["dominant_driver"] == "construction_sector"]
    assert len(named) > 0 and named["entity_id"].isin(construction).all()
    assert truth.groupby("dominant_driver")["true_prob"].mean()["none"] < truth["true_prob"].mean()


@pytest.mark.parametrize("task", TASKS)
def test_a_model_of_the_tables_recovers_most_of_the_oracle_lift(
    driver_splits, city_labels, city_truth, task: str
) -> None:
    """Crude point-in-time observables (the driver splits) and a logistic regression,
    cross-validated by entity, reach most of the lift that scoring by true_prob reaches."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    masks = [mask for pair in driver_splits[task].values() for mask in pair]
    features = np.column_stack(masks).astype(float)
    labels = city_labels[task]
    truth = city_truth[task]
    scores = cross_val_predict(
        LogisticRegression(max_iter=2000),
        features,
        labels,
        cv=GroupKFold(5),
        groups=truth["entity_id"],
        method="predict_proba",
    )[:, 1]
    model_auc = roc_auc_score(labels, scores)
    oracle_auc = roc_auc_score(labels, truth["true_prob"])
    assert oracle_auc > 0.75
    assert (model_auc - 0.5) / (oracle_auc - 0.5) >= 0.85, (model_auc, oracle_auc)
