"""The audit page says what the log stores in the reader's words (`serving.console.audit_words`).

QA read the Chinese page in a browser: a refused access's rule ("administrators manage users,
keys and models and see no case content"), a failed sign-in's reason ("wrong password"), and
codes (`warning_list`, `console_queue`, `api`) were shown as stored; the time and the actor
broke mid-date and mid-name at 1280 px; a person's display name, as the table shows them, found
nothing in the actor filter; and a short warning id was said to need "8 digits" though ids hold
the letters a–f. The log itself is left as it was written: the words are the page's.

The policy's rules are checked against the policy itself (a wider walk than the module's, and
every Chinese sentence written in serving/policy.py); the few sentences matched as text are
checked to be still written where they are said to be.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.console import audit_words
from serving.console.i18n import Messages, catalog
from tests.console.conftest import (
    PASSWORD,
    Console,
    create_person,
    screenshot,
    signed_in_client,
)
from tests.console.test_pages import _overflowing
from tests.processes import LOOPBACK_TLS

ROOT = Path(__file__).resolve().parents[2]
ZH, EN = Messages("zh"), Messages("en")
_DETAILS = re.compile(r'<dl class="card">(.*?)</dl>', re.S)
#: codes the Chinese page must not show in a row's details
_CODES = re.compile(
    r"<dd>(warning_list|warning_page|warning_read|audit_read|feedback|console_queue|"
    r"console_case|console_page|console_form|console|api|users_manage)</dd>"
)


def _policy_questions() -> Iterator[Any]:
    """The policy's answers over more than `audit_words` asks: every department, keys of up
    to three scopes, names of their own (a quote in one), each action, warning and step."""
    from features.tasks import TASK_NAMES
    from models.departments import DEPARTMENTS
    from serving.policy import ACTIONS, ROLES, TRANSITIONS, Actor, decide, may_note
    from serving.store.models import STATUSES

    codes = [department.code for department in DEPARTMENTS]
    cases = [
        {"task": task, "department": department, "status": status}
        for task in TASK_NAMES
        for department in (*codes, "Shanghai Legal Aid", None)
        for status in STATUSES
    ]
    scopes = ("score", "review", "feedback", "reveal", "audit", "admin")
    actors = [Actor.user("wang", role, department) for role in ROLES for department in codes]
    actors += [Actor.user("li", "auditor", "old department")]
    actors += [
        Actor.key(name, held, department)
        for name in ("ingest", "o'brien-feed")
        for n in range(4)
        for held in combinations(scopes, n)
        for department in (None, *codes, "Old name")
    ]
    for index, actor in enumerate(actors):
        for action in ACTIONS:
            steps = (None, *TRANSITIONS) if action == "feedback" else (None,)
            for case in (None, *cases[index % 7 :: 7]):  # a seventh of the cases each
                for step in steps:
                    task = TASK_NAMES[index % len(TASK_NAMES)] if action == "score" else None
                    yield decide(actor, action, task=task, warning=case, transition=step)
        for case in cases[index % 5 :: 5]:
            yield may_note(actor, case)


def test_every_rule_the_policy_writes_reads_in_chinese() -> None:
    decisions = list(_policy_questions())
    assert len(decisions) > 100_000
    wrong = {
        (decision.rule, audit_words.rule_in_words(decision.rule, ZH))
        for decision in decisions
        if audit_words.rule_in_words(decision.rule, ZH) != decision.rule_zh
    }
    assert wrong == set()
    # the English page shows the policy's sentence as it is written
    assert all(audit_words.rule_in_words(d.rule, EN) == d.rule for d in decisions[:5000])


def test_every_chinese_rule_written_in_the_policy_is_one_the_page_knows() -> None:
    """A branch the walk of `audit_words.policy_decisions` does not reach (a rule added for a
    case it does not ask about) would leave its sentence in English: each Chinese sentence
    serving/policy.py writes (a literal, or an f-string's fixed parts) is one it learnt."""
    learnt = {decision.rule_zh for decision in audit_words.policy_decisions()}
    tree = ast.parse((ROOT / "serving/policy.py").read_text("utf-8"))
    written = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            continue
        position = {"_refuse": 1, "_allow": 1, "Decision": 2}.get(call.func.id)
        if position is None or len(call.args) <= position:
            continue
        chinese = call.args[position]
        if isinstance(chinese, ast.Constant) and isinstance(chinese.value, str):
            written.append(re.escape(chinese.value))
        elif isinstance(chinese, ast.JoinedStr):
            written.append(
                "".join(
                    re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                    for part in chinese.values
                )
            )
    assert len(written) > 25
    unknown = [w for w in written if not any(re.fullmatch(w, text) for text in learnt)]
    assert unknown == []


def test_rules_and_reasons_matched_as_text_are_still_written_where_said() -> None:
    for path, rules in audit_words.TEXT_RULES.items():
        source = (ROOT / path).read_text("utf-8")
        assert [rule for rule in rules if f'"{rule}"' not in source] == [], path
    people = (ROOT / "serving/store/people.py").read_text("utf-8")
    reasons = [reason for reason in audit_words.REASONS if reason not in people]
    assert reasons == []
    assert "; locked until {" in people and "account locked until {" in people


def test_every_view_the_console_records_has_words() -> None:
    recorded = {
        view
        for source in (ROOT / "serving/console").glob("*.py")
        for view in re.findall(r'"view": "(\w+)"', source.read_text("utf-8"))
    }
    assert len(recorded) >= 4
    assert recorded <= set(audit_words.VIEWS)


def test_every_known_value_has_words_in_both_languages() -> None:
    from serving.console.ended import ENDED_RULES

    for lang in ("zh", "en"):
        words = catalog(lang)  # type: ignore[arg-type]
        for group, codes in audit_words.CODES.values():
            assert [code for code in codes if f"{group}.{code}" not in words] == [], group
        keys = {*audit_words.REASONS.values(), "locked", "then_locked"}
        assert [key for key in keys if f"audit_reason.{key}" not in words] == []
        keyed = [f"ended.{why}" for why in ENDED_RULES] + [
            key for rules in audit_words.TEXT_RULES.values() for key in rules.values()
        ]
        assert [key for key in keyed if f"audit_rule.{key}" not in words] == [], lang
    # words, not the code again
    assert ZH.word("audit_attempted", "warning_list") == "查看预警列表"
    assert EN.word("audit_attempted", "warning_list") == "list warnings"


def test_values_in_words_and_unknown_ones_as_stored() -> None:
    def department(code: str) -> str:
        return {"tax": "税务局"}.get(code, code)

    def said(key: str, value: str, t: Messages = ZH) -> str:
        return audit_words.in_words(key, value, t, department)

    assert said("rule", "only auditors read the audit log") == "只有审计员可以查看审计日志"
    assert said("rule", "key 'feed' lacks the 'review' scope this request needs") == (
        "密钥 'feed' 缺少此请求所需的 'review' 权限范围"
    )
    assert said("rule", "session expired (idle time-out)") == "会话已过期（长时间未操作）"
    assert said("rule", "missing or wrong CSRF token") == "表单缺少安全令牌或令牌不对"
    assert said("rule", "too many failed sign-ins from this client") == "此客户端登录失败次数过多"
    assert said("reason", "wrong password") == "密码错误"
    assert said("reason", "unknown user") == "没有这个用户名的账号"
    assert said("reason", "wrong password; locked until 2026-12-07T10:30:05+08:00") == (
        "密码错误，账号因此锁定至 2026-12-07 10:30"
    )
    assert said("reason", "account locked until 2026-12-07T02:30:05+00:00") == (
        "账号已锁定，至 2026-12-07 10:30"
    )
    assert said("attempted", "warning_list") == "查看预警列表"
    assert said("view", "console_queue") == "控制台预警队列"
    assert said("channel", "api") == "接口（API）"
    assert said("channel", "console", EN) == "console"
    assert said("step", "send_back") == "退回主管"
    assert said("department", "tax") == "税务局"
    # an old or unknown value, or a code under another key, as stored, never an error
    for key, value in [
        ("rule", "a rule written by a version long gone"),
        ("rule", "key lacks the 'review' scope this request needs"),
        ("reason", "wrong password; locked until soon"),
        ("attempted", "time_travel"),
        ("step", "dispatch.submit"),
        ("channel", "carrier pigeon"),
        ("note", "console"),
        ("view", ""),
    ]:
        assert said(key, value) == value
        assert said(key, value, EN) == value


def _details(html: str) -> str:
    return "\n".join(_DETAILS.findall(html))


@pytest.fixture(scope="module")
def refusals(console_service: Console) -> None:
    """A refused access of each kind QA saw, and failed sign-ins, made through the service: an
    administrator (display name 系统管理员) opening the queue, an officer another department's
    case, a scoring key listing warnings, wrong passwords over the API and the console."""
    from models.settings import get_settings
    from serving.auth import create_key
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        store.create_user(
            "sysadm46",
            department="data_office",
            role="admin",
            password=PASSWORD,
            display_name="系统管理员",
        )
    other = console_service.sql(
        "SELECT id FROM warnings WHERE department IS NULL OR department != 'labour_inspection' "
        "LIMIT 1"
    )[0][0]
    with signed_in_client(console_service, "sysadm46") as admin:
        assert admin.get("/console/queue").status_code == 403
    with signed_in_client(console_service, "lab") as officer:
        assert officer.get(f"/console/cases/{other}").status_code in (403, 404)
    key = create_key("scoring-only-46", ("score",))
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as api:
        refused = api.get("/v1/warnings", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 403
        for name in ("sysadm46", "nobody-at-all-46"):
            failed = api.post("/v1/session", json={"name": name, "password": "not-it"})
            assert failed.status_code == 401, failed.text[:200]
    with httpx.Client(base_url=console_service.url, timeout=30, verify=LOOPBACK_TLS) as client:
        token = client.get("/console/sign-in").cookies["riskloop_console_pre"]
        client.post("/console/sign-in", data={"name": "sysadm46", "password": "x", "csrf": token})


@pytest.mark.usefixtures("refusals")
def test_an_auditor_reads_refusals_and_failed_sign_ins_in_words(
    console_service: Console,
) -> None:
    # as stored: the log keeps the English rule and the codes
    stored = json.loads(
        console_service.sql(
            "SELECT detail FROM audit_log WHERE action = 'access_refused' "
            "AND actor = 'user:sysadm46' ORDER BY id DESC LIMIT 1"
        )[0][0]
    )
    assert stored["rule"] == "administrators manage users, keys and models and see no case content"
    assert stored["attempted"] == "warning_list" and stored["channel"] == "console"

    create_person("words46", "data_office", "auditor")
    create_person("words46en", "data_office", "auditor", lang="en")
    with signed_in_client(console_service, "words46") as client:
        refused = client.get("/console/audit", params={"action": "access_refused"})
        failed = client.get("/console/audit", params={"action": "sign_in_failed"})
    with signed_in_client(console_service, "words46en") as client:
        refused_en = client.get("/console/audit", params={"action": "access_refused"})
        failed_en = client.get("/console/audit", params={"action": "sign_in_failed"})
    assert refused.status_code == failed.status_code == 200
    details = _details(refused.text)
    assert "<dd>管理员只管理用户、密钥和模型，不查看案件内容</dd>" in details
    assert "<dd>办事人员只能查看和处理派发给本部门的预警</dd>" in details
    assert "<dd>密钥 &#39;scoring-only-46&#39; 缺少此请求所需的 &#39;review&#39; 权限范围</dd>" in (
        details
    )
    assert "<dd>查看预警列表</dd>" in details and "<dd>控制台</dd>" in details
    assert "<dd>接口（API）</dd>" in details
    assert "see no case content" not in refused.text
    assert "dispatched to their own department" not in refused.text
    assert _CODES.findall(details) == []
    sign_ins = _details(failed.text)
    assert "<dd>密码错误</dd>" in sign_ins and "<dd>没有这个用户名的账号</dd>" in sign_ins
    assert "wrong password" not in sign_ins and "unknown user" not in sign_ins
    assert _CODES.findall(sign_ins) == []
    # the English page: the rule as written, codes as words
    assert refused_en.status_code == 200 and 'lang="en"' in refused_en.text
    details_en = _details(refused_en.text)
    assert "<dd>administrators manage users, keys and models and see no case content</dd>" in (
        details_en
    )
    assert "<dd>list warnings</dd>" in details_en and "<dd>console</dd>" in details_en
    assert "<dd>warning_list</dd>" not in details_en and "<dd>api</dd>" not in details_en
    assert "<dd>no account has that name</dd>" in _details(failed_en.text)


def test_the_actor_filter_takes_a_display_name_exactly(console_service: Console) -> None:
    from models.settings import get_settings
    from serving.store import WarningStore

    with WarningStore.from_settings(get_settings()) as store:
        for name in ("twin46a", "twin46b"):
            store.create_user(
                name, department="tax", role="officer", password=PASSWORD, display_name="同名 人"
            )
    with signed_in_client(console_service, "lab"):
        pass  # a sign-in of lab's on the record
    with signed_in_client(console_service, "audit") as client:
        by_name = client.get("/console/audit", params={"actor": "lab", "action": "sign_in"})
        shown = client.get("/console/audit", params={"actor": "李监察", "action": "sign_in"})
        _actor, read = _last_read(console_service)
        pasted = client.get("/console/audit", params={"actor": "李监察 (lab)", "action": "sign_in"})
        twins = client.get("/console/audit", params={"actor": "同名  人"})
        nobody = client.get("/console/audit", params={"actor": "李监"})
    assert by_name.status_code == shown.status_code == pasted.status_code == 200
    rows = _rows(by_name.text)
    assert rows and all("李监察 (lab)" in row for row in rows)
    assert _rows(shown.text) == rows == _rows(pasted.text)
    assert "“李监察”是账号 lab 的显示名" in shown.text
    assert 'value="李监察"' in shown.text  # the box keeps what was typed
    # the read is on the record with the account it read, exactly
    assert read["of_actor"] == "user:lab"
    assert twins.status_code == 400
    assert "twin46a, twin46b" in twins.text and 'href="#f-actor"' in twins.text
    assert nobody.status_code == 200 and "没有符合条件的审计记录" in nobody.text
    # the field says what it takes
    assert "或显示名" in by_name.text and 'aria-describedby="audit-actor-hint"' in by_name.text


def _rows(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<td data-label=.*?</tr>", html, re.S)


def _last_read(console_service: Console) -> tuple[str, dict[str, Any]]:
    actor, detail = console_service.sql(
        "SELECT actor, detail FROM audit_log WHERE action = 'audit_read' ORDER BY id DESC LIMIT 1"
    )[0]
    return actor, json.loads(detail)


def test_a_short_warning_id_is_told_it_takes_letters_too(console_service: Console) -> None:
    with signed_in_client(console_service, "audit") as client:
        short = client.get("/console/audit", params={"warning_id": "W-7101"})
        wrong = client.get("/console/audit", params={"warning_id": "W-xyz12345"})
    assert short.status_code == 400
    assert "W- 之后至少要有 8 位数字或字母 a–f" in short.text and "W-0123abcd" in short.text
    assert "8 位数字（" not in short.text
    assert wrong.status_code == 400 and "W- 加数字和字母 a–f" in wrong.text
    assert "十六进制" not in wrong.text
    for lang in ("zh", "en"):
        words = catalog(lang)  # type: ignore[arg-type]
        for kind in ("format", "short"):
            assert "a–f" in words[f"audit.problem.warning_{kind}"], (lang, kind)


# how many lines each cell of a column takes (its text's line boxes)
_LINES = """(column) => Array.from(document.querySelectorAll(
        `table.audit tbody td:nth-child(${column})`)).map(td => {
    const range = document.createRange();
    range.selectNodeContents(td);
    const tops = new Set(Array.from(range.getClientRects())
        .filter(r => r.width > 0).map(r => Math.round(r.top)));
    return [td.innerText, tops.size];
})"""


@pytest.mark.usefixtures("refusals")
def test_time_and_actor_read_whole_at_a_desk_and_fit_a_phone(person: Any) -> None:
    create_person("words46b", "data_office", "auditor")
    viewer = person()
    viewer.sign_in("words46b", path="/console/audit?action=access_refused")
    for lang in ("zh", "en"):
        page = viewer.page
        if lang == "en":
            page.locator("header form[action$='/lang'] button").click()
            page.wait_for_load_state()
        page.set_viewport_size({"width": 1280, "height": 900})
        assert page.locator("table.audit tbody tr").count() > 0
        for column in (1, 2):
            cells = page.evaluate(_LINES, column)
            assert [cell for cell in cells if cell[1] != 1] == [], (lang, column)
        assert any("系统管理员 (sysadm46)" in cell[0] for cell in page.evaluate(_LINES, 2))
        screenshot(page, f"audit-words-{lang}-1280")
        page.set_viewport_size({"width": 390, "height": 844})
        assert _overflowing(page) == [], lang
        times = page.evaluate(_LINES, 1)
        assert [cell for cell in times if cell[1] != 1] == [], lang
        screenshot(page, f"audit-words-{lang}-390")
        if lang == "zh":  # a person found by the name the table shows them by
            page.set_viewport_size({"width": 1280, "height": 900})
            viewer.go("/console/audit?actor=系统管理员&action=access_refused")
            assert "“系统管理员”是账号 sysadm46 的显示名" in page.locator("main").inner_text()
            assert page.locator("table.audit tbody tr").count() == 1
            screenshot(page, "audit-words-actor-zh-1280")
            viewer.go("/console/audit?action=access_refused")
    assert viewer.watch.errors == [] and viewer.watch.outside == []
