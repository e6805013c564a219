"""No one reveals the identity of a closed case: re-identification serves the work on a case.

Before, the handling department's officers and the owner's supervisors (and keys with the
`reveal` scope) could still reveal a closed case's person, though docs/privacy.md gives
re-identification to the people working the case.
"""

from __future__ import annotations

import pytest

from serving.policy import Actor, decide

WORKED = {"task": "wage-arrears", "department": "labour_inspection"}
WORKERS = [
    Actor.user("li", "officer", "labour_inspection"),
    Actor.user("wang", "supervisor", "county_centre"),  # owns wage-arrears
    Actor.key("desk", ["review", "reveal"], "labour_inspection"),
    Actor.key("city", ["review", "reveal"]),
]


@pytest.mark.parametrize("actor", WORKERS, ids=lambda actor: actor.audit_name)
def test_the_people_working_a_case_reveal_it_while_open_and_not_once_closed(actor: Actor) -> None:
    for status in ("dispatched", "in_progress"):
        assert decide(actor, "reveal", warning={**WORKED, "status": status}), status
    refused = decide(actor, "reveal", warning={**WORKED, "status": "closed"})
    assert not refused.allowed
    assert refused.rule.startswith("the warning is closed; re-identification is for the people")
    assert refused.rule_zh.startswith("该预警已办结")


def test_a_closed_case_stays_readable_and_its_refusal_of_an_auditor_is_the_auditors() -> None:
    closed = {**WORKED, "status": "closed"}
    officer = WORKERS[0]
    assert decide(officer, "warning_page", warning=closed)
    auditor = Actor.user("zhou", "auditor", "data_office")
    assert decide(auditor, "reveal", warning=closed).rule.startswith("auditors see pseudonyms")
    assert decide(Actor.system("system:cli"), "reveal", warning=closed)
