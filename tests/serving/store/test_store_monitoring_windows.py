"""PSI on mass-point features and the recent reference window used by `riskloop monitor`."""

from __future__ import annotations

import pandas as pd

from serving.store.monitoring import psi, recent_rows


def test_a_mostly_zero_feature_that_jumps_is_drift() -> None:
    """Counts such as unpaid months are mostly 0: 0 must not share a bin with every positive."""
    reference = [0] * 92 + [1] * 8
    assert psi(reference, [0] * 50 + [6] * 50) > 0.25
    assert psi(reference, [0] * 92 + [1] * 8) < 1e-9


def test_recent_rows_keep_the_latest_dates_holding_the_share() -> None:
    frame = pd.DataFrame(
        {"as_of": pd.to_datetime(["2025-01-01"] * 5 + ["2025-02-01"] * 3 + ["2025-03-01"] * 2)}
    )
    assert set(recent_rows(frame, share=0.2)["as_of"].dt.month) == {3}
    assert set(recent_rows(frame, share=0.25)["as_of"].dt.month) == {2, 3}
    assert len(recent_rows(frame, share=1.0)) == len(frame)
    assert recent_rows(frame.drop(columns="as_of"), share=0.2).shape == (10, 0)
