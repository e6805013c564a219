"""A webhook URL's userinfo and query values never reach a command's output, whatever the URL's
shape: a URL with no scheme put its userinfo in the path, where it was printed whole
(`error: 'https//user:S3cr3tPW@lab.example.gov/hook?token=***' is not an http(s) URL`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from serving.store.outbox import shown_url
from tests.serving.loop.conftest import run_cli

PASSWORD = "S3cr3tPW"
TOKEN = "TOPSECRET"
HOST = "lab.example.gov"


def _set_webhook(folder: Path, url: str) -> Result:
    secret_file = folder / "labour.secret"
    return run_cli(
        ["departments", "set-webhook", "labour_inspection", url, "--secret-file", str(secret_file)]
    )


@pytest.mark.parametrize(
    "url",
    [
        f"https//user:{PASSWORD}@{HOST}/hook?token={TOKEN}",  # the tester's: no `:` after https
        f"https:/user:{PASSWORD}@{HOST}/hook?token={TOKEN}",
        f"https:\\\\user:{PASSWORD}@{HOST}/hook?token={TOKEN}",
        f"user:{PASSWORD}@{HOST}/hook?token={TOKEN}",
        f" https//us er:{PASSWORD}@x@{HOST}/hook?token={TOKEN}#part",
        f"HTTPS//user:{PASSWORD}@{HOST}\\hook?a=1&token={TOKEN}",
    ],
)
def test_a_refused_url_of_any_shape_is_shown_without_its_userinfo(cli_env: Path, url: str) -> None:
    result = _set_webhook(cli_env, url)

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "is not an http(s) URL with a host" in line, line
    assert PASSWORD not in line and TOKEN not in line and "user" not in line, line
    assert f"***@{HOST}" in line, line  # where it was meant to go still shows


def test_a_set_url_is_shown_without_its_userinfo_in_every_command(cli_env: Path) -> None:
    url = f"https://user:{PASSWORD}@x@{HOST}:8443/hook?token={TOKEN}#{PASSWORD}"

    result = _set_webhook(cli_env, url)

    assert result.exit_code == 0, result.output
    shown = f"https://***@{HOST}:8443/hook?token=***"
    assert f"webhook {shown};" in result.stdout
    listed = run_cli(["departments", "webhooks"])
    assert f"labour_inspection\t{shown}\n" in listed.stdout
    for said in (result.output, listed.output):
        assert PASSWORD not in said and TOKEN not in said


def test_an_at_sign_in_a_query_value_keeps_the_host() -> None:
    """An e-mail address in a query value is masked with the value; the host stays shown."""
    url = f"https://{HOST}/hook?notify=ops@city.gov&token={TOKEN}"
    assert shown_url(url) == f"https://{HOST}/hook?notify=***&token=***"


@pytest.mark.parametrize(
    "url",
    [
        # a password holding `/`, `?` or `#`: a parser reads `user` as the host and the rest of
        # the password as path, query or fragment, so the URL has no clear userinfo
        f"https://user:{PASSWORD}/x@{HOST}/hook?token={TOKEN}",
        f"https://user:1234/{PASSWORD}@{HOST}/hook?token={TOKEN}",
        f"https://user:{PASSWORD}?x@{HOST}/hook",
        f"https://user:{PASSWORD}?x=y@{HOST}/hook",
        f"https://user:{PASSWORD}#x@{HOST}/hook?token={TOKEN}",
        f"https//user:{PASSWORD}?x=y@{HOST}/hook?token={TOKEN}",
        f"http://user:{PASSWORD}@[{HOST}/hook?token={TOKEN}",  # not a URL to urlsplit at all
        f"https://{HOST}/hook@user:{PASSWORD}@x/y?token={TOKEN}",
    ],
)
def test_a_url_of_no_clear_shape_is_masked_up_to_its_last_at_sign(url: str) -> None:
    shown = shown_url(url)
    assert PASSWORD not in shown and TOKEN not in shown and "user" not in shown, shown
    assert "***@" in shown, shown


def test_a_query_that_began_before_the_last_at_sign_keeps_its_values_masked() -> None:
    shown = shown_url(f"https//{HOST}/hook?a=b@c&token={TOKEN}")
    assert shown == "https//***@c&token=***"


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{PASSWORD}@[{HOST}/hook?token={TOKEN}",  # urlsplit refuses it
        f"https://user:Pw9/{PASSWORD}@{HOST}/hook?token={TOKEN}",  # read as host user, port Pw9
        f"https://user:{PASSWORD}#x@{HOST}/hook",
    ],
)
def test_set_webhook_refuses_a_url_it_cannot_read_without_showing_the_password(
    cli_env: Path, url: str
) -> None:
    # the first was echoed raw ('... is not a URL'), the second passed the check and then
    # failed with a traceback naming the password as a port, its signing secret already written
    result = _set_webhook(cli_env, url)

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output, result.output
    assert PASSWORD not in line and TOKEN not in line, line
    assert not (cli_env / "labour.secret").exists()
    assert "0 webhook(s)" in run_cli(["departments", "webhooks"]).stdout
