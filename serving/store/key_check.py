"""The store's check of the pseudonym key it was made with, and starting it over.

A store keeps `key_checks`' `pseudonym` row: an HMAC of a fixed text under its pseudonym key,
never the key. A process holding another key is refused (`KeyMismatch`): its pseudonyms would
meet none of the stored ones. Where the secrets file is lost for good (no backup), `riskloop
secrets start-over` makes a new one and the store takes its key in place of the lost one, with
an audit row saying what could no longer be done (`start_over`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from serving.audit_channel import with_channel
from serving.store.common import KeyMismatch, table_of, utc_now
from serving.store.identity import EntityCipher, IdentityUnavailable
from serving.store.models import AuditEntry, KeyCheck, RiskWarning
from serving.store.pseudonym import key_check, pseudonymise, sanitise, scrub_text

#: The audit action of a store taking a new pseudonym key in place of a lost one.
START_OVER_ACTION = "secrets_start_over"


@dataclass(frozen=True)
class StartedOver:
    """What a start-over left behind: every warning kept, none of their ids revealable (their
    encryption keys were in the lost file), none of their pseudonyms met by new ones."""

    warnings: int
    sealed_ids: int


def hold_key_check(
    connection: Connection,
    secret: str,
    cipher: EntityCipher | None,
    *,
    start_over_by: str | None = None,
) -> StartedOver | None:
    """Refuse a store made under another pseudonym key (`KeyMismatch`); a store without a
    check (new, or made before revision r0008) takes this key's, once the key is shown to be
    its: where it keeps an encrypted id and `cipher` is given, the id must decrypt and its
    pseudonym under `secret` be the warning's. Run in `upgrade`'s write transaction, which
    PostgreSQL's advisory lock and SQLite's `BEGIN IMMEDIATE` give to one opener at a time.

    `start_over_by` (an actor, `cli:NAME`): instead of refusing another key, take it, in the
    same transaction as an audit row by that actor (`start_over`); the answer says what was
    left behind. None when the key was the store's (or taken as a new store's)."""
    table = table_of(KeyCheck)
    expected = key_check(secret)
    found = connection.execute(
        select(table.c.check_value).where(table.c.name == "pseudonym")
    ).scalar_one_or_none()
    if found is None:
        if cipher is None or _keys_open_a_stored_id(connection, secret, cipher):
            connection.execute(
                table.insert().values(name="pseudonym", check_value=expected, created_at=utc_now())
            )
            return None
    elif hmac.compare_digest(str(found), expected):
        return None
    if start_over_by is None:
        raise KeyMismatch()
    return start_over(connection, secret, start_over_by, replace=found is not None)


def start_over(connection: Connection, secret: str, actor: str, *, replace: bool) -> StartedOver:
    """The store takes `secret`'s check in place of its own (`replace`) or as its first, and an
    audit row by `actor` says so with what was left behind."""
    table = table_of(KeyCheck)
    values = {"check_value": key_check(secret), "created_at": utc_now()}
    if replace:
        connection.execute(table.update().where(table.c.name == "pseudonym").values(**values))
    else:
        connection.execute(table.insert().values(name="pseudonym", **values))
    warnings = table_of(RiskWarning)
    total, sealed = connection.execute(
        select(func.count(), func.count(warnings.c.entity_cipher)).select_from(warnings)
    ).one()
    started = StartedOver(warnings=int(total), sealed_ids=int(sealed))
    detail = {"warnings_kept": started.warnings, "ids_no_longer_revealable": started.sealed_ids}
    connection.execute(
        table_of(AuditEntry)
        .insert()
        .values(
            at=utc_now(),
            actor=scrub_text(secret, actor),
            action=START_OVER_ACTION,
            task=None,
            model_version=None,
            detail=sanitise(secret, with_channel(detail)),
        )
    )
    return started


def _keys_open_a_stored_id(connection: Connection, secret: str, cipher: EntityCipher) -> bool:
    """Whether the newest warning keeping an encrypted id (if any) opens under `cipher` and
    its id's pseudonym under `secret` is the warning's: a secrets file of another installation
    copied beside a store made before the key check is told apart before the store takes it."""
    table = table_of(RiskWarning)
    row = connection.execute(
        select(table.c.entity_hash, table.c.entity_cipher, table.c.key_id)
        .where(table.c.entity_cipher.is_not(None), table.c.key_id.is_not(None))
        .order_by(table.c.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return True  # nothing to tell by: the key is taken on trust
    try:
        plain = cipher.decrypt(row.entity_cipher, row.key_id, entity_hash=row.entity_hash)
    except IdentityUnavailable:
        return False
    return hmac.compare_digest(pseudonymise(secret, plain), str(row.entity_hash))
