"""People and departments in the warnings store: accounts, sign-in lockout, password changes.

`PeopleStore` is mixed into `WarningStore` (one store object for the service, the console and
the CLI) and uses its sessions and audit log. Passwords are hashed with Argon2id
(`serving.store.passwords`, which also holds the strength rule); a hash made at other
parameters is re-hashed at its next successful sign-in. Every sign-in, failed sign-in,
sign-out (of every session), password change and account change is an audit row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models.departments import AUDIT_ONLY_DEPARTMENTS, DEPARTMENTS
from serving.store.common import city_moment
from serving.store.free_text import display_name_problem
from serving.store.models import LANGS, ROLES, AuditEntry, ConsoleSession, Department, User
from serving.store.passwords import (
    PeopleError,
    WeakPassword,
    check_password_strength,
    dummy_hash,
    hash_password,
    password_hasher,
    password_matches,
)
from serving.store.pseudonym import looks_like_identifier

#: The roles that work cases, which a department that works none cannot hold.
CASE_ROLES = ("officer", "supervisor")
MAX_FAILED_SIGN_INS = 5
#: the reason a password change refused for its current password starts with (a lockout it
#: set is added after it): a page tells it from a locked or disabled account's refusal
WRONG_CURRENT_REASON = "wrong current password"
LOCKOUT = timedelta(minutes=15)
#: what every account's name is (`fullmatch`: no trailing newline)
USER_NAME = re.compile(r"[a-z][a-z0-9_.-]{1,63}")


#: the largest monthly capacity accepted (a typo guard; no department handles more)
MAX_CAPACITY = 1_000_000


class UserNotFound(KeyError):
    """No user has this name."""

    def __str__(self) -> str:
        return f"no user named {self.args[0]!r}" if self.args else "user not found"


class SignInRefused(Exception):
    """A sign-in that failed; the message never says whether the name or the password was
    wrong (`reason` does, for the audit log only)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UserRecord:
    """A user as the rest of riskloop sees one: never the password hash."""

    name: str
    display_name: str
    department: str
    role: str
    lang: str
    created_at: datetime
    disabled_at: datetime | None
    failed_attempts: int
    locked_until: datetime | None
    # changes with the password and at each disable or sign-out (a digest of the hash and the
    # session generation, not the hash): a person's API session token carries it, so each of
    # them ends the sessions signed in before it, for good
    credential_stamp: str = ""
    # the password is one an administrator set, not the person's own choice (the console asks
    # them to change it)
    password_from_admin: bool = False

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def public(self) -> dict[str, Any]:
        """What `riskloop users list` prints and an admin page shows."""
        return {
            "name": self.name,
            "display_name": self.display_name,
            "department": self.department,
            "role": self.role,
            "lang": self.lang,
            "created_at": _aware(self.created_at).isoformat(timespec="seconds"),
            "disabled_at": _iso(self.disabled_at),
            "locked_until": _iso(self.locked_until),
        }


@dataclass(frozen=True)
class Unlocked:
    """What `unlock_user` lifted: the lockout still running (None: none was) and the wrong
    passwords in a row counted before it, with the account as it is now."""

    user: UserRecord
    locked_until: datetime | None
    failed_attempts: int

    @property
    def changed(self) -> bool:
        """Whether there was anything to lift (a lockout, or wrong passwords counted)."""
        return self.locked_until is not None or self.failed_attempts > 0


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; the store writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else _aware(moment).isoformat(timespec="seconds")


def _credential_stamp(user: User) -> str:
    """What a session token must still match: a digest of the password hash and, once a
    disable has raised it, the session generation (at 0 the stamp is the hash's alone, as
    tokens issued before the generation existed carry it)."""
    return _stamp(user.password_hash, user.session_generation or 0)


