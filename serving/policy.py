"""The one authorisation policy: who may see and do what, for people and API keys alike.

Every `/v1/` route names its policy action beside itself (serving/routes.py); the request guard
and the handlers ask `decide` and nothing else, and the console's views ask the same function.
A refusal carries the sentence of the rule that refused it, which the 403 shows. The table in
docs/privacy.md is this module in words; tests/serving/test_policy_matrix.py walks it against
the running service.

Roles (people):
- officer: sees and works only the warnings dispatched to their own department (start, close
  with an outcome, send back to the supervisor with a note), and may reveal their identity
  while the case is open (no one reveals the identity of a closed case);
- supervisor: sees every warning of the tasks their department owns (and those dispatched to
  their department), dispatches, re-routes and triage-closes them; a case of theirs dispatched
  to an outside body (a name riskloop does not know, whose people have no account) they start
  and close on that body's behalf, as no one else can;
- auditor: reads everything, the audit log included, changes nothing and reveals nothing;
- admin: users, keys and model reload; sees no case content.

API keys keep their scopes (score, review, feedback, reveal, audit, admin); a key bound to a
department sees and works only that department's warnings, as its officers and supervisors do.
`system` actors are riskloop's own jobs (the reload check, `riskloop screen`); a change made
from the CLI on the server is recorded under the person who ran it (`cli:NAME`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from features.tasks import TASK_NAMES, TASKS
from models.departments import (
    ALL_TASK_DEPARTMENTS,
    AUDIT_ONLY_DEPARTMENTS,
    DEPARTMENTS,
    department_code,
)
from models.spec import get_spec

ActorKind = Literal["user", "key", "system"]
Role = Literal["officer", "supervisor", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("officer", "supervisor", "auditor", "admin")

# policy actions, one per kind of request
ACTIONS: tuple[str, ...] = (
    "models_read",  # which model serves each task
    "score",  # score records or materialised entities
    "warning_list",  # list warnings
    "warning_read",  # read one warning with its history
    "warning_page",  # open a warning's explanation page
    "feedback",  # move a warning through the state machine
    "reveal",  # decrypt a warning's entity id
    "reload",  # reload the champions
    "audit_read",  # read the audit log
    "users_manage",  # create, disable, reset people
    "sign_out",  # a person ends every session of theirs
)
#: How often a step, note or reveal is decided again when the warning changed hands between
#: the read its decision was made on and the write (a colleague's step, a re-route): only a
#: new decision that refuses is the answer (a caller who sent a version is held to it instead)
DECISIONS = 3
# case content: what an administrator never sees
CASE_ACTIONS = frozenset({"warning_list", "warning_read", "warning_page", "feedback", "reveal"})
READ_ACTIONS = frozenset({"warning_list", "warning_read", "warning_page"})
# the API-key scope each action needs (None: any valid key)
ACTION_SCOPES: dict[str, str | None] = {
    "models_read": None,
    "score": "score",
    "warning_list": "review",
    "warning_read": "review",
    "warning_page": "review",
    "feedback": "feedback",
    "reveal": "reveal",
    "reload": "admin",
    "audit_read": "audit",
    "users_manage": "admin",
    "sign_out": None,  # any key passes to the rule, which refuses it: a key is no session
}
#: The key scopes that read a case: a key reveals only the ids of cases it can read.
CASE_READING_SCOPES = frozenset({"review", "feedback"})
TRANSITIONS: tuple[str, ...] = (
    "dispatch",
    "reroute",
    "start",
    "close",
    "send_back",
    "triage_close",
)
# which transitions each status offers at all (the state machine's view, in policy words)
_STATE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("dispatch", "triage_close"),
    "dispatched": ("reroute", "start", "send_back", "triage_close"),
    "in_progress": ("close", "send_back"),
    "closed": (),
}
_STATUS_ZH = {"open": "待派发", "dispatched": "已派发", "in_progress": "处置中", "closed": "已办结"}
# a status in an English refusal as people read it, not its code (`in_progress`)
_STATUS_EN = {
    "open": "open",
    "dispatched": "dispatched",
    "in_progress": "in progress",
    "closed": "closed",
}
_OWNER_TRANSITIONS = frozenset({"dispatch", "reroute", "triage_close"})
_HANDLER_TRANSITIONS = frozenset({"start", "close", "send_back"})
# what the task's supervisors record for an outside body, which has no one in riskloop: it
# sends nothing back to them (they re-route or triage-close it while it is dispatched)
_ON_BEHALF_TRANSITIONS = frozenset({"start", "close"})

# which department owns (dispatches) each task's warnings: the task registry says
_TASK_OWNERS: dict[str, str] = {task.name: task.owner for task in TASKS.values()}


@dataclass(frozen=True)
class Actor:
    """Who is asking: a signed-in person, an API key, or riskloop itself.

    `role` and `department` are set for people; a key has `scopes` and may have a department.
    `audit_name` (`user:alice`, `key:ingest`, `system:screen`) is what the audit log records.
    """

    kind: ActorKind
    name: str
    role: Role | None = None
    department: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def audit_name(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def user(cls, name: str, role: str, department: str) -> Actor:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        return cls("user", name, role=role, department=department)  # type: ignore[arg-type]

    @classmethod
    def key(cls, name: str, scopes: Collection[str], department: str | None = None) -> Actor:
        return cls("key", name, department=department, scopes=frozenset(scopes))

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", name)


@dataclass(frozen=True)
class Decision:
    """The policy's answer; `rule` is the sentence a 403 shows (English, then `rule_zh`).
    `by_state`: refused for the case's state, not for who is asking (a 409, as the store's
    `TransitionError`)."""

    allowed: bool
    rule: str
    rule_zh: str = ""
    by_state: bool = False

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class VisibleScope:
    """What a listing may show: everything, or warnings dispatched to `departments` plus every
    warning of `tasks`. Empty sets and `everything=False`: nothing."""

    everything: bool = False
    departments: frozenset[str] = frozenset()
    tasks: frozenset[str] = frozenset()

    @property
    def nothing(self) -> bool:
        return not self.everything and not self.departments and not self.tasks

    def department_values(self) -> frozenset[str]:
        """The stored values that mean these departments: codes and both names (warnings
        dispatched before codes were enforced carry a name)."""
        values: set[str] = set()
        for department in DEPARTMENTS:
            if department.code in self.departments:
                values |= {department.code, department.name_en, department.name_zh}
        return frozenset(values)

    def contains(self, warning: Mapping[str, Any]) -> bool:
        if self.everything:
            return True
        if warning.get("task") in self.tasks:
            return True
        stored = warning.get("department")
        return stored is not None and department_code(str(stored)) in self.departments


@lru_cache(maxsize=1)
def department_tasks() -> dict[str, tuple[str, ...]]:
    """Each department's tasks: those whose actions name it; the county centre and the data
    office handle every task."""
    handled: dict[str, list[str]] = {department.code: [] for department in DEPARTMENTS}
    for task in TASK_NAMES:
        spec = get_spec(task)
        named = {
            department_code(action.department_en)
            for actions in (
                *spec.level_actions.values(),
                *spec.driver_actions.values(),
                *spec.feature_actions.values(),
            )
            for action in actions
        }
        for code in handled:
            if code in named or code in ALL_TASK_DEPARTMENTS or _TASK_OWNERS.get(task) == code:
                handled[code].append(task)
    return {code: tuple(tasks) for code, tasks in handled.items()}


def task_owner(task: str) -> str:
    """The department whose supervisors see and dispatch all of `task`'s warnings."""
    return _TASK_OWNERS[task]


