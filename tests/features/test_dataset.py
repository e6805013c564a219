"""The task registry, scoring sets, the sidecar and the purged time split."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalog import CATALOG_VERSION, feature_names
from features.dataset import build_dataset, dataset_sidecar, time_split
from features.tasks import TASKS, get_task


def test_registry_names_and_horizons() -> None:
    assert [info.name for info in TASKS.values()] == [
        "wage-arrears",
        "telecom-fraud",
        "dispute-escalation",
    ]
    assert get_task("wage-arrears") is get_task("wage_arrears")
    start = pd.Timestamp("2025-01-31")
    assert start + get_task("wage-arrears").horizon == pd.Timestamp("2025-04-30")
    assert start + get_task("telecom-fraud").horizon == start + pd.Timedelta(days=30)
    assert start + get_task("dispute-escalation").horizon == start + pd.Timedelta(days=90)
    with pytest.raises(KeyError):
        get_task("tax-evasion")


@pytest.mark.parametrize("slug", list(TASKS))
def test_scoring_set_is_one_recent_date_without_label(slug, city_tables, labelled) -> None:
    scoring = build_dataset(slug, city_tables[slug], unlabelled=True)
    assert "label" not in scoring.columns and len(scoring) > 0
    assert scoring["as_of"].nunique() == 1
    assert scoring["as_of"].iloc[0] >= labelled[slug]["as_of"].max()
    assert list(scoring.columns[2 : 2 + len(feature_names(slug))]) == feature_names(slug)
    assert not scoring["entity_id"].duplicated().any()


def test_dispute_scoring_set_reads_each_open_dispute_as_the_model_was_trained(
    city_tables, labelled
) -> None:
    """The model's unit is a dispute 7 days in. Open disputes at a month's end are 7 to 97 days
    old; read at that date, their age and every session since were outside anything the model
    saw, and `riskloop monitor` alarmed after every screen (PSI 8 on the age). Each is read at
    7 days in, so the scoring set is distributed like the training set."""
    from serving.store.monitoring import psi

    slug = "dispute_escalation"
    scoring = build_dataset(slug, city_tables[slug], unlabelled=True)
    days = scoring["days_since_registration"]
    assert (days == 7).mean() > 0.95  # whole calendar days: the hour registered is no signal
    assert (days.dropna() % 1 == 0).all()
    for name in feature_names(slug):
        assert psi(labelled[slug][name], scoring[name]) < 0.25, name


def test_labelled_windows_end_within_the_data(city_tables, labelled) -> None:
    for slug, frame in labelled.items():
        end = TASKS[slug].builder.data_end(city_tables[slug])
        assert (frame["as_of"] + TASKS[slug].horizon <= end).all(), slug


def test_sidecar_describes_the_dataset(city_tables, labelled) -> None:
    frame = labelled["wage_arrears"]
    sidecar = dataset_sidecar(frame, city_tables["wage_arrears"])
    assert sidecar["task"] == "wage-arrears" and sidecar["labelled"] is True
    assert sidecar["rows"] == len(frame)
    assert sidecar["positive_rate"] == pytest.approx(frame["label"].mean())
    assert sidecar["as_of_max"] == frame["as_of"].max().isoformat()
    assert sidecar["catalog_version"] == CATALOG_VERSION
    assert sidecar["features"] == feature_names("wage_arrears")
    same = dataset_sidecar(frame, dict(city_tables["wage_arrears"]), "wage-arrears")
    assert same["input_fingerprint"] == sidecar["input_fingerprint"]
    tables = dict(city_tables["wage_arrears"])
    tables["tax"] = tables["tax"].assign(tax_paid=tables["tax"]["tax_paid"] + 0.01)
    assert dataset_sidecar(frame, tables)["input_fingerprint"] != sidecar["input_fingerprint"]


def test_as_of_is_refused_for_a_labelled_build(city_tables) -> None:
    with pytest.raises(ValueError, match="unlabelled"):
        build_dataset("dispute-escalation", city_tables["dispute_escalation"], as_of="2025-06-01")


panels = st.tuples(
    st.integers(1, 12),
    st.integers(2, 40),
    st.sampled_from(["MS", "7D", "1D"]),
    st.sampled_from([pd.DateOffset(months=3), pd.DateOffset(days=30), pd.DateOffset(days=90)]),
    st.sampled_from([0.0, 0.1, 0.15, 0.3]),
    st.sampled_from([0.1, 0.15, 0.3]),
)


@settings(max_examples=80, deadline=None)
@given(panels)
def test_time_split_is_purged_by_the_horizon(panel) -> None:
    n_entities, n_dates, step, horizon, valid_frac, test_frac = panel
    dates = pd.date_range("2024-01-01", periods=n_dates, freq=step)
    frame = pd.DataFrame(
        {
            "entity_id": np.tile([f"e{i}" for i in range(n_entities)], n_dates),
            "as_of": np.repeat(dates.to_numpy(), n_entities),
            "label": np.zeros(n_entities * n_dates, dtype=np.int8),
        }
    )
    train, valid, test = time_split(frame, horizon, valid_frac, test_frac)
    parts = [p for p in (train, valid, test) if len(p)]
    index = np.concatenate([p.index.to_numpy() for p in (train, valid, test)])
    assert len(index) == len(set(index))
    for earlier, later in itertools.pairwise(parts):
        assert (earlier["as_of"] + horizon <= later["as_of"].min()).all()
    for part in (train, valid, test):
        rows_of_its_dates = frame[frame["as_of"].isin(part["as_of"])]
        assert len(rows_of_its_dates) == len(part), "an as-of date was split between slices"
    assert len(test) >= test_frac * len(frame) and test["as_of"].max() == dates[-1]
    # A row is dropped only when its label window reaches past the start of a later slice.
    starts = [p["as_of"].min() for p in (valid, test) if len(p)]
    for when in frame.drop(index=index)["as_of"].unique():
        assert any(when < start < when + horizon for start in starts), when


def test_time_split_on_the_small_city(labelled) -> None:
    for slug in ("wage_arrears", "telecom_fraud"):
        train, valid, test = time_split(labelled[slug], TASKS[slug].horizon)
        assert min(len(train), len(valid), len(test)) > 0, slug
        assert train["as_of"].max() + TASKS[slug].horizon <= valid["as_of"].min()
        assert valid["as_of"].max() + TASKS[slug].horizon <= test["as_of"].min()