def _stamp(password_hash: str, generation: int) -> str:
    basis = f"{password_hash}#{generation}" if generation else password_hash
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _record(user: User) -> UserRecord:
    return UserRecord(
        name=user.name,
        display_name=user.display_name,
        department=user.department,
        role=user.role,
        lang=user.lang,
        created_at=_aware(user.created_at),
        disabled_at=None if user.disabled_at is None else _aware(user.disabled_at),
        failed_attempts=user.failed_attempts,
        locked_until=None if user.locked_until is None else _aware(user.locked_until),
        credential_stamp=_credential_stamp(user),
        password_from_admin=bool(user.password_from_admin),
    )


def typed_user_name(name: str) -> str:
    """A user name as typed, folded as accounts are named: trimmed, its ASCII letters in lower
    case (user names are lower case, and a phone's keyboard capitalises the first letter), so
    `Zhao` is zhao at a sign-in and in the `riskloop users` commands. Only ASCII folds: every
    user name is ASCII (`USER_NAME`), and another script's letter that lower-cases to ASCII
    (the Kelvin sign to "k") is not that letter typed."""
    typed = name.strip()
    return typed.lower() if typed.isascii() else typed


class PeopleStore:
    """Users and departments; needs the host store's `_reads`, `_writes` and `_write`."""

    _reads: sessionmaker[Session]
    _write: Callable[..., Any]
    # (session, actor, action, detail): appends one audit row in the caller's transaction
    _audit_row: Callable[[Session, str, str, Mapping[str, Any]], None]
    # an actor's text with its id-like values as pseudonyms (`WarningStore.scrub_actor`)
    scrub_actor: Callable[[str], str]
    # the audit actor of a name typed at a failed sign-in that names no user, `user:?<keyed
    # fingerprint>` (`WarningStore.unknown_name_actor`)
    unknown_name_actor: Callable[[str], str]

    # ------------------------------------------------------------ departments

    def sync_departments(self, tasks: Mapping[str, Sequence[str]]) -> None:
        """Bring the departments table in line with `models.departments` and `tasks`.

        `tasks` maps a department code to the tasks it handles. Runs at every start, so a
        renamed department or a new task reaches the table without a migration; capacity,
        which an administrator may set, is left alone.
        """

        def write(session: Session) -> None:
            stored = {row.code: row for row in session.scalars(select(Department))}
            for department in DEPARTMENTS:
                handled = list(tasks.get(department.code, ()))
                row = stored.get(department.code)
                if row is None:
                    session.add(
                        Department(
                            code=department.code,
                            name_zh=department.name_zh,
                            name_en=department.name_en,
                            tasks=handled,
                        )
                    )
                elif (row.name_zh, row.name_en, row.tasks) != (
                    department.name_zh,
                    department.name_en,
                    handled,
                ):
                    row.name_zh, row.name_en, row.tasks = (
                        department.name_zh,
                        department.name_en,
                        handled,
                    )

        self._write(write, retry_integrity=True)

    def list_departments(self) -> list[dict[str, Any]]:
        """Every department: code, names, tasks handled, capacity (None: not set)."""
        with self._reads.begin() as session:
            return [
                {
                    "code": row.code,
                    "name_zh": row.name_zh,
                    "name_en": row.name_en,
                    "tasks": list(row.tasks),
                    "capacity": row.capacity,
                }
                for row in session.scalars(select(Department).order_by(Department.code))
            ]

    def set_capacity(self, code: str, capacity: int, *, actor: str = "system:cli") -> int | None:
        """Set how many warnings a month a department can handle (audited with the old value).

        Returns:
            The capacity it had before (None: not set).

        Raises:
            PeopleError: an unknown department or a capacity that is not a whole number >= 0.
        """
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise PeopleError(f"capacity must be a whole number, not {capacity!r}")
        if not 0 <= capacity <= MAX_CAPACITY:
            raise PeopleError(f"capacity must be from 0 to {MAX_CAPACITY:,}, not {capacity:,}")

        def write(session: Session) -> int | None:
            self._check_department(session, code)
            row = session.get(Department, code, with_for_update=True)
            assert row is not None
            before = row.capacity
            row.capacity = capacity
            detail = {"department": code, "capacity": capacity, "previous": before}
            self._audit_row(session, actor, "department_capacity", detail)
            return before

        return self._write(write)  # type: ignore[no-any-return]

    def _check_department(self, session: Session, code: str) -> None:
        if session.get(Department, code) is None:
            known = session.scalars(select(Department.code).order_by(Department.code)).all()
            raise PeopleError(f"unknown department {code!r}; expected one of {', '.join(known)}")

    # ------------------------------------------------------------ users

    def create_user(
        self,
        name: str,
        *,
        department: str,
        role: str,
        password: str,
        display_name: str | None = None,
        lang: str = "zh",
        actor: str = "system:cli",
    ) -> UserRecord:
        """Create an account; raises `PeopleError` (nothing written) on any bad field."""
        if not USER_NAME.fullmatch(name):
            raise PeopleError(
                f"invalid user name {name!r}: use 2-64 lower-case letters, digits, '_', '.' "
                "or '-', starting with a letter"
            )
        if looks_like_identifier(name):
            raise PeopleError(
                "a user name must not hold a phone, identity-card or account number: the name is "
                "kept in the audit log, where no raw identifier may be"
            )
        if role not in ROLES:
            raise PeopleError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if department in AUDIT_ONLY_DEPARTMENTS and role in CASE_ROLES:
            # no case is ever dispatched there and it owns no task: an empty queue for good
            raise PeopleError(
                f"{department!r} audits every task and works no case: give its people the "
                "auditor or admin role"
            )
        if role == "auditor" and department not in AUDIT_ONLY_DEPARTMENTS:
            # an auditor reads every department's cases and the audit log, whatever department
            # the account names: city-wide reading belongs to the office that audits
            raise PeopleError(
                f"an auditor reads every department's cases and the audit log: auditors belong "
                f"to {' or '.join(repr(code) for code in sorted(AUDIT_ONLY_DEPARTMENTS))}, not "
                f"{department!r}"
            )
        if lang not in LANGS:
            raise PeopleError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
        if display_name is not None:
            display_name = display_name.strip()
            problem = display_name_problem(display_name)
            if problem:
                raise PeopleError(f"the display name {problem}")
        check_password_strength(password, name)
        password_hash = hash_password(password)

        def write(session: Session) -> UserRecord:
            self._check_department(session, department)
            if session.scalar(select(func.count()).where(User.name == name)):
                raise PeopleError(f"a user named {name!r} already exists")
            user = User(
                name=name,
                display_name=display_name or name,
                department=department,
                role=role,
                password_hash=password_hash,
                failed_attempts=0,
                lang=lang,
                created_at=datetime.now(UTC),
                session_generation=0,
                password_from_admin=True,
            )
            session.add(user)
            session.flush()
            self._audit_row(
                session,
                actor,
                "user_created",
                {"user": name, "department": department, "role": role},
            )
            return _record(user)

        return self._write(write)  # type: ignore[no-any-return]

    def get_user(self, name: str) -> UserRecord:
        """The user called `name`; raises `UserNotFound`."""
        with self._reads.begin() as session:
            user = session.scalars(select(User).where(User.name == name)).one_or_none()
            if user is None:
                raise UserNotFound(name)
            return _record(user)

    def display_name(self, name: str) -> str | None:
        """The name people read for the account called `name` (None: no such account)."""
        try:
            return self.get_user(name).display_name
        except UserNotFound:
            return None

    def list_users(self) -> list[UserRecord]:
        """Every account, disabled ones included, by name."""
        with self._reads.begin() as session:
            return [_record(user) for user in session.scalars(select(User).order_by(User.name))]

    def last_sign_ins(self) -> dict[str, datetime]:
        """Each account's latest sign-in on record (its `sign_in` audit rows, console and API
        alike), by name; an account never signed in is left out. A dormant account is one for
        an administrator to disable."""
        with self._reads.begin() as session:
            latest = session.execute(
                select(AuditEntry.actor, func.max(AuditEntry.at))
                .where(AuditEntry.action == "sign_in", AuditEntry.actor.startswith("user:"))
                .group_by(AuditEntry.actor)
            ).all()
        return {str(actor).removeprefix("user:"): _aware(at) for actor, at in latest if at}

    def _change_user(
        self,
        name: str,
        actor: str,
        action: str,
        change: Callable[[User, Session], dict[str, Any]],
    ) -> UserRecord:
        """Apply `change(user, session)` to the locked account and audit `action` with the
        details it returns, in one transaction."""

        def write(session: Session) -> UserRecord:
            user = _user_for_update(session, name)
            detail = change(user, session)
            self._audit_row(session, actor, action, {"user": name, **detail})
            return _record(user)

        return self._write(write)  # type: ignore[no-any-return]

    def disable_user(self, name: str, *, actor: str = "system:cli") -> UserRecord:
        """Disable an account (kept for the record). Its sessions end for good: the console's
        here, the API's tokens at their next request (the session generation goes up, so the
        credential stamp they carry no longer matches, even once the account is enabled)."""

        def change(user: User, session: Session) -> dict[str, Any]:
            if user.disabled_at is not None:
                raise PeopleError(f"user {name!r} is already disabled")
            user.disabled_at = datetime.now(UTC)
            user.session_generation = (user.session_generation or 0) + 1
            return {"sessions_ended": _end_console_sessions(session, name, "disabled")}

        return self._change_user(name, actor, "user_disabled", change)

    def stamp_ended_by(self, name: str, stamp: str) -> str:
        """What ended a session whose credential `stamp` no longer matches `name`'s account:
        for a stamp of its current password and an earlier generation, "signed_out" (the
        person's `sign_out` row began the next) or else "disabled"; any other, "password"."""
        with self._reads.begin() as session:
            user = session.scalars(select(User).where(User.name == name)).one_or_none()
            generations = range(user.session_generation or 0) if user is not None else ()
            ended = [g for g in generations if user and _stamp(user.password_hash, g) == stamp]
            if not ended:
                return "password"
            signed_out = select(AuditEntry).where(
                AuditEntry.action == "sign_out", AuditEntry.actor == f"user:{name}"
            )
            began = {row.detail.get("session_generation") for row in session.scalars(signed_out)}
        return "signed_out" if ended[0] + 1 in began else "disabled"

    def enable_user(self, name: str, *, actor: str = "system:cli") -> UserRecord:
        """Let a disabled account sign in again (its password and department unchanged)."""

        def change(user: User, _session: Session) -> dict[str, Any]:
            if user.disabled_at is None:
                raise PeopleError(f"user {name!r} is not disabled")
            user.disabled_at = None
            return {}

        return self._change_user(name, actor, "user_enabled", change)

    def reset_password(self, name: str, password: str, *, actor: str = "system:cli") -> UserRecord:
        """Set a new password and lift any lockout; the current password is refused (a reset
        that changes nothing would leave whoever knows it signed in)."""
        check_password_strength(password, name)
        with self._reads.begin() as session:
            current = session.scalar(select(User.password_hash).where(User.name == name))
        if current is None:
            raise UserNotFound(name)
        if password_matches(current, password):
            raise PeopleError(
                "the new password is the account's current one: a reset needs another password"
            )
        password_hash = hash_password(password)

        def change(user: User, session: Session) -> dict[str, Any]:
            user.password_hash = password_hash
            user.password_from_admin = True
            user.failed_attempts = 0
            user.locked_until = None
            # whoever held the old password is signed out: console sessions end here, API
            # session tokens no longer match the account's credential stamp
            return {"sessions_ended": _end_console_sessions(session, name, "password")}

        return self._change_user(name, actor, "user_password_reset", change)

    def change_password(
        self,
        name: str,
        current: str,
        new: str,
        *,
        now: datetime | None = None,
        lockout: timedelta = LOCKOUT,
    ) -> UserRecord:
        """A person's change of their own password (the console's password page).

        `current` is checked as a sign-in checks a password: a wrong one counts towards the
        lockout (`_wrong_password`) and is audited as `password_change_failed` with the
        reason, as is a change asked of a locked or disabled account. `new` is held to the
        strength rule and refused when it is the current password. On success every session
        of the person ends (the console's, this one too, and their API tokens, whose
        credential stamp no longer matches): whoever held the old password, or a session
        signed in with it, is out. Audited as `user_password_changed`, the person as actor.

        Raises:
            WeakPassword: `new` breaks the strength rule (kind `same`: it is the current one).
            SignInRefused: `current` is wrong, or the account is locked or disabled (`reason`).
            UserNotFound: no account has this name.
        """
        check_password_strength(new, name)
        moment = now or datetime.now(UTC)
        new_hash = hash_password(new)  # before the row is locked: Argon2 takes its time

        def write(session: Session) -> UserRecord | Exception:
            user = _user_for_update(session, name)
            reason = _refusal(user, moment)
            if reason is None and not password_matches(user.password_hash, current):
                reason = _wrong_password(user, moment, lockout, WRONG_CURRENT_REASON)
            if reason is not None:  # committed with the count: returned, not raised
                self._audit_row(
                    session, f"user:{name}", "password_change_failed", {"reason": reason}
                )
                return SignInRefused("password change refused: " + reason, reason)
            if password_matches(user.password_hash, new):
                return WeakPassword(
                    "same", "the new password is the account's current one: choose another"
                )
            user.password_hash = new_hash
            user.password_from_admin = False
            user.failed_attempts = 0
            user.locked_until = None
            ended = _end_console_sessions(session, name, "password_change")
            self._audit_row(
                session, f"user:{name}", "user_password_changed", {"sessions_ended": ended}
            )
            return _record(user)

        outcome = self._write(write)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    def unlock_user(
        self, name: str, *, actor: str = "system:cli", now: datetime | None = None
    ) -> Unlocked:
        """Lift a lockout and forget the wrong passwords counted towards the next one; the
        password, the department and every session stay as they are (the person still knows
        their password: the wrong ones may have been someone else's). Audited as
        `user_unlocked` with what was lifted; an account with nothing to lift is left alone,
        with no row.

        Raises:
            UserNotFound: no account has this name.
        """
        moment = now or datetime.now(UTC)

        def write(session: Session) -> Unlocked:
            user = _user_for_update(session, name)
            until = None if user.locked_until is None else _aware(user.locked_until)
            lifted = Unlocked(
                user=_record(user),
                locked_until=until if until is not None and until > moment else None,
                failed_attempts=user.failed_attempts,
            )
            if not lifted.changed:
                return lifted
            # a lockout that has run out keeps its count: without the reset the next wrong
            # password would lock the account again at once
            user.failed_attempts = 0
            user.locked_until = None
            detail = {
                "user": name,
                "locked_until": city_moment(lifted.locked_until),
                "failed_attempts": lifted.failed_attempts,
            }
            self._audit_row(session, actor, "user_unlocked", detail)
            return replace(lifted, user=_record(user))

        return self._write(write)  # type: ignore[no-any-return]

    def set_user_lang(self, name: str, lang: str) -> UserRecord:
        """Remember a person's language choice (zh or en)."""
        if lang not in LANGS:
            raise PeopleError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")

        def change(user: User, _session: Session) -> dict[str, Any]:
            user.lang = lang
            return {"lang": lang}

        return self._change_user(name, f"user:{name}", "user_lang", change)

    def sign_in(
        self,
        name: str,
        password: str,
        *,
        now: datetime | None = None,
        lockout: timedelta = LOCKOUT,
    ) -> UserRecord:
        """Check a password; audits `sign_in` or `sign_in_failed`.

        `name` is taken as typed, over the API and in the console alike: trimmed and its
        letters folded to lower case (user names are lower case, and a phone's keyboard
        capitalises the first letter), so `Zhao` is zhao, for the lockout and the audit too.

        `lockout` is how long the wrong password after `MAX_FAILED_SIGN_INS` in a row locks
        the account (callers pass the configured `Settings.lockout_s`).

        Raises:
            SignInRefused: unknown name, wrong password, disabled or locked account.
        """
        moment = now or datetime.now(UTC)
        refused = "sign-in refused: wrong name or password, or the account is locked or disabled"
        dummy = dummy_hash()  # made before the name is looked up: the first try of any name
        wanted = typed_user_name(name)

        def write(session: Session) -> UserRecord | SignInRefused:
            user = session.scalars(
                select(User).where(User.name == wanted).with_for_update()
            ).one_or_none()
            reason = _refusal(user, moment)
            ok = password_matches(user.password_hash if user is not None else dummy, password)
            if user is not None and reason is None and not ok:
                reason = _wrong_password(user, moment, lockout, "wrong password")
            if reason is not None:
                # a name that is no user's may be anything (a password typed in the wrong
                # field, a phone number): never kept as typed, only as its keyed fingerprint,
                # of the name as looked up, so `Ghost` and ` ghost` are one actor's tries
                who = f"user:{user.name}" if user is not None else self.unknown_name_actor(wanted)
                self._audit_row(session, who, "sign_in_failed", {"reason": reason})
                return SignInRefused(refused, reason)
            assert user is not None
            user.failed_attempts = 0
            user.locked_until = None
            if password_hasher().check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            self._audit_row(session, f"user:{user.name}", "sign_in", {})
            return _record(user)

        outcome = self._write(write)
        if isinstance(outcome, SignInRefused):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    def sign_out(self, name: str) -> UserRecord:
        """Sign `name` out everywhere (`sign_out` row): every console session and API token
        ends (the session generation goes up, as at a disable; the password stays)."""

        def change(user: User, session: Session) -> dict[str, Any]:
            user.session_generation = (user.session_generation or 0) + 1
            return {
                "sessions": "every session ended: the console's and the API's tokens",
                "console_sessions_ended": _end_console_sessions(session, name, "signed_out"),
                "session_generation": user.session_generation,  # `stamp_ended_by` reads it
            }

        return self._change_user(name, f"user:{name}", "sign_out", change)


