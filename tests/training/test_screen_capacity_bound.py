"""`riskloop screen`'s capacity note for a department whose level step is given only where the
case fits it (a red dispute's referral to county-level handling, not for a case already there):
its count takes every warning of the level, so the note says it is at most that many."""

from __future__ import annotations

from collections import Counter

from models.departments import department_code
from models.spec import get_spec
from serving.screening import ScreenReport
from training.commands.screen import _capacity_notes, _department_counts


def test_a_department_counted_by_a_step_that_depends_on_the_case_is_noted_as_at_most() -> None:
    spec = get_spec("dispute-escalation")
    fitted = {
        department_code(a.department_en) or a.department_en
        for actions in spec.level_actions.values()
        for a in actions
        if a.fits
    }
    plain = {
        department_code(a.department_en) or a.department_en
        for actions in spec.level_actions.values()
        for a in actions
        if not a.fits
    } - fitted
    assert fitted and plain  # the spec holds both kinds of level step
    report = ScreenReport(task=spec.task, as_of="2026-01-01", rows=1000)
    report.levels = Counter({"red": 10, "orange": 40, "yellow": 100})
    departments = _department_counts(None, report, spec)  # type: ignore[arg-type]
    capacities = {code: 1 for code in departments}
    notes = {
        note.split(":")[0]: note for note in _capacity_notes(spec, report, departments, capacities)
    }
    for code in fitted:
        assert notes[code].endswith("every warning of that level is counted)"), notes[code]
    for code in plain & set(notes):
        assert "at most" not in notes[code], notes[code]
