"""The contract points schemathesis found broken, each pinned by a direct request.

Unknown query parameters are refused, query values take only their documented text form, the
score request's one-of rule is in the published schema, every 405 names what is allowed, and
every error answer is JSON and documented as such.
"""

from __future__ import annotations

import gzip
import json
import re

import httpx
import pytest

from tests.processes import LOOPBACK_TLS

from .conftest import Served

WARNING_ROUTES = (
    "/v1/warnings/{id}",
    "/v1/warnings/{id}/explanation",
)


@pytest.fixture(scope="module")
def document(served: Served) -> dict:
    return httpx.get(f"{served.url}/docs.json", timeout=30, verify=LOOPBACK_TLS).json()


def test_unknown_query_parameters_are_refused_and_named(served: Served) -> None:
    headers = served.headers("every")
    with served.client() as client:
        listing = client.get("/v1/warnings", params={"levle": "red"}, headers=headers)
        assert listing.status_code == 400
        assert "levle" in listing.json()["error"] and "level" in listing.json()["error"]
        body = {"entity_ids": ["x"]}
        score = client.post("/v1/wage-arrears/score?debug=1", json=body, headers=headers)
        assert score.status_code == 400
        assert "debug" in score.json()["error"]
        known = client.get("/v1/warnings", params={"level": "red"}, headers=headers)
        assert known.status_code == 200


def test_a_query_parameter_given_twice_is_refused_and_named(served: Served) -> None:
    """`?task=wage-arrears&task=telecom-fraud` answered the telecom warnings alone (the last
    value won, silently): a client meaning "either" got half its answer. Each filter takes one
    value; a repeat is a 400 naming it."""
    headers = served.headers("every")
    with served.client() as client:
        twice = client.get(
            "/v1/warnings?task=wage-arrears&task=telecom-fraud&level=red", headers=headers
        )
        assert twice.status_code == 400, twice.text
        assert "task" in twice.json()["error"] and "level" not in twice.json()["error"]
        audit = client.get("/v1/audit?limit=1&limit=2", headers=headers)
        assert audit.status_code == 400 and "limit" in audit.json()["error"]
        once = client.get("/v1/warnings?task=wage-arrears&level=red", headers=headers)
        assert once.status_code == 200


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("date_to", "0"),
        ("date_from", "20240101"),
        ("overdue", "yes"),
        ("overdue", "1"),
    ],
)
def test_warning_filters_take_only_their_documented_form(
    served: Served, parameter: str, value: str
) -> None:
    with served.client() as client:
        answer = client.get("/v1/warnings", params={parameter: value}, headers=served.headers())
    assert answer.status_code == 422, answer.text


def test_documented_forms_of_dates_and_booleans_are_accepted(served: Served) -> None:
    headers = served.headers("every")
    with served.client() as client:
        listing = client.get(
            "/v1/warnings",
            params={"date_from": "2024-01-01", "overdue": "false"},
            headers=headers,
        )
        assert listing.status_code == 200, listing.text
        naive = client.get("/v1/audit", params={"since": "2024-01-01T00:00:00"}, headers=headers)
        assert naive.status_code == 422
        zoned = client.get("/v1/audit", params={"since": "2024-01-01T00:00:00Z"}, headers=headers)
        assert zoned.status_code == 200, zoned.text


def test_the_score_request_schema_says_exactly_one_source(served: Served, document: dict) -> None:
    operation = document["paths"]["/v1/wage-arrears/score"]["post"]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    # said by `not` (neither both nor neither), no longer by `oneOf`: its two branches both
    # matched records beside `"entity_ids": null` (which the server scores), and code
    # generators read it as a union (test_openapi_clients checks both against the server)
    neither, both = schema["not"]["anyOf"]
    assert sorted(branch["required"] for branch in both["allOf"]) == [["entity_ids"], ["records"]]
    assert sorted(branch["not"]["required"] for branch in neither["allOf"]) == [
        ["entity_ids"],
        ["records"],
    ]
    assert schema["additionalProperties"] is False
    with served.client() as client:
        empty = client.post("/v1/wage-arrears/score", json={}, headers=served.headers())
    assert empty.status_code == 400


