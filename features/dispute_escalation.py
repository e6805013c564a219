"""Dispute-escalation features: one row per registered dispute, scored 7 days after registration.

Label: an escalation event of the dispute (`escalation_events.event_time`) in
`(as_of, as_of + 90 days]`, where `as_of` is the registration date plus 7 days (midnight).
Features use only rows with `available_at <= as_of`, through `features.pit`: the mediation
count, visit flags and petitions are snapshots at the as-of date, never the case's final state.
Party history (110 calls, petitions) is looked up per listed party and summed over the dispute.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from features import pit, population
from features.catalog import dataset_frame, feature
from features.schemas import RawTables

TASK = "dispute_escalation"
HORIZON = pd.Timedelta(days=90)
AS_OF_DELAY = pd.Timedelta(days=7)
PARTY_HISTORY = "365D"
CHUNK_ROWS = 250_000
HIGH_RISK_TYPES = ("labour", "land", "property_management", "lending")
DISPUTE_TYPES = feature(TASK, "dispute_type").categories
HANDLING_LEVELS = feature(TASK, "handling_level").categories
CHANNELS = feature(TASK, "registration_channel").categories
HIGH_RISK_CODES = [DISPUTE_TYPES.index(name) for name in HIGH_RISK_TYPES]
# Grid visits behind the district's typical visit length (the visit-duration noise feature).
DISTRICT_VISITS = 30

Progress = Callable[[int, int], None]


def data_end(tables: RawTables) -> pd.Timestamp:
    """End of coverage: the midnight after the latest 110 call, petition or registration.

    Case follow-ups (sessions, visits) are scheduled ahead and are not a clock of the data.
    """
    return population.data_end(tables["police_calls"], tables["petitions"], tables["disputes"])


def standard_as_of(disputes: pd.DataFrame) -> np.ndarray:
    """Each dispute's as-of date: its registration date plus 7 days, at midnight."""
    registered = pd.DatetimeIndex(disputes["event_time"].to_numpy(dtype="datetime64[ns]"))
    return (registered.normalize() + AS_OF_DELAY).to_numpy(dtype="datetime64[ns]")


def _units_for(tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame) -> pd.DataFrame:
    """Units from `as_of`: one date for every dispute on record by then, or explicit pairs."""
    if isinstance(as_of, pd.DataFrame):
        return population.pairs_units(as_of)
    return population.registry_units(tables["disputes"], "dispute_id", pd.DatetimeIndex([as_of]))