def _user_for_update(session: Session, name: str) -> User:
    """The account called `name`, its row locked for the transaction; raises `UserNotFound`."""
    user = session.scalars(select(User).where(User.name == name).with_for_update()).one_or_none()
    if user is None:
        raise UserNotFound(name)
    return user


def _wrong_password(user: User, moment: datetime, lockout: timedelta, what: str) -> str:
    """Count a wrong password towards the lockout: `MAX_FAILED_SIGN_INS` in a row are
    answered, the next one locks the account for `lockout`. The audit log's reason."""
    user.failed_attempts += 1
    if user.failed_attempts > MAX_FAILED_SIGN_INS:
        user.locked_until = moment + lockout
        return f"{what}; locked until {city_moment(user.locked_until)}"
    return what


def _refusal(user: User | None, moment: datetime) -> str | None:
    if user is None:
        return "unknown user"
    if user.disabled_at is not None:
        return "account disabled"
    if user.locked_until is not None and _aware(user.locked_until) > moment:
        return f"account locked until {city_moment(user.locked_until)}"
    return None


def _end_console_sessions(session: Session, name: str, why: str) -> int:
    """End every live console session of `name` (a password reset, a disable, a sign-out): a
    copied cookie dies with them. How many were ended."""
    ended = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_name == name, ConsoleSession.ended_at.is_(None))
        .values(ended_at=datetime.now(UTC), ended_why=why)
    )
    return int(getattr(ended, "rowcount", 0) or 0)
