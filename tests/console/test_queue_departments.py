"""The queue's department filter offers only departments that can hold a case this person sees.

A supervisor of the county centre was offered the anti-fraud centre, the resident's bank,
community police and the residents' committee: departments that work only telecom fraud, whose
cases that supervisor never sees, so each choice always answered "no warning matches". The
choices are now exactly the departments for which some task's case held there is within the
person's scope (the policy's own test), officers and the city-wide auditor included.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import PEOPLE, Console


def _can_hold_a_case_they_see(name: str) -> set[str]:
    """Departments where a case of some task they handle would be within `name`'s scope, and
    `outside` when a case at an outside body would be."""
    from models.departments import AUDIT_ONLY_DEPARTMENTS
    from models.settings import get_settings
    from models.spec import TASK_NAMES
    from serving.policy import Actor, visible_scope
    from serving.store import WarningStore

    _, _, department, role = next(p for p in PEOPLE if p[0] == name)
    scope = visible_scope(Actor.user(name, role, department))
    with WarningStore.from_settings(get_settings()) as store:
        departments = store.list_departments()
    outside = any(
        scope.contains({"task": task, "department": "湖州市法律援助中心"}) for task in TASK_NAMES
    )
    return {
        row["code"]
        for row in departments
        if row["code"] not in AUDIT_ONLY_DEPARTMENTS
        and any(
            scope.contains({"task": task, "department": row["code"]})
            for task in row.get("tasks") or ()
        )
    } | ({"outside"} if outside else set())


@pytest.mark.parametrize("name", ["sup", "lab", "fraud", "audit"])
def test_the_department_filter_offers_only_departments_holding_cases_one_sees(
    person: Any, console_service: Console, name: str
) -> None:
    viewer = person()
    viewer.sign_in(name)
    viewer.go("/console/queue")
    offered = set(
        viewer.page.locator("select[name=department] option").evaluate_all(
            "options => options.map(o => o.value).filter(Boolean)"
        )
    )
    assert offered == _can_hold_a_case_they_see(name), name
    if name == "sup":  # the reviewer's four: telecom fraud's departments only
        assert not offered & {"anti_fraud", "bank", "community_police", "residents_committee"}
        assert {"county_centre", "labour_inspection"} <= offered
    if name == "audit":  # the city-wide view keeps every department that works cases
        assert {"anti_fraud", "bank", "labour_inspection"} <= offered
