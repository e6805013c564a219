"""No feature sees the future: rows not yet available at the as-of date cannot change it.

Property-based on a few entities of the small city: for a random as-of date, change or delete
random raw rows whose `available_at` is after it and rebuild; the features must be identical.
The label, built from the future on purpose, must respond to events inside its horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schemas import TABLE_SPECS, RawTables
from features.tasks import TASKS

N_ENTITIES = 24
EXAMPLES = 40


def _take(frame: pd.DataFrame, column: str, keep) -> pd.DataFrame:
    return frame[frame[column].isin(keep)].reset_index(drop=True)


def _wage_slice(tables: RawTables) -> RawTables:
    events = tables["arrears_events"]["employer_id"].unique()[: N_ENTITIES // 3]
    builders = tables["construction_projects"]["employer_id"].unique()[: N_ENTITIES // 3]
    others = tables["employers"]["employer_id"].to_numpy()[: N_ENTITIES // 3]
    keep = set(events) | set(builders) | set(others)
    sliced = {
        name: _take(frame, "employer_id", keep)
        for name, frame in tables.items()
        if "employer_id" in frame.columns
    }
    projects = set(sliced["construction_projects"]["project_id"])
    for name in ("project_instalments", "project_payments"):
        sliced[name] = _take(tables[name], "project_id", projects)
    return sliced


def _telecom_slice(tables: RawTables) -> RawTables:
    victims = tables["fraud_cases"]["resident_id"].unique()[: N_ENTITIES // 2]
    others = tables["residents"]["resident_id"].to_numpy()[: N_ENTITIES // 2]
    keep = set(victims) | set(others)
    return {name: _take(frame, "resident_id", keep) for name, frame in tables.items()}


def _dispute_slice(tables: RawTables) -> RawTables:
    escalated = tables["escalation_events"]["dispute_id"].unique()[: N_ENTITIES // 2]
    others = tables["disputes"]["dispute_id"].to_numpy()[: N_ENTITIES // 2]
    keep = set(escalated) | set(others)
    sliced = {
        name: _take(tables[name], "dispute_id", keep)
        for name in ("disputes", "dispute_parties", "mediation_sessions", "grid_visits")
    }
    sliced["escalation_events"] = _take(tables["escalation_events"], "dispute_id", keep)
    parties = set(sliced["dispute_parties"]["party_id"])
    for name in ("police_calls", "petitions"):
        sliced[name] = _take(tables[name], "party_id", parties)
    return sliced


SLICERS = {
    "wage_arrears": _wage_slice,
    "telecom_fraud": _telecom_slice,
    "dispute_escalation": _dispute_slice,
}


@pytest.fixture(scope="module")
def slices(city_tables) -> dict[str, tuple[RawTables, pd.DataFrame]]:
    """A few entities' tables per task, with their labelled units."""
    out = {}
    for slug, slicer in SLICERS.items():
        tables = slicer(city_tables[slug])
        out[slug] = (tables, TASKS[slug].builder.labelled_units(tables))
    return out


def _changed(frame: pd.DataFrame, rows: np.ndarray, spec, as_of: pd.Timestamp, rng) -> pd.DataFrame:
    """The frame with `rows` rewritten: every non-key value altered, still unavailable at as_of.

    `event_time` moves far into the past (an old fact reported late) and `available_at` later.
    """
    out = frame.copy()
    for name, column in spec.columns.items():
        if name in spec.key or column.kind in ("id", "str"):
            continue
        values = out[name].to_numpy(copy=True)
        if column.kind == "category":
            values[rows] = [
                column.values[(column.values.index(v) + 1) % len(column.values)]
                for v in values[rows]
            ]
            out[name] = pd.array(values, dtype="str")
            continue
        if column.kind == "bool":
            values[rows] = ~values[rows]
        elif column.kind == "int":
            values[rows] = values[rows] * 3 + 7
        elif column.kind == "float":
            values[rows] = values[rows] * 3.5 + 1000.0
        elif name == "available_at":
            values[rows] = values[rows] + np.timedelta64(int(rng.integers(1, 400)), "D")
        elif name == "event_time":
            back = int(rng.integers(0, 45 if rng.random() < 0.7 else 700))
            values[rows] = (as_of - pd.Timedelta(days=back)).to_datetime64()
        else:
            values[rows] = values[rows] - np.timedelta64(int(rng.integers(1, 900)), "D")
        out[name] = values
    return out


