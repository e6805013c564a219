"""The disposition state machine: which step a warning may take next, and why not.

Dispositions follow a state machine (see `ALLOWED_TRANSITIONS`):

    open -> dispatched (department) -> in_progress -> closed (outcome)
    open | dispatched -> closed, only with outcome false_alarm or unreachable (triage)
    dispatched -> dispatched, to re-route to another department

`confirmed` and `prevented` need the case to have been handled (`in_progress`) first: only a
department that worked the case can say the risk was real (for an outside body, which has no
one in riskloop, the task's supervisors record its start and close on its behalf: who may take
a step is `serving.policy`'s question). Closed warnings are final.
"""

from __future__ import annotations

from models.departments import AUDIT_ONLY_DEPARTMENTS
from serving.policy import department_tasks
from serving.store.models import (
    OUTCOMES,
    STATUSES,
)

# status -> statuses it may move to
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"dispatched", "closed"}),
    "dispatched": frozenset({"dispatched", "in_progress", "closed"}),
    "in_progress": frozenset({"closed"}),
    "closed": frozenset(),
}
# outcomes a warning may close with without having been handled (in_progress)
TRIAGE_OUTCOMES = frozenset({"false_alarm", "unreachable"})


class TransitionError(Exception):
    """A disposition step the state machine refuses (HTTP 409); the message says why."""


def check_transition(
    current: str,
    status: str,
    department: str | None,
    outcome: str | None,
    current_department: str | None,
    task: str | None = None,
) -> None:
    """Raise `TransitionError` unless `current -> status` with these fields is allowed.

    Pure, so the HTTP layer and tests can ask the same question the store does. With `task`,
    a dispatch to a department riskloop knows must go to one that handles the task (a name
    it does not know is an outside body's, kept as sent).
    """
    if status not in STATUSES:
        raise TransitionError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    if outcome is not None and outcome not in OUTCOMES:
        raise TransitionError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    if current == "closed":
        raise TransitionError("the warning is closed; closed warnings are final")
    if status not in ALLOWED_TRANSITIONS[current]:
        if status == current:
            raise TransitionError(f"the warning is already {current}")
        if status == "in_progress":
            raise TransitionError("dispatch the warning to a department before it is in_progress")
        raise TransitionError(f"a warning cannot go from {current} back to {status}")
    if status == "dispatched":
        if not department or not department.strip():
            raise TransitionError("dispatching needs a department")
        if current == "dispatched" and department == current_department:
            raise TransitionError(f"the warning is already dispatched to {department!r}")
        if department in AUDIT_ONLY_DEPARTMENTS:
            raise TransitionError(
                f"{department!r} audits every task and works no case: dispatch to a department "
                "that handles the task"
            )
        handling = department_tasks()
        if task is not None and department in handling and task not in handling[department]:
            # its people would see, work and reveal a case of a risk they have no part in
            able = [code for code, tasks in handling.items() if task in tasks]
            raise TransitionError(
                f"{department!r} does not handle {task}: dispatch to a department that handles "
                f"the task ({', '.join(code for code in able if code not in AUDIT_ONLY_DEPARTMENTS)})"
            )
    elif department is not None and department != current_department:
        raise TransitionError("a department is set only when dispatching")
    if status == "closed":
        if outcome is None:
            raise TransitionError(f"closing needs an outcome: one of {', '.join(OUTCOMES)}")
        if current != "in_progress" and outcome not in TRIAGE_OUTCOMES:
            raise TransitionError(
                f"outcome {outcome!r} needs the case handled first (in_progress); from {current} "
                f"a warning may only close as {' or '.join(sorted(TRIAGE_OUTCOMES))}"
            )
    elif outcome is not None:
        raise TransitionError("an outcome is given only when closing")
