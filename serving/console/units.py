"""Finding one unit's cases by the id the departments know it by (an employer's credit code, a
resident's id number, a dispute's number): an employer phones about an inspection, a resident
asks why the anti-fraud centre called.

The id is sent in a form (POST, with the session's CSRF token), never in an address: it does
not reach the browser's history, a proxy's log or a Referer. The console turns it into the
unit's pseudonym at once, as the store keeps every id, and shows the queue filtered to that
pseudonym (`QueueFilters.entity`): the cases of the unit this person may see, and only those.
That look is audited as every queue view is, the filter naming the pseudonym, never the id.

Views are plain functions of (console, request, visit, form) like `pages`' (run in a worker
thread).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.frame_checks import ENTITY_ID_MAX_CHARS, ENTITY_ID_PATTERN
from serving.console.app import PREFIX, Console, Visit, error_page, redirect
from serving.console.forms import FormFieldError, field_problem, form_text
from serving.console.pages import refused_page
from serving.console.queue_page import unit_refused
from serving.store.free_text import code_points, without_refused
from serving.store.pseudonym import id_spellings

_ENTITY_ID = re.compile(ENTITY_ID_PATTERN)


def find_unit(console: Console, request: Request, visit: Visit, form: FormData | None) -> Response:
    """The queue of the unit whose own id the form carries (`unit_id`); an id that is none
    draws the queue again, the box holding what was typed and what is wrong with it beside it:
    one holding a character no text may hold (a zero-width space pasted with an id copied from
    a web page) comes back without it, the character named."""
    assert form is not None
    not_theirs = refused_page(console, request, visit, "warning_list")
    if not_theirs is not None:
        return not_theirs
    try:
        typed = form_text(form, "unit_id")
    except FormFieldError as exc:
        sent = form.get("unit_id")
        if not isinstance(sent, str):  # a file: no page sends one
            return error_page(console, request, visit, 400, field_problem(exc, visit.t))
        problem = (
            visit.t("unit.characters", chars=code_points(exc.refused))
            if exc.refused
            else visit.t("unit.format", n=ENTITY_ID_MAX_CHARS)
        )
        given_back = without_refused(sent).strip()[:ENTITY_ID_MAX_CHARS]
        return unit_refused(console, request, visit, given_back, problem)
    # as a Chinese input method types it in full-width mode (９１３３０５…): the id it means;
    # without the spaces of a number read out in groups (`MD 0000 0003945`: no id holds one)
    given = "".join(unicodedata.normalize("NFKC", typed).split())
    if not given:
        return unit_refused(console, request, visit, "", visit.t("unit.empty"))
    if len(given) > ENTITY_ID_MAX_CHARS or not _ENTITY_ID.match(given):
        return unit_refused(
            console,
            request,
            visit,
            typed[:ENTITY_ID_MAX_CHARS],
            visit.t("unit.format", n=ENTITY_ID_MAX_CHARS),
        )
    # as typed, else as the city's tables write an id of its shape (capitals, no separators)
    spellings = id_spellings(given)
    found = next(
        (s for s in spellings if console.store.list_warnings(entity_id=s, page_size=1)["total"]),
        given,
    )
    return redirect(f"{PREFIX}/queue?{urlencode({'entity': console.store.pseudonymise(found)})}")
