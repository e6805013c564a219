"""`riskloop audit --task` and `GET /v1/audit?task=`: an inspector asked for every look at one
task's cases (the anti-fraud centre's, say) and could only filter by warning, actor or action."""

from __future__ import annotations

from pathlib import Path

from serving.store import WarningStore
from tests.serving.test_people_cli import _one_error_line, _run
from tests.training.test_cli_audit_filters import _columns, _reads


def _reads_of_two_tasks() -> None:
    """A read of a wage-arrears case by wang, a telecom-fraud one by li, and a sign-in."""
    with WarningStore.from_settings() as store:
        store.audit(actor="user:wang", action="warning_read", task="wage-arrears", detail={"n": 1})
        store.audit(actor="user:li", action="warning_read", task="telecom-fraud", detail={"n": 2})
        store.audit(actor="user:li", action="sign_in", detail={})


def test_audit_keeps_one_tasks_rows_records_the_filter_and_refuses_no_task(
    isolated_env: Path,
) -> None:
    _reads_of_two_tasks()

    code, out, err = _run("audit", "--task", "telecom-fraud")
    assert (code, _columns(out)) == (0, [("user:li", "warning_read")]), err
    # the slug is the task too, and the filters combine
    code, out, err = _run("audit", "--task", "wage_arrears", "--action", "warning_read")
    assert (code, _columns(out)) == (0, [("user:wang", "warning_read")]), err
    code, out, err = _run("audit", "--task", "wage-arrears", "--actor", "li")
    assert (code, out, err.strip()) == (0, "", "no audit rows")
    assert {"task": "wage-arrears", "rows": 1}.items() <= _reads()[1].items()

    code, out, err = _run("audit", "--task", "telecom")
    assert out == ""
    _one_error_line(code, err, "--task", "'telecom'", "telecom-fraud", "wage-arrears")
    assert len(_reads()) == 3  # a refused read writes nothing
