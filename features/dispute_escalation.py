"""Dispute-escalation features: one row per registered dispute, scored 7 days after registration.

Label: an escalation event of the dispute (`escalation_events.event_time`) in
`(as_of, as_of + 90 days]`, where `as_of` is the registration date plus 7 days (midnight).
Features use only rows with `available_at <= as_of`, through `features.pit`: the mediation
count, visit flags and petitions are snapshots at the as-of date, never the case's final state.
Party history (110 calls, petitions) is looked up per listed party and summed over the dispute.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features import pit
from features.catalog import dataset_frame
from features.schemas import RawTables

TASK = "dispute_escalation"
HORIZON = pd.Timedelta(days=90)
AS_OF_DELAY = pd.Timedelta(days=7)
PARTY_HISTORY = "365D"
CHUNK_ROWS = 250_000
HIGH_RISK_TYPES = ("labour", "land", "property_management", "lending")

Progress = Callable[[int, int], None]


def data_end(tables: RawTables) -> pd.Timestamp:
    """End of coverage: the midnight after the latest 110 call, petition or registration.

    Case follow-ups (sessions, visits) are scheduled ahead and are not a clock of the data.
    """
    return pit.data_end(tables["police_calls"], tables["petitions"], tables["disputes"])


def standard_as_of(disputes: pd.DataFrame) -> np.ndarray:
    """Each dispute's as-of date: its registration date plus 7 days, at midnight."""
    registered = pd.DatetimeIndex(disputes["event_time"].to_numpy(dtype="datetime64[ns]"))
    return (registered.normalize() + AS_OF_DELAY).to_numpy(dtype="datetime64[ns]")


def _units_for(tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame) -> pd.DataFrame:
    """Units from `as_of`: one date for every dispute on record by then, or explicit pairs."""
    if isinstance(as_of, pd.DataFrame):
        return pd.DataFrame(
            {
                "entity_id": as_of["entity_id"].astype("str").to_numpy(),
                "as_of": pd.to_datetime(as_of["as_of"]).astype("datetime64[ns]").to_numpy(),
            }
        )
    when = pd.Timestamp(as_of).as_unit("ns")
    disputes = tables["disputes"]
    known = disputes["available_at"].to_numpy(dtype="datetime64[ns]") <= when.to_datetime64()
    return pd.DataFrame(
        {
            "entity_id": disputes["dispute_id"].to_numpy(dtype=object)[known],
            "as_of": np.full(int(known.sum()), when.to_datetime64()),
        }
    ).astype({"entity_id": "str", "as_of": "datetime64[ns]"})


