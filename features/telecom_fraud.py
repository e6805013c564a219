"""Telecom-fraud features: one row per screened resident and as-of month.

Label: a fraud case against the resident that occurred (`fraud_cases.event_time`) in
`(as_of, as_of + 30 days]`. Features use only rows with `available_at <= as_of`, through
`features.pit`; "in the last 30 days" counts records received in the 30 days up to the as-of
date. A fraud leaves its own trace (a large transfer to new payees on the day): that trace is
after the as-of date for the unit it labels, so the point-in-time rule keeps it out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from features import pit, population
from features.catalog import AGE_BANDS, dataset_frame, feature
from features.schemas import RawTables

TASK = "telecom_fraud"
HORIZON = pd.Timedelta(days=30)
CHUNK_ROWS = 250_000
YOUNG_ADULT_AGES = (18, 30)
ELDERLY_AGE = 65

Progress = Callable[[int, int], None]
EDUCATION_LEVELS = feature(TASK, "education_level").categories


#: The register's optional departure column: a resident who moved out leaves the population.
DEPARTURE = "moved_out_at"


def data_end(tables: RawTables) -> pd.Timestamp:
    """End of coverage: the midnight after the latest daily contact or outflow record."""
    return population.data_end(tables["flagged_contacts"], tables["bank_outflows"])


def _first_month(tables: RawTables) -> pd.Timestamp:
    first = min(
        tables["flagged_contacts"]["event_time"].min(), tables["bank_outflows"]["event_time"].min()
    )
    return pd.Timestamp(first).to_period("M").to_timestamp()


class _Sources:
    """Look-up structures over one city's tables, built once and shared by all chunks."""

    def __init__(self, tables: RawTables) -> None:
        residents = population.registry_universe(tables["residents"], "resident_id")
        self.entities = pd.Index(residents["resident_id"].astype(pit.TEXT))
        self.residents = residents
        self.registry_available = residents["available_at"].to_numpy(dtype="datetime64[ns]")
        self.registry_until = population.departures(residents, DEPARTURE)
        self.birth_year = residents["birth_year"].to_numpy(np.int64)
        self.lives_alone = residents["lives_alone"].to_numpy(bool)
        self.education = pit.category_codes(residents["education_level"], EDUCATION_LEVELS)
        contacts = tables["flagged_contacts"]
        self.contacts = pit.EventIndex(
            contacts.assign(flagged=contacts["flagged_calls"] + contacts["flagged_sms"]),
            self.entities,
            entity_col="resident_id",
            value_cols=("flagged", "overseas_calls"),
        )
        alerts = tables["app_alerts"]
        self.alerts = pit.EventIndex(
            alerts.assign(
                screen_sharing=alerts["alert_type"] == "screen_sharing",
                phishing=alerts["alert_type"] == "phishing_url",
                flagged_app=alerts["alert_type"] == "flagged_app",
            ),
            self.entities,
            entity_col="resident_id",
            value_cols=("screen_sharing", "phishing", "flagged_app"),
        )
        self.outflows = pit.EventIndex(
            tables["bank_outflows"],
            self.entities,
            entity_col="resident_id",
            value_cols=("amount_out", "new_payees", "night_transfers", "card_payment_count"),
        )
        self.warnings = pit.EventIndex(
            tables["antifraud_warnings"],
            self.entities,
            entity_col="resident_id",
            value_cols=("answered",),
        )
        self.installs = pit.EventIndex(
            tables["app_installs"], self.entities, entity_col="resident_id"
        )
        self.frauds = pit.EventIndex(tables["fraud_cases"], self.entities, entity_col="resident_id")

    def registered(self, as_of_dates: pd.DatetimeIndex) -> pit.Queries:
        """Every resident on the register at each as-of date (entity-major)."""
        return population.registry_queries(
            self.entities, self.registry_available, as_of_dates, self.registry_until
        )


def _age_band(age: np.ndarray) -> np.ndarray:
    """Audit age band, as a position in `AGE_BANDS`, from age in years."""
    return np.searchsorted(np.array([18, 31, 60]), age, side="right").astype(np.int8)


