"""`riskloop audit` as a data-protection inspector found it.

"Every identity reveal last week" could not be asked (no `--action`, no `--until`, `--since`
only beside `--actor`), and `--actor user:wang --since 2027-01-01` answered "no audit rows",
exit 0, as if nobody had done anything in a future not yet come.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from models.pages import CITY_TIME
from serving.store import WarningStore
from tests.serving.test_people_cli import _one_error_line, _run
from tests.training.test_cli_recheck_refusals import _raise_warning


def _a_case_with_looks() -> str:
    """A raised warning, a reveal of its unit by wang and a read of it by li."""
    with WarningStore.from_settings() as store:
        warning_id = _raise_warning(store, "employer-1")
        _raise_warning(store, "employer-2")
        for actor, action in (("user:wang", "identity_reveal"), ("user:li", "warning_read")):
            store.audit(actor=actor, action=action, detail={"warning_id": warning_id})
    return warning_id


def _columns(out: str) -> list[tuple[str, str]]:
    """Each printed row's actor and action."""
    return [(line.split("\t")[1], line.split("\t")[2]) for line in out.splitlines()]


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _reads() -> list[dict[str, Any]]:
    with WarningStore.from_settings() as store:
        return [row["detail"] for row in store.audit_rows(actions=["audit_read"])]


def test_audit_filters_by_action_and_a_window_of_days(isolated_env: Path) -> None:
    warning_id = _a_case_with_looks()
    today = datetime.now(CITY_TIME).date()
    yesterday = (today - timedelta(days=1)).isoformat()

    code, out, err = _run("audit", "--action", "identity_reveal")
    assert (code, _columns(out)) == (0, [("user:wang", "identity_reveal")]), err
    code, out, _ = _run("audit", "--action", "identity_reveal,warning_read", "--actor", "li")
    assert (code, _columns(out)) == (0, [("user:li", "warning_read")])
    code, out, _ = _run("audit", "--action", "warning_read", "--action", "identity_reveal")
    assert _columns(out) == [("user:wang", "identity_reveal"), ("user:li", "warning_read")]
    # a date-only window is days of the city, `--until` through its whole day
    day = today.isoformat()
    code, out, err = _run(
        "audit", "--warning", warning_id[:10], "--action", "identity_reveal",
        "--since", day, "--until", day,
    )  # fmt: skip
    assert (code, _columns(out)) == (0, [("user:wang", "identity_reveal")]), err
    assert err.strip() == f"{warning_id[:10]} is warning {warning_id}"
    code, out, err = _run("audit", "--action", "identity_reveal", "--until", yesterday)
    assert (code, out, err.strip()) == (0, "", "no audit rows")
    # each read is on the record with the filter it asked
    asked = {
        "warning_id": warning_id,
        "actions": ["identity_reveal"],
        "since": _utc(f"{day}T00:00:00+08:00"),
        "until": _utc(f"{(today + timedelta(days=1)).isoformat()}T00:00:00+08:00"),
        "rows": 1,
    }
    assert asked.items() <= _reads()[-2].items()


def test_audit_refuses_an_unknown_action_a_future_since_and_an_empty_window(
    isolated_env: Path,
) -> None:
    _a_case_with_looks()
    tomorrow = (datetime.now(CITY_TIME).date() + timedelta(days=1)).isoformat()

    code, out, err = _run("audit", "--action", "identity_revael")
    assert out == ""
    _one_error_line(code, err, "--action", "'identity_revael'", "identity_reveal", "warning_read")
    code, _, err = _run("audit", "--actor", "user:wang", "--since", tomorrow)
    _one_error_line(code, err, f"--since {tomorrow} is after now")
    later = (datetime.now(CITY_TIME) + timedelta(minutes=5)).isoformat()
    code, _, err = _run("audit", "--action", "sign_in", "--since", later)
    _one_error_line(code, err, "--since", "is after now")
    code, _, err = _run(
        "audit", "--action", "sign_in", "--since", "2026-11-30", "--until", "2026-11-29"
    )
    _one_error_line(code, err, "--until 2026-11-29 is not after --since 2026-11-30")
    code, _, err = _run("audit", "--since", "2026-11-01")
    _one_error_line(
        code, err, "at least one of --warning ID, --actor NAME, --task NAME or --action NAME"
    )
    # a warning no one raised is refused whatever the other filters
    code, _, err = _run("audit", "--warning", "W-" + "0" * 32, "--action", "identity_reveal")
    _one_error_line(code, err, "W-" + "0" * 32, "no warning has that id")
    assert _reads() == []  # a refused read writes nothing
