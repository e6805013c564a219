"""The closed loop's records: warnings, dispositions, audit log, scored records, people and
departments (SQLAlchemy).

HTTP-free; the service and the CLI both use `WarningStore`.
"""

from serving.store.common import (
    OUTAGE_MESSAGE,
    OUTAGE_RETRY_AFTER_S,
    StaleWarning,
    StoreUnavailable,
    WarningNotFound,
    is_outage,
    outage_cause,
)
from serving.store.notes import RepeatedNote
from serving.store.passwords import MIN_PASSWORD_CHARS, PeopleError
from serving.store.people import (
    SignInRefused,
    UserNotFound,
    UserRecord,
)
from serving.store.reads import MAX_PAGE_SIZE
from serving.store.repository import WarningStore
from serving.store.scores import PreparedScore, ScoreWrite
from serving.store.transitions import ALLOWED_TRANSITIONS, TransitionError, check_transition
from serving.store.walk import WALK_START, InvalidCursor

__all__ = [
    "ALLOWED_TRANSITIONS",
    "MAX_PAGE_SIZE",
    "MIN_PASSWORD_CHARS",
    "OUTAGE_MESSAGE",
    "OUTAGE_RETRY_AFTER_S",
    "WALK_START",
    "InvalidCursor",
    "PeopleError",
    "PreparedScore",
    "RepeatedNote",
    "ScoreWrite",
    "SignInRefused",
    "StaleWarning",
    "StoreUnavailable",
    "TransitionError",
    "UserNotFound",
    "UserRecord",
    "WarningNotFound",
    "WarningStore",
    "check_transition",
    "is_outage",
    "outage_cause",
]