def owned_tasks(department: str | None) -> frozenset[str]:
    """The tasks a department owns (its supervisors dispatch them)."""
    return frozenset(task for task, owner in _TASK_OWNERS.items() if owner == department)


def _allow(rule: str, rule_zh: str) -> Decision:
    return Decision(True, rule, rule_zh)


def _refuse(rule: str, rule_zh: str) -> Decision:
    return Decision(False, rule, rule_zh)


def unusable_scopes(scopes: Collection[str]) -> str | None:
    """Why a key holding `scopes` could never use one of them (None: each may be used): the
    sentence `riskloop keys create` refuses such a key with."""
    if "reveal" in scopes and not CASE_READING_SCOPES & set(scopes):
        return (
            "the 'reveal' scope needs 'review' or 'feedback' beside it: a key reveals the id of "
            "a case it can read, and without either it reads none (e.g. --scopes review,reveal)"
        )
    return None


def _reads_no_case(actor: Actor) -> Decision:
    """A key without a scope that reads cases asks for a case action (only `reveal` can)."""
    return _refuse(
        f"key {actor.name!r} holds no scope that reads a case ('review' or 'feedback'); "
        "revealing a case's id needs one of them beside 'reveal'",
        f"密钥 {actor.name!r} 没有可查看案件的权限范围（'review' 或 'feedback'）；"
        "还原案件身份需要在 'reveal' 之外具有其中之一",
    )