class _Sources:
    """Look-up structures over one city's tables, built once and shared by all chunks."""

    def __init__(self, tables: RawTables) -> None:
        disputes = population.registry_universe(tables["disputes"], "dispute_id")
        self.entities = pd.Index(disputes["dispute_id"].astype(pit.TEXT))
        self.disputes = disputes
        self.registry_available = disputes["available_at"].to_numpy(dtype="datetime64[ns]")
        self.registered = disputes["event_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        self.amount = disputes["amount"].to_numpy(np.float64)
        self.n_parties = disputes["n_parties"].to_numpy(np.int64)
        self.group_flag = disputes["group_flag"].to_numpy(bool)
        self.dispute_type = pit.category_codes(disputes["dispute_type"], DISPUTE_TYPES)
        self.handling = pit.category_codes(disputes["handling_level"], HANDLING_LEVELS)
        self.channel = pit.category_codes(disputes["registration_channel"], CHANNELS)
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
            value_cols=("threat_flag", "emotion_flag"),
        )
        self.district_visits = _DistrictVisitDurations(
            tables["grid_visits"], disputes, self.entities
        )
        parties = tables["dispute_parties"]
        codes = pit.encode(self.entities, parties["dispute_id"])
        parties = parties.assign(_code=codes)[codes >= 0].sort_values("_code", kind="stable")
        self.party_dispute = parties["_code"].to_numpy(np.int64)
        self.party_ids = parties["party_id"].astype(pit.TEXT).reset_index(drop=True)
        self.party_available = (
            parties["available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        )
        all_dispute_codes = np.arange(len(self.entities))
        self.party_start = np.searchsorted(self.party_dispute, all_dispute_codes, side="left")
        self.party_stop = np.searchsorted(self.party_dispute, all_dispute_codes, side="right")
        calls = tables["police_calls"]
        petitions = tables["petitions"]
        # The people universe and each listing's code into it, in one hashing pass.
        party_codes, people = pd.factorize(self.party_ids)
        self.people = pd.Index(people, dtype=pit.TEXT)
        self._party_codes = party_codes.astype(np.int64)
        self.calls = pit.EventIndex(calls, self.people, entity_col="party_id")
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
        people = pit.Queries(self.people, self._party_codes[row], as_of)

        def per_dispute(values: np.ndarray) -> np.ndarray:
            return np.bincount(query_row, weights=values, minlength=len(queries)).astype(np.int64)

        return {
            "party_prior_police_calls": per_dispute(self.calls.count(people, PARTY_HISTORY)),
            "party_prior_petitions": per_dispute(self.petitions.count(people, PARTY_HISTORY)),
        }


class _DistrictVisitDurations:
    """Mean duration of each district's latest grid visits on record, for any as-of date.

    The visit-duration noise signal summarised per dispute would be missing exactly when a
    dispute has no visit yet, and that missingness tells the model there was no chance of a
    threat or emotion flag (the `threat_emotion` driver). Summarised over the district's latest
    visits it is defined for every dispute and carries nothing but the noise.
    """

    def __init__(self, visits: pd.DataFrame, disputes: pd.DataFrame, entities: pd.Index) -> None:
        dispute_district, districts = pd.factorize(disputes["district"], sort=True)
        self.dispute_district = dispute_district.astype(np.int64)
        visit_dispute = pit.encode(entities, visits["dispute_id"])
        visit_district = self._district_of(visit_dispute)
        available = visits["available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        minutes = visits["visit_duration_min"].to_numpy(np.float64)
        # By district, then by time; ties keep table order (lexsort is stable).
        order = np.lexsort((available, visit_district))
        order = order[visit_district[order] >= 0]
        bounds = np.searchsorted(visit_district[order], np.arange(len(districts) + 1))
        self.times: list[np.ndarray] = []
        self.cumulative: list[np.ndarray] = []
        for start, stop in itertools.pairwise(bounds):
            rows = order[start:stop]
            self.times.append(available[rows])
            self.cumulative.append(np.concatenate([[0.0], np.cumsum(minutes[rows])]))

    def _district_of(self, dispute_rows: np.ndarray) -> np.ndarray:
        """Each row's district code, -1 for a dispute not in the registry (looked up only where
        known: -1 is no index, and an empty registry has none at all)."""
        known = dispute_rows >= 0
        district = np.full(len(dispute_rows), -1, dtype=np.int64)
        district[known] = self.dispute_district[dispute_rows[known]]
        return district

    def mean_latest(self, dispute_rows: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        """Per query: mean minutes of the district's latest `DISTRICT_VISITS` visits on record
        at `as_of` (NaN for a dispute not on record or a district with no visit yet)."""
        district = self._district_of(dispute_rows)
        result = np.full(len(dispute_rows), np.nan)
        for code, (times, cumulative) in enumerate(zip(self.times, self.cumulative, strict=True)):
            rows = np.flatnonzero(district == code)
            seen = np.searchsorted(times, as_of[rows], side="right")
            taken = np.minimum(seen, DISTRICT_VISITS)
            with np.errstate(invalid="ignore", divide="ignore"):
                result[rows] = (cumulative[seen] - cumulative[seen - taken]) / taken
        return result


def _chunk_features(src: _Sources, queries: pit.Queries) -> dict[str, np.ndarray]:
    codes = np.where(queries.codes >= 0, queries.codes, 0)
    on_record = (queries.codes >= 0) & (
        src.registry_available[codes].view(np.int64) <= queries.as_of
    )
    dispute_type = np.where(on_record, src.dispute_type[codes], -1)
    handling = np.where(on_record, src.handling[codes], -1)

    def known(values: np.ndarray) -> np.ndarray:
        return np.where(on_record, values, np.nan)

    return {
        "dispute_type": dispute_type,
        "is_high_risk_type": np.isin(dispute_type, HIGH_RISK_CODES),
        "dispute_amount": known(src.amount[codes]),
        "n_parties": np.where(on_record, src.n_parties[codes], 0),
        "group_flag": on_record & src.group_flag[codes],
        **src.party_history(queries),
        "mediation_attempts": src.sessions.count(queries),
        "mediation_failures": src.sessions.sum(queries, "failed"),
        "mediation_agreement": src.sessions.sum(queries, "agreement") > 0,
        "threat_flag_visits": src.visits.sum(queries, "threat_flag"),
        "emotion_flag_visits": src.visits.sum(queries, "emotion_flag"),
        "grid_visits": src.visits.count(queries),
        "district_visit_duration_min": src.district_visits.mean_latest(
            np.where(on_record, codes, -1), queries.as_of
        ),
        "handling_level": handling,
        "county_handling": handling == HANDLING_LEVELS.index("county"),
        "registration_channel": np.where(on_record, src.channel[codes], -1),
        # whole calendar days: the hour a dispute was registered at is not a risk, and as a
        # fraction of a day (6.25-6.67 at 7 days in) the model split on it and named it a reason
        "days_since_registration": known(
            (queries.as_of // pit.DAY_NS - src.registered[codes] // pit.DAY_NS).astype(float)
        ),
        "registry_row": np.where(on_record, codes, -1),
    }


def _build(
    tables: RawTables,
    units: pd.DataFrame,
    progress: Progress | None,
    label_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    src = _Sources(tables)
    queries = pit.Queries.build(src.entities, units["entity_id"], units["as_of"])
    columns = pit.in_chunks(queries, partial(_chunk_features, src), CHUNK_ROWS, progress)
    label = None
    if label_events is not None:
        label = population.event_within(label_events, "dispute_id", queries, HORIZON)
    rows = columns.pop("registry_row")
    audit = {
        "audit_district": pit.text_at(src.disputes["district"], rows),
        "audit_dispute_type": pit.text_at(src.disputes["dispute_type"], rows),
    }
    return dataset_frame(TASK, units["entity_id"], units["as_of"], columns, audit, label)


def build_features(
    tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame, progress: Progress | None = None
) -> pd.DataFrame:
    """Features at `as_of` (a date for every dispute on record by then, or a frame of
    (`entity_id`, `as_of`) pairs), in the dataset layout without a label."""
    return _build(tables, _units_for(tables, as_of), progress)


def labels(tables: RawTables, units: pd.DataFrame) -> np.ndarray:
    """1 when the dispute escalates in `(as_of, as_of + 90 days]`, else 0."""
    return population.units_event_within(tables["escalation_events"], "dispute_id", units, HORIZON)


def labelled_units(tables: RawTables) -> pd.DataFrame:
    """Every dispute, at its as-of date, whose 90-day label window ends within the coverage."""
    disputes = tables["disputes"]
    as_of = standard_as_of(disputes)
    complete = (as_of + HORIZON.to_timedelta64() <= data_end(tables).to_datetime64()) & (
        disputes["available_at"].to_numpy(dtype="datetime64[ns]") <= as_of
    )
    rows = np.flatnonzero(complete)
    rows = rows[np.argsort(as_of[rows], kind="stable")]
    return pd.DataFrame(
        {"entity_id": pit.text_at(disputes["dispute_id"], rows), "as_of": as_of[rows]}
    )


def build_labelled_dataset(tables: RawTables, progress: Progress | None = None) -> pd.DataFrame:
    """Features and label for every dispute with a complete label window."""
    return _build(tables, labelled_units(tables), progress, tables["escalation_events"])


def latest_as_of(tables: RawTables) -> pd.Timestamp:
    """The latest dispute as-of date within the data's coverage (registration + 7 days)."""
    end = data_end(tables).to_datetime64()
    as_of = standard_as_of(tables["disputes"])
    within = as_of[as_of <= end]
    return pd.Timestamp(within.max() if len(within) else end)


def open_units(tables: RawTables, as_of: pd.Timestamp) -> pd.DataFrame:
    """Disputes still worth scoring at `as_of`: past their first week, inside their 90-day
    window, and with no escalation on record yet. `snapshot` is the date each one's features
    are read at: 7 days in (the midnight after it came on record, if that is later)."""
    disputes = tables["disputes"]
    when = pd.Timestamp(as_of).as_unit("ns").to_datetime64()
    start = standard_as_of(disputes)
    available = disputes["available_at"].to_numpy(dtype="datetime64[ns]")
    on_record = available <= when
    open_window = (start <= when) & (when < start + HORIZON.to_timedelta64())
    events = tables["escalation_events"]
    escalated = pit.encode(
        pd.Index(events.loc[events["available_at"] <= when, "dispute_id"].astype(pit.TEXT)),
        disputes["dispute_id"],
    )
    rows = np.flatnonzero(on_record & open_window & (escalated < 0))
    came_on_record = pd.DatetimeIndex(available[rows]).ceil("D").to_numpy(dtype="datetime64[ns]")
    return pd.DataFrame(
        {
            "entity_id": pit.text_at(disputes["dispute_id"], rows),
            "as_of": np.full(len(rows), when),
            "snapshot": np.minimum(np.maximum(start[rows], came_on_record), when),
        }
    )


def build_scoring_set(
    tables: RawTables, as_of: pit.AsOfDate | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """The disputes open at `as_of` (default: the latest as-of date), each with its features
    at 7 days in (`open_units`' snapshot), as the model's unit is defined and trained ("a
    registered civil dispute, 7 days in"): a month-end screen scores a 60-day-old dispute as
    the model knows it, not in a state (60 days since registration, every session since) it
    never saw in training. Nothing after `as_of` is read."""
    when = latest_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    units = open_units(tables, when)
    snapshots = pd.DataFrame({"entity_id": units["entity_id"], "as_of": units["snapshot"]})
    frame = _build(tables, snapshots, progress)  # rows in the units' order
    frame["as_of"] = units["as_of"].to_numpy()
    return frame
