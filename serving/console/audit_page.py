"""The console's audit log page (`/console/audit`): the rows `GET /v1/audit` and `riskloop audit`
read, for the city's auditors, filtered by a GET form whose address is a link to keep.

The filters are read by the store's own checks, as the API reads them (`audit_window`,
`checked_audit_actions`, `audit_warning`); a filter naming nothing comes back in its box with
what is wrong beside it. Rows are listed newest first (an auditor looks at what happened
lately; the API and the CLI list them in the order written): a page is the rows before
`before_id`, or going back to newer rows the ones after `after_id`. Each view is itself an
`audit_read` row with the API's detail keys; anyone else is refused and that is on the record.

An actor is typed as the log names them (a sign-in name, `user:NAME`, a key's name) or as the
table shows a person (their display name, "李监察 (lab)" too): the one account it names is
filtered exactly and the read records that account. Stored details are shown in the reader's
words (`audit_words`), the log itself left as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from features.tasks import TASK_NAMES
from serving.console import case as case_view
from serving.console.app import Console, Visit
from serving.console.audit_words import in_words
from serving.console.i18n import Messages
from serving.console.pages import refused_page
from serving.console.queries import typed_day
from serving.store.common import WARNING_ID
from serving.store.free_text import code_points, refused_characters
from serving.store.people import typed_user_name
from serving.store.reads import (
    AUDIT_ACTIONS,
    FIRST_DAY,
    LAST_DAY,
    SHORT_ID_DIGITS,
    AuditFilterError,
    audit_window,
)

#: rows on one page (the API's default is 500: a page a person reads is shorter)
PAGE_ROWS = 100
#: the form's filters, in the order the form shows them, and the longest text each takes (the
#: API's limits: `schemas.WarningIdFilter`, `schemas.NameFilter`)
FILTERS = {"warning_id": 40, "actor": 200, "task": 64, "action": 64, "since": 32, "until": 32}
#: how many warning ids a row listing several (a queue's look) shows by their short ids
_LISTED_IDS = 12
#: a person as the table shows them: "李监察 (lab)"
_SHOWN_PERSON = re.compile(r"(?P<display>.+?)\s*[(（](?P<name>[^()（）\s]+)[)）]")


def audit_log(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The audit log, filtered as the form asks, one page of rows; a refused filter, the form
    again with what was typed and why (400, or 404 for a warning the log never mentions)."""
    not_theirs = refused_page(console, request, visit, "audit_read")
    if not_theirs is not None:
        return not_theirs
    t = visit.t
    params = request.query_params
    typed = {name: params.get(name, "").strip() for name in FILTERS}
    problems: dict[str, str] = {}
    for name, limit in FILTERS.items():
        refused = refused_characters(typed[name])
        if refused:
            problems[name] = t("audit.problem.characters", chars=code_points(refused))
        elif len(typed[name]) > limit:
            problems[name] = t("filter_error.too_long", value=typed[name][:limit] + "…")
    if typed["task"] and "task" not in problems and typed["task"] not in TASK_NAMES:
        problems["task"] = t("filter_error.choice", value=typed["task"])
    days = {name: _day(typed[name], name, problems, t) for name in ("since", "until")}
    after_id = _row_id(params.get("after_id", "").strip() or "0")
    before_id = _row_id(params.get("before_id", "").strip() or "0")
    if after_id is None or before_id is None:
        problems["after_id"] = t("audit.problem.position")
    status = 400
    start = end = None
    actions = warning_id = None
    if not problems:
        try:
            start, end = audit_window(days["since"], days["until"], now=datetime.now(UTC))
            if typed["action"]:
                actions = console.store.checked_audit_actions([typed["action"]])
            if typed["warning_id"]:
                warning_id = console.store.audit_warning(typed["warning_id"])
        except AuditFilterError as exc:
            problems[exc.parameter] = _filter_problem(exc, typed, t)
            status = 404 if exc.kind == "unknown" else 400
    actor, account = _actor(console, typed["actor"], problems, t)
    if problems:
        return _page(console, request, visit, typed, problems=problems, status=status)
    # newest first: a page is the rows before `before_id` (the first page: the newest), or,
    # going back to newer rows, the ones right after `after_id`, shown newest first too
    newer = bool(after_id)
    rows = console.store.audit_rows(
        since_id=after_id or 0,
        before_id=None if newer else before_id or None,
        newest_first=not newer,
        warning_id=warning_id,
        actor=actor,
        actions=actions,
        since=start,
        until=end,
        task=typed["task"] or None,
        limit=PAGE_ROWS + 1,
    )
    more = len(rows) > PAGE_ROWS  # beyond this page, in the direction read
    rows = rows[:PAGE_ROWS]
    if newer:
        rows.reverse()
    # the API's read, key for key: the filter asked, rows shown
    console.store.audit_read(
        actor=visit.actor.audit_name,
        rows=len(rows),
        warning_id=warning_id,
        of_actor=actor,
        task=typed["task"] or None,
        actions=actions,
        since=start,
        until=end,
        after_id=after_id,
        before_id=None if newer else before_id,
    )
    kept = {name: value for name, value in typed.items() if value}
    pages = _pager(kept, rows, newer=newer, more=more, paged=bool(after_id or before_id))
    person = cache(lambda actor: case_view.actor_in_words(actor, t, console.store.display_name))
    department = cache(lambda code: console.department_name(code, visit.lang))
    return _page(
        console,
        request,
        visit,
        typed,
        rows=[_row(row, t, person, department) for row in rows],
        pages=pages,
        account=account and t("audit.actor_is", typed=typed["actor"], name=account),
    )