def visible_scope(actor: Actor) -> VisibleScope:
    """Which warnings a listing may show this actor (before the caller's own filters)."""
    if actor.kind == "system":
        return VisibleScope(everything=True)
    if actor.kind == "key":
        if not CASE_READING_SCOPES & actor.scopes:
            return VisibleScope()
        if actor.department is None:
            return VisibleScope(everything=True)
        return VisibleScope(
            departments=frozenset({actor.department}), tasks=owned_tasks(actor.department)
        )
    if actor.role == "auditor":
        # an auditor account outside the auditing office (refused at creation since; one may
        # remain in an older store) reads nothing: city-wide reading is that office's alone
        return VisibleScope(everything=actor.department in AUDIT_ONLY_DEPARTMENTS)
    if actor.role == "supervisor":
        return VisibleScope(
            departments=frozenset({actor.department or ""}), tasks=owned_tasks(actor.department)
        )
    if actor.role == "officer":
        return VisibleScope(departments=frozenset({actor.department or ""}))
    return VisibleScope()


def _case_rule(actor: Actor, warning: Mapping[str, Any] | None) -> Decision:
    """Whether `warning` (if given) is within what `actor` may see."""
    if warning is None or visible_scope(actor).contains(warning):
        return _allow(
            "the warning is within the actor's departments and tasks",
            "该预警属于本部门或本部门负责的任务",
        )
    if actor.kind == "key":  # a bound key (an unbound one that reads cases sees them all)
        return _refuse(
            f"key {actor.name!r} is bound to department {actor.department!r}; this warning is "
            "neither dispatched to it nor of a task it owns",
            f"密钥 {actor.name!r} 绑定部门 {actor.department!r}，该预警既未派发给该部门，也不属于该部门负责的任务",
        )
    if actor.role == "officer":
        return _refuse(
            "officers see and work only the warnings dispatched to their own department",
            "办事人员只能查看和处理派发给本部门的预警",
        )
    return _refuse(
        "supervisors see the warnings of the tasks their department owns and those dispatched "
        "to their department",
        "主管只能查看本部门负责任务的预警及派发给本部门的预警",
    )


