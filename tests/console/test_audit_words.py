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
    # the page's words depend on the rule alone: each of the few hundred rules is put into
    # words once, not twice for each of the million answers (11 s of CPU)
    in_chinese = {rule: audit_words.rule_in_words(rule, ZH) for rule in {d.rule for d in decisions}}
    wrong = {
        (decision.rule, in_chinese[decision.rule])
        for decision in decisions
        if in_chinese[decision.rule] != decision.rule_zh
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
    for path, details in audit_words.TEXT_VALUES.items():
        source = (ROOT / path).read_text("utf-8")
        written = [text for values in details.values() for text in values]
        assert [text for text in written if f'"{text}"' not in source] == [], path
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


def test_every_attempt_the_code_names_has_words() -> None:
    """What a refusal records as `attempted` where the code names it (QA, 2026-12-07: a
    refused chart read `warning_chart`, the code, on the audit page)."""
    named = {
        attempted
        for source in (ROOT / "serving").rglob("*.py")
        for attempted in re.findall(r'\battempted="(\w+)"', source.read_text("utf-8"))
    }
    assert "warning_chart" in named
    assert named <= set(audit_words.ATTEMPTED)


def test_every_known_value_has_words_in_both_languages() -> None:
    from serving.console.ended import ENDED_RULES

    for lang in ("zh", "en"):
        words = catalog(lang)  # type: ignore[arg-type]
        for group, codes in (*audit_words.CODES.values(), *audit_words.MORE_CODES.values()):
            assert [code for code in codes if f"{group}.{code}" not in words] == [], group
        values = {
            key
            for details in audit_words.TEXT_VALUES.values()
            for texts in details.values()
            for key in texts.values()
        }
        assert [key for key in values if f"audit_value.{key}" not in words] == []
        keys = {*audit_words.REASONS.values(), "locked", "then_locked"}
        assert [key for key in keys if f"audit_reason.{key}" not in words] == []
        keyed = [f"ended.{why}" for why in ENDED_RULES] + [
            key
            for rules in (*audit_words.TEXT_RULES.values(), *audit_words.PATTERNED_RULES.values())
            for key in rules.values()
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
    assert said("attempted", "warning_chart") == "查看案件图表"
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


# ----------------------------------------------------------------------------- QA 59
# QA read the Chinese page as an auditor: a sign-out's details in English ("sessions: every
# session ended: the console's and the API's tokens") under keys of no words, the people list's
# "accounts", a promotion's decision `first` and its English reason, an unlock's raw timestamp
# and a raised warning's level `red`. The English page showed the codes and the timestamp too.

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PAIRS = re.compile(r"<dt>([^<]*)</dt><dd>([^<]*)</dd>")
#: an ISO moment as stored (`2026-12-07T13:46:17+08:00`): never shown as such
_STORED_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(scope="module")
def account_steps(console_service: Console) -> None:
    """What QA read, made through the console: an administrator's look at the people list,
    their unlock of a locked account, and their sign-out."""
    from contextlib import suppress

    from models.settings import get_settings
    from serving.store import SignInRefused, WarningStore

    create_person("words59adm", "data_office", "admin")
    create_person("words59locked", "tax", "officer")
    with WarningStore.from_settings(get_settings()) as store:
        for _ in range(6):  # the sixth wrong password in a row locks the account
            with suppress(SignInRefused):
                store.sign_in("words59locked", "not the password at all")
    with signed_in_client(console_service, "words59adm") as admin:
        people = admin.get("/console/people")
        assert people.status_code == 200
        token = _CSRF.search(people.text)
        assert token is not None
        step = {"csrf": token[1], "step": "unlock"}
        assert admin.post("/console/people/words59locked", data=step).status_code == 303
        assert admin.post("/console/sign-out", data={"csrf": token[1]}).status_code == 303


@pytest.mark.usefixtures("account_steps")
def test_account_steps_promotions_and_raised_warnings_read_in_the_readers_words(
    console_service: Console,
) -> None:
    create_person("words59", "data_office", "auditor")
    create_person("words59en", "data_office", "auditor", lang="en")
    steps = "sign_out,user_list,model_promotion,user_unlocked"
    read: dict[tuple[str, str], str] = {}
    for name in ("words59", "words59en"):
        with signed_in_client(console_service, name) as client:
            for actions in (steps, "warning_raised"):
                answer = client.get("/console/audit", params={"action": actions})
                assert answer.status_code == 200, answer.text[:300]
                read[name, actions] = _details(answer.text)
    zh, raised = read["words59", steps], read["words59", "warning_raised"]
    en, raised_en = read["words59en", steps], read["words59en", "warning_raised"]
    task = ZH("task.wage-arrears")
    assert "<dt>会话</dt><dd>所有会话均已结束：控制台会话和接口（API）令牌</dd>" in zh
    assert re.search(r"<dt>已结束的控制台会话</dt><dd>1</dd><dt>会话代次</dt><dd>\d+</dd>", zh)
    assert re.search(r"<dt>账号数</dt><dd>\d+</dd>", zh)
    assert "<dt>决定</dt><dd>首个版本</dd>" in zh
    assert f"<dt>原因</dt><dd>{task}的首个版本，训练后即为在用模型版本</dd>" in zh
    assert re.search(r"<dt>锁定至</dt><dd>\d{4}-\d{2}-\d{2} \d{2}:\d{2}</dd>", zh)
    assert re.search(r"<dt>风险等级</dt><dd>(红色|橙色|黄色)</dd>", raised)
    # nothing in English or as a code: words, names, ids and figures only (a sign-in name, a
    # pseudonym and an MLflow run's id are what they are)
    english = [
        (key, value)
        for key, value in _PAIRS.findall(zh + raised)
        if re.search(r"[A-Za-z]{3,}", re.sub(r"\b(API|AUC|ECE|MLflow)\b", "", key + value))
        and key not in ("用户", "MLflow 运行编号", "对象（假名）")
    ]
    assert english == []
    assert _STORED_MOMENT.search(zh + raised) is None
    # the English page: codes and moments in words too
    assert "<dt>sessions</dt><dd>every session ended: the console's and the API's tokens" in (
        en.replace("&#39;", "'")
    )
    assert re.search(r"<dt>console sessions ended</dt><dd>1</dd>", en)
    assert "<dt>decision</dt><dd>first version</dd>" in en
    assert "<dt>reason</dt><dd>first version of Wage arrears, champion from its training</dd>" in en
    assert re.search(r"<dt>locked until</dt><dd>\d{4}-\d{2}-\d{2} \d{2}:\d{2}</dd>", en)
    assert re.search(r"<dt>risk level</dt><dd>(red|orange|yellow)</dd>", raised_en)
    assert _STORED_MOMENT.search(en + raised_en) is None


def test_codes_moments_and_fixed_texts_of_every_action_have_words() -> None:
    def department(code: str) -> str:
        return code

    def said(key: str, value: str, t: Messages = ZH) -> str:
        return audit_words.in_words(key, value, t, department)

    # codes: a model reload's outcome, a language, a deadline, a filter's level and task
    assert said("status", "reloaded") == "已重新加载" and said("status", "failed", EN) == (
        "failed (the served model kept)"
    )
    assert said("status", "dispatched") == "已派发"
    assert said("lang", "en") == "英文" and said("lang", "zh", EN) == "Chinese"
    assert said("deadline", "first_action") == "首次处置"
    assert said("level", "red") == "红色" and said("risk_level", "yellow", EN) == "yellow"
    assert said("task", "wage-arrears") == ZH("task.wage-arrears")
    assert said("decision", "refused") == "未晋升（保留原在用版本）"
    assert said("decision", "unchanged", EN) == "unchanged (nothing to decide)"
    # any stored moment, in the city's time as the page's times read
    for key in ("locked_until", "since", "until", "before", "due_at"):
        assert said(key, "2026-12-07T02:30:05+00:00") == "2026-12-07 10:30", key
        assert said(key, "2026-12-07T02:30:05+00:00", EN) == "2026-12-07 10:30", key
    assert said("as_of", "2026-01-01") == "2026-01-01"  # a day is a day
    # fixed texts written elsewhere, and a refused reveal's rules (with their figures and names)
    assert said("events", "all dead") == "全部投递失败的通知"
    assert said("note", "all dead") == "all dead"  # a person's note is theirs
    assert said("rule", "reveal limit reached: 30 per hour; try again in 3062 seconds") == (
        "已达到身份还原次数上限：每小时 30 次；3062 秒后可再试"
    )
    assert said("rule", "encryption key 'k2026' is not in the secrets file") == (
        "加密密钥 'k2026' 不在密钥文件中"
    )
    assert (
        said("rule", "API key revoked (key id 3f9a1c07)") == "API 密钥已吊销（密钥编号 3f9a1c07）"
    )
    assert said("rule", "the encrypted id does not belong to this warning", EN) == (
        "the encrypted id does not belong to this warning"
    )
    written = {
        "serving/store/privacy.py": (
            'f"reveal limit reached: {limit} per hour; try again in {retry_after} seconds"'
        ),
        "serving/store/identity.py": 'f"encryption key {key_id!r} is not in the secrets file"',
        "serving/auth.py": 'rule=f"API key revoked (key id {revoked.key_id})"',
    }
    assert set(written) == set(audit_words.PATTERNED_RULES)
    for path, form in written.items():
        assert form in (ROOT / path).read_text("utf-8"), path
    # a nested count by level: the levels in words
    from serving.console.audit_page import _value

    levels = _value("levels", {"red": 3, "green": 10}, ZH, department)
    assert levels == "红色: 3; 绿色: 10"


def test_promotion_reasons_training_writes_read_in_words() -> None:
    from training.promote import PromotionRule

    rule = PromotionRule()
    same = {"roc_auc": 0.81, "ece": 0.02}
    accepted = rule.judge({"roc_auc": 0.83, "ece": 0.02}, same)[1]
    worse = rule.judge({"roc_auc": 0.75, "ece": 0.05}, same)[1]
    written = {
        accepted: "挑战者不劣于在用模型版本：AUC 变化 +0.0200，ECE 变化 +0.0000",
        worse: "挑战者劣于在用模型版本：AUC 下降 0.0600（允许至多 0.005）；ECE 上升 0.0300"
        "（允许至多 0.01）",
        f"forced: {worse}": "强制晋升（未通过晋升规则）：挑战者劣于在用模型版本：AUC 下降 0.0600"
        "（允许至多 0.005）；ECE 上升 0.0300（允许至多 0.01）",
        "no champion yet": "此前尚无在用模型版本",
        "AUC or ECE undefined on the test slice": "测试集上 AUC 或 ECE 无法计算",
        "first version of telecom-fraud: champion from its training": (
            f"{ZH('task.telecom-fraud')}的首个版本，训练后即为在用模型版本"
        ),
        "version 3 is already the champion": "版本 3 已是在用模型版本",
    }
    for stored, chinese in written.items():
        assert audit_words.in_words("reason", stored, ZH, str) == chinese, stored
        assert audit_words.in_words("reason", stored, EN, str) != "", stored
    # free text (a leakage refusal's sentence) as stored
    free = "the challenger's training rows overlap the test slice"
    assert audit_words.in_words("reason", free, ZH, str) == free
    same = (
        "version 4 is the same model as champion version 3 (same booster, calibrator and "
        "thresholds): promoting it would only re-score every open warning under a new version "
        "number"
    )
    assert audit_words.in_words("reason", same, ZH, str).startswith(
        "版本 4 与在用模型版本 3 是同一模型"
    )
    unusable = (
        "champion cannot be evaluated: no such file; nothing serves it either: "
        "`riskloop promote --task wage-arrears --force` moves champion to the challenger"
    )
    assert audit_words.in_words("reason", unusable, ZH, str) == (
        "原在用模型版本无法评估（no such file），也没有服务在使用它：运行 riskloop promote "
        "--task wage-arrears --force 可改由挑战者作为在用模型版本"
    )
    # the forms matched are still the ones training writes (the rule's own, judged above)
    source = (ROOT / "training/promote.py").read_text("utf-8")
    for form in (
        'f"first version of {task}: champion from its training"',
        '"no champion yet"',
        '"AUC or ECE undefined on the test slice"',
        'f"version {challenger_version} is already the champion"',
        'f"version {challenger_version} is the same model as champion version "',
        'f"{champion_before} (same booster, calibrator and thresholds): promoting it would "',
        '"only re-score every open warning under a new version number"',
        'f"champion cannot be evaluated: {exc}; nothing serves it either: "',
        'f"`riskloop promote --task {spec.task} --force` moves champion to the challenger"',
        'f"forced: {reason}"',
    ):
        assert form in source, form
    # every decision the audit log records has words
    from training.promote import PromotionDecision

    outcomes = {"first"} | {
        PromotionDecision(
            "t", promoted, False, "", 2, 1, 1, {}, {}, "", unchanged=unchanged
        ).outcome
        for promoted, unchanged in ((True, False), (False, False), (False, True))
    }
    assert outcomes == set(audit_words.PROMOTION_DECISIONS)


def test_a_list_of_warning_ids_is_counted_in_words() -> None:
    """QA, 2026-12-07: the English page read "1 warnings: W-5ea3d2a8"."""
    from serving.console.audit_page import _value

    def listed(ids: list[str], t: Messages) -> str:
        return _value("warning_ids", ids, t, lambda code: code)

    one = ["W-5ea3d2a8" + "0" * 24]
    two = [*one, "W-7c21b4b9" + "1" * 24]
    assert listed(one, EN) == "1 warning: W-5ea3d2a8"
    assert listed(two, EN) == "2 warnings: W-5ea3d2a8, W-7c21b4b9"
    assert listed(one, ZH) == "1 条预警：W-5ea3d2a8"
