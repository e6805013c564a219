"""A score request's audit rows say the channel it came through, like every other row.

`score_request`, `warning_raised` and `warning_updated` rows are built on the store's writer
thread (or in a group commit), where the request's channel (`serving.audit_channel`) is not set:
they had none. The channel is read where the write is handed over.
"""

from __future__ import annotations

from collections.abc import Callable

from serving.audit_channel import audit_channel
from serving.store import WarningStore
from serving.store.scores import ScoreWrite

SCORE_ACTIONS = {"score_request", "warning_raised", "warning_updated"}


def _channels(store: WarningStore) -> dict[str, set[object]]:
    found: dict[str, set[object]] = {}
    for row in store.audit_rows():
        if row["action"] in SCORE_ACTIONS:
            found.setdefault(row["action"], set()).add(row["detail"].get("channel"))
    return found


def test_score_rows_carry_the_channel_across_the_writer_thread(
    store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    results = [scored("91330500MA2B000001", 0.9, "red"), scored("91330500MA2B000002", 0.1, "green")]
    with audit_channel("api"):
        prepared = store.prepare_scores(results)
        write = ScoreWrite("key:scorer", "wage-arrears", "m", "1", prepared)
        store.record_prepared_later(write).result()  # on the writer thread
    assert _channels(store) == {"score_request": {"api"}, "warning_raised": {"api"}}
    with audit_channel("cli"):  # `riskloop screen`'s write
        store.record_scores_counted(
            actor="cli:ops",
            task="wage-arrears",
            model_name="m",
            model_version="2",
            results=[scored("91330500MA2B000001", 0.95, "red")],
        )
    assert _channels(store) == {
        "score_request": {"api", "cli"},
        "warning_raised": {"api"},
        "warning_updated": {"cli"},
    }


def test_the_services_own_work_names_no_channel(
    store: WarningStore, scored: Callable[..., dict[str, object]]
) -> None:
    store.record_scores(
        actor="system:screen",
        task="wage-arrears",
        model_name="m",
        model_version="1",
        results=[scored("91330500MA2B000003", 0.9, "red")],
    )
    assert _channels(store) == {"score_request": {None}, "warning_raised": {None}}
