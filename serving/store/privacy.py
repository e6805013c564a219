"""Re-identification and retention: the two places the store handles identity on purpose.

`reveal` decrypts one warning's entity id for an actor the policy already allowed, inside the
transaction that checks the actor's hourly limit and writes the `identity_reveal` audit row
with its purpose: no reveal without its record, and concurrent reveals cannot pass the limit.
`purge` removes what retention no longer allows (the features of old scored records, the
encrypted ids of warnings closed long ago) and keeps what monitoring and retraining need (the
scores, levels, outcomes and the whole audit log); on SQLite it then checkpoints the WAL and
vacuums, so the removed bytes leave the files, not just the tables.
"""

from __future__ import annotations

import contextlib
import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Text, cast, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.settings import repeats_one_unit
from serving.store.common import Holder, iso_utc, table_of, utc_bound, utc_now
from serving.store.identity import EntityCipher, IdentityUnavailable
from serving.store.models import AuditEntry, RiskWarning, ScoredRecord
from serving.store.pseudonym import scrub_text
from serving.store.sqlite import WalCheckpointer, truncate_wal

REVEAL_ACTION = "identity_reveal"
#: A reveal's purpose weighs at least this much: a Chinese, Japanese or Korean character two,
#: any other visible character one (a CJK character says about what two letters do).
PURPOSE_MIN_WEIGHT = 10
#: The fewest characters a purpose can have: five CJK characters (`核实欠薪线索` passes).
PURPOSE_MIN_CHARS = PURPOSE_MIN_WEIGHT // 2
#: The fewest different letters a purpose holds, a Chinese character counting as one: words,
#: not `........ab` or `aaaaaaaaab` (`check lead` has seven, `核实欠薪线索` six)
PURPOSE_MIN_LETTERS = 4
PURPOSE_RULE = (
    f"a purpose of at least {PURPOSE_MIN_WEIGHT} characters (a Chinese character counts as "
    f"two, so {PURPOSE_MIN_CHARS} are enough), in words: at least {PURPOSE_MIN_LETTERS} "
    "different letters or Chinese characters, not only punctuation or digits, and not one "
    "pattern repeated"
)
#: PostgreSQL advisory-lock space of the reveal limit ("rvl"); the actor's hash is the key
_REVEAL_LOCK_SPACE = 0x72766C


def purpose_weight(purpose: str) -> int:
    """How much a purpose says, as `PURPOSE_MIN_WEIGHT` measures it: its visible characters,
    a wide letter (Chinese, Japanese, Korean) counting two, and the white space between its
    words one a gap (`check lead` weighs ten, as a person counts it; blanks around the text,
    or a longer run of them, add nothing). A mark that combines with the character before it
    (an accent, U+0301) is part of that character on screen and weighs nothing: `abcd` with
    six accents stacked on it is four characters, as a reader sees it."""
    return sum(
        2 if char.isalpha() and unicodedata.east_asian_width(char) == "W" else 1
        for char in " ".join(purpose.split())
        if unicodedata.category(char) not in _COMBINING
    )


#: Unicode's non-spacing and enclosing marks: drawn on the character before them
_COMBINING = frozenset({"Mn", "Me"})


def states_a_purpose(purpose: str) -> bool:
    """Whether `purpose` is words a reader can take as a reason (`PURPOSE_RULE`): heavy enough,
    holding `PURPOSE_MIN_LETTERS` different letters (in any case) at least, and not one unit
    over and over (white space aside), so `----------`, `1111111111`, `aaaaaaaaab`,
    `........ab` and `abcdabcdabcd` are no purpose."""
    letters = {char.casefold() for char in purpose if char.isalpha()}
    visible = "".join(purpose.casefold().split())
    return (
        purpose_weight(purpose) >= PURPOSE_MIN_WEIGHT
        and len(letters) >= PURPOSE_MIN_LETTERS
        and not repeats_one_unit(visible)
    )


