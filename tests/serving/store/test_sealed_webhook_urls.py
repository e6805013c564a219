"""Webhook URLs are sealed in the database (SQLite and PostgreSQL): a token in a URL's query
(a chat robot's `access_token=`) is no plain text in `department_webhooks`, opens after a key
rotation, opens for its own department only, and a URL that cannot be opened holds that
department's notifications with one line in the log instead of failing the round."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from serving.store import WarningStore
from serving.store.identity import EntityCipher
from serving.store.outbox import Outbox
from serving.store.sealed_urls import MAX_URL_CHARS

SECRET = "pseudonym-secret-for-tests"
TOKEN = "e3b0c44298fc1c149afbf4c8996fb924"
URL = f"https://oapi.example.gov/robot/send?access_token={TOKEN}"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEY_1 = {"k-1": bytes(range(32))}
KEY_2 = {"k-2": bytes(range(32, 64))}


def _stored(store: WarningStore) -> dict[str, str]:
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT department, url FROM department_webhooks"))
        return dict(rows.all())


def test_a_url_is_sealed_at_rest_and_opens_after_a_rotation(migrated_store_url: str) -> None:
    with WarningStore(migrated_store_url, SECRET, EntityCipher(KEY_1, "k-1")) as store:
        Outbox(store).set_webhook("county_centre", URL, now=NOW)
        stored = _stored(store)["county_centre"]
        assert TOKEN not in stored and "oapi.example.gov" not in stored
        assert stored.startswith("sealed1:k-1:")
        assert Outbox(store).webhooks() == {"county_centre": URL}
    rotated = EntityCipher({**KEY_1, **KEY_2}, "k-2")  # a rotation keeps the old key
    with WarningStore(migrated_store_url, SECRET, rotated) as store:
        outbox = Outbox(store)
        assert outbox.webhooks() == {"county_centre": URL}
        outbox.set_webhook("labour_inspection", URL + "x", now=NOW)
        assert _stored(store)["labour_inspection"].startswith("sealed1:k-2:")
        assert outbox.webhooks() == {"county_centre": URL, "labour_inspection": URL + "x"}
        # the audit rows name the endpoint only, before and after
        with store.engine.connect() as connection:
            details = connection.execute(
                text("SELECT detail FROM audit_log WHERE action = 'department_webhook'")
            ).all()
        assert details and all(TOKEN not in str(row[0]) for row in details)


def test_a_url_that_cannot_be_opened_holds_its_department_and_says_so_once(
    migrated_store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with WarningStore(migrated_store_url, SECRET, EntityCipher(KEY_1, "k-1")) as store:
        outbox = Outbox(store)
        outbox.set_webhook("county_centre", URL, now=NOW)
        outbox.set_webhook("labour_inspection", URL, now=NOW)
    # a store whose secrets file lost the key (another installation's file)
    with WarningStore(migrated_store_url, SECRET, EntityCipher(KEY_2, "k-2")) as store:
        outbox = Outbox(store)
        with caplog.at_level(logging.WARNING, logger="riskloop.store"):
            assert outbox.webhooks() == {}  # a listing says nothing in the log
            assert caplog.records == []
            assert outbox.webhooks(say_unopened=True) == {}  # the delivery worker's
            assert outbox.webhooks(say_unopened=True) == {}
        said = [r.getMessage() for r in caplog.records if "held" in r.getMessage()]
        assert len(said) == 2, said  # once per department, not once per round
        assert all(
            "encryption key 'k-1', which the secrets file does not hold" in line for line in said
        ), said
        assert all(TOKEN not in line for line in said)
        unopened = outbox.unopened_webhooks()
        assert set(unopened) == {"county_centre", "labour_inspection"}
        # removing it works without opening it
        url, _held = outbox.remove_webhook("county_centre", now=NOW)
        assert url is None


def test_a_sealed_url_opens_for_its_own_department_only(migrated_store_url: str) -> None:
    with WarningStore(migrated_store_url, SECRET, EntityCipher(KEY_1, "k-1")) as store:
        outbox = Outbox(store)
        outbox.set_webhook("county_centre", URL, now=NOW)
        outbox.set_webhook("tax", "https://tax.example.gov/in", now=NOW)
        with store.engine.begin() as connection:  # county_centre's sealed value under tax
            connection.execute(
                text(
                    "UPDATE department_webhooks SET url = "
                    "(SELECT url FROM department_webhooks WHERE department = 'county_centre') "
                    "WHERE department = 'tax'"
                )
            )
        assert outbox.webhooks() == {"county_centre": URL}
        assert "another department" in outbox.unopened_webhooks()["tax"]


def test_plain_urls_are_sealed_by_the_upgrade_pass_and_long_ones_refused(
    migrated_store_url: str,
) -> None:
    with WarningStore(migrated_store_url, SECRET) as keyless:  # a tool without the keys
        Outbox(keyless).set_webhook("county_centre", URL, now=NOW)
        assert _stored(keyless)["county_centre"] == URL
        assert Outbox(keyless).seal_plain_webhooks() == 0
    with WarningStore(migrated_store_url, SECRET, EntityCipher(KEY_1, "k-1")) as store:
        outbox = Outbox(store)
        assert outbox.webhooks() == {"county_centre": URL}  # a plain URL still works
        assert outbox.seal_plain_webhooks() == 1
        assert outbox.seal_plain_webhooks() == 0
        assert TOKEN not in _stored(store)["county_centre"]
        assert outbox.webhooks() == {"county_centre": URL}
        longest = "https://h.example.gov/" + "a" * (MAX_URL_CHARS - len("https://h.example.gov/"))
        outbox.set_webhook("tax", longest, now=NOW)  # fits the column sealed, on PostgreSQL too
        assert outbox.webhooks()["tax"] == longest
        with pytest.raises(ValueError, match="at most"):
            outbox.set_webhook("tax", longest + "a", now=NOW)
        assert outbox.webhooks()["tax"] == longest