class _Sources:
    """Look-up structures over one city's tables, built once and shared by all chunks."""

    def __init__(self, tables: RawTables) -> None:
        disputes = tables["disputes"].drop_duplicates("dispute_id").reset_index(drop=True)
        self.entities = pd.Index(disputes["dispute_id"].to_numpy(dtype=object))
        self.disputes = disputes
        self.registry_available = disputes["available_at"].to_numpy(dtype="datetime64[ns]")
        sessions = tables["mediation_sessions"]
        self.sessions = pit.EventIndex(
            sessions.assign(
                failed=sessions["outcome"].isin(["failed", "no_show"]),
                agreement=sessions["outcome"] == "agreement",
            ),
            self.entities,
            entity_col="dispute_id",
            value_cols=("failed", "agreement"),
        )
        self.visits = pit.EventIndex(
            tables["grid_visits"],
            self.entities,
            entity_col="dispute_id",
            value_cols=("threat_flag", "emotion_flag", "visit_duration_min"),
        )
        parties = tables["dispute_parties"]
        codes = pit.encode(self.entities, parties["dispute_id"])
        parties = parties.assign(_code=codes)[codes >= 0].sort_values("_code", kind="stable")
        self.party_dispute = parties["_code"].to_numpy(np.int64)
        self.party_ids = parties["party_id"].to_numpy(dtype=object)
        self.party_available = (
            parties["available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        )
        all_dispute_codes = np.arange(len(self.entities))
        self.party_start = np.searchsorted(self.party_dispute, all_dispute_codes, side="left")
        self.party_stop = np.searchsorted(self.party_dispute, all_dispute_codes, side="right")
        calls = tables["police_calls"]
        petitions = tables["petitions"]
        self.people = pd.Index(pd.unique(self.party_ids))
        self.calls = pit.EventIndex(
            calls.assign(violence=calls["call_type"] == "violence"),
            self.people,
            entity_col="party_id",
            value_cols=("violence",),
        )
        self.petitions = pit.EventIndex(petitions, self.people, entity_col="party_id")

    def party_history(self, queries: pit.Queries) -> dict[str, np.ndarray]:
        """110 calls and petitions of each dispute's listed parties, summed per query."""
        codes = np.where(queries.codes >= 0, queries.codes, 0)
        per_query = np.where(
            queries.codes >= 0, self.party_stop[codes] - self.party_start[codes], 0
        )
        query_row = np.repeat(np.arange(len(queries)), per_query)
        offsets = np.arange(len(query_row)) - np.repeat(np.cumsum(per_query) - per_query, per_query)
        row = self.party_start[codes][query_row] + offsets
        as_of = queries.as_of[query_row]
        listed = self.party_available[row] <= as_of
        query_row, row, as_of = query_row[listed], row[listed], as_of[listed]
        people = pit.Queries.build(self.people, self.party_ids[row], as_of)

        def per_dispute(values: np.ndarray) -> np.ndarray:
            return np.bincount(query_row, weights=values, minlength=len(queries)).astype(np.int64)

        return {
            "party_prior_police_calls": per_dispute(self.calls.count(people, PARTY_HISTORY)),
            "party_violence_calls": per_dispute(self.calls.sum(people, "violence", PARTY_HISTORY)),
            "party_prior_petitions": per_dispute(self.petitions.count(people, PARTY_HISTORY)),
        }


def _chunk_features(src: _Sources, queries: pit.Queries) -> dict[str, np.ndarray]:
    codes = np.where(queries.codes >= 0, queries.codes, 0)
    on_record = (queries.codes >= 0) & (
        src.registry_available[codes].view(np.int64) <= queries.as_of
    )
    row = src.disputes.iloc[codes]
    dispute_type = row["dispute_type"].to_numpy(dtype=object)
    handling = row["handling_level"].to_numpy(dtype=object)
    registered = row["event_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)

    def known(values: np.ndarray) -> np.ndarray:
        return np.where(on_record, values, np.nan)

    def known_label(values: np.ndarray) -> np.ndarray:
        return pit.known_labels(on_record, values)

    return {
        "dispute_type": known_label(dispute_type),
        "is_high_risk_type": on_record & np.isin(dispute_type, HIGH_RISK_TYPES),
        "dispute_amount": known(row["amount"].to_numpy(np.float64)),
        "n_parties": np.where(on_record, row["n_parties"].to_numpy(np.int64), 0),
        "group_flag": on_record & row["group_flag"].to_numpy(bool),
        **src.party_history(queries),
        "mediation_attempts": src.sessions.count(queries),
        "mediation_failures": src.sessions.sum(queries, "failed"),
        "mediation_agreement": src.sessions.sum(queries, "agreement") > 0,
        "threat_flag_visits": src.visits.sum(queries, "threat_flag"),
        "emotion_flag_visits": src.visits.sum(queries, "emotion_flag"),
        "grid_visits": src.visits.count(queries),
        "mean_visit_duration_min": src.visits.mean(queries, "visit_duration_min"),
        "handling_level": known_label(handling),
        "county_handling": on_record & (handling == "county"),
        "registration_channel": known_label(row["registration_channel"].to_numpy(dtype=object)),
        "days_since_registration": known((queries.as_of - registered) / pit.DAY_NS),
        "audit_district": known_label(row["district"].to_numpy(dtype=object)),
        "audit_dispute_type": known_label(dispute_type),
    }


def _build(
    tables: RawTables,
    units: pd.DataFrame,
    progress: Progress | None,
    label: np.ndarray | None = None,
) -> pd.DataFrame:
    src = _Sources(tables)
    queries = pit.Queries.build(src.entities, units["entity_id"], units["as_of"])
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(len(queries), 1), CHUNK_ROWS):
        parts.append(_chunk_features(src, queries.take(slice(start, start + CHUNK_ROWS))))
        if progress is not None:
            progress(min(start + CHUNK_ROWS, len(queries)), len(queries))
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    audit = {name: columns.pop(name) for name in list(columns) if name.startswith("audit_")}
    return dataset_frame(TASK, units["entity_id"], units["as_of"], columns, audit, label)


def build_features(
    tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame, progress: Progress | None = None
) -> pd.DataFrame:
    """Features at `as_of` (a date for every dispute on record by then, or a frame of
    (`entity_id`, `as_of`) pairs), in the dataset layout without a label."""
    return _build(tables, _units_for(tables, as_of), progress)


def labels(tables: RawTables, units: pd.DataFrame) -> np.ndarray:
    """1 when the dispute escalates in `(as_of, as_of + 90 days]`, else 0."""
    events = tables["escalation_events"]
    entities = pd.Index(pd.unique(events["dispute_id"].to_numpy(dtype=object)))
    index = pit.EventIndex(events, entities, entity_col="dispute_id", time_col="event_time")
    start = pd.DatetimeIndex(units["as_of"])
    before = index.count(pit.Queries.build(entities, units["entity_id"], start))
    until = index.count(pit.Queries.build(entities, units["entity_id"], start + HORIZON))
    return (until - before > 0).astype(np.int8)


def labelled_units(tables: RawTables) -> pd.DataFrame:
    """Every dispute, at its as-of date, whose 90-day label window ends within the coverage."""
    disputes = tables["disputes"]
    as_of = standard_as_of(disputes)
    complete = (as_of + HORIZON.to_timedelta64() <= data_end(tables).to_datetime64()) & (
        disputes["available_at"].to_numpy(dtype="datetime64[ns]") <= as_of
    )
    units = pd.DataFrame(
        {
            "entity_id": disputes["dispute_id"].to_numpy(dtype=object)[complete],
            "as_of": as_of[complete],
        }
    ).astype({"entity_id": "str", "as_of": "datetime64[ns]"})
    return units.sort_values(["as_of", "entity_id"], kind="stable").reset_index(drop=True)


def build_labelled_dataset(tables: RawTables, progress: Progress | None = None) -> pd.DataFrame:
    """Features and label for every dispute with a complete label window."""
    units = labelled_units(tables)
    return _build(tables, units, progress, labels(tables, units))


def latest_as_of(tables: RawTables) -> pd.Timestamp:
    """The latest dispute as-of date within the data's coverage (registration + 7 days)."""
    end = data_end(tables).to_datetime64()
    as_of = standard_as_of(tables["disputes"])
    within = as_of[as_of <= end]
    return pd.Timestamp(within.max() if len(within) else end)


def open_units(tables: RawTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Disputes still worth scoring at `as_of`: past their first week, inside their 90-day
    window, and with no escalation on record yet."""
    disputes = tables["disputes"]
    when = pd.Timestamp(as_of).as_unit("ns").to_datetime64()
    start = standard_as_of(disputes)
    on_record = disputes["available_at"].to_numpy(dtype="datetime64[ns]") <= when
    open_window = (start <= when) & (when < start + HORIZON.to_timedelta64())
    events = tables["escalation_events"]
    escalated = set(events.loc[events["available_at"] <= when, "dispute_id"].to_numpy(dtype=object))
    ids = disputes["dispute_id"].to_numpy(dtype=object)
    keep = on_record & open_window & ~np.isin(ids, list(escalated))
    return pd.DataFrame({"entity_id": ids[keep], "as_of": np.full(int(keep.sum()), when)}).astype(
        {"entity_id": "str", "as_of": "datetime64[ns]"}
    )


def build_scoring_set(
    tables: RawTables, as_of: pit.AsOfDate | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """Features of the disputes open at `as_of` (default: the latest as-of date), at that date."""
    when = latest_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    return _build(tables, open_units(tables, when), progress)
