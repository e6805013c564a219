"""The units of a dataset: which (entity, as-of) pairs it holds, and their labels.

The as-of grid (month starts up to the end of the data's coverage), the entity universe in
registry order, the queries of every registered entity on every as-of date, and the
forward-looking label rule every task shares (`event_within`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pit import TEXT, AsOfDate, EventIndex, Queries, in_chunks, sorted_entities, text_at


def month_starts(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """First days of the months from `first`'s month to `last`'s month (both included)."""
    return pd.date_range(
        pd.Timestamp(first).to_period("M").to_timestamp(),
        pd.Timestamp(last).to_period("M").to_timestamp(),
        freq="MS",
    ).as_unit("ns")


def data_end(*tables: pd.DataFrame, column: str = "event_time") -> pd.Timestamp:
    """End of the data's coverage: the midnight after the latest `column` value of `tables`.

    A record stamped on a day covers that day, so the coverage runs to the following midnight.
    """
    latest = max(pd.Timestamp(table[column].max()) for table in tables if len(table))
    return latest.normalize() + pd.Timedelta(days=1)


def registry_universe(registry: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """The registry's rows, one per entity (first row kept), in registry order.

    The entity universe follows the registry rather than id order because event tables come
    grouped by entity in registry order (a department exports per entity, in its register's
    order): their look-up keys are then sorted already and need no reordering copy.
    """
    return registry.drop_duplicates(id_col, ignore_index=True)


def registry_queries(
    entities: pd.Index,
    available: np.ndarray,
    as_of_dates: pd.DatetimeIndex,
    until: np.ndarray | None = None,
) -> Queries:
    """A query per universe entity and as-of date on which it is registered: its registry row
    is available and it has not left (`until`, NaT while it stays).

    `entities` is the registry's universe (`registry_universe`), `available` its rows'
    `available_at`, `until` their `deregistered_at` (or `moved_out_at`) when the registry
    records departures: a unit leaves the population on that day. Entity-major order, in
    universe order: consecutive queries then read neighbouring rows of every look-up
    structure (an entity's rows are contiguous there), which on a large city is the difference
    between cache hits and misses.
    """
    dates = np.sort(as_of_dates.to_numpy(dtype="datetime64[ns]")).view(np.int64)
    first = np.searchsorted(dates, np.asarray(available, dtype="datetime64[ns]").view(np.int64))
    last = np.full(len(first), len(dates))
    if until is not None:
        leaving = np.asarray(until, dtype="datetime64[ns]")
        known = ~np.isnat(leaving)
        last[known] = np.searchsorted(dates, leaving[known].view(np.int64))
    per_entity = np.clip(last - first, 0, None)
    codes = np.repeat(np.arange(len(entities), dtype=np.int64), per_entity)
    starts = np.cumsum(per_entity) - per_entity
    date_index = np.arange(len(codes)) - np.repeat(starts - first, per_entity)
    return Queries(entities=entities, codes=codes, as_of=dates[date_index])


def entity_ids(queries: Queries) -> pd.Series:
    """The ids of queries' entities (missing where the entity is unknown)."""
    return text_at(queries.entities, queries.codes)


def units_frame(queries: Queries) -> pd.DataFrame:
    """The units frame (`entity_id`, `as_of`) of queries."""
    return pd.DataFrame(
        {"entity_id": entity_ids(queries), "as_of": queries.as_of.view("datetime64[ns]")}
    )


def departures(registry: pd.DataFrame, column: str) -> np.ndarray | None:
    """The registry's departure dates (`column`, NaT while a unit stays), or None when the
    city's registry does not record departures (the column is optional)."""
    if column not in registry.columns:
        return None
    return pd.to_datetime(registry[column]).to_numpy(dtype="datetime64[ns]")


def queries_for(
    entities: pd.Index,
    available: np.ndarray,
    as_of: AsOfDate | pd.DataFrame,
    until: np.ndarray | None = None,
) -> tuple[Queries, pd.Series]:
    """Queries and their entity ids from a builder's `as_of` argument.

    `as_of` is either a frame of explicit (`entity_id`, `as_of`) pairs (ids outside the
    universe are kept, with empty features) or one date, meaning every registered entity then.
    """
    if isinstance(as_of, pd.DataFrame):
        units = pairs_units(as_of)
        return Queries.build(entities, units["entity_id"], units["as_of"]), units["entity_id"]
    queries = registry_queries(entities, available, pd.DatetimeIndex([pd.Timestamp(as_of)]), until)
    return queries, entity_ids(queries)


def registry_units(
    registry: pd.DataFrame,
    id_col: str,
    as_of_dates: pd.DatetimeIndex,
    departure_col: str | None = None,
) -> pd.DataFrame:
    """One unit per registry row and as-of date on which it is registered (`registry_queries`;
    `departure_col` names the registry's optional departure column)."""
    registry = registry_universe(registry, id_col)
    entities = pd.Index(registry[id_col].astype(TEXT))
    available = registry["available_at"].to_numpy(dtype="datetime64[ns]")
    until = departures(registry, departure_col) if departure_col else None
    return units_frame(registry_queries(entities, available, as_of_dates, until))


def pairs_units(pairs: pd.DataFrame) -> pd.DataFrame:
    """Explicit (`entity_id`, `as_of`) pairs as a units frame with contract dtypes."""
    return pd.DataFrame(
        {
            "entity_id": pd.Series(pairs["entity_id"]).astype(TEXT).reset_index(drop=True),
            "as_of": pd.to_datetime(pairs["as_of"]).to_numpy(dtype="datetime64[ns]"),
        }
    )


#: Queries per chunk of the label computation: bounded temporaries, reused from chunk to chunk.
LABEL_CHUNK_ROWS = 500_000


def shifted(as_of: np.ndarray, offset: pd.DateOffset | pd.Timedelta) -> np.ndarray:
    """`as_of + offset` for int64-nanosecond timestamps.

    Calendar offsets (months) are applied once per distinct date: a dataset has a few dozen
    as-of dates over millions of rows.
    """
    if isinstance(offset, pd.Timedelta):
        return as_of + np.int64(offset.value)
    positions, distinct = pd.factorize(as_of)
    moved = (pd.DatetimeIndex(np.asarray(distinct).view("datetime64[ns]")) + offset).asi8
    return moved[positions]


def event_within(
    events: pd.DataFrame,
    entity_col: str,
    queries: Queries,
    horizon: pd.DateOffset | pd.Timedelta,
) -> np.ndarray:
    """1 where the query's entity has an event (by `event_time`) in `(as_of, as_of + horizon]`.

    The label rule of every task: it looks forward on purpose, so it runs on occurrence time,
    never on availability. The builders pass their feature queries, so no id is encoded twice.
    """
    index = EventIndex(events, queries.entities, entity_col=entity_col, time_col="event_time")

    def label(chunk: Queries) -> dict[str, np.ndarray]:
        later = Queries(chunk.entities, chunk.codes, shifted(chunk.as_of, horizon))
        return {"label": (index.count(later) - index.count(chunk) > 0).astype(np.int8)}

    return in_chunks(queries, label, LABEL_CHUNK_ROWS)["label"]


def units_event_within(
    events: pd.DataFrame,
    entity_col: str,
    units: pd.DataFrame,
    horizon: pd.DateOffset | pd.Timedelta,
) -> np.ndarray:
    """`event_within` for a units frame (`entity_id`, `as_of`)."""
    queries = Queries.build(sorted_entities(events[entity_col]), units["entity_id"], units["as_of"])
    return event_within(events, entity_col, queries, horizon)
