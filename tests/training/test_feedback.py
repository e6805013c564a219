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
        for warning_id, outcome in zip(ids, CLOSE, strict=True):
            _close(store, warning_id, outcome)


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


def _close(store: WarningStore, warning_id: str, outcome: str) -> None:
    steps = CLOSE[outcome]
    for status, department, closing in steps:
        store.add_feedback(
            warning_id,
            actor="clerk",
            status=status,
            department=department,
            outcome=closing,
            note=None,
        )


def test_apply_feedback_changes_labels_and_adds_open_window_units(
    tmp_path: Path, small_city: Path
) -> None:
    """Labelled rows take the outcome; this month's warnings add their unit with its features."""
    from features.dataset import build_dataset
    from training.feedback import apply_feedback
    from training.raw_io import load_raw_tables

    tables = load_raw_tables(small_city, TASK)
    dataset = build_dataset(TASK, tables)
    june = dataset[dataset["as_of"] == pd.Timestamp("2025-06-01")]
    negative = str(june.loc[june["label"] == 0, "entity_id"].iloc[0])
    positive = str(june.loc[june["label"] == 1, "entity_id"].iloc[0])
    scoring = build_dataset(TASK, tables, unlabelled=True)
    fresh, silent = (str(v) for v in scoring["entity_id"].iloc[:2])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    plan = [
        (negative, date(2025, 6, 1), "prevented"),
        (positive, date(2025, 6, 1), "false_alarm"),
        (fresh, date(2026, 1, 1), "confirmed"),
        (silent, date(2026, 1, 1), "unreachable"),
        ("91110000NOTINCITY0", date(2026, 1, 1), "confirmed"),
    ]
    with WarningStore(url, SECRET) as store:
        ids = store.record_scores(
            actor="scorer",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[{**_record(entity), "as_of": day} for entity, day, _ in plan],
        )
        for warning_id, (_, _, outcome) in zip(ids, plan, strict=True):
            _close(store, warning_id, outcome)

    merged, summary = apply_feedback(TASK, dataset, tables, url, SECRET)
    assert (summary.closed_warnings, summary.matched, summary.changed, summary.added) == (
        4,
        2,
        2,
        1,
    )
    assert summary.labels == 3
    assert summary.outcomes == {"confirmed": 2, "false_alarm": 1, "prevented": 1}
    assert len(merged) == len(dataset) + 1
    assert (
        merged.iloc[: len(dataset)]
        .drop(columns=["audit_feedback_outcome", "label_before_feedback"])
        .equals(
            dataset.assign(
                label=dataset["label"]
                .where(
                    ~(
                        (dataset["as_of"] == "2025-06-01")
                        & dataset["entity_id"].isin([negative, positive])
                    ),
                    1 - dataset["label"],
                )
                .astype("int8")
            )
        )
    )
    added = merged.iloc[-1]
    assert (added["entity_id"], added["label"], added["audit_feedback_outcome"]) == (
        fresh,
        1,
        "confirmed",
    )
    expected = scoring[scoring["entity_id"] == fresh].iloc[0]
    for name in scoring.columns:
        assert (pd.isna(expected[name]) and pd.isna(added[name])) or expected[name] == added[name]
    assert silent not in set(merged.loc[merged["audit_feedback_outcome"] != "", "entity_id"])


def test_with_feedback_needs_raw_data(isolated_env: Path) -> None:
    """A dataset file carries its own feedback: asking for more is one clear error line."""
    from typer.testing import CliRunner

    from training.cli import app

    result = CliRunner().invoke(
        app, ["train", "--task", TASK, "--dataset", "x.parquet", "--with-feedback"]
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: --with-feedback needs --raw")
    built = CliRunner().invoke(
        app,
        [
            "build-dataset",
            "--task",
            TASK,
            "--raw",
            ".",
            "--out",
            "x.parquet",
            "--unlabelled",
            "--with-feedback",
        ],
    )
    assert built.exit_code == 2 and "--with-feedback" in built.output


def test_apply_feedback_matches_a_dispute_on_the_dispute_alone(
    tmp_path: Path, small_city: Path
) -> None:
    """A dispute is scored once: its warning labels the dispute's row whatever the as-of date."""
    from features.dataset import build_dataset
    from training.feedback import apply_feedback
    from training.raw_io import load_raw_tables

    task = "dispute-escalation"
    tables = load_raw_tables(small_city, task)
    dataset = build_dataset(task, tables)
    calm = dataset[dataset["label"] == 0].iloc[-1]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with WarningStore(url, SECRET) as store:
        (warning_id,) = store.record_scores(
            actor="scorer",
            task=task,
            model_name="m",
            model_version="1",
            results=[{**_record(str(calm["entity_id"])), "as_of": date(2026, 1, 5)}],
        )
        _close(store, warning_id, "prevented")
    merged, summary = apply_feedback(task, dataset, tables, url, SECRET)
    assert (summary.matched, summary.changed, summary.added) == (1, 1, 0)
    row = merged[merged["entity_id"] == calm["entity_id"]]
    assert row["label"].tolist() == [1] and row["audit_feedback_outcome"].tolist() == ["prevented"]
    assert len(merged) == len(dataset)