def test_error_answers_are_documented_as_json(document: dict) -> None:
    page = document["paths"]["/v1/warnings/{warning_id}/explanation"]["get"]["responses"]
    assert set(page["200"]["content"]) == {"text/html"}
    for status in ("400", "401", "403", "404"):
        assert set(page[status]["content"]) == {"application/json"}, status
    for path, item in document["paths"].items():
        if path.startswith("/v1/"):
            for operation in item.values():
                assert "400" in operation["responses"], path
    sign_in = document["paths"]["/v1/session"]["post"]
    assert sign_in["security"] == []
    assert document["paths"]["/v1/models"]["get"]["security"] == [{"bearer": []}]


def test_the_reveal_limits_retry_after_is_in_the_document(document: dict) -> None:
    """The 429 of a reveal past the hourly limit carries `Retry-After` (issue 12), but
    `/docs.json` did not say so: a client generated from it could not know when to retry."""
    limited = document["paths"]["/v1/warnings/{warning_id}/reveal"]["post"]["responses"]["429"]
    header = limited["headers"]["Retry-After"]
    assert header["required"] is True
    assert header["schema"] == {"type": "integer", "minimum": 1}


def test_a_path_the_mount_cannot_route_is_a_json_404(served: Served) -> None:
    with served.client() as client:
        for bare in ("/v1", "/v1?x=1"):  # the API's root: was the mount's plain-text 404
            assert client.get(bare).status_code == 401
            answer = client.get(bare, headers=served.headers("every"))
            assert answer.status_code == 404 and answer.json()["error"], bare
        for template in WARNING_ROUTES:
            answer = client.get(template.format(id="%0Ax"), headers=served.headers("every"))
            assert answer.status_code == 404
            assert answer.headers["content-type"] == "application/json"
            assert "error" in answer.json()


def test_405_names_the_allowed_methods(served: Served) -> None:
    with served.client() as client:
        answer = client.delete("/v1/warnings", headers=served.headers())
        head_of_a_post = client.head("/v1/wage-arrears/score", headers=served.headers())
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    assert head_of_a_post.status_code == 405 and head_of_a_post.headers["allow"] == "POST"


def test_head_is_the_get_without_its_body(served: Served) -> None:
    """HTTP's HEAD on a GET route: the GET's status and headers, no body; checked like it."""
    with served.client() as client:
        for path in ("/v1/warnings", "/v1/models"):
            got = client.get(path, headers=served.headers())
            head = client.head(path, headers=served.headers())
            assert (head.status_code, got.status_code) == (200, 200), path
            assert head.content == b"" and got.content, path
            for name in ("content-type", "cache-control", "x-content-type-options"):
                assert head.headers[name] == got.headers[name], (path, name)
        assert client.head("/v1/warnings").status_code == 401
        assert client.head("/v1/audit", headers=served.headers("reviewer")).status_code == 403
        assert client.head("/v1/nothing-here", headers=served.headers()).status_code == 404


