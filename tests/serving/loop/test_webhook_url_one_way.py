"""set-webhook takes only a URL that reads one way, and the audit row's endpoint never holds a
user name or password: `https://bob:2024/xyz@hooks.example.org/in` was set (exit 0, shown as
`https://***@hooks.example.org/in`) while its host is `bob`, port 2024, and the audit row kept
`"endpoint": "https://bob:2024"`, the user name and the start of the password, for good."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from serving.store import WarningStore
from serving.store.common import utc_now
from serving.store.outbox import Outbox
from tests.serving.loop.conftest import run_cli

HOST = "hooks.example.org"


def _set_webhook(folder: Path, url: str) -> Result:
    secret_file = folder / "labour.secret"
    return run_cli(
        ["departments", "set-webhook", "labour_inspection", url, "--secret-file", str(secret_file)]
    )


def _webhook_rows() -> list[dict[str, Any]]:
    with WarningStore.from_settings() as store:
        return [row for row in store.audit_rows() if row["action"] == "department_webhook"]


@pytest.mark.parametrize(
    "url",
    [
        f"https://bob:2024/xyz@{HOST}/in",  # the QA's: host bob, port 2024
        f"https://bob:8080?tok@{HOST}/in",  # the QA's: `tok@...` a query name
        f"https://bob:2024#xyz@{HOST}/in",
        f"https://bob:2024/xyz@{HOST}:8443/in?token=abc",
        f"http://bob:2024/x@y@{HOST}/in",
        f"https://bob:8080?a=1&tok@{HOST}/in",
        f"https://{HOST}/in@elsewhere.example.net",  # read as userinfo up to the @ by a person
    ],
)
def test_a_url_with_an_at_sign_after_its_host_is_refused_and_nothing_written(
    cli_env: Path, url: str
) -> None:
    result = _set_webhook(cli_env, url)

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "does not read one way" in line, line
    assert "bob" not in line and "2024" not in line and "xyz" not in line, line
    assert "***@" in line, line
    assert not (cli_env / "labour.secret").exists()
    assert not (cli_env / "secrets.json").exists()
    assert "0 webhook(s)" in run_cli(["departments", "webhooks"]).stdout
    assert _webhook_rows() == []


@pytest.mark.parametrize(
    ("url", "shown", "endpoint"),
    [
        (f"https://bob:2024%2Fxyz@{HOST}/in", f"https://***@{HOST}/in", f"https://{HOST}"),
        (f"https://bob:pw@x@{HOST}:8443/in", f"https://***@{HOST}:8443/in", f"https://{HOST}:8443"),
        (
            f"https://{HOST}/in?notify=bob@city.gov",
            f"https://{HOST}/in?notify=***",
            f"https://{HOST}",
        ),
        ("http://bob:2024@[::1]:8080/in", "http://***@[::1]:8080/in", "http://[::1]:8080"),
    ],
)
def test_a_url_that_reads_one_way_is_set_and_audited_without_its_userinfo(
    cli_env: Path, url: str, shown: str, endpoint: str
) -> None:
    result = _set_webhook(cli_env, url)

    assert result.exit_code == 0, result.output
    assert f"webhook {shown};" in result.stdout
    (row,) = _webhook_rows()
    assert row["detail"]["endpoint"] == endpoint
    assert row["detail"]["previous"] is None


def test_an_unclear_url_stored_before_is_audited_as_masked_when_replaced(cli_env: Path) -> None:
    """A URL set before set-webhook refused its shape names no host one can trust: its audit
    rows (setting it, and replacing it as `previous`) keep neither its user name nor its port."""
    with WarningStore.from_settings() as store:
        Outbox(store).set_webhook(
            "labour_inspection", f"https://bob:2024/xyz@{HOST}/in", now=utc_now()
        )

    result = _set_webhook(cli_env, f"https://{HOST}/in")

    assert result.exit_code == 0, result.output
    first, second = (row["detail"] for row in _webhook_rows())
    assert first == {"department": "labour_inspection", "endpoint": "https://***", "previous": None}
    assert second["endpoint"] == f"https://{HOST}" and second["previous"] == "https://***"
