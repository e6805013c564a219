"""The time split's calibration rows: held out from the booster, labelled before the test period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.spec import get_spec
from training.datasets import split_dataset
from training.errors import UserError


def _panel_and_one_off_units(seed: int = 0) -> pd.DataFrame:
    """Monthly rows of 40 panel entities plus 30 one-row entities a month, over two years."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2024-01-01", periods=24, freq="MS")
    panel = pd.DataFrame(
        {
            "entity_id": np.tile([f"panel-{i:02d}" for i in range(40)], len(months)),
            "as_of": np.repeat(months, 40),
        }
    )
    one_off = pd.DataFrame(
        {
            "entity_id": [f"once-{i:04d}" for i in range(30 * len(months))],
            "as_of": np.repeat(months, 30),
        }
    )
    frame = pd.concat([panel, one_off], ignore_index=True)
    return frame.assign(label=(rng.random(len(frame)) < 0.2).astype("int8"))


def test_calibration_adds_only_untrained_gap_rows_labelled_before_the_test() -> None:
    spec = get_spec("dispute-escalation")
    frame = _panel_and_one_off_units()
    splits = split_dataset(spec, frame)
    calibration = splits.calibration_slice
    assert calibration.index.isin(splits.valid.index).sum() == len(splits.valid)

    added = calibration[~calibration.index.isin(splits.valid.index)]
    valid_start, test_start = splits.valid["as_of"].min(), splits.test["as_of"].min()
    gap = frame[(frame["as_of"] < valid_start) & ~frame.index.isin(splits.train.index)]
    expected = gap[~gap["entity_id"].isin(splits.train["entity_id"])]
    assert len(expected) > 0 and set(added.index) == set(expected.index)
    assert added["entity_id"].str.startswith("once-").all()
    assert not added["entity_id"].isin(splits.train["entity_id"]).any()
    assert ((added["as_of"] + spec.horizon) <= test_start).all()
    assert not added.index.isin(splits.test.index).any()


def test_panel_entities_keep_the_validation_slice_alone() -> None:
    frame = _panel_and_one_off_units()
    panel_only = frame[frame["entity_id"].str.startswith("panel-")]
    splits = split_dataset(get_spec("wage-arrears"), panel_only)
    assert splits.calibration_slice.equals(splits.valid)


def test_a_slice_without_events_is_refused_with_the_counts() -> None:
    """Events only in the first year: the later slices hold one class, and the refusal says
    how few events there are rather than only blaming the period."""
    frame = _panel_and_one_off_units()
    frame["label"] = np.where(frame["as_of"] < "2025-01-01", frame["label"], 0).astype("int8")
    events = int(frame["label"].sum())
    with pytest.raises(UserError) as refused:
        split_dataset(get_spec("wage-arrears"), frame)
    message = str(refused.value)
    assert "0 positive) holds a single label class" in message
    assert f"too few events ({events:,} positive of {len(frame):,} rows)" in message
