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

`apply_feedback` is what `riskloop build-dataset --with-feedback` and `riskloop train
--with-feedback` run: matching rows of the labelled dataset take the feedback label, and a
warning whose period is not labelled yet (its label window is still open, the usual case for
this month's warnings) adds its unit as a new row, with the features of the date it was scored.
The outcome arrives weeks before the raw label window closes; waiting for the window would
throw away the loop's freshest evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from features.tasks import get_task
from models.secret_keys import load_secrets
from serving.store import WarningStore
from serving.store.monitoring import OUTCOME_LABELS, observed_labels
from training.datasets import FEEDBACK_COLUMN, RAW_LABEL_COLUMN
from training.errors import require_store

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


def feedback_labels(
    store_url: str, task: str, *, pseudonym_secret: str | None = None
) -> pd.DataFrame:
    """Labels from `task`'s closed warnings: one row per warning with a telling outcome.

    Columns: entity_hash (pseudonym), as_of (datetime64[ns], the warning's latest as-of date),
    period (its month), label (int8), outcome, warning_id, score, risk_level. `unreachable`
    warnings are left out (see the module docstring).
    """
    secret = pseudonym_secret or load_secrets().pseudonym_secret
    return _labels(_closed_warnings(store_url, task, secret))


def _closed_warnings(store_url: str, task: str, pseudonym_secret: str) -> pd.DataFrame:
    """`task`'s closed warnings in the store (one that exists: `require_store`), whatever
    their outcome."""
    require_store(store_url)
    with WarningStore(store_url, pseudonym_secret) as store:
        warnings = store.warnings_frame(task=task)
    return warnings[warnings["status"] == "closed"]


def _labels(closed: pd.DataFrame) -> pd.DataFrame:
    """`feedback_labels`' frame from closed warnings: those with a telling outcome."""
    closed = closed[closed["outcome"].isin(OUTCOME_LABELS)]
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
    matched, and a labelled dataset's own label in `label_before_feedback` (the held-out truth
    the test slice is measured on, `training.datasets.split_dataset`). The input frame is not
    changed.
    """
    hashes = _pseudonyms(dataset["entity_id"], pseudonym_secret)
    keys = pd.DataFrame({"entity_hash": hashes.to_numpy()}, index=dataset.index)
    newest = feedback.sort_values("as_of", kind="stable")
    if get_task(task).scored_once:
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
        result[RAW_LABEL_COLUMN] = result["label"].astype("Int8")
        result["label"] = result["label"].where(~has_feedback, matched["label"]).astype("int8")
    result[FEEDBACK_COLUMN] = matched["outcome"].where(has_feedback, "").astype(str)
    return result


def _pseudonyms(entity_ids: pd.Series, pseudonym_secret: str) -> pd.Series:
    """The store's pseudonym of each id (hashed once per distinct id)."""
    from serving.store.pseudonym import pseudonymise

    ids = entity_ids.astype(str)
    unique = pd.unique(ids)
    lookup = dict(zip(unique, (pseudonymise(pseudonym_secret, raw) for raw in unique), strict=True))
    return ids.map(lookup)