def test_optional_query_parameters_are_absent_or_text_never_null(document: dict) -> None:
    """`?department=null` is the text "null": the document offers no null branch to send."""
    for path, item in document["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query":
                    assert {"type": "null"} not in parameter["schema"].get("anyOf", []), path


@pytest.mark.parametrize(
    ("purpose", "accepted"),
    [
        ("\u000b" + "x" * 4, False),
        ("\u2003" + "x" * 3 + "\u2003", False),
        ("  " + "x" * 5 + "\n", True),
        ("核实欠薪线索", True),
        ("checking a case", True),
    ],
)
def test_a_reveal_purpose_is_measured_as_the_store_measures_it(
    purpose: str, accepted: bool
) -> None:
    """The schema's pattern and the store's `strip()` agree on what counts as five characters
    (the floor of the store's weighed rule: five Chinese characters)."""
    from pydantic import ValidationError

    from serving.schemas import RevealRequest
    from serving.store.privacy import PURPOSE_MIN_CHARS

    assert (len(purpose.strip()) >= PURPOSE_MIN_CHARS) is accepted
    try:
        RevealRequest(purpose=purpose)
    except ValidationError:
        assert not accepted
    else:
        assert accepted


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/warnings/W-none/reveal", {"purpose": "\u0000" * 12}, "purpose"),
        ("/v1/warnings/W-none/reveal", {"purpose": "checking\u0000 a case"}, "purpose"),
        ("/v1/warnings/W-none/feedback", {"status": "open", "note": "sent \u0000back"}, "note"),
        (
            "/v1/warnings/W-none/feedback",
            {"status": "dispatched", "department": "tax\u0000"},
            "department",
        ),
        ("/v1/session", {"name": "admin\u0000", "password": "a long enough password"}, "name"),
        # a right-to-left override shows "paid" stored as "diap": text reads otherwise than kept
        ("/v1/warnings/W-none/feedback", {"status": "open", "note": "\u202ediap"}, "note"),
        ("/v1/warnings/W-none/reveal", {"purpose": "to call \u2067them back"}, "purpose"),
        # shown as boxes, or not at all: a next-line control, a separator, a zero-width space
        ("/v1/warnings/W-none/feedback", {"status": "open", "note": "abc\u0085def"}, "note"),
        ("/v1/warnings/W-none/feedback", {"status": "open", "note": "abc\u001fdef"}, "note"),
        ("/v1/warnings/W-none/reveal", {"purpose": "checking\u200b the case"}, "purpose"),
    ],
)
def test_free_text_with_control_characters_is_refused(
    served: Served, document: dict, path: str, body: dict, field: str
) -> None:
    """Twelve NUL characters passed as a reveal's ten-character purpose, and a NUL in a note
    was stored (PostgreSQL refuses NUL in text: there it would be a 500). Free text takes no
    control characters besides white space, nor text-direction overrides, and the published
    schema says so."""
    with served.client() as client:
        response = client.post(path, json=body, headers=served.headers("every"))
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]
    model = {"reveal": "RevealRequest", "feedback": "FeedbackCreate", "session": "SessionCreate"}
    schema = document["components"]["schemas"][model[path.rsplit("/", 1)[-1]]]
    prop = schema["properties"][field]
    pattern = prop.get("pattern") or next(p["pattern"] for p in prop["anyOf"] if "pattern" in p)
    assert re.search(pattern, "ok text, with\ttabs and\nlines 中文")
    assert not re.search(pattern, body[field])