def _check_future_rows_are_invisible(slug: str, slices, data) -> None:
    """Every table at once: delete or rewrite a random share of its rows not yet available."""
    tables, units = slices[slug]
    builder = TASKS[slug].builder
    unit = data.draw(st.integers(0, len(units) - 1), label="unit")
    as_of = pd.Timestamp(units["as_of"].iloc[unit])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    mutated = dict(tables)
    for name in sorted(tables):
        frame = tables[name]
        future = np.flatnonzero((frame["available_at"] > as_of).to_numpy())
        action = data.draw(st.sampled_from(["keep", "delete", "change"]), label=name)
        if action == "keep" or not len(future):
            continue
        share = data.draw(st.sampled_from([0.1, 0.5, 1.0]), label=f"{name} share")
        rows = rng.choice(future, size=max(1, int(share * len(future))), replace=False)
        if action == "delete":
            mutated[name] = frame.drop(index=rows).reset_index(drop=True)
        else:
            mutated[name] = _changed(frame, rows, TABLE_SPECS[slug][name], as_of, rng)
    pairs = pd.DataFrame({"entity_id": units["entity_id"].drop_duplicates(), "as_of": as_of})
    before = builder.build_features(tables, pairs)
    after = builder.build_features(mutated, pairs)
    pd.testing.assert_frame_equal(before, after)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(data=st.data())
def test_wage_arrears_features_ignore_the_future(slices, data) -> None:
    _check_future_rows_are_invisible("wage_arrears", slices, data)


@_SETTINGS
@given(data=st.data())
def test_telecom_fraud_features_ignore_the_future(slices, data) -> None:
    _check_future_rows_are_invisible("telecom_fraud", slices, data)


@_SETTINGS
@given(data=st.data())
def test_dispute_escalation_features_ignore_the_future(slices, data) -> None:
    _check_future_rows_are_invisible("dispute_escalation", slices, data)


def _label_event(slug: str, tables: RawTables, entity: str, when: pd.Timestamp) -> pd.DataFrame:
    """One new label row for `entity` happening at `when` and reported a day later."""
    table = TASKS[slug].label_table
    template = tables[table].iloc[[0]].copy()
    entity_col = TABLE_SPECS[slug][table].entity_column
    key = TABLE_SPECS[slug][table].key[0]
    template[key] = "NEW-LABEL-EVENT"
    template[entity_col] = entity
    template["event_time"] = when
    template["available_at"] = when + pd.Timedelta(days=1)
    return pd.concat([tables[table], template], ignore_index=True)


@pytest.mark.parametrize("slug", list(TASKS))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_label_responds_to_events_inside_the_horizon(slug, slices, data) -> None:
    tables, units = slices[slug]
    builder = TASKS[slug].builder
    info = TASKS[slug]
    unit = data.draw(st.integers(0, len(units) - 1), label="unit")
    one = units.iloc[[unit]].reset_index(drop=True)
    entity, as_of = one["entity_id"].iloc[0], pd.Timestamp(one["as_of"].iloc[0])
    end = as_of + info.horizon
    span = (end - as_of) / pd.Timedelta(seconds=1)
    inside = as_of + pd.Timedelta(seconds=data.draw(st.floats(1.0, span), label="offset"))
    label_table = info.label_table
    entity_col = TABLE_SPECS[slug][label_table].entity_column

    with_event = {**tables, label_table: _label_event(slug, tables, entity, inside)}
    assert builder.labels(with_event, one)[0] == 1

    events = tables[label_table]
    in_window = (
        (events[entity_col] == entity)
        & (events["event_time"] > as_of)
        & (events["event_time"] <= end)
    )
    without = {**tables, label_table: events[~in_window].reset_index(drop=True)}
    assert builder.labels(without, one)[0] == 0

    outside = as_of + (
        pd.Timedelta(seconds=0)
        if data.draw(st.booleans())
        else (end - as_of) + pd.Timedelta(seconds=1)
    )
    outside_event = {**without, label_table: _label_event(slug, without, entity, outside)}
    assert builder.labels(outside_event, one)[0] == 0
    pairs = one[["entity_id", "as_of"]]
    pd.testing.assert_frame_equal(
        builder.build_features(tables, pairs), builder.build_features(with_event, pairs)
    )