@dataclass(frozen=True)
class FeedbackSummary:
    """What the warnings store's outcomes did to one dataset (recorded in sidecar and run)."""

    #: closed warnings with a telling outcome (`unreachable` ones give no label)
    closed_warnings: int
    matched: int
    changed: int
    added: int
    outcomes: dict[str, int]

    @property
    def labels(self) -> int:
        """Rows whose label now comes from feedback (matched plus added)."""
        return self.matched + self.added

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, with `used` for the sidecar."""
        return {
            "used": True,
            "closed_warnings": self.closed_warnings,
            "labels": self.labels,
            "matched": self.matched,
            "changed": self.changed,
            "added": self.added,
            "outcomes": dict(self.outcomes),
        }


def apply_feedback(
    task: str,
    dataset: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    store_url: str,
    pseudonym_secret: str,
) -> tuple[pd.DataFrame, FeedbackSummary]:
    """`dataset` with the store's closed warnings of `task` as labels, and what changed.

    Rows matching a warning take its label (`merge_feedback`). Warnings matching no row (a
    period whose label window is still open, or a dispute not yet labelled) add their unit
    as a new row: the features are built from `tables` at the warning's as-of date, as the
    scoring set was. A warning that cannot be rebuilt so is left out: its unit is not in that
    scoring set (unknown to these tables), or its as-of date is outside the dates the tables
    can score (a record the service scored with today's date, after the tables' last date);
    one line on stderr counts the latter, since only the user can bring newer tables. Added
    rows follow the dataset's own rows. Another line on stderr counts the closed warnings that
    give no label (`unreachable`), so the summary's `closed_warnings` (those with a label)
    does not read as every closed warning.
    """
    closed = _closed_warnings(store_url, task, pseudonym_secret)
    feedback = _labels(closed)
    if len(closed) > len(feedback):
        _say_no_label(len(closed) - len(feedback), len(closed))
    merged = merge_feedback(dataset, feedback, task, pseudonym_secret)
    matched = merged[FEEDBACK_COLUMN] != ""
    changed = int((merged["label"] != dataset["label"]).sum())
    unmatched = _unmatched(task, dataset, feedback, pseudonym_secret)
    added_parts, outside = _rebuilt_rows(task, unmatched, tables, pseudonym_secret)
    if outside:
        _say_left_out(int(unmatched["as_of"].isin(list(outside)).sum()), outside)
    added = sum(len(part) for part in added_parts)
    result = merged
    if added:
        parts = [part.loc[:, list(merged.columns)] for part in added_parts]
        result = pd.concat([merged, *parts], ignore_index=True)
    summary = FeedbackSummary(
        closed_warnings=len(feedback),
        matched=int(matched.sum()),
        changed=changed,
        added=added,
        outcomes={
            str(k): int(v) for k, v in feedback["outcome"].value_counts().sort_index().items()
        },
    )
    return result, summary


def _unmatched(
    task: str, dataset: pd.DataFrame, feedback: pd.DataFrame, pseudonym_secret: str
) -> pd.DataFrame:
    """The feedback rows no dataset row matches, the newest per unit (as `merge_feedback`)."""
    hashes = _pseudonyms(dataset["entity_id"], pseudonym_secret)
    if get_task(task).scored_once:
        unmatched = feedback[~feedback["entity_hash"].isin(set(hashes))]
    else:
        periods = pd.to_datetime(dataset["as_of"]).dt.to_period("M").dt.start_time
        known = pd.MultiIndex.from_arrays([hashes.to_numpy(), periods.to_numpy()])
        pairs = pd.MultiIndex.from_arrays([feedback["entity_hash"], feedback["period"]])
        unmatched = feedback[~pairs.isin(known)]
    return unmatched.sort_values("as_of", kind="stable").drop_duplicates(
        ["entity_hash"] if get_task(task).scored_once else ["entity_hash", "period"], keep="last"
    )


def _rebuilt_rows(
    task: str,
    unmatched: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    pseudonym_secret: str,
) -> tuple[list[pd.DataFrame], dict[pd.Timestamp, str]]:
    """Each unmatched warning's unit as a labelled row of the scoring set at its as-of date,
    and the as-of dates the tables cannot score, each with the reason (`ScoringDateError`).

    A date outside the tables is skipped, not raised: the service scores raw records with
    today's date, so one such warning must not stop the whole loop's labels from counting.
    """
    from features.dataset import ScoringDateError, build_dataset

    parts = []
    outside: dict[pd.Timestamp, str] = {}
    for when in sorted(unmatched["as_of"].unique()):
        group = unmatched[unmatched["as_of"] == when]
        try:
            scoring = build_dataset(task, tables, unlabelled=True, as_of=pd.Timestamp(when))
        except ScoringDateError as exc:
            outside[pd.Timestamp(when)] = str(exc)
            continue
        lookup = group.set_index("entity_hash")
        scoring_hashes = _pseudonyms(scoring["entity_id"], pseudonym_secret)
        keep = scoring_hashes.isin(lookup.index).to_numpy()
        found = scoring.loc[keep]
        found_hashes = scoring_hashes[keep]
        parts.append(
            found.assign(
                label=lookup.loc[found_hashes, "label"].to_numpy().astype("int8"),
                audit_feedback_outcome=lookup.loc[found_hashes, "outcome"].to_numpy().astype(str),
                # no label of the raw tables: the unit's label window is still open
                label_before_feedback=pd.array([pd.NA] * len(found), dtype="Int8"),
            )
        )
    return parts, outside


def _say_no_label(count: int, closed: int) -> None:
    """One stderr line: how many closed warnings give no label, and why."""
    import typer

    verb = "gives" if count == 1 else "give"
    typer.echo(
        f"feedback: {count} of {closed} closed warnings {verb} no label: closed as unreachable, "
        "nobody learned whether the risk was real",
        err=True,
    )


def _say_left_out(count: int, outside: Mapping[pd.Timestamp, str]) -> None:
    """One stderr line: how many warnings the tables could not rebuild, and why (the first
    date's reason names the span the tables cover; other dates are only counted)."""
    import typer

    first, *others = (outside[when] for when in sorted(outside))
    more = {0: "", 1: "; so is 1 other as-of date"}.get(
        len(others), f"; so are {len(others)} other as-of dates"
    )
    plural = "" if count == 1 else "s"
    typer.echo(
        f"feedback: left out {count} closed warning{plural} whose features cannot be rebuilt "
        f"from these tables ({first}{more})",
        err=True,
    )