def test_case_answers_are_never_cached_and_the_page_carries_the_security_headers(
    served: Served,
) -> None:
    """A warning, its explanation page, a revealed id and a session token went out with no
    `Cache-Control` (a proxy or browser cache could keep case data) and the page without the
    headers the house's pages carry (`nosniff`, referrer policy, framing refused: a meta tag
    cannot refuse framing). Score answers (units' scores, reasons and warning ids) and the
    guard's own refusals went out without them too."""
    headers = served.headers("every")
    with served.client() as client:
        scored, warning_id = _own_warning(served, client, "no-store")
        path = f"/v1/warnings/{warning_id}"
        answers = {
            "score": scored,
            "list": client.get("/v1/warnings", headers=headers),
            "read": client.get(path, headers=headers),
            "page": client.get(f"{path}/explanation", headers=headers),
            "reveal": client.post(
                f"{path}/reveal", json={"purpose": "checking the case file"}, headers=headers
            ),
            "audit": client.get("/v1/audit", params={"warning_id": warning_id}, headers=headers),
        }
        refused = {
            "bad key": client.get("/v1/warnings", headers={"Authorization": "Bearer rk_nope"}),
            "no route": client.get("/v1/nowhere", headers=headers),
        }
    for name, answer in refused.items():
        assert answer.status_code in (401, 404), (name, answer.text)
        assert answer.headers.get("cache-control") == "no-store", name
        assert answer.headers.get("x-content-type-options") == "nosniff", name
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers.get("cache-control") == "no-store", name
        assert answer.headers.get("x-content-type-options") == "nosniff", name
    page = answers["page"].headers
    assert page["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page["content-security-policy"]
    assert "default-src 'none'" in page["content-security-policy"]
    assert page["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("method", "path", "parameter"),
    [
        ("GET", "/v1/warnings/W-%00", "warning_id"),
        ("GET", "/v1/warnings/W-%00/explanation", "warning_id"),
        ("POST", "/v1/warnings/W-%00/feedback", "warning_id"),
        ("POST", "/v1/warnings/W-%00/reveal", "warning_id"),
        ("GET", "/v1/warnings?department=tax%00", "department"),
        ("GET", "/v1/warnings?entity_id=E%001", "entity_id"),
        ("GET", "/v1/audit?actor=key%00", "actor"),
        ("GET", "/v1/audit?warning_id=W-%00", "warning_id"),
    ],
)
def test_a_nul_in_a_path_or_query_value_is_refused_by_the_documented_pattern(
    served: Served, document: dict, method: str, path: str, parameter: str
) -> None:
    """A NUL in a warning id or a text filter reached the store's query: nothing found on
    SQLite, a 500 on PostgreSQL (psycopg: "PostgreSQL text fields cannot contain NUL"). The
    parameters are documented without control characters and refused with a 422 naming them."""
    bodies = {"feedback": {"status": "in_progress"}, "reveal": {"purpose": "checking a case"}}
    body = bodies.get(path.rsplit("/", 1)[-1])
    with served.client() as client:
        answer = client.request(method, path, json=body, headers=served.headers("every"))
    assert answer.status_code == 422, answer.text
    assert [error["loc"][-1] for error in answer.json()["detail"]] == [parameter]
    template = path.split("?")[0].replace("W-%00", "{warning_id}")
    operation = document["paths"][template][method.lower()]
    (documented,) = (p for p in operation["parameters"] if p["name"] == parameter)
    schema = documented["schema"]
    pattern = schema.get("pattern") or next(s["pattern"] for s in schema["anyOf"] if "pattern" in s)
    assert not re.search(pattern, "a\u0000b") and re.search(pattern, "W-1a2b 中文")


def test_the_department_filter_takes_a_code_or_either_name_like_dispatching(
    served: Served,
) -> None:
    """Dispatching takes a department's code or either name and stores the code; the listing
    compared the filter with the stored code as typed, so `?department=人民调解委员会` (the name the
    case was dispatched with) listed nothing."""
    headers = served.headers("every")
    with served.client() as client:
        _, warning_id = _own_warning(served, client, "by-name")
        dispatched = client.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": "人民调解委员会"},
            headers=headers,
        )
        assert dispatched.status_code == 200 and dispatched.json()["department"] == "mediation"
        listed = {
            spelling: client.get(
                "/v1/warnings", params={"department": spelling, "page_size": 500}, headers=headers
            ).json()
            for spelling in (
                "mediation",
                "People's mediation committee",
                "人民调解委员会",
                "MEDIATION",
            )
        }
    ids = {spelling: {w["id"] for w in page["items"]} for spelling, page in listed.items()}
    assert warning_id in ids["mediation"]
    assert all(found == ids["mediation"] for found in ids.values()), ids


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_a_moment_outside_the_calendar_in_utc_is_a_422(served: Served, since: str) -> None:
    """A valid RFC 3339 text whose offset moves it before year 1 or after year 9999 in UTC was
    a 500 (the store's conversion to UTC overflowed); it is refused naming the parameter."""
    with served.client() as client:
        answer = client.get("/v1/audit", params={"since": since}, headers=served.headers("every"))
    assert answer.status_code == 422, answer.text
    assert [error["loc"][-1] for error in answer.json()["detail"]] == ["since"]
    assert served.healthy()


