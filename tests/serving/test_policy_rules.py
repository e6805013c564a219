"""The policy's reasons, as a refused person reads them: the rule that actually applies."""

from __future__ import annotations

import pytest

from serving.policy import Actor, decide, department_tasks

CASE = {"task": "wage-arrears", "department": "labour_inspection"}
OFFICER = Actor.user("li", "officer", "labour_inspection")
STRANGER = Actor.user("zhao", "officer", "tax")


@pytest.mark.parametrize(
    ("status", "transition"),
    [("closed", "start"), ("closed", "close"), ("open", "start"), ("in_progress", "start")],
)
def test_a_step_the_cases_state_rules_out_names_the_state_not_the_department(
    status: str, transition: str
) -> None:
    """The officer of the department holding the case was told only that department may
    act, which they are: the case's state is why."""
    decision = decide(
        OFFICER, "feedback", warning={**CASE, "status": status}, transition=transition
    )
    assert not decision.allowed
    assert f"not possible while the warning is {status.replace('_', ' ')}" in decision.rule
    assert "预警当前状态" in decision.rule_zh


def test_a_step_the_state_allows_is_refused_to_another_department_by_department() -> None:
    decision = decide(
        STRANGER, "feedback", warning={**CASE, "status": "dispatched"}, transition="start"
    )
    assert not decision.allowed and "状态" not in decision.rule_zh


def test_a_department_key_scores_only_the_tasks_its_department_handles() -> None:
    for department, tasks in department_tasks().items():
        key = Actor.key("desk", ["score"], department)
        for task in ("wage-arrears", "telecom-fraud", "dispute-escalation"):
            assert bool(decide(key, "score", task=task)) == (task in tasks), (department, task)
    assert decide(Actor.key("city", ["score"]), "score", task="telecom-fraud")


def test_an_auditor_account_outside_the_data_office_reads_nothing() -> None:
    """Such an account is refused at creation; one left in an older store gets neither the
    city-wide view nor the audit log, and is told why; the data office's auditor reads both."""
    from serving.policy import VisibleScope, visible_scope

    stray = Actor.user("lab_aud", "auditor", "labour_inspection")
    office = Actor.user("aud", "auditor", "data_office")
    assert visible_scope(stray) == VisibleScope()
    assert visible_scope(office) == VisibleScope(everything=True)
    for action in ("warning_list", "warning_read", "audit_read"):
        refused = decide(stray, action, warning=CASE)
        assert not refused.allowed and "data_office" in refused.rule
        assert "市大数据局" in refused.rule_zh
        assert decide(office, action, warning=CASE).allowed
