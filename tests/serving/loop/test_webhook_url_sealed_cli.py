"""The CLI over sealed webhook URLs: `departments set-webhook` seals the URL it stores and
refuses one too long to seal in one line; `store upgrade` seals a URL kept plain; `departments
webhooks` and `departments ping` name a webhook whose URL the secrets file cannot open, and
how to repair it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from models.settings import get_settings
from tests.serving.loop.conftest import run_cli

TOKEN = "9f86d081884c7d659a2feaa0c55ad015"
URL = f"https://oapi.example.gov/robot/send?access_token={TOKEN}"


def _set(folder: Path, url: str) -> tuple[int, str, str]:
    result = run_cli(
        ["departments", "set-webhook", "county_centre", url, "--secret-file", str(folder / "s")]
    )
    return result.exit_code, result.stdout, result.stderr


def _stored_url() -> str | None:
    engine = create_engine(get_settings().store_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT url FROM department_webhooks WHERE department = 'county_centre'")
            ).scalar()
    finally:
        engine.dispose()


def test_set_webhook_seals_and_refuses_a_url_too_long_in_one_line(cli_env: Path) -> None:
    code, out, err = _set(cli_env, "https://hooks.example.gov/" + "a" * 1200)
    assert code == 2, out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: a webhook URL is at most 1200 characters"), line
    assert _stored_url() is None and not (cli_env / "s").exists()

    code, out, err = _set(cli_env, URL)
    assert code == 0, out + err
    assert TOKEN not in out
    stored = _stored_url()
    assert stored is not None and stored.startswith("sealed1:") and TOKEN not in stored
    listed = run_cli(["departments", "webhooks"])
    assert "county_centre\thttps://oapi.example.gov/robot/send" in listed.stdout, listed.stdout
    assert TOKEN not in listed.stdout


def test_upgrade_seals_a_plain_url_and_the_list_names_one_that_does_not_open(
    cli_env: Path,
) -> None:
    assert _set(cli_env, URL)[0] == 0
    engine = create_engine(get_settings().store_url)
    with engine.begin() as connection:  # as a store before sealing kept it
        connection.execute(text("UPDATE department_webhooks SET url = :url"), {"url": URL})
    upgraded = run_cli(["store", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "1 webhook URL(s) kept plain until now are sealed" in upgraded.stdout
    stored = _stored_url()
    assert stored is not None and stored.startswith("sealed1:")
    assert "1 webhook URL(s)" not in run_cli(["store", "upgrade"]).stdout  # nothing left

    # a value sealed with a key the secrets file does not hold (another installation's)
    key_id = stored.split(":")[1]
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE department_webhooks SET url = :url"),
            {"url": stored.replace(f":{key_id}:", ":k-elsewhere:", 1)},
        )
    engine.dispose()
    listed = run_cli(["departments", "webhooks"])
    assert listed.exit_code == 0, listed.output
    assert (
        "county_centre\tnot posted to: its URL is sealed with encryption key 'k-elsewhere', "
        "which the secrets file does not hold"
    ) in listed.stdout, listed.stdout
    assert "set its webhook again" in listed.stdout and "1 webhook(s)" in listed.stdout
    assert not listed.stderr  # the list says it once, not the delivery worker's log line too
    pinged = run_cli(["departments", "ping", "county_centre"])
    assert pinged.exit_code == 2, pinged.output
    (line,) = pinged.stderr.strip().splitlines()
    assert "encryption key 'k-elsewhere'" in line and "set its webhook again" in line, line
