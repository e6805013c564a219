"""Keep the values of refused requests out of the server log.

BentoML logs a request's pydantic `ValidationError` with its traceback (riskloop's score routes
now refuse their bodies themselves, with one WARNING line by field and error type:
`serving.score_routes.ScoreInput`; this filter stays for any other such line), and
pydantic's message quotes each offending value (`input_value='330102199001017788 '`): an
identity-card number sent with a stray space, or a phone number in the wrong field, reached
the log in clear, where issue 6 allows no raw identifier. The filter keeps the line and what
an operator needs (each error's field and message) and drops the values and the traceback.

An error's location is data too: a key the schema does not know (`{"330522199001011234": 0}`
in a record, refused as an extra field) is the client's text, an identifier or a forged log
line alike. `logged_errors` writes such a key as `UNKNOWN_FIELD`, and each line escaped and
bounded (`serving.store.free_text.one_line`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from serving.schemas import field_names
from serving.store.free_text import one_line

#: The logger BentoML's HTTP app reports a request's exception on (`log_exception`).
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
#: What a log line writes for a location part that is not a field of the API's schemas.
UNKNOWN_FIELD = "<unknown field>"
#: Where a location starts (FastAPI's first part), besides the schemas' field names.
_LOCATION_ROOTS = frozenset({"body", "query", "path", "header", "cookie"})
#: At most this many characters of errors on one log line (a body may hold thousands).
LOGGED_ERRORS_MAX_CHARS = 2000


def logged_location(loc: Iterable[Any]) -> str:
    """An error's location as a log line may show it: list positions and the schemas' field
    names as they are, any other part as `UNKNOWN_FIELD`; `(body)` for the body itself."""
    known = field_names() | _LOCATION_ROOTS
    parts = [str(part) if isinstance(part, int) or part in known else UNKNOWN_FIELD for part in loc]
    return ".".join(parts) or "(body)"


def logged_errors(errors: Iterable[Mapping[str, Any]], *, message: bool = False) -> str:
    """Pydantic errors for one log line: each by location and type (and pydantic's message,
    which quotes no value once `include_input` is off, when `message`), escaped to one line
    and at most `LOGGED_ERRORS_MAX_CHARS` characters."""
    described = (
        f"{logged_location(e['loc'])}: {e['msg']} [{e['type']}]"
        if message
        else f"{logged_location(e['loc'])} [{e['type']}]"
        for e in errors
    )
    return one_line("; ".join(described), LOGGED_ERRORS_MAX_CHARS)


class RedactValidationInput(logging.Filter):
    """Rewrites a record carrying a `ValidationError` to name fields, never values."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            fields = logged_errors(
                error.errors(include_url=False, include_context=False, include_input=False),
                message=True,
            )
            message = one_line(record.getMessage(), LOGGED_ERRORS_MAX_CHARS)
            record.msg = "%s: %d validation error(s) for %s: %s"
            record.args = (message, error.error_count(), error.title, fields)
            record.exc_info = None
            record.exc_text = None
        return True


def redact_request_logs() -> None:
    """Install the filter on BentoML's request logger (once; called at service start-up)."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, RedactValidationInput) for f in logger.filters):
        logger.addFilter(RedactValidationInput())
