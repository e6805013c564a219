"""The vectorised point-in-time machinery agrees with slow, obviously-correct loops."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.monthly import (
    MonthlyPanel,
    count_where,
    latest_reported,
    latest_value,
    nan_mean,
    relative_change,
    streak,
    trend,
    value_at_lag,
)
from features.pit import EventIndex, Queries
from features.population import registry_queries, registry_units

BASE = pd.Timestamp("2024-01-01")
ENTITIES = ["a", "b", "c", "d"]
UNIVERSE = pd.Index(ENTITIES)

event_rows = st.lists(
    st.tuples(
        st.sampled_from([*ENTITIES, "zz"]),
        st.integers(0, 60 * 24),
        st.integers(-5, 50),
        st.floats(-1e3, 1e6, allow_nan=False),
        # Mostly whole seconds (the seconds key), sometimes not (the distinct-times key).
        st.sampled_from([0, 0, 0, 1, 999_999_999]),
    ),
    max_size=60,
)
query_rows = st.lists(
    st.tuples(st.sampled_from([*ENTITIES, "unknown"]), st.integers(-24, 70 * 24)),
    min_size=1,
    max_size=25,
)
windows = st.one_of(st.none(), st.integers(1, 40 * 24))


def _events(rows: list[tuple[str, int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": pd.Series([r[0] for r in rows], dtype="str"),
            "available_at": BASE
            + pd.to_timedelta([r[1] for r in rows], unit="h")
            + pd.to_timedelta([r[4] for r in rows], unit="ns"),
            "n": np.array([r[2] for r in rows], dtype=np.int64),
            "amount": np.array([r[3] for r in rows], dtype=np.float64),
        }
    )


def _visible(
    events: pd.DataFrame, entity: str, as_of: pd.Timestamp, window, offset
) -> pd.DataFrame:
    """Reference: the rows a feature may see, by plain boolean filtering."""
    end = as_of - offset
    rows = events[(events["entity"] == entity) & (events["available_at"] <= end)]
    if window is not None:
        rows = rows[rows["available_at"] > end - window]
    return rows


@settings(max_examples=120, deadline=None)
@given(event_rows, query_rows, windows, st.integers(0, 10 * 24))
def test_event_index_matches_reference(rows, queries, window_h, offset_h) -> None:
    events = _events(rows)
    window = None if window_h is None else pd.Timedelta(hours=window_h)
    offset = pd.Timedelta(hours=offset_h)
    as_of = [BASE + pd.Timedelta(hours=h) for _, h in queries]
    q = Queries.build(UNIVERSE, [e for e, _ in queries], as_of)
    index = EventIndex(events, UNIVERSE, entity_col="entity", value_cols=["n", "amount"])

    counts = index.count(q, window, offset)
    sums_n = index.sum(q, "n", window, offset)
    sums_amount = index.sum(q, "amount", window, offset)
    means = index.mean(q, "amount", window, offset)
    maxima = index.max(q, "amount", window, offset)
    maxima_n = index.max(q, "n", window, offset)
    for i, (entity, _) in enumerate(queries):
        seen = _visible(events, entity, as_of[i], window, offset)
        assert counts[i] == len(seen)
        assert sums_n[i] == seen["n"].sum()
        assert math.isclose(sums_amount[i], seen["amount"].sum(), rel_tol=1e-9, abs_tol=1e-3)
        if len(seen):
            assert math.isclose(means[i], seen["amount"].mean(), rel_tol=1e-9, abs_tol=1e-3)
            assert maxima[i] == seen["amount"].max()
            assert maxima_n[i] == seen["n"].max()
        else:
            assert np.isnan(means[i]) and np.isnan(maxima[i]) and np.isnan(maxima_n[i])


@settings(max_examples=80, deadline=None)
@given(event_rows, query_rows)
def test_as_of_join_and_time_since_last_match_reference(rows, queries) -> None:
    events = _events(rows)
    as_of = [BASE + pd.Timedelta(hours=h) for _, h in queries]
    q = Queries.build(UNIVERSE, [e for e, _ in queries], as_of)
    index = EventIndex(events, UNIVERSE, entity_col="entity", value_cols=["n", "amount"])

    last = index.last(q, "n")
    last_amount = index.last(q, "amount")
    since = index.days_since_last(q)
    for i, (entity, _) in enumerate(queries):
        seen = _visible(events, entity, as_of[i], None, pd.Timedelta(0))
        if seen.empty:
            assert np.isnan(last[i]) and np.isnan(since[i])
            continue
        latest_time = seen["available_at"].max()
        # Ties at the same instant: any of them is a correct "latest" row.
        latest = seen[seen["available_at"] == latest_time]
        assert last[i] in set(latest["n"])
        assert last_amount[i] in set(latest["amount"])
        assert math.isclose(since[i], (as_of[i] - latest_time) / pd.Timedelta(days=1))


@settings(max_examples=60, deadline=None)
@given(event_rows, query_rows, windows)
def test_float_window_sums_do_not_depend_on_how_the_table_is_split(rows, queries, window_h) -> None:
    """Each entity's own table gives the same bits as the whole table (the Dask engine's need)."""
    events = _events(rows)
    window = None if window_h is None else pd.Timedelta(hours=window_h)
    as_of = [BASE + pd.Timedelta(hours=h) for _, h in queries]
    q = Queries.build(UNIVERSE, [e for e, _ in queries], as_of)
    whole = EventIndex(events, UNIVERSE, entity_col="entity", value_cols=["amount"])
    expected = whole.sum(q, "amount", window)
    for entity in ENTITIES:
        alone = EventIndex(
            events[events["entity"] == entity], UNIVERSE, entity_col="entity", value_cols=["amount"]
        )
        mine = np.array([e == entity for e, _ in queries])
        assert alone.sum(q, "amount", window)[mine].tobytes() == expected[mine].tobytes()


def test_integer_sums_stay_exact_beyond_the_int32_range() -> None:
    big = 2**31 - 7
    events = pd.DataFrame(
        {
            "entity": pd.Series(["a", "a", "a", "b"], dtype="str"),
            "available_at": BASE + pd.to_timedelta([1, 2, 3, 1], unit="D"),
            "n": np.array([big, big, -big, 5], dtype=np.int64),
            "flag": np.array([True, False, True, True]),
        }
    )
    q = Queries.build(UNIVERSE, ["a", "a", "b"], [BASE + pd.Timedelta(days=d) for d in (2, 9, 9)])
    index = EventIndex(events, UNIVERSE, entity_col="entity", value_cols=["n", "flag"])
    assert index.sum(q, "n").tolist() == [2 * big, big, 5]
    assert index.sum(q, "flag").tolist() == [1, 2, 1]
    assert index.max(q, "n").tolist() == [big, big, 5]


month_rows = st.dictionaries(
    st.tuples(st.sampled_from(ENTITIES), st.integers(0, 23)),
    st.tuples(st.one_of(st.integers(0, 4), st.integers(0, 60)), st.floats(0, 1e5, allow_nan=False)),
    max_size=60,
)


month_queries = st.lists(
    st.tuples(
        st.sampled_from([*ENTITIES, "unknown"]),
        st.integers(0, 26),
        st.one_of(st.integers(0, 4), st.integers(0, 62)),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(month_rows, month_queries, st.integers(1, 14))
def test_monthly_panel_matches_reference(rows, queries, n_lags) -> None:
    months = {key: BASE + pd.DateOffset(months=key[1]) for key in rows}
    table = pd.DataFrame(
        {
            "entity": pd.Series([k[0] for k in rows], dtype="str"),
            "month": [months[k] for k in rows],
            "available_at": [
                months[k] + pd.DateOffset(months=1) + pd.Timedelta(days=lag)
                for k, (lag, _) in rows.items()
            ],
            "value": [v for _, v in rows.values()],
        }
    )
    # As-of dates often coincide with availability times, to pin down `<=`.
    as_of = [BASE + pd.DateOffset(months=m) + pd.Timedelta(days=d) for _, m, d in queries]
    q = Queries.build(UNIVERSE, [e for e, _, _ in queries], as_of)
    panel = MonthlyPanel(table, UNIVERSE, entity_col="entity", value_cols=["value"])
    lagged = panel.lags(q, "value", n_lags)

    for i, (entity, _, _) in enumerate(queries):
        as_of_month = as_of[i].to_period("M")
        for j in range(n_lags):
            month = (as_of_month - (j + 1)).to_timestamp()
            match = table[(table["entity"] == entity) & (table["month"] == month)]
            expected = (
                match["value"].iloc[0]
                if len(match) and match["available_at"].iloc[0] <= as_of[i]
                else np.nan
            )
            np.testing.assert_equal(lagged[i, j], expected)


#: Revised monthly rows: (entity, month) -> first row's (lag, value) and the revisions'
#: (days after the first row's availability, value); a revision is a later row for the month.
revised_rows = st.dictionaries(
    st.tuples(st.sampled_from(ENTITIES), st.integers(0, 11)),
    st.tuples(
        st.integers(0, 20),
        st.floats(0, 1e5, allow_nan=False),
        st.lists(st.tuples(st.integers(1, 120), st.floats(0, 1e5, allow_nan=False)), max_size=3),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(revised_rows, month_queries, st.integers(1, 14))
def test_monthly_panel_reads_the_latest_revision_on_record(rows, queries, n_lags) -> None:
    """With revisions, a cell holds the latest of its month's rows available at the as-of."""
    records = []
    for (entity, month), (lag, value, revisions) in rows.items():
        first = BASE + pd.DateOffset(months=month + 1) + pd.Timedelta(days=lag)
        records.append((entity, BASE + pd.DateOffset(months=month), first, value))
        for i, (after, revised) in enumerate(revisions):
            # Revisions keep arriving later than the ones before them (distinct times).
            at = first + pd.Timedelta(days=after) + pd.Timedelta(hours=i + 1)
            records.append((entity, BASE + pd.DateOffset(months=month), at, revised))
    # Revisions arrive in any table order: the panel must not rely on it.
    records = records[::-1]
    table = pd.DataFrame(records, columns=["entity", "month", "available_at", "value"])
    table["entity"] = table["entity"].astype("str")
    as_of = [BASE + pd.DateOffset(months=m) + pd.Timedelta(days=d) for _, m, d in queries]
    q = Queries.build(UNIVERSE, [e for e, _, _ in queries], as_of)
    lagged = MonthlyPanel(table, UNIVERSE, entity_col="entity", value_cols=["value"]).lags(
        q, "value", n_lags
    )
    for i, (entity, _, _) in enumerate(queries):
        as_of_month = as_of[i].to_period("M")
        for j in range(n_lags):
            month = (as_of_month - (j + 1)).to_timestamp()
            seen = table[
                (table["entity"] == entity)
                & (table["month"] == month)
                & (table["available_at"] <= as_of[i])
            ]
            expected = seen.sort_values("available_at")["value"].iloc[-1] if len(seen) else np.nan
            np.testing.assert_equal(lagged[i, j], expected)