def _page(
    console: Console,
    request: Request,
    visit: Visit,
    typed: Mapping[str, str],
    *,
    problems: Mapping[str, str] | None = None,
    status: int = 200,
    **shown: Any,
) -> Response:
    t = visit.t
    task_options = [(task, t(f"task.{task}")) for task in TASK_NAMES]
    action_options = [(action, t.word("audit_action", action)) for action in AUDIT_ACTIONS]
    return console.render(
        "console/audit.html",
        visit.lang,
        request,
        visit=visit,
        status=status,
        section="audit",
        typed=typed,
        problems=problems or {},
        task_options=task_options,
        action_options=action_options,
        **{"rows": [], "pages": {}, "account": None, **shown},
    )


def _actor(
    console: Console, typed: str, problems: dict[str, str], t: Messages
) -> tuple[str | None, str | None]:
    """The actor filter `typed` asks for, and the account it was found as when typed as a
    person is shown (their display name, or "display name (name)" copied from the table):
    `user:NAME`, exact. A sign-in name, or anything else (a key's name, `user:NAME`), is the
    filter as before. A display name several accounts share is a problem naming them."""
    if not typed or "actor" in problems or ":" in typed:
        return typed or None, None
    users = console.store.list_users()
    if any(user.name == typed_user_name(typed) for user in users):
        return typed, None
    shown = _SHOWN_PERSON.fullmatch(typed)
    if shown is not None and any(
        user.name == shown["name"] and _same(user.display_name, shown["display"]) for user in users
    ):
        return f"user:{shown['name']}", shown["name"]
    named = [user.name for user in users if _same(user.display_name, typed)]
    if len(named) > 1:
        problems["actor"] = t("audit.problem.actor_several", value=typed, names=", ".join(named))
        return None, None
    if named:
        return f"user:{named[0]}", named[0]
    return typed, None


def _same(display_name: str, typed: str) -> bool:
    """Whether `typed` is `display_name`, spaces and letter case aside."""
    return " ".join(display_name.split()).casefold() == " ".join(typed.split()).casefold()


def _day(value: str, name: str, problems: dict[str, str], t: Messages) -> date | None:
    """A day typed as the queue's date boxes take it (`queries.typed_day`), or None with the
    problem noted under `name`."""
    if not value or name in problems:
        return None
    try:
        return typed_day(value)
    except ValueError:
        problems[name] = t("filter_error.date", value=value[:64])
        return None


