"""Closed warnings become labels; `prevented` stays positive, `unreachable` says nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from serving.store import WarningStore
from training.feedback import feedback_labels, merge_feedback

SECRET = "feedback-secret"
TASK = "wage-arrears"
CLOSE = {
    "confirmed": [
        ("dispatched", "labour", None),
        ("in_progress", None, None),
        ("closed", None, "confirmed"),
    ],
    "prevented": [
        ("dispatched", "labour", None),
        ("in_progress", None, None),
        ("closed", None, "prevented"),
    ],
    "false_alarm": [("closed", None, "false_alarm")],
    "unreachable": [("dispatched", "labour", None), ("closed", None, "unreachable")],
    "open": [("dispatched", "labour", None)],
}


def _record(entity_id: str) -> dict[str, object]:
    return {
        "entity_id": entity_id,
        "score": 0.6,
        "risk_level": "orange",
        "reasons": [],
        "actions": [],
        "features": {"x": 1},
    }


def _store_with_outcomes(url: str) -> None:
    with WarningStore(url, SECRET) as store:
        ids = store.record_scores(
            actor="scorer",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[_record(name) for name in CLOSE],
            as_of=date(2026, 3, 1),
        )
        store.record_scores(
            actor="scorer",
            task="telecom-fraud",
            model_name="m",
            model_version="1",
            results=[_record("confirmed")],
        )
        for warning_id, steps in zip(ids, CLOSE.values(), strict=True):
            for status, department, outcome in steps:
                store.add_feedback(
                    warning_id,
                    actor="clerk",
                    status=status,
                    department=department,
                    outcome=outcome,
                    note=None,
                )


def test_feedback_labels_from_closed_warnings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_with_outcomes(url)
    labels = feedback_labels(url, TASK, pseudonym_secret=SECRET)
    assert list(labels.columns[:5]) == ["entity_hash", "as_of", "period", "label", "outcome"]
    by_outcome = dict(zip(labels["outcome"], labels["label"], strict=True))
    assert by_outcome == {"confirmed": 1, "prevented": 1, "false_alarm": 0}
    assert labels["label"].dtype == "int8"
    assert labels["as_of"].dtype == "datetime64[ns]"
    assert set(labels["period"]) == {pd.Timestamp("2026-03-01")}
    assert set(labels["entity_hash"]) == {
        WarningStore(url, SECRET).pseudonymise(name)
        for name in ("confirmed", "prevented", "false_alarm")
    }
    assert feedback_labels(url, "dispute-escalation", pseudonym_secret=SECRET).empty


def test_merge_feedback_overrides_matching_rows_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_with_outcomes(url)
    labels = feedback_labels(url, TASK, pseudonym_secret=SECRET)
    dataset = pd.DataFrame(
        {
            "entity_id": ["prevented", "false_alarm", "confirmed", "prevented", "unreachable"],
            "as_of": pd.to_datetime(
                ["2026-03-01", "2026-03-01", "2026-03-01", "2026-04-01", "2026-03-01"]
            ),
            "label": pd.Series([0, 1, 1, 0, 1], dtype="int8"),
            "x": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    merged = merge_feedback(dataset, labels, TASK, SECRET)
    # prevented becomes positive; false alarm negative; April is another period; unreachable kept
    assert merged["label"].tolist() == [1, 0, 1, 0, 1]
    assert merged["audit_feedback_outcome"].tolist() == [
        "prevented",
        "false_alarm",
        "confirmed",
        "",
        "",
    ]
    assert dataset["label"].tolist() == [0, 1, 1, 0, 1]  # input untouched
    assert merged["label"].dtype == "int8"

    disputes = dataset.assign(as_of=pd.to_datetime("2026-06-08"))
    by_entity = merge_feedback(disputes, labels, "dispute-escalation", SECRET)
    assert by_entity["label"].tolist() == [1, 0, 1, 1, 1]
