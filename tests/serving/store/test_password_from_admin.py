"""Whether a person's password is one an administrator set, on SQLite and PostgreSQL alike:
`create_user` and `reset_password` set one the administrator knows, the person's own change
replaces it with one only they know, a refused change leaves the account as it was, and a store
made before revision r0011 learns it from each account's latest password event on record."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, text

from serving.store import SignInRefused, WarningStore
from tests.migrations import upgrade_to

SECRET = "test-pseudonym-secret"
PASSWORD = "correct horse battery"
NEW = "violet kettle 8 drums"
RESET = "amber 4 lantern field"


def test_an_administrators_password_stands_until_the_person_changes_it(
    store: WarningStore,
) -> None:
    created = store.create_user(
        "wang", department="labour_inspection", role="officer", password=PASSWORD
    )
    assert created.password_from_admin and store.get_user("wang").password_from_admin
    with pytest.raises(SignInRefused):  # a refused change changes nothing
        store.change_password("wang", "not the password", NEW)
    assert store.get_user("wang").password_from_admin
    assert not store.change_password("wang", PASSWORD, NEW).password_from_admin
    assert not store.get_user("wang").password_from_admin
    assert not store.sign_in("wang", NEW).password_from_admin
    # a reset is an administrator's password again; an unlock keeps the person's own
    store.unlock_user("wang")
    assert not store.get_user("wang").password_from_admin
    assert store.reset_password("wang", RESET).password_from_admin
    assert store.get_user("wang").password_from_admin
    assert "password_from_admin" not in store.get_user("wang").public()


def _made_at_r0010(url: str) -> None:
    """A store at r0010 whose audit log says: `made` never changed their password, `own` did,
    `reset` did and was reset by an administrator afterwards."""
    upgrade_to(url, "r0010_scored_district")
    engine = create_engine(url)
    events = [
        ("cli:admin", "user_created", {"user": "made"}),
        ("cli:admin", "user_created", {"user": "own"}),
        ("cli:admin", "user_created", {"user": "reset"}),
        ("user:own", "user_password_changed", {"sessions_ended": 1}),
        ("user:reset", "user_password_changed", {"sessions_ended": 0}),
        ("cli:admin", "user_password_reset", {"user": "reset", "sessions_ended": 0}),
        ("user:made", "password_change_failed", {"reason": "wrong current password"}),
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO departments (code, name_en, name_zh, tasks) "
                "VALUES ('labour_inspection', 'Labour', '劳动', '[]')"
            )
        )
        for name in ("made", "own", "reset"):
            connection.execute(
                text(
                    "INSERT INTO users (name, display_name, department, role, password_hash, "
                    "failed_attempts, lang, created_at, session_generation) VALUES (:name, "
                    ":name, 'labour_inspection', 'officer', 'x', 0, 'zh', CURRENT_TIMESTAMP, 0)"
                ),
                {"name": name},
            )
        for actor, action, detail in events:
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, detail) "
                    "VALUES (CURRENT_TIMESTAMP, :actor, :action, :detail)"
                ),
                {"actor": actor, "action": action, "detail": json.dumps(detail)},
            )
    engine.dispose()


def test_a_store_made_before_r0011_knows_whose_password_an_administrator_set(
    store_url: str,
) -> None:
    _made_at_r0010(store_url)
    with WarningStore(store_url, SECRET) as store:  # upgrades to head
        flags = {user.name: user.password_from_admin for user in store.list_users()}
    assert flags == {"made": True, "own": False, "reset": True}
