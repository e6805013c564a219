"""Server-side console sessions: sign-in tokens, CSRF tokens, idle and absolute time-outs.

The browser holds only a random token (`riskloop_console` cookie, HttpOnly, SameSite=Strict,
Secure over HTTPS and wherever RISKLOOP_PUBLIC_URL is https:// or RISKLOOP_ENV=production:
`served_over_https` below); the `console_sessions` row keyed by its SHA-256 says who signed in, when,
when they were last seen and which CSRF token their forms carry. Ending a session (sign-out,
time-out, a disabled account) is a row update, so a copied cookie dies with it: the
revocation Starlette's signed-cookie sessions cannot give. A sign-in in a browser that still
holds another session's cookie ends that session: one browser, one live session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from serving.store.models import ConsoleSession

if TYPE_CHECKING:
    from models.settings import Settings
    from serving.console.app import Console

COOKIE = "riskloop_console"
PRE_COOKIE = "riskloop_console_pre"  # the sign-in form's CSRF token, before any session exists
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class SessionInfo:
    """A live session as a request sees it."""

    key: str
    user_name: str
    csrf: str
    created_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; the store writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_token() -> str:
    """A fresh unguessable token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


class SessionBook:
    """Creates, checks and ends console sessions in the store's database."""

    def __init__(self, engine: Engine, *, idle_s: float, absolute_s: float) -> None:
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(
            engine.execution_options(riskloop_write=True), expire_on_commit=False
        )
        self.idle = timedelta(seconds=idle_s)
        self.absolute = timedelta(seconds=absolute_s)

    def start(self, user_name: str, *, replacing: str | None = None) -> tuple[str, SessionInfo]:
        """A new session for `user_name`: (the cookie's token, the session).

        `replacing` is the session cookie the browser sent with the sign-in, if any: the
        session it names, whoever's it is, ends (`replaced`) in the same transaction. The new
        cookie overwrites it in this browser, but a copy of the old one would have answered
        until its idle time-out. Whose live session that was (`live_user`) is the caller's to
        put on the record.
        """
        token = new_token()
        now = datetime.now(UTC)
        row = ConsoleSession(
            id=_digest(token),
            user_name=user_name,
            csrf=new_token(),
            created_at=now,
            last_seen_at=now,
            ended_at=None,
            ended_why=None,
        )
        with self._writes.begin() as db:
            if replacing:
                db.execute(
                    update(ConsoleSession)
                    .where(
                        ConsoleSession.id == _digest(replacing), ConsoleSession.ended_at.is_(None)
                    )
                    .values(ended_at=now, ended_why="replaced")
                )
            db.add(row)
        return token, SessionInfo(row.id, user_name, row.csrf, now)

    def live_user(self, token: str | None) -> str | None:
        """Whose live session a cookie token names (None: no session, or one ended or timed
        out), without touching it: the person a sign-in on this browser puts out."""
        if not token:
            return None
        with self._reads() as db:
            row = db.scalars(
                select(ConsoleSession).where(
                    ConsoleSession.id == _digest(token), ConsoleSession.ended_at.is_(None)
                )
            ).one_or_none()
        if row is None or self._timed_out(row, datetime.now(UTC)) is not None:
            return None
        return row.user_name

    def check(self, token: str | None) -> tuple[SessionInfo | None, str | None]:
        """The live session behind a cookie token, touched; or (None, why it is not live).

        `why` is None when there was no session at all, `idle` or `absolute` when it timed out
        now (the row is ended so it cannot come back); for one already over, why it ended
        (`signed_out`, `disabled`, `password`, `replaced`, an earlier time-out; `ended` if
        unrecorded).
        """
        if not token:
            return None, None
        key = _digest(token)
        now = datetime.now(UTC)
        with self._writes.begin() as db:
            row = db.scalars(
                select(ConsoleSession).where(ConsoleSession.id == key).with_for_update()
            ).one_or_none()
            if row is None:
                return None, None
            if row.ended_at is not None:
                return None, row.ended_why or "ended"
            why = self._timed_out(row, now)
            if why is not None:
                row.ended_at, row.ended_why = now, why
                return None, why
            row.last_seen_at = now
            return SessionInfo(key, row.user_name, row.csrf, _aware(row.created_at)), None

    def _timed_out(self, row: ConsoleSession, now: datetime) -> str | None:
        """`absolute` or `idle` when a live row's session is past that time-out, else None."""
        if now - _aware(row.created_at) > self.absolute:
            return "absolute"
        if now - _aware(row.last_seen_at) > self.idle:
            return "idle"
        return None

    def is_other_sign_in(self, user_name: str, csrf: str | None) -> bool:
        """Whether `csrf` is the CSRF token of another session of `user_name` (an earlier
        sign-in, ended or not, or one in another browser): a form drawn there and sent under
        this session is refused all the same, but is the person's own, not a forgery, and the
        page can say so and give back what they typed. Their latest sessions only: a form is
        not kept open for a hundred sign-ins."""
        if not csrf:
            return False
        with self._reads() as db:
            tokens = db.scalars(
                select(ConsoleSession.csrf)
                .where(ConsoleSession.user_name == user_name)
                .order_by(ConsoleSession.created_at.desc())
                .limit(100)
            ).all()
        return any(tokens_match(token, csrf) for token in tokens)

    def drawn_under(self, csrf: str | None) -> tuple[str, str | None] | None:
        """The session whose pages carry the CSRF token `csrf`, as (whose, why it ended: None
        while it lives), or None for a token of no session. A form sent from a tab after the
        person signed out in another (which cleared the session cookie) names its session
        only by its token: the sign-in page then says why the step was not saved, in the
        person's language, and keeps it for them."""
        if not csrf:
            return None
        with self._reads() as db:
            row = db.execute(
                select(ConsoleSession.user_name, ConsoleSession.ended_at, ConsoleSession.ended_why)
                .where(ConsoleSession.csrf == csrf)
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return row.user_name, None if row.ended_at is None else (row.ended_why or "ended")

    def user_of(self, token: str | None) -> str | None:
        """Whose session a cookie token named, live or ended (None if unknown): the sign-in
        page after a time-out speaks their language."""
        if not token:
            return None
        with self._reads() as db:
            return db.scalar(
                select(ConsoleSession.user_name).where(ConsoleSession.id == _digest(token))
            )

    def end(self, key: str, why: str) -> None:
        """End one session (sign-out)."""
        with self._writes.begin() as db:
            db.execute(
                update(ConsoleSession)
                .where(ConsoleSession.id == key, ConsoleSession.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC), ended_why=why)
            )


