"""A case opened as people name it (its address, or the queue's box), its chart refused on the record as a chart, and a reveal's
link opened by someone else.

- the short id the console shows everywhere (`W-df0010e5`), told by phone, answered 404 "no
  such warning", and so did the full id in capitals: now it opens the case (a redirect to its
  own address) when it names exactly one warning this person may see; a case they may not see
  is refused exactly as by its full id (same page, same audit row); a start shared by several
  warnings, or shorter than the short id, says so;
- a refused chart was on the record as a refused case page (`attempted: warning_page`);
- the supervisor opening a colleague's reveal link was told "the identity is shown once only
  ... reveal it again", as if they had seen it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.console.conftest import PASSWORD, Console, screenshots_at_two_widths, session_client


def _person(name: str, department: str, role: str, lang: str = "zh") -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(name, department=department, role=role, password=PASSWORD, lang=lang)


def _refusals(console_service: Console, name: str) -> list[tuple[Any, ...]]:
    """The person's refused attempts: (task, model version, detail), oldest first."""
    rows = console_service.sql(
        "SELECT task, model_version, detail FROM audit_log "
        "WHERE actor = ? AND action = 'access_refused' ORDER BY id",
        f"user:{name}",
    )
    return [(task, version, json.loads(detail)) for task, version, detail in rows]


@contextmanager
def _twin(console_service: Console, warning_id: str) -> Iterator[str]:
    """A second warning whose id starts as `warning_id`'s does (its first 12 hex digits),
    a copy of it in a month long past, for as long as the block runs."""
    twin = warning_id[:14] + ("0" if warning_id[14] != "0" else "1") * 20
    columns = [row[1] for row in console_service.sql("PRAGMA table_info(warnings)")]
    chosen = {"id": "?", "period": "'1990-01-01'"}
    console_service.sql(
        f"INSERT INTO warnings ({', '.join(columns)}) "
        f"SELECT {', '.join(chosen.get(c, c) for c in columns)} FROM warnings WHERE id = ?",
        twin,
        warning_id,
    )
    try:
        yield twin
    finally:
        console_service.sql("DELETE FROM warnings WHERE id = ?", twin)


def test_a_short_id_or_capitals_open_the_case_and_several_or_too_few_digits_say_so(
    person: Any, console_service: Console
) -> None:
    _person("named.sup", "county_centre", "supervisor")
    _person("named.sup.en", "county_centre", "supervisor", lang="en")
    sup = person()
    sup.sign_in("named.sup")
    warning_id = sup.open_case(status="open")
    short = sup.page.locator("main h1").inner_text()
    assert warning_id[:10] in short
    with session_client(console_service, sup) as client:
        for named in (
            warning_id[:10],
            warning_id[:10].upper(),
            warning_id.upper(),
            warning_id[2:10],  # the digits alone
            warning_id[:20] + "?lang=en",
        ):
            answer = client.get(f"/console/cases/{named}")
            assert answer.status_code == 303, (named, answer.status_code)
            query = "?lang=en" if "?" in named else ""
            assert answer.headers["location"] == f"/console/cases/{warning_id}{query}", named
        for named in ("W-" + "0" * 32, "W-zz0010e5", warning_id + "0"):
            assert client.get(f"/console/cases/{named}").status_code == 404, named
        # the queue's box: the same reading, an empty box back to the queue
        answer = client.get("/console/cases", params={"id": f" {warning_id[:10].upper()} "})
        assert answer.headers["location"] == f"/console/cases/{warning_id}"
        assert client.get("/console/cases?id=").headers["location"] == "/console/queue"
    # in the browser: the short id as told by phone opens the case itself
    sup.go(f"/console/cases/{warning_id[:10].upper()}")
    assert sup.page.url == f"{console_service.url}/console/cases/{warning_id}"
    assert sup.page.locator("main h1").inner_text() == short
    english = person()
    english.sign_in("named.sup.en")
    for viewer, lang in ((sup, "zh"), (english, "en")):
        viewer.go("/console/queue")
        # the queue with its box is photographed whole by tests/console/test_pages.py (a
        # full-page shot of a 92-case queue at a phone's width took seconds here)
        box = viewer.page.get_by_label("预警编号" if lang == "zh" else "Warning id")
        box.fill(warning_id[:10])
        viewer.page.get_by_role("button", name="打开" if lang == "zh" else "Open").click()
        viewer.page.wait_for_load_state()
        assert viewer.page.url == f"{console_service.url}/console/cases/{warning_id}"
        viewer.go(f"/console/cases/{warning_id[:8]}")
        text = viewer.page.locator("main").inner_text()
        if lang == "zh":
            assert "预警编号太短" in text and "8 位" in text
        else:
            assert "too short" in text and "8 digits" in text
        screenshots_at_two_widths(viewer.page, f"case-id-short-{lang}")
        with _twin(console_service, warning_id) as twin:
            answer = viewer.go(f"/console/cases/{warning_id[:10]}")
            assert answer.status == 400
            text = viewer.page.locator("main").inner_text()
            if lang == "zh":
                assert f"不止一条预警的编号以 {warning_id[:10]} 开头" in text
            else:
                assert f"More than one warning's id begins with {warning_id[:10]}" in text
            screenshots_at_two_widths(viewer.page, f"case-id-several-{lang}")
            # a digit more tells them apart
            viewer.go(f"/console/cases/{twin[:20]}")
            assert viewer.page.url.endswith(f"/console/cases/{twin}")
        assert viewer.watch.outside == []


