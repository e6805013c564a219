"""Keep the values of refused requests out of the server log.

BentoML logs a request's pydantic `ValidationError` with its traceback (riskloop's score routes
now refuse their bodies themselves, with one WARNING line by field and error type:
`serving.score_routes.ScoreInput`; this filter stays for any other such line), and
pydantic's message quotes each offending value (`input_value='330102199001017788 '`): an
identity-card number sent with a stray space, or a phone number in the wrong field, reached
the log in clear, where issue 6 allows no raw identifier. The filter keeps the line and what
an operator needs (each error's field and message) and drops the values and the traceback.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

#: The logger BentoML's HTTP app reports a request's exception on (`log_exception`).
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


class RedactValidationInput(logging.Filter):
    """Rewrites a record carrying a `ValidationError` to name fields, never values."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']} [{e['type']}]"
                for e in error.errors(include_url=False, include_context=False, include_input=False)
            )
            message = record.getMessage()
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
