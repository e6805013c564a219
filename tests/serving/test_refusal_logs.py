"""A refused body's log line names the schema's fields, never a key the client made up.

A QA run sent records whose extra keys were a credit code, an identity-card number and a phone
number: each reached the service log in clear inside "refused a score body (400): body.records.0.
91330522LDEWBJK7KU [extra_forbidden]", and a key holding a line break wrote a forged [ERROR] line
of its own. The key is the client's data: the log writes `<unknown field>` in its place, on one
line, bounded; the answer to the client still names it (it is the client's own text).
"""

from __future__ import annotations

import logging
import time

import httpx
from pydantic import ValidationError

from serving.log_redaction import LOGGED_ERRORS_MAX_CHARS, UNKNOWN_FIELD, RedactValidationInput
from serving.schemas import score_request_model

from .conftest import Served

SCORE = "/v1/wage-arrears/score"
CREDIT_CODE = "91330522LDEWBJK7KU"
ID_CARD = "330522199001011234"
PHONE = "tel 13812345678"
FORGED = "FORGED LINE 7f3a"
FORGERY = f"x\n2026-12-05T06:30:00+0000 [ERROR] [api_server:1] {FORGED}"


def _log_after(served: Served, offset: int, marker: str) -> str:
    """The service log written since `offset`, once `marker` is in it (the log is a pipe)."""
    deadline = time.monotonic() + 5
    while True:
        with open(served.log, "rb") as log:
            log.seek(offset)
            written = log.read().decode("utf-8", "replace")
        if marker in written or time.monotonic() > deadline:
            return written


def test_unknown_keys_of_a_refused_body_stay_out_of_the_log(served: Served) -> None:
    start = served.log.stat().st_size
    record = {"entity_id": "x1", CREDIT_CODE: 1, ID_CARD: 0, PHONE: 1, FORGERY: 1}
    many = [{"entity_id": f"E{i}", f"{ID_CARD}-{i}": 1} for i in range(400)]
    with httpx.Client(base_url=served.url, timeout=60) as client:
        refused = client.post(SCORE, json={"records": [record]}, headers=served.headers())
        wrong_type = client.post(
            SCORE,
            json={"records": [{"entity_id": "x2", "si_arrears_months_3m": "lots"}]},
            headers=served.headers(),
        )
        flood = client.post(SCORE, json={"records": many}, headers=served.headers())
    assert refused.status_code == wrong_type.status_code == flood.status_code == 400
    # the answer is the client's: it may name its own keys
    assert ["body", "records", 0, CREDIT_CODE] in [e["loc"] for e in refused.json()["detail"]]
    written = _log_after(served, start, "si_arrears_months_3m [int_type]")
    for secret in (CREDIT_CODE, ID_CARD, "13812345678", FORGED):
        assert secret not in written, (secret, written[-3000:])
    assert f"body.records.0.{UNKNOWN_FIELD} [extra_forbidden]" in written, written[-3000:]
    assert "body.records.0.si_arrears_months_3m [int_type]" in written, written[-3000:]
    refusals = [line for line in written.splitlines() if "refused a score body" in line]
    assert len(refusals) == 3, refusals
    assert all(len(line) < LOGGED_ERRORS_MAX_CHARS + 300 for line in refusals), refusals


def test_the_filter_for_bentomls_own_lines_writes_no_unknown_key() -> None:
    """`RedactValidationInput` (any other validation error BentoML logs) writes locations as
    the score routes do."""
    model = score_request_model("wage_arrears")
    try:
        model.model_validate({"records": [{"entity_id": "x1", ID_CARD: 0, FORGERY: 1}]})
    except ValidationError as exc:
        error = exc
    record = logging.LogRecord(
        "bentoml",
        logging.ERROR,
        __file__,
        1,
        "Exception on /v1/x\n[POST]",
        None,
        (ValidationError, error, None),
    )
    assert RedactValidationInput().filter(record)
    line = record.getMessage()
    assert "\n" not in line and ID_CARD not in line and FORGED not in line, line
    assert f"records.0.{UNKNOWN_FIELD}: Extra inputs are not permitted" in line, line