def test_a_short_id_of_a_case_one_may_not_see_is_refused_as_its_full_id(
    person: Any, console_service: Console
) -> None:
    _person("named.sup2", "county_centre", "supervisor")
    _person("named.lab", "labour_inspection", "officer")
    sup = person()
    sup.sign_in("named.sup2")
    warning_id = sup.open_case(status="open")  # an officer sees no case that is not dispatched
    officer = person()
    officer.sign_in("named.lab")
    pages = []
    for named in (warning_id, warning_id[:10], warning_id.upper()):
        answer = officer.go(f"/console/cases/{named}")
        assert answer.status == 403 and answer.request.redirected_from is None, named
        assert officer.page.url.endswith(f"/console/cases/{named}")  # the full id not said
        pages.append(officer.page.locator("main").inner_text())
    assert pages[0] == pages[1] == pages[2]
    assert warning_id not in pages[0]
    rows = _refusals(console_service, "named.lab")[-3:]
    assert rows[0] == rows[1] == rows[2]
    assert rows[0][2]["attempted"] == "warning_page" and rows[0][2]["warning_id"] == warning_id


def test_a_refused_chart_is_on_the_record_as_a_chart(person: Any, console_service: Console) -> None:
    _person("named.sup3", "county_centre", "supervisor")
    _person("named.lab3", "labour_inspection", "officer")
    sup = person()
    sup.sign_in("named.sup3")
    warning_id = sup.open_case(status="open")
    officer = person()
    officer.sign_in("named.lab3")
    with session_client(console_service, officer) as client:
        answer = client.get(f"/console/cases/{warning_id}/waterfall.png?lang=zh")
    assert answer.status_code == 403
    task, version, detail = _refusals(console_service, "named.lab3")[-1]
    assert detail["attempted"] == "warning_chart" and detail["warning_id"] == warning_id
    assert task == "wage-arrears" and version


def test_a_reveal_link_opened_by_someone_else_is_the_case_page_without_a_word_of_it(
    person: Any, console_service: Console
) -> None:
    _person("named.zhao", "county_centre", "supervisor")
    _person("named.wang", "county_centre", "supervisor")
    _person("named.wang.en", "county_centre", "supervisor", lang="en")
    zhao = person()
    zhao.sign_in("named.zhao")
    warning_id = zhao.open_case(status="open")
    form = zhao.page.locator("form[aria-labelledby='act-reveal']")
    form.locator("textarea[name=purpose]").fill("核实欠薪线索，上门走访")
    form.get_by_role("button").click()
    zhao.page.wait_for_load_state()
    assert zhao.page.locator("#revealed").count() == 1
    link = zhao.page.url.removeprefix(console_service.url)
    assert f"/console/cases/{warning_id}?shown=" in link
    for name, gone in (("named.wang", "身份信息只显示一次"), ("named.wang.en", "shown once only")):
        other = person()
        other.sign_in(name)
        answer = other.go(link)
        assert answer.status == 200
        text = other.page.locator("main").inner_text()
        assert gone not in text and other.page.locator("#revealed").count() == 0
        assert warning_id[:10] in other.page.locator("main h1").inner_text()
        lang = "en" if name.endswith(".en") else "zh"
        screenshots_at_two_widths(other.page, f"reveal-link-of-another-{lang}")
    # and never for a ticket that names nothing
    other.go(f"/console/cases/{warning_id}?shown=nothing-held")
    assert "shown once only" not in other.page.locator("main").inner_text()
    # the person who revealed it is still told, on reload, that it is gone
    zhao.page.reload()
    assert zhao.page.locator("#revealed").count() == 0
    assert "身份信息只显示一次" in zhao.page.locator("main").inner_text()
