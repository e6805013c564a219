"""A QA case worker's report on the console: one test per defect, each saying what was wrong.

(3., a form sent under another person's sign-in, is in `test_form_of_another_person`.)
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tests.console.conftest import Console, session_client


def _showing(html: str) -> str:
    """The queue's "共 N 条" line (or its empty message)."""
    found = re.search(r"共 \d+ 条|没有符合条件的预警。", html)
    assert found is not None, html[:2000]
    return found.group(0)


def test_an_unknown_department_or_district_is_a_bad_filter_and_shown_names_are_codes(
    person: Any, console_service: Console
) -> None:
    """1. An unknown department or district in the queue's address listed nothing ("no
    warning matches", 200), as if there were none; a district or department written as the
    page shows it (吴兴区, Wuxing) did the same. Now an unknown one is a 400 naming the field,
    like any filter the console cannot read, and a shown name, in either language, is its code.
    """
    from serving.console.i18n import Messages

    district, _count = console_service.sql(
        "SELECT district, count(*) AS n FROM warnings WHERE task = 'wage-arrears' "
        "AND district IS NOT NULL GROUP BY district ORDER BY n DESC LIMIT 1"
    )[0]
    department, name_zh, name_en = console_service.sql(
        "SELECT code, name_zh, name_en FROM departments WHERE code = 'county_centre'"
    )[0]
    sup = person()
    sup.sign_in("audit")
    with session_client(console_service, sup) as client:
        for query, label in (
            ("district=Nowhere", "所属区县"),
            ("department=nowhere", "承办部门"),
            ("district=" + quote("黄浦区"), "所属区县"),
        ):
            answer = client.get(f"/console/queue?{query}")
            assert answer.status_code == 400, (query, answer.text[:1000])
            assert "筛选条件有误" in answer.text and label in answer.text, query
            assert "不是可选的值" in answer.text and "没有符合条件的预警" not in answer.text
        by_code = _showing(client.get(f"/console/queue?district={district}").text)
        assert by_code != "没有符合条件的预警。"
        for shown in (
            Messages("zh").word("district", district),
            Messages("en").word("district", district),
        ):
            answer = client.get(f"/console/queue?district={quote(shown)}")
            assert answer.status_code == 200, (shown, answer.text[:1000])
            assert _showing(answer.text) == by_code, shown
            # the dropdown has the district chosen under its code, not the text as typed
            assert f'<option value="{district}" selected>' in answer.text, shown
        by_department = _showing(client.get(f"/console/queue?department={department}").text)
        for shown in (name_zh, name_en, name_en.upper()):
            answer = client.get(f"/console/queue?department={quote(shown)}")
            assert answer.status_code == 200, (shown, answer.text[:1000])
            assert _showing(answer.text) == by_department, shown
