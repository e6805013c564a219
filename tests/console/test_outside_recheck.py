"""A QA re-check of the console's outside bodies and state refusals, answered over real HTTP.

- the queue's outside-bodies choice read only `department=outside` as typed, and the choice's
  full labels: `OUTSIDE` and its short names (外部机构, "outside bodies") were "not one of the
  choices", though every other department code is read in any letter case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.console.conftest import PASSWORD, Console
from tests.processes import LOOPBACK_TLS

OUTSIDE_BODY = "嘉兴市劳动争议仲裁院"


def _person(name: str, department: str, role: str, lang: str) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department=department, role=role, password=PASSWORD, lang=lang)


@contextmanager
def _signed_in(console_service: Console, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=console_service.url, follow_redirects=False, timeout=30, verify=LOOPBACK_TLS
    ) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        signed = client.post(
            "/console/sign-in",
            data={"name": name, "password": PASSWORD, "csrf": token, "next": "/console/queue"},
        )
        assert signed.status_code == 303, signed.text[:300]
        yield client


def _open_case(console_service: Console, offset: int) -> str:
    """An open wage-arrears case no other test of the console takes."""
    return str(
        console_service.sql(
            "SELECT id FROM warnings WHERE status = 'open' AND task = 'wage-arrears' "
            "ORDER BY id LIMIT 1 OFFSET ?",
            offset,
        )[0][0]
    )


def _listed_total(console_service: Console, name: str) -> int:
    """How many warnings the person's last queue look listed (its audit row)."""
    detail = console_service.sql(
        "SELECT detail FROM audit_log WHERE actor = ? AND action = 'warning_list' "
        "ORDER BY id DESC LIMIT 1",
        f"user:{name}",
    )[0][0]
    return int(json.loads(detail)["total"])


def test_the_outside_bodies_choice_is_read_in_any_case_and_by_its_short_names(
    console_service: Console,
) -> None:
    from serving.auth import create_key

    _person("recheck.owner", "county_centre", "supervisor", "en")
    warning_id = _open_case(console_service, 20)
    key = create_key("recheck.county", ("review", "feedback"), department="county_centre")
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as api:
        sent = api.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": OUTSIDE_BODY},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert sent.status_code == 200, sent.text[:500]
    with _signed_in(console_service, "recheck.owner") as client:
        listed = client.get("/console/queue", params={"department": "outside"})
        assert listed.status_code == 200
        total = _listed_total(console_service, "recheck.owner")
        assert total >= 1
        for spelling in ("OUTSIDE", "Outside", "外部机构", "outside bodies", " Outside Bodies "):
            queue = client.get("/console/queue", params={"department": spelling})
            assert queue.status_code == 200, (spelling, queue.status_code)
            assert '<option value="outside" selected>' in queue.text, spelling
            assert _listed_total(console_service, "recheck.owner") == total, spelling
