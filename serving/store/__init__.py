"""The closed loop's records: warnings, dispositions, audit log, scored records, people and
departments (SQLAlchemy).

HTTP-free; the service and the CLI both use `WarningStore`.
"""

from serving.store.people import (
    MIN_PASSWORD_CHARS,
    PeopleError,
    SignInRefused,
    UserNotFound,
    UserRecord,
)
from serving.store.repository import (
    ALLOWED_TRANSITIONS,
    MAX_PAGE_SIZE,
    PreparedScore,
    StaleWarning,
    TransitionError,
    WarningNotFound,
    WarningStore,
    check_transition,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "MAX_PAGE_SIZE",
    "MIN_PASSWORD_CHARS",
    "PeopleError",
    "PreparedScore",
    "SignInRefused",
    "StaleWarning",
    "TransitionError",
    "UserNotFound",
    "UserRecord",
    "WarningNotFound",
    "WarningStore",
    "check_transition",
]