def _row_id(text: str) -> int | None:
    """An audit row id (0 too) written in a link, or None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _pager(
    kept: Mapping[str, str],
    rows: list[dict[str, Any]],
    *,
    newer: bool,
    more: bool,
    paged: bool,
) -> dict[str, str]:
    """The links to the older and newer pages of the same filter, the rows shown newest
    first ({} when there is one page). `newer`: the page was read towards newer rows (from
    `after_id`); `more`: rows lie beyond it in the direction it was read; `paged`: it is not
    the first page. A page with no rows left to show links back to the newest rows."""

    def link(**position: int) -> str:
        query = {**kept, **{name: str(value) for name, value in position.items()}}
        return f"?{urlencode(query)}" if query else "?"

    if not rows:
        return {"first": link()} if paged else {}
    pages = {}
    if newer or more:  # read towards newer rows, older ones are behind; else only if more
        pages["older"] = link(before_id=rows[-1]["id"])
    if (newer and more) or (not newer and paged):
        pages["newer"] = link(after_id=rows[0]["id"])
    return pages


def _filter_problem(exc: AuditFilterError, typed: Mapping[str, str], t: Messages) -> str:
    """A filter the store refused, in the person's words."""
    if exc.parameter == "warning_id":
        return t(
            f"audit.problem.warning_{exc.kind}", value=typed["warning_id"][:40], n=SHORT_ID_DIGITS
        )
    if exc.parameter == "action":
        return t("audit.problem.action", value=typed["action"][:64])
    if exc.kind == "range":  # a day the store holds nothing on (before 1970, or past 9998)
        return t(
            "audit.problem.date_range", value=typed[exc.parameter], first=FIRST_DAY, last=LAST_DAY
        )
    if exc.parameter == "since":
        return t("audit.problem.since_future", value=typed["since"])
    return t("audit.problem.until_before", value=typed["until"], since=typed["since"])


def _row(
    row: Mapping[str, Any],
    t: Messages,
    person: Callable[[str], str],
    department: Callable[[str], str],
) -> dict[str, Any]:
    """One audit row as the page shows it: city time, people and words, the warning it is
    about (a link when it names one), and its details as `key: value` lines in words
    (`department` names a department's code in the page's language)."""
    detail = row["detail"] if isinstance(row["detail"], dict) else {"detail": row["detail"]}
    warning = detail.get("warning_id")
    if not (isinstance(warning, str) and WARNING_ID.fullmatch(warning)):
        warning = None  # (none, or a filter's start of an id: a detail like any other)
    details = [
        (_key(key, t), _value(key, value, t, department))
        for key, value in detail.items()
        if not (key == "warning_id" and warning is not None)
    ]
    if row.get("model_version"):
        details.append((_key("model_version", t), str(row["model_version"])))
    label = t.word("audit_action", row["action"])
    return {
        "id": row["id"],
        "when": case_view.local_time(row["at"]),
        "actor": person(str(row["actor"])),
        "action": row["action"],
        "action_label": None if label == row["action"] else label,
        "task": t.word("task", row["task"]) if row["task"] else "–",
        "warning": warning,
        "short_id": warning and case_view.short_id(warning),
        "details": details,
    }


def _key(key: str, t: Messages) -> str:
    """A detail's key in the person's language (`audit_detail.*`); one the catalog does not
    name as words ("model version"): a phone's narrow card breaks lines between them."""
    label = t.word("audit_detail", key)
    return key.replace("_", " ") if label == key else label


def _value(key: str, value: Any, t: Messages, department: Callable[[str], str]) -> str:
    """A detail's value as a person reads it: a stored text in words (`audit_words.in_words`),
    lists joined, nested details as `key: value` (counts by level as `level: count`), a
    queue's many warning ids by their short ids and how many."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return t("audit.yes") if value else t("audit.no")
    if isinstance(value, float):  # a score: its 16 digits are noise to a reader
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        # counts by risk level (an offline scoring's `levels`): each named by the level's words
        return "; ".join(
            f"{t.word('level', name) if key == 'levels' else _key(name, t)}: "
            f"{_value(name, item, t, department)}"
            for name, item in value.items()
        )
    if isinstance(value, list | tuple):
        if not value:
            return "–"
        if key == "warning_ids":
            shown = ", ".join(case_view.short_id(str(item)) for item in value[:_LISTED_IDS])
            more = len(value) - _LISTED_IDS
            ids = shown + (" …" if more > 0 else "")
            return (
                t("audit.id_one", ids=ids)
                if len(value) == 1
                else t("audit.ids", n=len(value), ids=ids)
            )
        return ", ".join(_value(key, item, t, department) for item in value)
    if isinstance(value, str):
        return in_words(key, value, t, department)
    return str(value)
