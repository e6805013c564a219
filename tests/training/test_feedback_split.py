"""Feedback labels train but are never test rows: a version has one AUC, with or without them.

Case workers close the warnings the model raised, so their labels are chosen by the model
itself; scored as test rows they moved the test AUC (train said 0.7994, promote 0.7990).
"""

from __future__ import annotations

import pandas as pd

from models.risk_model import RiskModel
from models.spec import get_spec
from serving.store.pseudonym import pseudonymise
from training.datasets import RAW_LABEL_COLUMN, Splits, TrainingData, split_dataset
from training.evaluate import evaluate_model
from training.feedback import merge_feedback

TASK = "wage-arrears"
SECRET = "split-secret"


def _feedback_rows(rows: pd.DataFrame, outcome: str, label: int) -> pd.DataFrame:
    """Closed warnings on `rows` as `training.feedback.feedback_labels` returns them."""
    as_of = pd.to_datetime(rows["as_of"]).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "entity_hash": [pseudonymise(SECRET, str(e)) for e in rows["entity_id"]],
            "as_of": as_of.to_numpy(),
            "period": as_of.dt.to_period("M").dt.start_time.astype("datetime64[ns]").to_numpy(),
            "label": [label] * len(rows),
            "outcome": [outcome] * len(rows),
        }
    )


def test_feedback_rows_train_but_the_test_slice_is_the_raw_truth(
    city_data: dict[str, TrainingData], fast_models: dict[str, tuple[RiskModel, Splits]]
) -> None:
    spec = get_spec(TASK)
    raw = city_data[TASK].frame
    plain = split_dataset(spec, raw)
    newest = plain.test[plain.test["label"] == 0].tail(6)  # warned, visited, "prevented"
    trained = plain.train[plain.train["label"] == 0].head(4)  # older warnings, "prevented"
    feedback = pd.concat(
        [_feedback_rows(newest, "prevented", 1), _feedback_rows(trained, "prevented", 1)]
    )
    merged = merge_feedback(raw, feedback, TASK, SECRET)
    # three units feedback added after the tables' newest date: no raw label
    added = (
        raw.loc[newest.index[:3]]
        .assign(as_of=raw["as_of"].max() + pd.DateOffset(months=1), label=1)
        .assign(audit_feedback_outcome="confirmed")
        .assign(**{RAW_LABEL_COLUMN: pd.array([pd.NA] * 3, dtype="Int8")})
    )
    with_feedback = pd.concat([merged, added], ignore_index=True)
    assert int((with_feedback["label"] != with_feedback[RAW_LABEL_COLUMN]).sum()) == 10

    split = split_dataset(spec, with_feedback)

    # the test slice is the one built without feedback: same rows, the raw tables' labels
    pd.testing.assert_frame_equal(
        split.test.loc[:, list(raw.columns)], plain.test, check_dtype=False
    )
    assert split.feedback_left_out == 3
    # older feedback trains, with its label
    assert (split.train.loc[trained.index, "label"] == 1).all()
    model, _ = fast_models[TASK]
    assert (
        evaluate_model(model, split.test)["roc_auc"] == evaluate_model(model, plain.test)["roc_auc"]
    )