def _decide_key(actor: Actor, action: str, warning: Mapping[str, Any] | None) -> Decision:
    if action == "sign_out":
        return _refuse(
            "an API key has no session to end: DELETE /v1/session signs a person out (send "
            "their session token); a key is revoked with `riskloop keys revoke NAME`",
            "API 密钥没有可结束的会话：DELETE /v1/session 用于人员退出登录（请发送其会话令牌）；"
            "密钥请用 `riskloop keys revoke NAME` 吊销",
        )
    scope = ACTION_SCOPES[action]
    if scope is not None and scope not in actor.scopes:
        return _refuse(
            f"key {actor.name!r} lacks the {scope!r} scope this request needs",
            f"密钥 {actor.name!r} 缺少此请求所需的 {scope!r} 权限范围",
        )
    if action in CASE_ACTIONS and not CASE_READING_SCOPES & actor.scopes:
        return _reads_no_case(actor)
    if action in CASE_ACTIONS:
        return _case_rule(actor, warning)
    if action == "audit_read" and actor.department is not None:
        # the log tells every department's cases (dispositions, reveal purposes, people):
        # a key bound to one department reads it no more than that department's officers do
        return _refuse(
            f"key {actor.name!r} is bound to department {actor.department!r}; the audit log "
            "spans every department and is read by unbound keys and auditors only",
            f"密钥 {actor.name!r} 绑定部门 {actor.department!r}；审计日志涵盖所有部门，"
            "仅未绑定部门的密钥和审计员可以查看",
        )
    if scope == "admin" and actor.department is not None:
        # reloading reloads every task's models: a key bound to one department (made before
        # `keys create` refused binding an admin key) administers no more than its officers do
        return _refuse(
            f"key {actor.name!r} is bound to department {actor.department!r}; administration "
            "(reloading every task's models, managing people) spans every department and is "
            "done by unbound keys only",
            f"密钥 {actor.name!r} 绑定部门 {actor.department!r}；管理操作（重新加载所有任务的模型、"
            "管理人员）涉及所有部门，仅未绑定部门的密钥可以执行",
        )
    return _allow(f"key {actor.name!r} holds the {scope!r} scope", "密钥具有所需权限范围")


def _decide_user(actor: Actor, action: str, warning: Mapping[str, Any] | None) -> Decision:
    if action == "models_read":
        return _allow("every signed-in person may see which models serve", "登录人员均可查看模型")
    if action == "sign_out":
        return _allow("every signed-in person may sign out", "登录人员均可退出登录")
    if action == "score":
        return _refuse(
            "scoring is done by systems with an API key, not by people",
            "评分由持有 API 密钥的系统执行，人员不能直接评分",
        )
    if actor.role == "admin":
        if action in {"reload", "users_manage"}:
            return _allow(
                "administrators manage users, keys and models", "管理员管理用户、密钥和模型"
            )
        return _refuse(
            "administrators manage users, keys and models and see no case content",
            "管理员只管理用户、密钥和模型，不查看案件内容",
        )
    if action in {"reload", "users_manage"}:
        return _refuse(
            "only administrators manage users, keys and models",
            "只有管理员可以管理用户、密钥和模型",
        )
    if actor.role == "auditor" and actor.department not in AUDIT_ONLY_DEPARTMENTS:
        return _refuse(
            f"auditors belong to the City big-data bureau (data_office); this auditor account "
            f"is in {actor.department!r}: an administrator recreates it there",
            f"审计员应属于市大数据局（data_office）；此审计员账号属于 {actor.department!r}，"
            "请管理员在市大数据局重新创建",
        )
    if actor.role == "auditor":
        if action in READ_ACTIONS or action == "audit_read":
            return _allow(
                "auditors read everything, the audit log included", "审计员可查看全部内容及审计日志"
            )
        if action == "reveal":
            return _refuse(
                "auditors see pseudonyms only; re-identification is for the people working the case",
                "审计员只能看到假名；身份还原仅限处理该案件的人员",
            )
        return _refuse("auditors read everything and change nothing", "审计员只读，不作任何更改")
    if action == "audit_read":
        return _refuse("only auditors read the audit log", "只有审计员可以查看审计日志")
    return _case_rule(actor, warning)


