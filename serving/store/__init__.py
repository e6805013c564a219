"""The closed loop's records: warnings, dispositions, audit log, scored records (SQLAlchemy).

HTTP-free; the service and the CLI both use `WarningStore`.
"""

from serving.store.repository import (
    ALLOWED_TRANSITIONS,
    MAX_PAGE_SIZE,
    PreparedScore,
    TransitionError,
    WarningNotFound,
    WarningStore,
    check_transition,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "MAX_PAGE_SIZE",
    "PreparedScore",
    "TransitionError",
    "WarningNotFound",
    "WarningStore",
    "check_transition",
]