lag_matrices = st.lists(
    st.lists(
        st.one_of(st.just(np.nan), st.floats(0, 100, allow_nan=False)), min_size=8, max_size=8
    ),
    min_size=1,
    max_size=20,
).map(lambda rows: np.array(rows, dtype=np.float64))


@settings(max_examples=150, deadline=None)
@given(lag_matrices, st.integers(1, 8), st.floats(0, 100), st.integers(0, 4))
def test_lag_helpers_match_reference(lagged, k, threshold, skip) -> None:
    kept = latest_reported(lagged, k)
    skipped = latest_reported(lagged, k, skip=skip)
    means = nan_mean(skipped)
    condition = lagged > threshold
    streaks = streak(lagged, condition)
    counts = count_where(kept, kept > threshold)
    latest, latest_lag = latest_value(lagged)
    year_ago = value_at_lag(lagged, latest_lag + 3)
    change = relative_change(latest, year_ago)
    slopes = trend(kept)
    for i, row in enumerate(lagged):
        known = [(j, v) for j, v in enumerate(row) if not np.isnan(v)]
        first_k = known[:k]
        assert [j for j in range(8) if not np.isnan(kept[i, j])] == [j for j, _ in first_k]
        later_k = known[skip : skip + k]
        assert [j for j in range(8) if not np.isnan(skipped[i, j])] == [j for j, _ in later_k]
        if later_k:
            assert math.isclose(means[i], np.mean([v for _, v in later_k]), rel_tol=1e-9)
        else:
            assert np.isnan(means[i])
        assert counts[i] == sum(v > threshold for _, v in first_k)
        run = 0
        for _, v in known:
            if not v > threshold:
                break
            run += 1
        assert streaks[i] == run
        if known:
            assert latest_lag[i] == known[0][0] and latest[i] == known[0][1]
            old_lag = known[0][0] + 3
            old = row[old_lag] if old_lag < 8 else np.nan
            if old > 0:
                with np.errstate(over="ignore"):
                    expected = known[0][1] / old - 1
                assert math.isclose(change[i], expected)
            else:
                assert np.isnan(change[i])
        else:
            assert latest_lag[i] == -1 and np.isnan(latest[i]) and np.isnan(change[i])
        xs = np.array([-j for j, _ in first_k], dtype=float)
        ys = np.array([v for _, v in first_k])
        if len(first_k) >= 2 and ys.mean() > 0:
            expected = np.polyfit(xs, ys, 1)[0] / ys.mean()
            assert math.isclose(slopes[i], expected, rel_tol=1e-6, abs_tol=1e-9)
        else:
            assert np.isnan(slopes[i])


def test_registry_queries_list_each_available_entity_month_entity_by_entity() -> None:
    entities = pd.Index(["r2", "r1", "r3"], dtype="str")
    available = pd.to_datetime(["2024-02-10", "2023-12-01", "2024-05-01"]).to_numpy()
    dates = pd.DatetimeIndex(["2024-03-01", "2024-01-01", "2024-02-01"])
    queries = registry_queries(entities, available, dates)
    months = pd.to_datetime(queries.as_of).strftime("%m")
    got = list(zip(entities[queries.codes], months, strict=True))
    # r2 is registered from 10 February (March only), r1 from December (all three months,
    # oldest first), r3 not until May (none); entities keep the registry's order.
    assert got == [("r2", "03"), ("r1", "01"), ("r1", "02"), ("r1", "03")]
    units = registry_units(pd.DataFrame({"id": entities, "available_at": available}), "id", dates)
    assert units["entity_id"].tolist() == ["r2", "r1", "r1", "r1"]
    assert units["as_of"].tolist() == list(pd.to_datetime(queries.as_of))