def pre_session_token(request: Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token (cookie double-submit): (token, whether it is new)."""
    existing = request.cookies.get(PRE_COOKIE)
    if existing and 20 <= len(existing) <= 64:
        return existing, False
    return new_token(), True


def served_over_https(request: Request, settings: Settings) -> bool:
    """Whether the console is reached over HTTPS: the request says so, or the deployment does.

    Behind a TLS proxy that the deployment does not name, uvicorn ignores the proxy's
    `X-Forwarded-Proto` (it trusts that header only from an address `FORWARDED_ALLOW_IPS`
    names, none by default: serving/service.py) and the request looks like plain HTTP; an https `RISKLOOP_PUBLIC_URL` or
    `RISKLOOP_ENV=production` still says where people reach the console, so its cookies are
    Secure there whatever the last hop was."""
    return (
        request.url.scheme == "https"
        or settings.public_url.lower().startswith("https://")
        or settings.env == "production"
    )


def set_cookie(
    console: Console,
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, path /console, Secure over HTTPS
    (`served_over_https`); a browser session's unless `max_age` (seconds) is given."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request, console.backend.settings),
    )


def clear_cookie(console: Console, response: Response, request: Request, name: str) -> None:
    """Expire a console cookie (same attributes as when it was set)."""
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=served_over_https(request, console.backend.settings),
    )