def decide(
    actor: Actor,
    action: str,
    *,
    task: str | None = None,
    warning: Mapping[str, Any] | None = None,
    transition: str | None = None,
) -> Decision:
    """May `actor` do `action` (on `task`, or on `warning`, by `transition`)?

    Args:
        actor: who asks.
        action: one of `ACTIONS`.
        task: the task a score request is for: a key bound to a department scores only the
            tasks that department handles (`department_tasks`).
        warning: the warning's dict (`task`, `department`, `status`) for case actions; None
            asks whether the actor may do the action on some warning at all (a listing).
        transition: for `feedback`, one of `TRANSITIONS` (see `transition_for`).
    """
    if action not in ACTION_SCOPES:
        raise ValueError(f"unknown policy action {action!r}; expected one of {', '.join(ACTIONS)}")
    if actor.kind == "system":
        return _allow("riskloop's own jobs may do anything", "系统任务不受限")
    if (
        action == "score"
        and task is not None
        and actor.kind == "key"
        and actor.department is not None
        and task not in department_tasks().get(actor.department, ())
    ):
        # its answers would name (and its scores update) warnings of departments it may not see
        return _refuse(
            f"key {actor.name!r} is bound to department {actor.department!r}, which does not "
            f"handle {task} warnings",
            f"密钥 {actor.name!r} 绑定的部门 {actor.department!r} 不承办此类预警，不能为其评分",
        )
    decision = (
        _decide_key(actor, action, warning)
        if actor.kind == "key"
        else _decide_user(actor, action, warning)
    )
    if (
        decision.allowed
        and action == "reveal"
        and warning is not None
        and warning.get("status") == "closed"
    ):
        # re-identification serves the work on a case; once it is closed there is none
        return _refuse(
            "the warning is closed; re-identification is for the people working an open case",
            "该预警已办结；身份还原仅限处理未办结案件的人员",
        )
    if (
        decision.allowed
        and action == "feedback"
        and warning is not None
        and transition
        and transition not in allowed_transitions(actor, warning)
    ):
        status = str(warning.get("status"))
        never_theirs = (
            transition in _OWNER_TRANSITIONS
            and actor.kind == "user"
            and not (
                actor.role == "supervisor" and warning.get("task") in owned_tasks(actor.department)
            )
        )
        if (
            transition in TRANSITIONS
            and transition not in _STATE_TRANSITIONS.get(status, ())
            and not never_theirs  # one who may never take this step is told so, in any state
        ):
            # no one may: the case's state is the reason, not who is asking
            return Decision(
                False,
                f"{transition.replace('_', ' ')} is not possible while the warning is "
                f"{_STATUS_EN.get(status, status)}",
                f"预警当前状态（{_STATUS_ZH.get(status, status)}）下不能执行此操作",
                by_state=True,
            )
        if transition == "send_back" and at_outside_body(warning):
            return _refuse(
                "a case dispatched to an outside body is not sent back: the task's supervisors "
                "record its start and close on the outside body's behalf, and while it is "
                "dispatched re-route it or close it at triage",
                "派发给系统外单位的预警不能退回：由任务负责部门的主管代该单位登记开始处理和办结，"
                "尚未开始处理时可改派或初筛办结",
            )
        if (
            transition == "send_back"
            and actor.kind == "user"
            and department_code(str(warning.get("department") or "")) == actor.department
        ):
            # the task's supervisor holding it at their own department: it is theirs already
            # (QA, 2026-12-07: told only the dispatched department may, which is theirs)
            return _refuse(
                "a supervisor holding a case at their own department has no one to send it "
                "back to: the task's supervisors are they themselves",
                "主管所在部门承办的预警无人可退回：该任务的主管就是本人",
            )
        return _refuse(_transition_rule(actor, transition), _transition_rule_zh(transition))
    return decision


def at_outside_body(warning: Mapping[str, Any]) -> bool:
    """Whether `warning` is dispatched to an outside body: a department name riskloop does not
    know (kept as an API client sent it), whose people have no account to work the case."""
    stored = warning.get("department")
    return bool(stored) and department_code(str(stored)) is None


#: Each step as the refusal of one who may not take it names it, in English and Chinese: the
#: owner's steps on "a warning", the handler's on "it" (the warning the request is about).
_STEP_WORDS: dict[str, tuple[str, str]] = {
    "dispatch": ("dispatch a warning", "派发预警"),
    "reroute": ("re-route a warning", "改派预警"),
    "triage_close": ("close a warning at triage", "初筛办结预警"),
    "start": ("start it", "开始处理该预警"),
    "close": ("close it", "办结该预警"),
    "send_back": ("send it back", "退回该预警"),
}


def _step_words(transition: str) -> tuple[str, str]:
    return _STEP_WORDS.get(transition, (f"{transition.replace('_', ' ')} it", "执行此操作"))


