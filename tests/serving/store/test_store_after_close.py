"""A closed warning and the scores that come after its close."""

from __future__ import annotations

from collections.abc import Callable

from serving.store import WarningStore


def _score(store: WarningStore, scored: Callable[..., dict], score: float, version: str) -> str:
    (warning_id,) = store.record_scores(
        actor="key:nightly",
        task="wage-arrears",
        model_name="riskloop-wage-arrears",
        model_version=version,
        results=[scored("E-closed", score, "red")],
    )
    return str(warning_id)


def test_a_repeated_score_after_close_is_recorded_once(
    store: WarningStore, scored: Callable[..., dict]
) -> None:
    """After a model change, a nightly batch sends the same score for a closed case every
    night: the first is a `score_after_close` event, the repeats (in later requests or later
    in the same batch) change nothing; a different score is a new event."""
    warning_id = _score(store, scored, 0.9, "1")
    store.add_feedback(
        warning_id, actor="c", status="closed", department=None, outcome="false_alarm", note=None
    )
    for _ in range(3):
        assert _score(store, scored, 0.8, "2") == warning_id
    store.record_scores(
        actor="key:nightly",
        task="wage-arrears",
        model_name="riskloop-wage-arrears",
        model_version="2",
        results=[scored("E-closed", 0.8, "red"), scored("E-closed", 0.7, "red")],
    )
    _score(store, scored, 0.7, "2")
    _score(store, scored, 0.9, "1")  # the closing figures themselves: no change either
    warning = store.get_warning(warning_id)
    after = [e for e in warning["history"] if e["event"] == "score_after_close"]
    assert [(e["score"], e["model_version"]) for e in after] == [(0.8, "2"), (0.7, "2")]
    assert (warning["score"], warning["status"], warning["version"]) == (0.9, "closed", 2)
    updates = [
        r for r in store.audit_rows(warning_id=warning_id) if r["action"] == "warning_updated"
    ]
    assert len(updates) == 2
