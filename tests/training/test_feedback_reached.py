"""`riskloop train --with-feedback` says, tags and logs what feedback the model learnt from, and
a task's first champion is a `model_promotion` audit row.

The QA run: every changed label sat in the test slice (which keeps the raw tables' labels) or
was added after it (left out), yet the output said "10 labels from closed warnings", the run was
tagged `riskloop.feedback_used=true`, `promote` found v2 identical to v1, and the reference
logged the left-out rows; the first version became champion with no audit row.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.settings import get_settings
from models.spec import get_spec
from serving.store import WarningStore
from training.cli import app
from training.datasets import build_from_raw, split_dataset
from training.reference import REFERENCE_ARTIFACT

TASK = "wage-arrears"
ACTOR = "ops-li"
ROUNDS = "20"


def _close(plan: list[tuple[str, pd.Timestamp, str]]) -> None:
    """Raise one warning per (entity, as-of, outcome) in the real store and close it so."""
    from models.secret_keys import load_secrets

    settings = get_settings()
    with WarningStore(settings.store_url, load_secrets(settings).pseudonym_secret) as store:
        ids = store.record_scores(
            actor="scorer",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[
                {
                    "entity_id": entity,
                    "score": 0.6,
                    "risk_level": "orange",
                    "reasons": [],
                    "actions": [],
                    "features": {"x": 1},
                    "as_of": as_of.date() if isinstance(as_of, pd.Timestamp) else as_of,
                }
                for entity, as_of, _ in plan
            ],
        )
        for warning_id, (_, _, outcome) in zip(ids, plan, strict=True):
            assert warning_id is not None
            steps = [("dispatched", "labour", None)] if outcome == "unreachable" else []
            for status, department, closing in [*steps, ("closed", None, outcome)]:
                store.add_feedback(
                    warning_id,
                    actor="clerk",
                    status=status,
                    department=department,
                    outcome=closing,
                    note=None,
                )


def _closing(rows: pd.DataFrame, outcome: str) -> list[tuple[str, pd.Timestamp, str]]:
    """A warning on each dataset row (its unit and as-of date), closed with `outcome`."""
    return [
        (str(entity), as_of, outcome)
        for entity, as_of in zip(rows["entity_id"], rows["as_of"], strict=True)
    ]


def _train(*extra: str) -> tuple[str, str]:
    result = CliRunner().invoke(
        app, ["train", "--task", TASK, "--max-rounds", ROUNDS, *extra], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    # rich wraps the summary at the console's width (80 columns without a terminal, as under
    # pytest-xdist): the sentences are compared with their white space folded
    return " ".join(result.stdout.split()), " ".join(result.stderr.split())


def _run(version: int) -> mlflow.entities.Run:
    from training.tracking import tracking_client

    client = tracking_client()
    name = get_spec(TASK).registered_model_name
    return client.get_run(client.get_model_version(name, str(version)).run_id)


def _promotions() -> list[dict[str, object]]:

    with WarningStore.from_settings(get_settings()) as store:
        return [row for row in store.audit_rows() if row["action"] == "model_promotion"]


def test_feedback_output_tags_and_reference_say_what_reached_the_model(
    isolated_env: Path, small_city: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKLOOP_ACTOR", ACTOR)
    raw = ["--raw", str(small_city)]
    spec = get_spec(TASK)
    plain = build_from_raw(spec, small_city)
    splits = split_dataset(spec, plain.frame)

    # v1, the first version: champion at once, and the audit log says so
    _train(*raw)
    first = _run(1)
    (row,) = _promotions()
    assert (row["actor"], row["task"], row["model_version"]) == (f"cli:{ACTOR}", TASK, "1")
    assert row["detail"]["decision"] == "first"
    assert row["detail"]["mlflow_run_id"] == first.info.run_id

    # closed warnings on units of the test slice only: false alarms on raw positives
    tested = splits.test[splits.test["label"] == 1].head(6)
    _close([*_closing(tested.head(5), "false_alarm"), *_closing(tested.tail(1), "unreachable")])
    out, err = _train(*raw, "--with-feedback")
    assert "feedback: 1 of 6 closed warnings gives no label: closed as unreachable" in err
    assert "feedback: 5 labels from closed warnings (5 changed, 0 added)" in out
    assert "0 reached the fit or calibration" in out
    assert "5 in the test slice, which is measured on the raw tables' labels" in out
    second = _run(2)
    assert second.data.tags["riskloop.feedback_used"] == "false"
    assert second.data.tags["riskloop.feedback_labels"] == "0"
    assert second.data.tags["riskloop.feedback_in_test"] == "5"
    assert second.data.params["n_feedback_in_test"] == "5"
    # recorded as the run without feedback it is: `promote` and `report` rebuild that data
    assert second.data.params["dataset_fingerprint"] == first.data.params["dataset_fingerprint"]

    # false alarms on raw positives of the training slice change labels the model learns from;
    # this month's warnings add units after the test slice: left out, and out of the reference
    trained = splits.train[splits.train["label"] == 1].head(4)
    from features.dataset import build_dataset
    from training.raw_io import load_raw_tables

    scoring = build_dataset(TASK, load_raw_tables(small_city, TASK), unlabelled=True)
    newest = pd.Timestamp(scoring["as_of"].max())
    assert newest > splits.test["as_of"].max()
    added = scoring.head(3).assign(as_of=newest)
    _close([*_closing(trained, "false_alarm"), *_closing(added, "false_alarm")])
    out, _ = _train(*raw, "--with-feedback")
    assert "feedback: 12 labels from closed warnings (9 changed, 3 added)" in out
    assert "4 reached the fit or calibration (4 in the training slice, 0 in validation" in out
    assert "4 change what it learns (4 relabelled, 0 units the raw tables do not label)" in out
    assert "3 left out at or after the test slice's start" in out
    third = _run(3)
    assert third.data.tags["riskloop.feedback_used"] == "true"
    assert third.data.tags["riskloop.feedback_labels"] == "4"
    assert third.data.tags["riskloop.feedback_changed"] == "4"
    assert third.data.params["n_feedback_left_out"] == "3"
    reference = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=third.info.run_id,
            artifact_path=REFERENCE_ARTIFACT,
            tracking_uri=get_settings().mlflow_uri,
        )
    )
    assert len(reference) == len(plain.frame)
    assert newest not in set(reference["as_of"])

    # neither challenger became champion: still the one promotion row, v1's
    assert [row["model_version"] for row in _promotions()] == ["1"]


def test_split_counts_feedback_in_validation_and_in_a_purge_gap(small_city: Path) -> None:
    """Validation rows' feedback labels are learnt from (early stopping, calibrator); rows in
    the purge gap before the test slice are neither learnt from nor tested."""
    from serving.store.pseudonym import pseudonymise
    from training.feedback import merge_feedback

    spec = get_spec(TASK)
    frame = build_from_raw(spec, small_city).frame
    splits = split_dataset(spec, frame)
    gap = frame[
        (frame["as_of"] > splits.valid["as_of"].max())
        & (frame["as_of"] < splits.test["as_of"].min())
    ]
    chosen = pd.concat([splits.valid[splits.valid["label"] == 0].head(2), gap.head(3)])
    as_of = pd.to_datetime(chosen["as_of"]).astype("datetime64[ns]")
    secret = "split-secret"
    feedback = pd.DataFrame(
        {
            "entity_hash": [pseudonymise(secret, str(e)) for e in chosen["entity_id"]],
            "as_of": as_of.to_numpy(),
            "period": as_of.dt.to_period("M").dt.start_time.astype("datetime64[ns]").to_numpy(),
            "label": [1] * len(chosen),
            "outcome": ["prevented"] * len(chosen),
        }
    )
    use = split_dataset(spec, merge_feedback(frame, feedback, TASK, secret)).feedback
    assert (use.fit, use.calibration, use.changed, use.added) == (0, 2, 2, 0)
    assert (use.in_test, use.in_gap, use.after_test, use.left_out) == (0, 3, 0, 3)
