"""Wage-arrears features: one row per employer and as-of month.

Label: a confirmed arrears onset (`arrears_events.event_time`) in `(as_of, as_of + 3 months]`.
Features use only rows with `available_at <= as_of`, through `features.pit` and `features.monthly`. Monthly
declarations are read as "the last k reported months" (what the department has on file), event
records as "records received in the last N days".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

import numpy as np
import pandas as pd

from features import monthly, pit, population
from features.catalog import dataset_frame, feature
from features.schemas import RawTables

TASK = "wage_arrears"
HORIZON = pd.DateOffset(months=3)
CHUNK_ROWS = 50_000

#: Lunar new year dates (Spring Festival): arrears cluster in the months before them.
SPRING_FESTIVALS = pd.DatetimeIndex(
    [
        date(2015, 2, 19),
        date(2016, 2, 8),
        date(2017, 1, 28),
        date(2018, 2, 16),
        date(2019, 2, 5),
        date(2020, 1, 25),
        date(2021, 2, 12),
        date(2022, 2, 1),
        date(2023, 1, 22),
        date(2024, 2, 10),
        date(2025, 1, 29),
        date(2026, 2, 17),
        date(2027, 2, 6),
        date(2028, 1, 26),
        date(2029, 2, 13),
        date(2030, 2, 3),
        date(2031, 1, 23),
        date(2032, 2, 11),
        date(2033, 1, 31),
        date(2034, 2, 19),
        date(2035, 2, 8),
    ]
).astype("datetime64[ns]")

#: A month counts as unpaid when less than 99% of the social insurance due was paid.
SI_PAID_SHARE = 0.99
#: Owner instalments count once due for 15 days, for 180 days.
INSTALMENT_GRACE = pd.Timedelta(days=15)
INSTALMENT_LOOKBACK = pd.Timedelta(days=180)
DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25

#: The registry's optional departure column: a deregistered firm leaves the population that day.
DEPARTURE = "deregistered_at"

Progress = Callable[[int, int], None]
SECTORS = feature(TASK, "sector").categories
SIZE_BANDS = feature(TASK, "size_band").categories


def data_end(tables: RawTables) -> pd.Timestamp:
    """End of coverage: the end of the latest declared month."""
    months = [tables[name]["month"].max() for name in ("social_insurance", "tax", "utilities")]
    return pd.Timestamp(max(months)).to_period("M").to_timestamp() + pd.DateOffset(months=1)


def _first_month(tables: RawTables) -> pd.Timestamp:
    return pd.Timestamp(tables["social_insurance"]["month"].min())


class _Sources:
    """Look-up structures over one city's tables, built once and shared by all chunks."""

    def __init__(self, tables: RawTables) -> None:
        employers = population.registry_universe(tables["employers"], "employer_id")
        self.entities = pd.Index(employers["employer_id"].astype(pit.TEXT))
        self.employers = employers
        self.registry_available = employers["available_at"].to_numpy(dtype="datetime64[ns]")
        self.registry_until = population.departures(employers, DEPARTURE)
        self.founded = employers["founded_on"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        self.capital = employers["registered_capital"].to_numpy(np.float64)
        self.trademarks = employers["trademark_count"].to_numpy(np.int64)
        self.sector = pit.category_codes(employers["sector"], SECTORS)
        self.size_band = pit.category_codes(employers["size_band"], SIZE_BANDS)
        self.si = monthly.MonthlyPanel(
            tables["social_insurance"],
            self.entities,
            entity_col="employer_id",
            value_cols=("insured_headcount", "amount_due", "amount_paid"),
        )
        self.tax = monthly.MonthlyPanel(
            tables["tax"],
            self.entities,
            entity_col="employer_id",
            value_cols=("declared_sales", "tax_overdue"),
        )
        self.utilities = monthly.MonthlyPanel(
            tables["utilities"],
            self.entities,
            entity_col="employer_id",
            value_cols=("electricity_kwh", "water_m3"),
        )
        cases = tables["court_cases"]
        self.creditor_suits = pit.EventIndex(
            cases[cases["case_type"] == "creditor_suit"], self.entities, entity_col="employer_id"
        )
        self.enforcements = pit.EventIndex(
            cases[cases["case_type"] != "creditor_suit"], self.entities, entity_col="employer_id"
        )
        self.court_cases = pit.EventIndex(cases, self.entities, entity_col="employer_id")
        self.listings = pit.EventIndex(
            tables["abnormal_listings"], self.entities, entity_col="employer_id"
        )
        complaints = tables["labour_complaints"]
        about_wages = complaints["topic"] == "wages"
        self.wage_complaints = pit.EventIndex(
            complaints[about_wages], self.entities, entity_col="employer_id"
        )
        self.other_complaints = pit.EventIndex(
            complaints[~about_wages], self.entities, entity_col="employer_id"
        )
        self.arrears = pit.EventIndex(
            tables["arrears_events"], self.entities, entity_col="employer_id"
        )
        self.projects = _ProjectLedger(tables, self.entities)

    def registered(self, as_of_dates: pd.DatetimeIndex) -> pit.Queries:
        """Every employer on the registry at each as-of date (entity-major)."""
        return population.registry_queries(
            self.entities, self.registry_available, as_of_dates, self.registry_until
        )


class _ProjectLedger:
    """Owners' instalments to each contractor and the payments on record against them."""

    def __init__(self, tables: RawTables, entities: pd.Index) -> None:
        projects = tables["construction_projects"][["project_id", "employer_id", "available_at"]]
        instalments = tables["project_instalments"].merge(
            projects.rename(columns={"available_at": "project_available_at"}),
            on="project_id",
            how="inner",
        )
        instalments = instalments.assign(
            employer_code=pit.encode(entities, instalments["employer_id"]),
            key=instalments["project_id"] + "#" + instalments["instalment_no"].astype("str"),
        )
        instalments = instalments[instalments["employer_code"] >= 0].sort_values(
            ["employer_code", "event_time"], kind="stable"
        )
        self.employer_code = instalments["employer_code"].to_numpy(np.int64)
        self.due = instalments["event_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        self.visible = np.maximum(
            instalments["available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64),
            instalments["project_available_at"].to_numpy(dtype="datetime64[ns]").view(np.int64),
        )
        self.amount = instalments["scheduled_amount"].to_numpy(np.float64)
        self.keys = pd.Index(instalments["key"].to_numpy(dtype=object))
        payments = tables["project_payments"]
        self.payments = pit.EventIndex(
            payments.assign(
                key=payments["project_id"] + "#" + payments["instalment_no"].astype("str")
            ),
            self.keys,
            entity_col="key",
            value_cols=("amount",),
        )
        n_employers = len(entities)
        self.start = np.searchsorted(self.employer_code, np.arange(n_employers), side="left")
        self.stop = np.searchsorted(self.employer_code, np.arange(n_employers), side="right")

    def overdue(self, queries: pit.Queries) -> np.ndarray:
        """Unpaid share of instalments due 15-180 days before as-of."""
        codes = np.where(queries.codes >= 0, queries.codes, 0)
        per_query = np.where(queries.codes >= 0, self.stop[codes] - self.start[codes], 0)
        query_row = np.repeat(np.arange(len(queries)), per_query)
        offsets = np.arange(len(query_row)) - np.repeat(np.cumsum(per_query) - per_query, per_query)
        row = self.start[codes][query_row] + offsets
        as_of = queries.as_of[query_row]
        in_window = (
            (self.due[row] <= as_of - INSTALMENT_GRACE.value)
            & (self.due[row] > as_of - INSTALMENT_LOOKBACK.value)
            & (self.visible[row] <= as_of)
        )
        query_row, row, as_of = query_row[in_window], row[in_window], as_of[in_window]
        paid = self.payments.sum(pit.Queries(self.keys, row.astype(np.int64), as_of), "amount")
        unpaid = np.clip(self.amount[row] - paid, 0.0, None)
        scheduled = np.bincount(query_row, weights=self.amount[row], minlength=len(queries))
        owed = np.bincount(query_row, weights=unpaid, minlength=len(queries))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(scheduled > 0, owed / np.where(scheduled > 0, scheduled, 1.0), 0.0)
        return share


def _months_to_spring_festival(as_of: np.ndarray) -> np.ndarray:
    festivals = SPRING_FESTIVALS.to_numpy().view(np.int64)
    position = np.searchsorted(festivals, as_of, side="left")
    inside = position < len(festivals)
    next_festival = festivals[np.minimum(position, len(festivals) - 1)]
    days = (next_festival - as_of) / pit.DAY_NS
    return np.where(inside, days / DAYS_PER_MONTH, np.nan)


def _chunk_features(src: _Sources, queries: pit.Queries) -> dict[str, np.ndarray]:
    """All catalog features for one chunk of queries."""
    si = src.si.lag_matrices(queries, ("amount_due", "amount_paid", "insured_headcount"), 14)
    due, paid = si["amount_due"][:, :12], si["amount_paid"][:, :12]
    unpaid = paid < SI_PAID_SHARE * due
    due_3 = monthly.latest_reported(due, 3)
    paid_3 = monthly.latest_reported(paid, 3)
    due_sum = np.nansum(due_3, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shortfall = np.where(
            due_sum > 0, 1.0 - np.nansum(paid_3, axis=1) / np.where(due_sum > 0, due_sum, 1), np.nan
        )

    headcount = si["insured_headcount"]
    headcount_now, headcount_lag = monthly.latest_value(headcount)
    headcount_before = monthly.value_at_lag(headcount, headcount_lag + 6)

    utilities = src.utilities.lag_matrices(queries, ("electricity_kwh", "water_m3"), 16)
    kwh = utilities["electricity_kwh"]
    kwh_now, kwh_lag = monthly.latest_value(kwh)
    water = utilities["water_m3"]
    water_now, water_lag = monthly.latest_value(water)

    tax = src.tax.lag_matrices(queries, ("declared_sales", "tax_overdue"), 10)
    sales, overdue = tax["declared_sales"], tax["tax_overdue"][:, :4]
    overdue_now, _ = monthly.latest_value(overdue)
    overdue_3 = monthly.latest_reported(overdue, 3)

    owner_share = src.projects.overdue(queries)

    codes = np.where(queries.codes >= 0, queries.codes, 0)
    on_registry = (queries.codes >= 0) & (
        src.registry_available[codes].view(np.int64) <= queries.as_of
    )
    sector = np.where(on_registry, src.sector[codes], -1)

    def known(values: np.ndarray) -> np.ndarray:
        return np.where(on_registry, values, np.nan)

    return {
        "si_arrears_months_3m": monthly.count_where(due_3, unpaid),
        "si_arrears_months_6m": monthly.count_where(monthly.latest_reported(due, 6), unpaid),
        "si_unpaid_streak_months": monthly.streak(due, unpaid),
        "si_shortfall_ratio_3m": np.clip(shortfall, 0.0, 1.0),
        "insured_headcount_change_6m": monthly.relative_change(headcount_now, headcount_before),
        "electricity_yoy_change": monthly.relative_change(
            kwh_now, monthly.value_at_lag(kwh, kwh_lag + 12)
        ),
        "electricity_change_3m": monthly.relative_change(
            monthly.nan_mean(monthly.latest_reported(kwh, 3)),
            monthly.nan_mean(monthly.latest_reported(kwh, 3, skip=3)),
        ),
        "water_yoy_change": monthly.relative_change(
            water_now, monthly.value_at_lag(water, water_lag + 12)
        ),
        # Rounding in a department's ledger can leave a cent below zero.
        "tax_overdue_amount": np.clip(overdue_now, 0.0, None),
        "tax_overdue_months_3m": monthly.count_where(overdue_3, overdue_3 > 0.005),
        "sales_trend_6m": monthly.trend(monthly.latest_reported(sales, 6)),
        "sales_change_3m": monthly.relative_change(
            monthly.nan_mean(monthly.latest_reported(sales, 3)),
            monthly.nan_mean(monthly.latest_reported(sales, 3, skip=3)),
        ),
        "creditor_suits_6m": src.creditor_suits.count(queries, "182D"),
        "creditor_suits_12m": src.creditor_suits.count(queries, "365D"),
        "enforcement_listings_12m": src.enforcements.count(queries, "365D"),
        "court_cases_12m": src.court_cases.count(queries, "365D"),
        "abnormal_listed": src.listings.count(queries, "730D") > 0,
        "owner_payment_shortfall_ratio": owner_share,
        "labour_complaints_12m": src.other_complaints.count(queries, "365D"),
        "prior_wage_complaints_12m": src.wage_complaints.count(queries, "365D"),
        "prior_arrears_events_24m": src.arrears.count(queries, "730D"),
        "months_to_spring_festival": _months_to_spring_festival(queries.as_of),
        "firm_age_years": known((queries.as_of - src.founded[codes]) / pit.DAY_NS / DAYS_PER_YEAR),
        "is_construction": sector == SECTORS.index("construction"),
        "sector": sector,
        "size_band": np.where(on_registry, src.size_band[codes], -1),
        "insured_headcount": headcount_now,
        "registered_capital": known(src.capital[codes]),
        "trademark_count": np.where(on_registry, src.trademarks[codes], 0),
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
        label = population.event_within(label_events, "employer_id", queries, HORIZON)
    rows = columns.pop("registry_row")
    audit = {
        "audit_district": pit.text_at(src.employers["district"], rows),
        "audit_sector": pit.text_at(src.employers["sector"], rows),
        "audit_size_band": pit.text_at(src.employers["size_band"], rows),
    }
    as_of = queries.as_of.view("datetime64[ns]")
    return dataset_frame(TASK, entity_ids, as_of, columns, audit, label)


def build_features(
    tables: RawTables, as_of: pit.AsOfDate | pd.DataFrame, progress: Progress | None = None
) -> pd.DataFrame:
    """Features at `as_of` (a date for every registered employer, or a frame of
    (`entity_id`, `as_of`) pairs), in the dataset layout without a label."""
    src = _Sources(tables)
    queries, entity_ids = population.queries_for(
        src.entities, src.registry_available, as_of, src.registry_until
    )
    return _build(src, queries, entity_ids, progress)


def labels(tables: RawTables, units: pd.DataFrame) -> np.ndarray:
    """1 when an arrears onset falls in `(as_of, as_of + 3 months]`, else 0."""
    return population.units_event_within(tables["arrears_events"], "employer_id", units, HORIZON)


def _labelled_dates(tables: RawTables) -> pd.DatetimeIndex:
    """As-of months whose 3-month label window ends within the data's coverage."""
    last = data_end(tables) - HORIZON
    if last < _first_month(tables):
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return population.month_starts(_first_month(tables), last)


def labelled_units(tables: RawTables) -> pd.DataFrame:
    """Every employer-month whose 3-month label window ends within the data's coverage."""
    return population.registry_units(
        tables["employers"], "employer_id", _labelled_dates(tables), DEPARTURE
    )


def build_labelled_dataset(tables: RawTables, progress: Progress | None = None) -> pd.DataFrame:
    """Features and label for all employer-months with a complete label window."""
    src = _Sources(tables)
    queries = src.registered(_labelled_dates(tables))
    return _build(src, queries, population.entity_ids(queries), progress, tables["arrears_events"])


def latest_as_of(tables: RawTables) -> pd.Timestamp:
    """The latest as-of date the data supports: the first day of the month the data ends in."""
    return data_end(tables).to_period("M").to_timestamp()


def build_scoring_set(
    tables: RawTables, as_of: pit.AsOfDate | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """Features of every registered employer at `as_of` (default: the latest as-of date)."""
    when = latest_as_of(tables) if as_of is None else pd.Timestamp(as_of)
    return build_features(tables, when, progress)
