"""A score request that answers with a warning it left unchanged names it in its own audit
row, so the look is in that warning's story (`riskloop audit --warning`): a score-only key
learned the warning's id from the answer, and nothing else recorded that it did."""

from __future__ import annotations

from collections.abc import Callable

from serving.store import WarningStore

TASK = "wage-arrears"


def _score(store: WarningStore, results: list[dict], actor: str) -> list[str | None]:
    return store.record_scores(
        actor=actor,
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=results,
    )


def test_a_score_request_returning_an_unchanged_warning_is_in_its_story(
    store: WarningStore, scored: Callable
) -> None:
    (warning_id,) = _score(store, [scored("A", 0.9, "red")], "key:first")
    again, green = _score(store, [scored("A", 0.9, "red"), scored("B", 0.1, "green")], "key:scorer")
    assert green is None
    assert again == warning_id
    story = store.audit_rows(warning_id=warning_id)
    looks = [(row["actor"], row["action"]) for row in story]
    assert ("key:scorer", "score_request") in looks, looks
    (request,) = [row for row in story if row["actor"] == "key:scorer"]
    assert request["detail"]["warning_ids"] == [warning_id]
    assert request["detail"]["n_unchanged"] == 1


def test_a_raised_or_updated_warning_is_not_named_twice(
    store: WarningStore, scored: Callable
) -> None:
    (raised,) = _score(store, [scored("A", 0.5, "orange")], "key:scorer")
    rows = store.audit_rows(actor="key:scorer")
    (request,) = [row for row in rows if row["action"] == "score_request"]
    assert request["detail"]["warning_ids"] == []
    assert any(row["action"] == "warning_raised" for row in store.audit_rows(warning_id=raised))
