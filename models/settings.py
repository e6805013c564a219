"""The single source of paths, URIs and secrets: `RISKLOOP_*` environment variables.

Training and serving both read their configuration here, so it lives in `models/`, the package
both depend on. Nothing is created or configured at import time: call `get_settings()` and
`apply_offline_defaults()` from an entry point.
"""

from __future__ import annotations

import os
import re
import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.cpus import usable_cpus

HOUR = 3_600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY

#: Argon2id's default cost: RFC 9106's second recommended ("low-memory") profile
PASSWORD_TIME_COST = 3
PASSWORD_MEMORY_KIB = 65_536
PASSWORD_PARALLELISM = 4


class PasswordCost(NamedTuple):
    """Argon2id's parameters: passes, memory in KiB, lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def weaker_than(self, other: PasswordCost) -> bool:
        """Less memory, or less work (passes x memory) than `other`."""
        return self.memory_kib < other.memory_kib or (
            self.time_cost * self.memory_kib < other.time_cost * other.memory_kib
        )


DEFAULT_PASSWORD_COST = PasswordCost(PASSWORD_TIME_COST, PASSWORD_MEMORY_KIB, PASSWORD_PARALLELISM)


#: The least a shared secret riskloop keys with (a webhook signing secret, the pseudonym key)
#: must be: `MIN_SECRET_CHARS` printable ASCII characters, no space. "aaaa...", "abab..." or a
#: keyboard row repeated is guessed before it is brute-forced: a secret that repeats one unit,
#: or holds fewer than `MIN_DISTINCT_CHARS` different characters, is refused. A random one never
#: is: 32 hex digits (`openssl rand -hex 16`) show fewer than 6 of their 16 about once in 10^12
#: draws (a floor of 10, as first written, refused about one in 14,000: a test drawing 200
#: failed about one run in 70)
MIN_SECRET_CHARS = 24
MIN_DISTINCT_CHARS = 6
_SECRET_PATTERN = re.compile(r"^[\x21-\x7e]+$")


def repeats_one_unit(text: str) -> bool:
    """Whether `text` is one unit over and over ("aaaa", "abab", "核实核实"): a rotation of the
    text by less than its length gives it back. Secrets, passwords and reveal purposes are
    refused in this shape."""
    return len(text) > 1 and text in (text + text)[1:-1]


def weak_secret(secret: str, what: str) -> str | None:
    """Why `secret` is too weak to be `what` ("webhook secret"), in one sentence; None when it
    is strong enough. Every secret riskloop generates (`secrets.token_urlsafe(32)`) passes."""
    if len(secret) < MIN_SECRET_CHARS or not _SECRET_PATTERN.match(secret):
        return (
            f"a {what} must be at least {MIN_SECRET_CHARS} printable ASCII characters without "
            "spaces"
        )
    # one unit over and over ("aaaa", "abab"): a rotation by less than its length gives it back
    if repeats_one_unit(secret):
        shape = "repeats one pattern"
    elif len(set(secret)) < MIN_DISTINCT_CHARS:
        shape = f"has only {len(set(secret))} different characters"
    else:
        return None
    return (
        f"this {what} {shape} (a repeated pattern, or fewer than {MIN_DISTINCT_CHARS} "
        "different characters, is guessed)"
    )


class Settings(BaseSettings):
    """Runtime configuration, validated once at start-up."""

    # no number is Infinity or NaN; every one has an upper bound (a value past it is a typo
    # that would crash a process later: a timedelta or a lock time-out overflowing). A refused
    # value is never repeated in the error (a traceback of a bare `bentoml serve` printed it:
    # a weak secret, a URL with its password)
    model_config = SettingsConfigDict(
        env_prefix="RISKLOOP_",
        env_file=None,
        extra="ignore",
        allow_inf_nan=False,
        hide_input_in_errors=True,
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    reports_dir: Path = Path("reports")
    mlflow_uri: str = "sqlite:///mlruns.db"
    artifact_location: str | None = Field(
        default=None,
        description="Where new MLflow experiments keep artifacts; default ./mlartifacts.",
    )
    experiment: str = "riskloop"
    optuna_storage: str | None = Field(
        default=None, description="Optuna study storage URL; default: optuna.db beside mlruns.db."
    )
    model_source: Literal["registry", "bento"] = Field(
        default="registry",
        description=(
            "Where the service loads champions: the MLflow registry, or the models packaged "
            "in a bento by `riskloop bundle` (self-contained replicas)."
        ),
    )
    store_url: str = "sqlite:///riskloop.db"
    store_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        default="NORMAL",
        description="SQLite's `synchronous` level for the warnings store (WAL mode): NORMAL "
        "keeps every commit through a killed process, FULL also through a power loss (an "
        "fsync per commit).",
    )
    store_busy_timeout_s: float = Field(
        default=30.0,
        ge=0.001,  # SQLite counts whole milliseconds: less would be no wait at all
        le=HOUR,
        description="How long a write waits for SQLite's write lock before it fails (a "
        "request: 503 with Retry-After), in every process on the store.",
    )
    store_connect_timeout_s: int = Field(
        default=10,
        ge=1,
        le=600,
        description="On PostgreSQL, how long opening a connection to the warnings store may "
        "take (libpq's connect_timeout, whole seconds) before it fails in one line.",
    )
    keys_file: Path = Path("riskloop-keys.json")
    pseudonym_secret: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC key for pseudonyms; default: generated into the secrets file on first use. "
            "Set it when several machines must agree on pseudonyms."
        ),
    )
    secrets_file: Path | None = Field(
        default=None,
        description="Generated secrets (mode 0600); default: riskloop-secrets.json beside keys.",
    )
    reveal_limit_per_hour: int = Field(
        default=30, ge=1, le=100_000, description="Reveals per actor per hour."
    )
    retention_days: int = Field(
        default=365,
        ge=1,
        le=36_500,
        description="`riskloop store purge` default: keep this many days.",
    )
    max_body_bytes: int = Field(
        default=2_000_000,
        ge=1_024,
        le=2**31,
        description="The largest request body the service reads (413 above it).",
    )
    score_helper: bool = Field(
        default_factory=lambda: usable_cpus() > 1,
        description="Score part of each large request (200 records or more) in a second "
        "process, on a second core (default: on where the service may use more than one "
        "core: its CPU affinity and a container's CPU quota count, not the machine's cores).",
    )
    explanation_cache_rows: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Explanations of materialised entities kept per served model and reused "
        "while the model version and the feature row are unchanged (0: off; ~1 KB a row).",
    )
    reload_interval_s: float = Field(
        default=60.0,
        le=WEEK,
        description="How often the service follows the champion alias; 0 or less: only an "
        "admin reload.",
    )
    reload_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=HOUR,
        description="How long `POST /v1/admin/reload` waits for the registry before answering "
        "504 (the reload goes on in the background, audited); another reload running that "
        "long answers 503.",
    )
    webhook_secrets_file: Path = Field(
        default=Path("riskloop-webhook-secrets.json"),
        description="0600 file holding each department's webhook signing secret.",
    )
    webhook_ca_file: Path | None = Field(
        default=None,
        description="A PEM bundle of the certificate authorities (a city intranet's own) "
        "trusted for webhook endpoints, in addition to the public ones (certifi's bundle); "
        "checked at start: a file that is missing, unreadable or holds no certificate is "
        "refused.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:3000",
        description="The service's base URL as departments reach it (links in notifications); "
        "`riskloop serve` and `run` set it to their own address unless it is set.",
    )
    notify_interval_s: float = Field(
        default=2.0,
        ge=0,  # a negative interval turned delivery and the deadline sweep off unsaid
        le=DAY,
        description="How often the service's delivery thread looks for due notifications and "
        "missed deadlines; 0 leaves delivery to `riskloop notify --loop`.",
    )
    notify_max_attempts: int = Field(
        default=58,
        ge=1,
        le=10_000,
        description="Attempts before a notification is dead-lettered. With the default backoff "
        "the waits grow from 5 s to the hour in 11 steps and then stay there: 58 attempts keep "
        "an event tried for at least 24 hours (at most 48, the jitter's spread) after its first "
        "failure, so a receiver down for less than a day loses nothing.",
    )
    notify_backoff_s: float = Field(
        default=5.0,
        gt=0,
        le=DAY,
        description="First retry delay; doubles each attempt, with jitter.",
    )
    notify_backoff_max_s: float = Field(
        default=3600.0, gt=0, le=WEEK, description="Longest retry delay."
    )
    notify_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=HOUR,
        description="Bounds each step of a webhook attempt on its own: connecting, sending, each "
        "wait for more of the answer's status line and headers (its body is not read); httpx "
        "has no bound on a whole request.",
    )
    notify_lease_s: float = Field(
        default=120.0,
        gt=0,
        le=DAY,
        description="How long a claimed notification is reserved for the worker posting it; a "
        "worker killed mid-post leaves it to be retried after this.",
    )
    lockout_s: float = Field(
        default=900.0,
        gt=0,
        le=MONTH,
        description="How long too many wrong passwords lock an account.",
    )
    # failed sign-ins per client address, counted in each service process (each replica):
    # past the limit the client's sign-ins are refused (429) without a password check or a
    # `sign_in_failed` row, one `access_refused` row per window (`serving.sessions`)
    sign_in_throttle_failures: int = Field(
        default=10,
        ge=0,
        le=100_000,
        description="Failed sign-ins from one client address within the window after which "
        "its sign-ins are refused until the window lets one go (0: no throttle).",
    )
    sign_in_throttle_window_s: float = Field(
        default=300.0,
        gt=0,
        le=DAY,
        description="The window, in seconds, over which a client's failed sign-ins count.",
    )
    # 等保 2.0 asks that a password an administrator gave be changed at its first use: on, such a
    # person reaches only the console's password page, sign-out and language switch, and
    # `POST /v1/session` refuses them (403); off (the default), every page asks them to change
    # it and nothing more
    require_own_password: bool = Field(
        default=False,
        description="A person whose password an administrator set (users create, users "
        "reset-password) must choose their own on the console's password page before any "
        "other console page or an API session.",
    )
    console_idle_s: float = Field(
        default=1800.0, gt=0, le=MONTH, description="A console session ends after this long unused."
    )
    console_absolute_s: float = Field(
        default=43_200.0,
        gt=0,
        le=MONTH,
        description="A console session ends this long after sign-in.",
    )
    # Argon2id's cost, RFC 9106's low-memory profile by default (t=3, 64 MiB, 4 lanes): a
    # machine with memory to spare may raise it; a password hashed at other parameters is
    # re-hashed at its next sign-in. Less work is for a development or test machine only:
    # RISKLOOP_ENV=production hashes at the default instead (`password_cost`).
    password_time_cost: int = Field(
        default=PASSWORD_TIME_COST, ge=1, le=100, description="Argon2id passes over its memory."
    )
    password_parallelism: int = Field(
        default=PASSWORD_PARALLELISM, ge=1, le=64, description="Argon2id lanes (threads)."
    )
    password_memory_kib: int = Field(
        default=PASSWORD_MEMORY_KIB,
        ge=8,
        le=4 * 1024 * 1024,
        description="Argon2id memory per hash, in KiB (at most 4 GiB).",
    )

    @field_validator("password_memory_kib")
    @classmethod
    def _memory_for_its_lanes(cls, memory_kib: int, info: ValidationInfo) -> int:
        """Argon2's own floor: 8 KiB a lane."""
        lanes = info.data.get("password_parallelism")
        if lanes is None:  # refused itself: its own error says so, no second one about it
            return memory_kib
        if memory_kib < 8 * lanes:
            raise ValueError(f"Argon2 needs at least 8 KiB a lane: {8 * lanes} for {lanes} lanes")
        return memory_kib

    @property
    def password_cost_asked(self) -> PasswordCost:
        """The Argon2id parameters `RISKLOOP_PASSWORD_*` ask for."""
        return PasswordCost(
            self.password_time_cost, self.password_memory_kib, self.password_parallelism
        )

    @property
    def password_cost(self) -> PasswordCost:
        """The Argon2id parameters passwords are hashed at: the configured ones, except that
        production never does less work than the default (64 MiB, and passes x memory no less
        than 3 x 64 MiB: RFC 9106's first recommended profile, one pass over 2 GiB, is kept)."""
        asked = self.password_cost_asked
        if self.env == "production" and asked.weaker_than(DEFAULT_PASSWORD_COST):
            return DEFAULT_PASSWORD_COST
        return asked

    @field_validator("store_synchronous", mode="before")
    @classmethod
    def _level_in_any_case(cls, level: object) -> object:
        """`full` or ` Full ` read as FULL."""
        return level.strip().upper() if isinstance(level, str) else level

    @field_validator("pseudonym_secret")
    @classmethod
    def _strong_pseudonym_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        """A key nobody guesses: with a weak one, anyone can reverse the pseudonyms (an HMAC of
        a small space of ids is computed for every id)."""
        if secret is not None:
            problem = weak_secret(secret.get_secret_value(), "pseudonym key")
            if problem:
                raise ValueError(f"{problem}; generate one with `openssl rand -hex 32`")
        return secret

    @field_validator("webhook_ca_file")
    @classmethod
    def _readable_ca_bundle(cls, path: Path | None) -> Path | None:
        """A CA bundle TLS can load now, so a wrong path is one line at start, not a failed
        delivery a day later (every attempt to every https endpoint would fail)."""
        if path is not None:
            load_ca_file(ssl.create_default_context(), path)
        return path

    @property
    def public_url_is_set(self) -> bool:
        """Whether `RISKLOOP_PUBLIC_URL` was given: without it a process that is not the
        service (`riskloop notify`, `departments ping`) links to the default address, which may
        be nobody's."""
        return "public_url" in self.model_fields_set

    @property
    def resolved_artifact_location(self) -> str:
        return self.artifact_location or str(Path("mlartifacts").resolve())

    @property
    def resolved_optuna_storage(self) -> str:
        if self.optuna_storage:
            return self.optuna_storage
        if self.mlflow_uri.startswith("sqlite:///"):
            mlflow_db = Path(self.mlflow_uri.removeprefix("sqlite:///"))
            return f"sqlite:///{mlflow_db.with_name('optuna.db')}"
        return "sqlite:///optuna.db"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL keeps its database in (relative to the working folder as SQLite
    opens it); None for another database, an in-memory one, or a URL SQLAlchemy cannot read
    (the code that opens it says what is wrong)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url.startswith("sqlite"):
        return None
    try:
        database = make_url(url).database
    except (ArgumentError, ValueError):
        return None
    return None if database in (None, "", ":memory:") else Path(str(database))