def _transition_rule(actor: Actor, transition: str) -> str:
    step = _step_words(transition)[0]
    if transition in _OWNER_TRANSITIONS:
        return f"only a supervisor of the department owning the task may {step}"
    return (
        f"only the department the warning is dispatched to may {step}"
        if actor.kind != "system"
        else f"{transition} is not possible in this state"
    )


def _transition_rule_zh(transition: str) -> str:
    step = _step_words(transition)[1]
    if transition in _OWNER_TRANSITIONS:
        return f"只有该任务负责部门的主管可以{step}"
    return f"只有预警派发到的部门可以{step}"


def may_note(actor: Actor, warning: Mapping[str, Any]) -> Decision:
    """May `actor` add a progress note to `warning` now? Whoever may take a step on it may say
    how its work goes; a closed case takes none (`by_state`: a 409)."""
    if warning.get("status") == "closed":
        return Decision(
            False,
            "a closed case takes no progress note (closed cases are final)",
            "已办结的预警不再记录进展",
            by_state=True,
        )
    if not allowed_transitions(actor, warning):
        return _refuse(
            "a progress note is added by whoever may take a step on the case now",
            "只有当前可以处置此预警的人员才能记录进展",
        )
    return _allow("who may take a step may note the work", "可处置者可记录进展")


#: A case page's progress note, as a step: `step_offered`, and the audit rows of its attempts
NOTE_STEP = "note"
#: A case page's identity reveal, as a form `step_offered` answers for (it changes no state)
REVEAL_STEP = "reveal"


def step_offered(actor: Actor, warning: Mapping[str, Any], step: str) -> bool:
    """Whether `actor` may take `step` on `warning` now: a transition (`allowed_transitions`),
    a progress note (`NOTE_STEP`, `may_note`) or an identity reveal (`REVEAL_STEP`)."""
    if step == NOTE_STEP:
        return bool(may_note(actor, warning))
    if step == REVEAL_STEP:
        return bool(decide(actor, "reveal", warning=warning))
    return step in allowed_transitions(actor, warning)


def allowed_transitions(actor: Actor, warning: Mapping[str, Any]) -> tuple[str, ...]:
    """The transitions `actor` may make on `warning` now, in `TRANSITIONS` order."""
    possible = _STATE_TRANSITIONS.get(str(warning.get("status")), ())
    if actor.kind == "system":
        return possible
    if not decide(actor, "feedback", warning=warning):
        return ()
    if actor.kind == "key" and actor.department is None:
        return possible
    stored = warning.get("department")
    dispatched_here = stored is not None and department_code(str(stored)) == actor.department
    owner = warning.get("task") in owned_tasks(actor.department) and (
        actor.kind == "key" or actor.role == "supervisor"
    )
    # a supervisor holding a case at their own department has no one to send it back to: the
    # task's supervisors are they themselves (they re-route or close it at triage instead)
    handling = _HANDLER_TRANSITIONS - (
        {"send_back"} if owner and actor.kind == "user" else frozenset()
    )
    # an outside body works no case in riskloop: without this its case could never be started,
    # nor closed as confirmed or prevented (so it gave no positive feedback label)
    on_behalf = _ON_BEHALF_TRANSITIONS if owner and at_outside_body(warning) else frozenset()
    return tuple(
        transition
        for transition in possible
        if (owner and transition in _OWNER_TRANSITIONS)
        or (dispatched_here and transition in handling)
        or transition in on_behalf
    )


def transition_for(current: str, status: str) -> str | None:
    """The policy's name for a feedback step `current -> status` (None: no such step)."""
    steps = {
        ("open", "dispatched"): "dispatch",
        ("dispatched", "dispatched"): "reroute",
        ("dispatched", "in_progress"): "start",
        ("in_progress", "closed"): "close",
        ("open", "closed"): "triage_close",
        ("dispatched", "closed"): "triage_close",
        ("dispatched", "open"): "send_back",
        ("in_progress", "open"): "send_back",
    }
    return steps.get((current, status))
