"""Outcomes flow back: closed warnings become labels for the next dataset.

How each closing outcome becomes a label (`serving.store.monitoring.OUTCOME_LABELS`):

- `confirmed` -> 1: the risk was real and happened.
- `prevented` -> 1: the risk was real and the department stopped it. Intervention changes the
  outcome, so the raw tables will show no arrears, no fraud, no escalation for this unit: a
  plain negative. Learning that label would teach the next model that the units departments
  protected were safe, and the better the loop works the more the model would unlearn the very
  signals that triggered the visit. We keep them positive: the model's job is to find units
  that need a visit, and these did.
- `false_alarm` -> 0: a reviewer judged the risk not real.
- `unreachable` -> excluded: nobody learned whether the risk was real.

Only closed warnings count; open ones carry no outcome yet.
"""

from __future__ import annotations

import pandas as pd

from models.settings import get_settings
from serving.store import WarningStore
from serving.store.monitoring import OUTCOME_LABELS, observed_labels

FEEDBACK_COLUMNS = (
    "entity_hash",
    "as_of",
    "period",
    "label",
    "outcome",
    "warning_id",
    "score",
    "risk_level",
)
# tasks whose unit is scored once (a dispute), matched on the entity alone, not on the month
_ONE_ROW_PER_ENTITY = frozenset({"dispute-escalation", "dispute_escalation"})


def feedback_labels(
    store_url: str, task: str, *, pseudonym_secret: str | None = None
) -> pd.DataFrame:
    """Labels from `task`'s closed warnings: one row per warning with a telling outcome.

    Columns: entity_hash (pseudonym), as_of (datetime64[ns], the warning's latest as-of date),
    period (its month), label (int8), outcome, warning_id, score, risk_level. `unreachable`
    warnings are left out (see the module docstring).
    """
    secret = pseudonym_secret or get_settings().pseudonym_secret.get_secret_value()
    with WarningStore(store_url, secret) as store:
        warnings = store.warnings_frame(task=task)
    closed = warnings[(warnings["status"] == "closed") & warnings["outcome"].isin(OUTCOME_LABELS)]
    labels = observed_labels(closed["outcome"]).astype("int8")
    frame = pd.DataFrame(
        {
            "entity_hash": closed["entity_hash"].astype(str),
            "as_of": closed["as_of"].astype("datetime64[ns]"),
            "period": closed["as_of"].dt.to_period("M").dt.start_time.astype("datetime64[ns]"),
            "label": labels,
            "outcome": closed["outcome"].astype(str),
            "warning_id": closed["id"].astype(str),
            "score": closed["score"].astype("float64"),
            "risk_level": closed["risk_level"].astype(str),
        }
    )
    return frame.reset_index(drop=True).loc[:, list(FEEDBACK_COLUMNS)]


def merge_feedback(
    dataset: pd.DataFrame, feedback: pd.DataFrame, task: str, pseudonym_secret: str
) -> pd.DataFrame:
    """`dataset` with labels overridden by feedback where a closed warning matches the row.

    A row matches a warning on the pseudonymised `entity_id` and the as-of month (for
    dispute-escalation, whose unit is scored once, on the entity alone). Matched rows take the
    feedback label (so `prevented` turns a raw 0 into 1); the outcome is kept in
    `audit_feedback_outcome` (an audit column, never a model input), empty where no warning
    matched. The input frame is not changed.
    """
    from serving.store.pseudonym import pseudonymise

    hashes = dataset["entity_id"].astype(str).map(lambda raw: pseudonymise(pseudonym_secret, raw))
    keys = pd.DataFrame({"entity_hash": hashes.to_numpy()}, index=dataset.index)
    newest = feedback.sort_values("as_of", kind="stable")
    if task in _ONE_ROW_PER_ENTITY:
        lookup = newest.drop_duplicates("entity_hash", keep="last").set_index("entity_hash")
        matched = keys.join(lookup[["label", "outcome"]], on="entity_hash")
    else:
        keys["period"] = pd.to_datetime(dataset["as_of"]).dt.to_period("M").dt.start_time.to_numpy()
        lookup = newest.drop_duplicates(["entity_hash", "period"], keep="last").set_index(
            ["entity_hash", "period"]
        )
        matched = keys.join(lookup[["label", "outcome"]], on=["entity_hash", "period"])
    has_feedback = matched["label"].notna()
    result = dataset.copy()
    if "label" in result.columns:
        result["label"] = result["label"].where(~has_feedback, matched["label"]).astype("int8")
    result["audit_feedback_outcome"] = matched["outcome"].where(has_feedback, "").astype(str)
    return result
