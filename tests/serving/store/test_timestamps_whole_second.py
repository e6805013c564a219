"""The store's datetimes read as timestamps whatever the first one looks like: a moment on a
whole second is written without a fraction (`...:50+00:00`), and pandas took the first row's
shape for all of them, so `riskloop monitor` failed once the first warning was created on a
whole second ("doesn't match format")."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from serving.store.common import timestamps


def test_a_whole_second_first_then_fractions_then_none() -> None:
    moments = [
        datetime(2026, 12, 7, 9, 0, 50, tzinfo=UTC),
        datetime(2026, 12, 7, 9, 0, 50, 201668, tzinfo=UTC),
        None,
    ]
    read = timestamps(moments)
    assert read[0] == pd.Timestamp("2026-12-07T09:00:50Z")
    assert read[1] == pd.Timestamp("2026-12-07T09:00:50.201668Z")
    assert pd.isna(read[2]) and isinstance(read.dtype, pd.DatetimeTZDtype)
