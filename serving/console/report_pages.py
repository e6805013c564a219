"""The console's model reports: the reports `riskloop report` wrote, listed and opened inside
the console (same sign-in), each under the policy's `models_read`.

A report is listed once, under its English file's name (`wage-arrears-v1.html`), whichever of
its editions exist; opening it shows the edition in the visitor's language (the Chinese one is
`wage-arrears-v1.zh.html`), or the other one with a note saying only that one exists; a
Chinese file opened by its name in English says it is the Chinese edition and links the English.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from features.tasks import TASK_NAMES
from models.pages import report_edition
from serving.console import case as case_view
from serving.console.app import REPORT_SECURITY_POLICY, Console, Visit, error_page, secured
from serving.console.pages import refused_page

_REPORT_NAME = re.compile(r"^(?P<task>[a-z][a-z-]*)-v(?P<version>\d+)\.html$")


def _report_files(console: Console) -> list[dict[str, Any]]:
    """One entry per report: its English name, task, version, newest write and its editions
    (language -> file name) as found in the reports folder."""
    folder = console.backend.settings.reports_dir
    editions: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.glob("*.html")) if folder.is_dir() else []:
        name, lang = report_edition(path.name)
        editions.setdefault(name, {})[lang] = path
    found = []
    for name, files in sorted(editions.items()):
        match = _REPORT_NAME.match(name)
        written = max(path.stat().st_mtime for path in files.values())
        found.append(
            {
                "name": name,
                "task": match["task"] if match and match["task"] in TASK_NAMES else None,
                "version": match["version"] if match else None,
                "when": case_view.local_time(datetime.fromtimestamp(written, UTC).isoformat()),
                "editions": {lang: path.name for lang, path in files.items()},
            }
        )
    return found


def reports(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """The model reports `riskloop report` wrote, listed."""
    not_theirs = refused_page(console, request, visit, "models_read")
    if not_theirs is not None:
        return not_theirs
    listed = [
        {**item, "title": _report_title(item["name"], visit)} for item in _report_files(console)
    ]
    return console.render(
        "console/reports.html",
        visit.lang,
        request,
        visit=visit,
        section="reports",
        reports=listed,
    )


def report(console: Console, request: Request, visit: Visit, _form: FormData | None) -> Response:
    """One report inside the console's layout (the report itself in a same-origin frame), in
    the visitor's language when that edition exists."""
    not_theirs = refused_page(console, request, visit, "models_read")
    if not_theirs is not None:
        return not_theirs
    requested = request.path_params["name"]
    name, asked = report_edition(requested)
    entry = next((item for item in _report_files(console) if item["name"] == name), None)
    if entry is None:
        return error_page(console, request, visit, 404, visit.t("error.no_report"))
    editions: dict[str, str] = entry["editions"]
    # the report's own (English) name opens the visitor's language; a Chinese file's name, that
    # edition; a missing edition, the one there is, with a note saying so
    wanted = visit.lang if requested == name else asked
    lang = wanted if wanted in editions else sorted(editions)[0]
    edition_note = None
    own_edition = None  # the visitor's language's edition, when another one is shown
    if lang != visit.lang:
        if visit.lang in editions:  # the other edition asked for by its name: say which it is
            edition_note = visit.t(f"reports.edition_{lang}")
            own_edition = name  # the report's own name opens the visitor's language
        else:
            edition_note = visit.t(f"reports.only_{lang}")
    return console.render(
        "console/report.html",
        visit.lang,
        request,
        visit=visit,
        section="reports",
        name=editions[lang],
        report_lang=lang,
        edition_note=edition_note,
        own_edition=own_edition,
        title=_report_title(name, visit),
    )


def _report_title(name: str, visit: Visit) -> str:
    match = _REPORT_NAME.match(name)
    if match is None or match["task"] not in TASK_NAMES:
        return visit.t("reports.frame", name=name)
    task = visit.t(f"task.{match['task']}")
    return visit.t("reports.frame", name=f"{task} v{match['version']}")


def report_file(
    console: Console, request: Request, visit: Visit, _form: FormData | None
) -> Response:
    """The report as `riskloop report` wrote it: self-contained, under its own strict CSP."""
    found = _report_path(console, request, visit)
    if isinstance(found, Response):
        return found
    response = secured(HTMLResponse(found.read_text("utf-8")), REPORT_SECURITY_POLICY)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _report_path(console: Console, request: Request, visit: Visit) -> Path | Response:
    """A listed report's file, either edition (never a path the request made up), or the
    refusal to show."""
    not_theirs = refused_page(console, request, visit, "models_read")
    if not_theirs is not None:
        return not_theirs
    name = request.path_params["name"]
    files = {file for item in _report_files(console) for file in item["editions"].values()}
    if name not in files:
        return error_page(console, request, visit, 404, visit.t("error.no_report"))
    return Path(console.backend.settings.reports_dir) / name