#: How to write a password a URL can hold (the userinfo's reserved characters).
PERCENT_ENCODE = "percent-encode @ / ? # % in a password (%40 %2F %3F %23 %25)"


def database_url_problem(url: str) -> str | None:
    """Why SQLAlchemy cannot read `url` as meant, in our own words; None when it can.

    SQLAlchemy ends a password at its first `@`: with an unencoded one the rest reads as the
    host (a driver would print it as a host name) or as a port, and the parser's own message
    quotes it (`invalid literal for int() with base 10: 'Secret99@127.0.0.1:5432'`), so no
    message of the parser is ever passed on. The warnings store and a database-backed MLflow
    store are both checked with it.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url.lower().startswith(("postgres://", "postgres+")):  # libpq's and Heroku's spelling
        return "SQLAlchemy names the dialect postgresql: write postgresql+psycopg://..."
    try:
        read = make_url(url)
        host: str | None = read.host or ""
        # `user:Secret@pw/1@host/db` (or `@pw?1@`): the host read as `pw`, the rest as the
        # database's name or a query (the driver printed `failed to resolve host 'pw'`, a
        # piece of the password); an @ in a query value is taken for one too: encode it
        rest = url.partition("://")[2]
        after = rest[len(re.split(r"[/?#]", rest, maxsplit=1)[0]) :].partition("#")[0]
        past_host = "@" in after and not read.drivername.startswith("sqlite")
    except (ArgumentError, ValueError):
        host, past_host = None, False
    if host is not None and "@" not in host and not past_host:
        return None
    rest = url.partition("://")[2]
    if host is not None or rest.count("@") > 1:
        return f"its password holds an unencoded @: {PERCENT_ENCODE}"
    advice = f"; {PERCENT_ENCODE}" if "@" in rest else ""
    return f"SQLAlchemy cannot read it as dialect+driver://user:password@host:port/database{advice}"


#: A query parameter whose name holds one of these (any case) carries a secret: `password`,
#: `sslpassword`, `passwd`, `pwd`, `token`, `access_token`, `secret`, `api_key`, `apikey`...
_SECRET_PARAMETER = re.compile(r"pass|pwd|token|secret|key|auth|credential", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"(?<=[?&;])([^=&;#\s]*)=([^&;#\s]*)")
#: In a whole URL a value runs to the next separator, spaces included (`?password=a b`).
_URL_QUERY_VALUE = re.compile(r"(?<=[?&;])([^=&;#]*)=([^&;#]*)")
#: What follows `://` in text: a word, or a userinfo whose password holds spaces up to its `@`
#: on the same line (`user:my secret@host`: SQLAlchemy reads it so and the server takes it),
#: unless the word is `host:port` (`http://host:5000 is down; ask ops@city`).
_URL_REST = re.compile(r"://([^\s:/?#@]*:(?!\d*(?:[/?#\s]|$))[^\n@]*@\S*|\S*)")
#: A text that is one URL (a setting's value; one line, one `://`): all of it is the URL,
#: spaces included (`user:12 34@host`, which in other text reads as `host:port` and prose).
_WHOLE_URL = re.compile(r"[\w+.-]+://([^\n]*)")


def hide_password(url: str) -> str:
    """`scheme://user:secret@host/db?password=x` -> `scheme://user:***@host/db?password=***`,
    for messages and logs (works on any text, a malformed URL included).

    The userinfo's password runs to the last `@` before the host (an unencoded `@` in it is
    hidden too); one holding an unencoded `/`, `?` or `#`, which SQLAlchemy reads as part of
    the password, runs to the URL's last `@`. A password may hold spaces: in a text that is
    one URL it runs to that `@` whatever it holds; in other text, to the next `@` on the line
    unless the word after `://` is `host:port`. Every query value whose name suggests a
    secret (`_SECRET_PARAMETER`) is hidden as well.
    """
    whole = _WHOLE_URL.fullmatch(url)
    if whole and url.count("://") == 1:
        start = whole.start(1)
        # a database's URL has no `@` past its host (an http path may: `/a@b`): one there ends
        # the password (`user:Secret@pw/1@host/db`, which SQLAlchemy reads as host `pw`)
        database = not url.lower().startswith(("http://", "https://"))
        hidden = _hidden_userinfo(url[start:], past_host=database)
        return _URL_QUERY_VALUE.sub(_hidden_parameter, url[:start] + hidden)
    rests = _URL_REST.sub(lambda match: f"://{_hidden_userinfo(match.group(1))}", url)
    return _QUERY_VALUE.sub(_hidden_parameter, rests)


def _hidden_userinfo(rest: str, past_host: bool = False) -> str:
    """What follows a URL's `://` with the password of its userinfo masked, if it has one
    (`past_host`: to the last `@` before a fragment, where an `@` past the host cannot be the
    URL's own)."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if past_host and "@" in authority and "@" in rest[len(authority) :].partition("#")[0]:
        # `user:Secret@pw/1@host`: a password holding `@` then `/` runs to the last `@`
        userinfo, _, after = rest.rpartition("@")
    elif "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        after = host + rest[len(authority) :]
    elif ":" in authority and not authority.startswith("[") and not _is_port(authority):
        userinfo, at, after = rest.rpartition("@")  # `user:pa/ss@host`, not `host:port/a@b`
        if not at:
            return rest
    else:
        return rest
    user, colon, _ = userinfo.partition(":")
    return f"{user}:***@{after}" if colon else rest


def _is_port(authority: str) -> bool:
    return authority.rpartition(":")[2].isdigit()


def _hidden_parameter(match: re.Match[str]) -> str:
    name = match.group(1)
    return f"{name}=***" if _SECRET_PARAMETER.search(name) and match.group(2) else match.group(0)


def settings_problems(exc: ValidationError) -> str:
    """`RISKLOOP_NAME: what is wrong` for each invalid variable of a `Settings` refused."""
    return "; ".join(
        f"RISKLOOP_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    )


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (a DBAPI error wrapped by SQLAlchemy: the driver's;
    settings refused: each variable and what is wrong with it), for one-line error reports."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, ValidationError) and cause.title == Settings.__name__:
        return f"invalid setting {settings_problems(cause)}"
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def load_ca_file(context: ssl.SSLContext, path: Path) -> None:
    """Add the certificate authorities of the PEM bundle at `path` to `context`.

    Raises:
        ValueError: the file cannot be read or holds no certificate (one line naming it).
    """
    try:
        context.load_verify_locations(cafile=str(path))
    except FileNotFoundError:
        raise ValueError(f"no file {path}") from None
    except ssl.SSLError as exc:
        raise ValueError(f"{path} holds no PEM certificate TLS can load ({exc.reason})") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read from the environment once per process."""
    return Settings()


def apply_memory_defaults() -> None:
    """Turn off NumPy's transparent-huge-page advice for large arrays, unless the environment
    already says otherwise. Must run before NumPy is imported (NumPy reads it at import).

    With THP in `madvise` mode (this project's reference machine, a 2-core VM), every fresh
    region NumPy advises is faulted in as 2 MB pages, and that kernel time grows faster than
    the data: building the 10x city's employer dataset spent 3.9 s in the kernel with the
    advice and 1.4 s without (the resident dataset 2.9 s and 1.0 s), the default city about the
    same either way. `NUMPY_MADVISE_HUGEPAGE=1` restores NumPy's default.
    """
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


#: How riskloop's processes talk to an MLflow tracking server (`RISKLOOP_MLFLOW_URI=http://...`)
#: unless the environment says otherwise. MLflow's own defaults (7 retries with a backoff
#: factor of 2, 120 s per request) kept `riskloop screen` silent for about 4 minutes when the
#: server's database was down, and a reload against a frozen server past 100 s. With these a
#: request is tried 3 times, 0 then about 2 s apart, each waiting at most 10 s for an answer:
#: a server answering errors is reported in a few seconds, a silent one in about 35 s.
REGISTRY_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def apply_offline_defaults() -> None:
    """Keep BentoML and MLflow from calling home (the city's machines have no internet), and
    bound MLflow's HTTP retries and time-outs (`REGISTRY_HTTP_DEFAULTS`); a variable already
    set in the environment wins."""
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name, value in REGISTRY_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


#: What riskloop's MLflow registry runs on: a database MLflow's SQLAlchemy store takes (any
#: driver: `postgresql+psycopg`), or a tracking server.
REGISTRY_SCHEMES = frozenset({"sqlite", "postgresql", "mysql", "mssql", "http", "https"})


def registry_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be riskloop's MLflow registry, in a sentence; None when it may be
    (whether it opens is for the command that opens it to say).

    Said by every command and at the service's start (a bare `bentoml serve` too), before any
    work. A plain path or a `file://` URI is MLflow's file store, in maintenance mode: commands
    ended in a 67-line traceback, and `serve` reported no champion. A SQLite file that is a
    folder had MLflow retry opening it for about 100 s, printing a warning at each try, before
    `train`, `tune` or `serve` failed.
    """
    scheme = uri.partition("://")[0] if "://" in uri else ""
    if scheme.split("+")[0].lower() not in REGISTRY_SCHEMES:
        return (
            "the MLflow registry must be a database URI (e.g. sqlite:///path/mlruns.db or "
            "postgresql://user@host/db) or an MLflow tracking server's http(s):// address, not "
            f"{hide_password(uri)!r} (a path or file:// URI is MLflow's file store, which "
            "riskloop does not use)"
        )
    location = sqlite_file(uri)
    if location is not None and location.is_dir():
        folder = location.absolute()
        return (
            f"{folder} is a folder, not a database file; give the file's path, e.g. "
            f"sqlite:///{folder / 'mlruns.db'}"
        )
    return None


#: libpq's bounds on a PostgreSQL connection (psycopg passes them on): a connection attempt
#: to a host that takes the TCP connection but never answers gives up after 10 s (by default:
#: `RISKLOOP_STORE_CONNECT_TIMEOUT_S`; it waited over two minutes), and a connection whose
#: server went away unseen (a network cut: nothing acknowledged) fails after 30 s of
#: unacknowledged data, or 25 s of silence when idle (keepalives), instead of the operating
#: system's quarter of an hour. A server process that is frozen while its host still
#: acknowledges is not caught here (docs/deploy.md).
_POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}


def postgres_connect_args(url: str) -> dict[str, Any]:
    """The connection arguments of a PostgreSQL URL's engine (`_POSTGRES_CONNECT_ARGS`, the
    connection's time-out `RISKLOOP_STORE_CONNECT_TIMEOUT_S`; none for another database's):
    every engine riskloop makes on the warnings store takes them."""
    if not url.startswith("postgresql"):
        return {}
    return {**_POSTGRES_CONNECT_ARGS, "connect_timeout": get_settings().store_connect_timeout_s}