def test_a_read_of_the_audit_log_is_audited_and_part_of_the_cases_story(served: Served) -> None:
    """Reading a warning's story (its notes, departments, reveal purposes) is a look at the
    case: it was the one look the log did not record."""
    from .test_service import as_records, materialized

    task = "wage-arrears"
    records = as_records(task, materialized(served, task).head(50))
    for i, record in enumerate(records):  # units of their own: no other test lists them
        record["entity_id"] = f"audit-read-{i}"
    headers = served.headers("every")
    with served.client() as client:
        scored = client.post(f"/v1/{task}/score", json={"records": records}, headers=headers)
        warning_id = next(r["warning_id"] for r in scored.json()["results"] if r["warning_id"])
        first = client.get("/v1/audit", params={"warning_id": warning_id}, headers=headers)
        second = client.get("/v1/audit", params={"warning_id": warning_id}, headers=headers)
    assert first.status_code == second.status_code == 200, second.text
    before, after = first.json()["items"], second.json()["items"]
    assert [row["action"] for row in before] == ["warning_raised"]
    assert after[:-1] == before
    read = after[-1]
    assert (read["actor"], read["action"]) == ("key:every", "audit_read")
    assert read["detail"] == {"warning_id": warning_id, "rows": 1, "channel": "api"}


def test_the_audit_log_pages_on_with_after_id(served: Served) -> None:
    """`limit` cuts a read short with `next_after_id`; passing it as `after_id` reads on, and
    the pages joined are the whole log of the filter, each row once."""
    task = "wage-arrears"
    headers = served.headers("every")
    with served.client() as client:
        # the scorer key's rows so far (other tests of this service score with it too): this
        # test reads the log after the last of them, its own rows only
        start, cut = 0, True
        while cut:
            params = {"actor": "key:scorer", "limit": 5000, "after_id": start}
            earlier = client.get("/v1/audit", params=params, headers=headers).json()
            start = earlier["items"][-1]["id"] if earlier["items"] else start
            cut = earlier["next_after_id"] is not None
        for i in range(5):  # score requests of the scorer key: five audit rows at least
            body = {"records": [{"entity_id": f"page-audit-{i}"}], "explain": False}
            scored = client.post(f"/v1/{task}/score", json=body, headers=served.headers("scorer"))
            assert scored.status_code == 200, scored.text
        params = {"actor": "key:scorer", "after_id": start}
        whole = client.get("/v1/audit", params=params, headers=headers).json()
        assert whole["next_after_id"] is None and len(whole["items"]) >= 5
        pages, after = [], start
        while True:
            params = {"actor": "key:scorer", "limit": 2, "after_id": after}
            page = client.get("/v1/audit", params=params, headers=headers).json()
            pages.append(page)
            if page["next_after_id"] is None:
                break
            assert page["next_after_id"] == page["items"][-1]["id"] and len(page["items"]) == 2
            after = page["next_after_id"]
        bad = client.get("/v1/audit", params={"after_id": -1}, headers=headers)
    assert [row for page in pages for row in page["items"]] == whole["items"]
    assert len(pages) == (len(whole["items"]) + 1) // 2  # no empty last page
    assert bad.status_code == 422 and "after_id" in bad.text