class RevealLimited(Exception):
    """The actor used up their reveals for the window (HTTP 429); retry after `retry_after` s."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(
            f"reveal limit reached: {limit} per hour; try again in {retry_after} seconds"
        )
        self.retry_after = retry_after


#: How long a purge's compaction tries the WAL's TRUNCATE checkpoint while other connections
#: keep it busy (a reader's open snapshot, another worker's checkpoint), before its VACUUM and
#: after it (seconds): past the second, the purge says the values are still in the files.
FIRST_TRUNCATE_S = 10.0
LAST_TRUNCATE_S = 60.0


@dataclass(frozen=True)
class PurgeCounts:
    """What a purge removed (or, dry, would remove)."""

    before: str
    scored_records: int
    warning_ids: int
    dry_run: bool
    #: whether the removed values also left the files (SQLite: checkpoint and vacuum); False
    #: when other processes' checkpoints kept the log busy throughout (run the purge again)
    compacted: bool = True


class PrivacyStore:
    """`WarningStore`'s reveal and purge (mixed in; uses its sessions, cipher and audit)."""

    _engine: Engine
    _is_sqlite: bool
    _checkpointer: WalCheckpointer | None
    _secret: str
    _cipher: EntityCipher | None
    _write: Callable[..., Any]
    _locked_warning: Callable[..., RiskWarning]
    _audit_row: Callable[..., None]
    _reads: sessionmaker[Session]
    refused: Callable[..., None]

    def reveals_of(self, warning_id: str) -> list[dict[str, Any]]:
        """One warning's identity reveals, oldest first: when (`at`), who (`actor`) and the
        purpose they stated. Read from the audit log's reveal rows only (by its action index),
        so the case page can tell everyone who works the case who re-identified its person."""
        query = (
            select(AuditEntry)
            .where(
                AuditEntry.action == REVEAL_ACTION,
                cast(AuditEntry.detail, Text).contains(warning_id),
            )
            .order_by(AuditEntry.id)
        )
        with self._reads.begin() as session:
            return [
                {
                    "at": iso_utc(row.at),
                    "actor": row.actor,
                    "purpose": str((row.detail or {}).get("purpose") or ""),
                }
                for row in session.scalars(query)
                if (row.detail or {}).get("warning_id") == warning_id
            ]

    def stated_purpose(self, purpose: str, identity: str) -> str:
        """A reveal's purpose as the audit log keeps it (and a page may show it): id-like
        values as their pseudonyms, the id just revealed among them."""
        return scrub_text(self._secret, purpose.strip(), frozenset({identity}))

    def reveal(
        self,
        warning_id: str,
        *,
        actor: str,
        purpose: str,
        limit: int,
        window: timedelta = timedelta(hours=1),
        expected_version: int | None = None,
        expected_holder: Holder | None = None,
    ) -> str:
        """The warning's plain entity id, audited with `purpose`, within `limit` per `window`.

        `expected_version` is the version the caller's permission was decided on, or
        `expected_holder` the (status, department) it was decided on: a warning re-routed
        since (to a department the caller may not work) is not revealed.

        Raises:
            ValueError: the purpose states none (`states_a_purpose`).
            WarningNotFound: no such warning.
            StaleWarning: the warning is no longer at `expected_version` or held as expected.
            RevealLimited: the actor already revealed `limit` ids in the last `window`.
            IdentityUnavailable: no encrypted id kept (purged) or its key is gone.
        """
        if not states_a_purpose(purpose):
            raise ValueError(f"the purpose must say why the identity is needed: {PURPOSE_RULE}")
        if self._cipher is None:
            raise IdentityUnavailable("this store was opened without the encryption keys")
        cipher = self._cipher

        # what a refusal's audit row names: the warning, and its task once read
        refused_on: dict[str, Any] = {"id": warning_id}

        def write(session: Session) -> str:
            warning = self._locked_warning(session, warning_id, expected_version, expected_holder)
            refused_on.update(task=warning.task, model_version=warning.model_version)
            now = utc_now()
            self._check_reveal_limit(session, actor, limit, window, now)
            plain = cipher.decrypt(
                warning.entity_cipher, warning.key_id, entity_hash=warning.entity_hash
            )
            stated = self.stated_purpose(purpose, plain)
            self._audit_row(
                session,
                actor,
                REVEAL_ACTION,
                {"warning_id": warning.id, "purpose": stated, "key_id": warning.key_id},
                task=warning.task,
                model_version=warning.model_version,
            )
            return plain

        try:
            return self._write(write)  # type: ignore[no-any-return]
        except (RevealLimited, IdentityUnavailable) as exc:
            # the look was asked for and refused: on the record, with why (its own commit,
            # as the reveal's transaction rolled back)
            self.refused(
                actor=actor,
                action="reveal",
                rule=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                warning=refused_on,
            )
            raise

    def own_ids(self, warning: RiskWarning) -> frozenset[str]:
        """The warning's own entity id, when its encrypted copy and key are kept: a note that
        names it (after a reveal) is stored with the id as its pseudonym."""
        if self._cipher is None:
            return frozenset()
        try:
            plain = self._cipher.decrypt(
                warning.entity_cipher, warning.key_id, entity_hash=warning.entity_hash
            )
        except IdentityUnavailable:
            return frozenset()
        return frozenset({plain})

    def _check_reveal_limit(
        self, session: Session, actor: str, limit: int, window: timedelta, now: datetime
    ) -> None:
        """Count the actor's reveals in the window (a write transaction: no race past it).

        SQLite runs one writer at a time. PostgreSQL's writers run side by side, each locking
        only its own warning: two reveals of different warnings would count the same rows
        and pass the limit together, so the actor's count is taken under a transaction-level
        advisory lock of their own, held until the reveal's audit row is committed.
        """
        if not self._is_sqlite:
            session.execute(
                select(func.pg_advisory_xact_lock(_REVEAL_LOCK_SPACE, func.hashtext(actor)))
            )
        since = utc_bound(self._is_sqlite, now - window)
        recent = session.execute(
            select(func.count(), func.min(AuditEntry.at)).where(
                AuditEntry.action == REVEAL_ACTION,
                AuditEntry.actor == actor,
                AuditEntry.at >= since,
            )
        ).one()
        count, oldest = int(recent[0] or 0), recent[1]
        if count >= limit:
            oldest_at = datetime.fromisoformat(str(iso_utc(oldest)))
            wait = (oldest_at + window - now).total_seconds()
            raise RevealLimited(limit, max(1, math.ceil(wait)))

    def purge(self, *, before: datetime, actor: str, dry_run: bool = False) -> PurgeCounts:
        """Remove stored features of records scored before `before` and the encrypted ids of
        warnings closed before it; audited as `store_purge` (not when dry)."""
        bound = utc_bound(self._is_sqlite, before)
        records = table_of(ScoredRecord)
        warnings = table_of(RiskWarning)
        old_records = records.c.created_at < bound
        # "{}" is the empty JSON object: `features` stays valid JSON, the values are gone
        with_features = cast(records.c.features, Text) != "{}"
        old_ids = (warnings.c.closed_at < bound) & warnings.c.entity_cipher.is_not(None)

        def write(session: Session) -> PurgeCounts:
            record_filter = [old_records, with_features]
            n_records = int(
                session.scalar(select(func.count()).select_from(records).where(*record_filter)) or 0
            )
            n_ids = int(
                session.scalar(select(func.count()).select_from(warnings).where(old_ids)) or 0
            )
            counts = PurgeCounts(iso_utc(before) or "", n_records, n_ids, dry_run)
            if dry_run:
                return counts
            session.execute(update(records).where(*record_filter).values(features={}))
            session.execute(update(warnings).where(old_ids).values(entity_cipher=None, key_id=None))
            self._audit_row(
                session,
                actor,
                "store_purge",
                {
                    "before": counts.before,
                    "scored_records_features": n_records,
                    "warning_ids": n_ids,
                },
            )
            return counts

        counts: PurgeCounts = self._write(write)
        if not dry_run and not self._compact():
            return replace(counts, compacted=False)
        return counts

    def _compact(self) -> bool:
        """Make removed values leave the files: SQLite checkpoints its WAL and vacuums.
        False if the log stayed busy (another process's checkpoint, under heavy writing)."""
        if not self._is_sqlite:
            with self._engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM scored_records, warnings"
                )
            return True
        with contextlib.ExitStack() as stack:
            if self._checkpointer is not None:  # its PASSIVE checkpoint would make ours busy
                stack.enter_context(self._checkpointer.paused())
            self._engine.dispose()  # idle pooled connections would hold the WAL back
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                # a log copied first makes VACUUM's smaller
                truncate_wal(cursor, within_s=FIRST_TRUNCATE_S)
                cursor.execute("VACUUM")
                done = truncate_wal(cursor, within_s=LAST_TRUNCATE_S)
                cursor.close()
            finally:
                raw.close()
        return done


def purge_summary(counts: PurgeCounts) -> Mapping[str, Any]:
    """What `riskloop store purge` prints."""
    return {
        "before": counts.before,
        "scored_records_features": counts.scored_records,
        "warning_encrypted_ids": counts.warning_ids,
        "dry_run": counts.dry_run,
    }