def _chunk_features(src: _Sources, queries: pit.Queries) -> dict[str, np.ndarray]:
    codes = np.where(queries.codes >= 0, queries.codes, 0)
    on_registry = (queries.codes >= 0) & (
        src.registry_available[codes].view(np.int64) <= queries.as_of
    )
    as_of_year = queries.as_of.view("datetime64[ns]").astype("datetime64[Y]").astype(np.int64)
    age = as_of_year + 1970 - src.birth_year[codes]
    lives_alone = src.lives_alone[codes]

    recent_max = src.outflows.max(queries, "amount_out", "30D")
    usual_day = src.outflows.mean(queries, "amount_out", "90D", offset="30D")
    with np.errstate(invalid="ignore", divide="ignore"):
        spike = np.where(
            usual_day > 0,
            np.nan_to_num(recent_max, nan=0.0) / np.where(usual_day > 0, usual_day, 1.0),
            np.nan,
        )

    return {
        "flagged_contacts_30d": src.contacts.sum(queries, "flagged", "30D"),
        "overseas_calls_30d": src.contacts.sum(queries, "overseas_calls", "30D"),
        "screen_sharing_alerts_30d": src.alerts.sum(queries, "screen_sharing", "30D"),
        "phishing_alerts_30d": src.alerts.sum(queries, "phishing", "30D"),
        "flagged_app_alerts_30d": src.alerts.sum(queries, "flagged_app", "30D"),
        "new_payees_30d": src.outflows.sum(queries, "new_payees", "30D"),
        "outflow_spike_ratio": spike,
        "outflow_30d": src.outflows.sum(queries, "amount_out", "30D"),
        "night_transfers_30d": src.outflows.sum(queries, "night_transfers", "30D"),
        "card_payments_per_day_30d": src.outflows.mean(queries, "card_payment_count", "30D"),
        "prior_fraud_victimisations": src.frauds.count(queries),
        "warnings_received_30d": src.warnings.count(queries, "30D"),
        "warnings_answered_30d": src.warnings.sum(queries, "answered", "30D"),
        "antifraud_app_installed": src.installs.count(queries) > 0,
        "is_young_adult": on_registry & (age >= YOUNG_ADULT_AGES[0]) & (age <= YOUNG_ADULT_AGES[1]),
        "elderly_living_alone": on_registry & (age >= ELDERLY_AGE) & lives_alone,
        "education_level": np.where(on_registry, src.education[codes], -1),
        "age_band": np.where(on_registry, _age_band(age), -1),
        "registry_row": np.where(on_registry, codes, -1),
    }


def _build(
    src: _Sources,
    queries: pit.Queries,
    entity_ids: pd.Series,
    progress: Progress | None,
    label_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    columns = pit.in_chunks(queries, partial(_chunk_features, src), CHUNK_ROWS, progress)
    label = None
    if label_events is not None:
        label = population.event_within(label_events, "resident_id", queries, HORIZON)
    rows = columns.pop("registry_row")
    audit = {
        "audit_age_band": pit.labels_at(columns.pop("age_band"), AGE_BANDS),
        "audit_sex": pit.text_at(src.residents["sex"], rows),
        "audit_district": pit.text_at(src.residents["district"], rows),
    }
    as_of = queries.as_of.view("datetime64[ns]")
    return dataset_frame(TASK, entity_ids, as_of, columns, audit, label)


def build_features(
    tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame, progress: Progress | None = None
) -> pd.DataFrame:
    """Features at `as_of` (a date for every registered resident, or a frame of
    (`entity_id`, `as_of`) pairs), in the dataset layout without a label."""
    src = _Sources(tables)
    queries, entity_ids = population.queries_for(
        src.entities, src.registry_available, as_of, src.registry_until
    )
    return _build(src, queries, entity_ids, progress)


def labels(tables: RawTables, units: pd.DataFrame) -> np.ndarray:
    """1 when a fraud against the resident occurs in `(as_of, as_of + 30 days]`, else 0."""
    return population.units_event_within(tables["fraud_cases"], "resident_id", units, HORIZON)


def _labelled_dates(tables: RawTables) -> pd.DatetimeIndex:
    """As-of months whose 30-day label window ends within the data's coverage."""
    months = population.month_starts(_first_month(tables), data_end(tables))
    return months[months + HORIZON <= data_end(tables)]


def labelled_units(tables: RawTables) -> pd.DataFrame:
    """Every resident-month whose 30-day label window ends within the data's coverage."""
    return population.registry_units(
        tables["residents"], "resident_id", _labelled_dates(tables), DEPARTURE
    )


def build_labelled_dataset(tables: RawTables, progress: Progress | None = None) -> pd.DataFrame:
    """Features and label for all resident-months with a complete label window."""
    src = _Sources(tables)
    queries = src.registered(_labelled_dates(tables))
    return _build(src, queries, population.entity_ids(queries), progress, tables["fraud_cases"])


def latest_as_of(tables: RawTables) -> pd.Timestamp:
    """The latest as-of date the data supports: the first day of the month the data ends in."""
    return data_end(tables).to_period("M").to_timestamp()


def build_scoring_set(
    tables: RawTables, as_of: pit.AsOfDate | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """Features of every registered resident at `as_of` (default: the latest as-of date)."""
    when = latest_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    return build_features(tables, when, progress)