def test_bodies_are_read_alike_on_every_route_and_refusals_are_sentences(served: Served) -> None:
    """A body without a Content-Type is JSON on every route (FastAPI's routes named a missing
    field), a body that is not JSON is a 400 as on the score routes, a compressed one a 415,
    and a refused pattern is said in words, not as a regular expression."""
    warning = "/v1/warnings/W-" + "0" * 32
    headers = served.headers("every")
    with served.client() as client:

        def post(path: str, body: bytes, **extra: str) -> httpx.Response:
            return client.post(path, content=body, headers={**headers, **extra})

        untyped = post(f"{warning}/feedback", b'{"status": "bogus"}')
        assert untyped.status_code == 422 and "status" in untyped.text, untyped.text
        assert "Field required" not in untyped.text
        for path in (f"{warning}/feedback", f"{warning}/reveal", "/v1/wage-arrears/score"):
            broken = post(path, b'{"status": ', **{"Content-Type": "application/json"})
            assert broken.status_code == 400, (path, broken.text)
            assert set(broken.json()) == {"error", "detail"}  # the one error shape
            assert broken.json()["detail"][0]["type"] == "json_invalid"
        zipped = post(
            f"{warning}/feedback",
            gzip.compress(b'{"status": "dispatched"}'),
            **{"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert zipped.status_code == 415 and "gzip" in zipped.json()["error"]
        typed = {"Content-Type": "application/json"}
        spaces = post(f"{warning}/reveal", json.dumps({"purpose": " " * 12}).encode(), **typed)
        control = post(
            f"{warning}/feedback",
            json.dumps({"status": "in_progress", "note": "a\u0007b"}).encode(),
            **typed,
        )
    assert spaces.status_code == 422 and "at least 5 visible characters" in spaces.text
    assert control.status_code == 422 and "control characters" in control.text
    for answer in (spaces, control):
        assert "\\u" not in answer.text and "^[" not in answer.text, answer.text


def _own_warning(served: Served, client: httpx.Client, prefix: str) -> tuple[httpx.Response, str]:
    """A score of 100 disputes under ids of the test's own (`prefix-N`: no other test lists or
    steps them) and the first warning it raised."""
    from .test_service import as_records, materialized

    task = "dispute-escalation"
    records = as_records(task, materialized(served, task).head(100))
    for i, record in enumerate(records):
        record["entity_id"] = f"{prefix}-{i}"
    scored = client.post(
        f"/v1/{task}/score", json={"records": records}, headers=served.headers("every")
    )
    return scored, next(r["warning_id"] for r in scored.json()["results"] if r["warning_id"])


def _refused_query(answer: httpx.Response, parameter: str) -> str:
    """The 422 a malformed filter gets, naming `parameter`; its sentence."""
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert set(body) == {"error", "detail"}, body
    assert [error["loc"] for error in body["detail"]] == [["query", parameter]], body
    return str(body["error"])


def test_a_cursor_with_a_page_number_is_refused(served: Served) -> None:
    """`?cursor=start&page=5` answered page 5 of the walk with a `next_cursor`; following it
    from there skipped the warnings before it (an outside user saw 1069 of 1109). A walk goes
    on by `next_cursor` alone and pages by number carry none: the two are one or the other."""
    headers = served.headers("every")
    with served.client() as client:
        for page in ("5", "2"):
            mixed = client.get(
                "/v1/warnings",
                params={"cursor": "start", "page": page, "page_size": 10},
                headers=headers,
            )
            error = _refused_query(mixed, "page")
            assert "cursor" in error and "one or the other" in error, error
        # page 1, which a client may send with every request, is the walk's own first page
        first = client.get(
            "/v1/warnings", params={"cursor": "start", "page": 1, "page_size": 10}, headers=headers
        )
        walk = client.get("/v1/warnings", params={"cursor": "start"}, headers=headers)
        assert (
            first.status_code == 200
            and first.json()["items"]
            == client.get(
                "/v1/warnings", params={"cursor": "start", "page_size": 10}, headers=headers
            ).json()["items"]
        )
        numbered = client.get("/v1/warnings", params={"page": 2}, headers=headers)
    assert walk.status_code == 200 and "next_cursor" in walk.json(), walk.text
    assert numbered.status_code == 200 and "next_cursor" not in numbered.json(), numbered.text


def test_a_date_range_that_ends_before_it_starts_is_refused(served: Served) -> None:
    """`date_from` after `date_to` answered 200 and an empty list (the console says 400): a
    client could not tell a reversed range from a quiet month."""
    headers = served.headers("every")
    with served.client() as client:
        reversed_range = client.get(
            "/v1/warnings",
            params={"date_from": "2024-03-01", "date_to": "2024-02-01"},
            headers=headers,
        )
        one_day = client.get(
            "/v1/warnings",
            params={"date_from": "2024-03-01", "date_to": "2024-03-01"},
            headers=headers,
        )
    error = _refused_query(reversed_range, "date_from")
    assert "2024-03-01" in error and "date_to" in error and "2024-02-01" in error, error
    assert one_day.status_code == 200, one_day.text


def test_an_expected_version_the_warning_never_had_is_not_a_stale_read(served: Served) -> None:
    """`expected_version` 99 on a warning at version 1 answered 409 "changed since you read it
    (now version 1...)": nobody read version 99. The answer says the version is ahead of the
    current one and names the field; a version older than the warning's is the stale read's.
    Both are the 409 of a version that is not the warning's (the document's, and what a
    client checking the schema takes for a valid request refused by the warning's state)."""
    headers = served.headers("every")
    with served.client() as client:
        _, warning_id = _own_warning(served, client, "version-ahead")
        path = f"/v1/warnings/{warning_id}/feedback"
        version = client.get(f"/v1/warnings/{warning_id}", headers=headers).json()["version"]

        def step(expected: int) -> httpx.Response:
            body = {"status": "dispatched", "department": "mediation", "expected_version": expected}
            return client.post(path, json=body, headers=headers)

        ahead = step(version + 98)
        assert ahead.status_code == 409, ahead.text
        assert [e["loc"] for e in ahead.json()["detail"]] == [["body", "expected_version"]]
        error = ahead.json()["error"]
        assert f"{version + 98} is ahead of the warning's current version {version}" in error
        assert "changed since" not in error, error
        assert client.get(f"/v1/warnings/{warning_id}", headers=headers).json()["version"] == (
            version
        )
        assert step(version).status_code == 200
        stale = step(version)
    assert stale.status_code == 409 and "changed since you read it" in stale.json()["error"]
    assert "ahead" not in stale.json()["error"], stale.text


def _json_invalid(answer: httpx.Response) -> str:
    """The 400 every route gives a body that is not JSON, in the one error shape; its sentence."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == {"error", "detail"}, body
    assert [error["type"] for error in body["detail"]] == ["json_invalid"], body
    return str(body["error"])


def test_a_body_with_a_byte_order_mark_is_refused_alike_on_every_route(served: Served) -> None:
    """The score route refused a body starting with UTF-8's byte order mark and the feedback
    route took it: one guard now refuses it on every body route, in the same 400."""
    warning = "/v1/warnings/W-" + "0" * 32
    bodies = {
        f"{warning}/feedback": {"status": "in_progress"},
        "/v1/wage-arrears/score": {"entity_ids": ["x"]},
        f"{warning}/reveal": {"purpose": "checking the case file"},
        "/v1/session": {"name": "nobody", "password": "a long enough password"},
        "/v1/admin/reload": {},
    }
    headers = {**served.headers("every"), "Content-Type": "application/json"}
    with served.client() as client:
        for path, body in bodies.items():
            content = b"\xef\xbb\xbf" + json.dumps(body).encode()
            error = _json_invalid(client.post(path, content=content, headers=headers))
            assert "byte order mark" in error, (path, error)


def test_a_malformed_body_to_the_reload_route_is_refused_like_on_the_others(
    served: Served,
) -> None:
    """`POST /v1/admin/reload` reads no body, so it took any text sent as JSON (and reloaded);
    a body that is present is JSON there too, else the 400 every route gives."""
    headers = {**served.headers("operator"), "Content-Type": "application/json"}
    with served.client() as client:
        for content in (b'{"status": ', b"not json", b"\xff\xfe"):
            _json_invalid(client.post("/v1/admin/reload", content=content, headers=headers))
        typed = client.post(
            "/v1/admin/reload", content=b"x", headers={**headers, "Content-Type": "text/plain"}
        )
        bodiless = client.post("/v1/admin/reload", headers=headers)
        an_object = client.post("/v1/admin/reload", json={}, headers=headers)
    assert typed.status_code == 415, typed.text
    assert bodiless.status_code == an_object.status_code == 200, (bodiless.text, an_object.text)


def test_a_notes_line_breaks_are_stored_as_the_console_stores_them(served: Served) -> None:
    """A client that sends CRLF line breaks (as browsers and Windows tools do) has its note
    kept with one LF a break, as the console keeps what a browser sends; the published limit
    is checked on the text as sent."""
    headers = served.headers("every")
    with served.client() as client:
        _, warning_id = _own_warning(served, client, "crlf-note")
        typed = "第一行：已联系企业\r\n第二行：下周复核\r第三行"
        stepped = client.post(
            f"/v1/warnings/{warning_id}/feedback",
            json={"status": "dispatched", "department": "mediation", "note": typed},
            headers=headers,
        )
        assert stepped.status_code == 200, stepped.text
        history = client.get(f"/v1/warnings/{warning_id}", headers=headers).json()["history"]
    assert history[-1]["note"] == "第一行：已联系企业\n第二行：下周复核\n第三行"
