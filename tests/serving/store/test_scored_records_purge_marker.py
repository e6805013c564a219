"""`scored_records` marks the records retention purged, so monitoring can tell a purged record
from one whose feature values were missing when it was scored (both read back as NaN)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from serving.store import WarningStore

TASK = "wage-arrears"


def _score(store: WarningStore, results: list[dict[str, object]], as_of: date) -> None:
    store.record_scores(
        actor="scorer-key",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=results,
        as_of=as_of,
    )


def test_purged_records_are_marked_and_records_with_missing_values_are_not(
    store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    _score(store, [scored("A", 0.2, "green"), scored("B", 0.8, "red")], date(2026, 9, 1))
    done = store.purge(before=datetime.now(UTC), actor="system:cli")
    assert done.scored_records == 2
    nothing_known = {"si_arrears_months_6m": None, "sector": None, "score_hint": None}
    _score(
        store,
        [scored("C", 0.3, "green", features=nothing_known), scored("D", 0.4, "green")],
        date(2026, 10, 1),
    )
    frame = store.scored_records(task=TASK)
    assert frame["features_purged"].dtype == bool
    assert frame["features_purged"].tolist() == [True, True, False, False]
    # the values alone cannot tell C (scored with nothing known) from the purged A and B
    assert frame["si_arrears_months_6m"].isna().tolist() == [True, True, True, False]
    assert frame["score"].tolist() == [0.2, 0.8, 0.3, 0.4]  # the purge keeps the scores
    assert store.scored_records(task="telecom-fraud")["features_purged"].dtype == bool
