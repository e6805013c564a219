"""A sign-in in a browser that still holds another session's cookie ends that session: a copy
of the old cookie answered until its idle time-out (one browser, one live session)."""

from __future__ import annotations

from typing import Any

from tests.console.conftest import PASSWORD, Console, session_client


def test_signing_in_as_someone_else_ends_the_session_the_browser_held(
    person: Any, console_service: Console
) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        for name in ("over.first", "over.second"):
            store.create_user(
                name, department="county_centre", role="supervisor", password=PASSWORD
            )
    viewer = person()
    viewer.sign_in("over.first")
    with session_client(console_service, viewer) as first:  # a copy of the first cookie
        assert first.get("/console/queue").status_code == 200
        viewer.sign_in("over.second", path="/console/sign-in")
        with session_client(console_service, viewer) as second:
            assert second.get("/console/queue").status_code == 200
        again = first.get("/console/queue")
        assert again.status_code == 303 and "/console/sign-in" in again.headers["location"]
    ended = console_service.sql(
        "SELECT ended_why FROM console_sessions WHERE user_name = ? ORDER BY created_at",
        "over.first",
    )
    assert ended and ended[-1][0] == "replaced"
