"""An audit row's stored values in the reader's words, for the console's audit page.

The log keeps each row as it was written (it is append-only, and `riskloop audit` and
`GET /v1/audit` read it too): a refusal's rule as the English sentence that refused it, a failed
sign-in's reason in English, and codes for what was attempted, how a case was looked at and the
channel. The page says them in the reader's language, here, as it shows them; a value this
module does not know (an older row's, a code added since) shows as it was stored.

No rule of the policy is copied here: `policy_decisions` asks `serving.policy.decide` every
question there is, and `_policy_rules` keeps each English sentence with the Chinese one the
policy gives beside it. The sign-in throttle's and the own-password rule come with their
Chinese constants, and a console session's end by its reason's code (`ended.ENDED_RULES`). The
few sentences written as text elsewhere are matched as text (`TEXT_RULES`, `REASONS`,
`TEXT_VALUES`), and a model promotion's reason, written by `training.promote` (which serving
does not import), by the fixed forms it takes (`_PROMOTION_REASONS`); free text in it shows as
stored. tests/console/test_audit_words.py checks that each is still written where it is said
to be. A stored moment (`2026-12-07T13:46:17+08:00`) reads as the page's times do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from itertools import combinations
from typing import get_args

from features.tasks import TASK_NAMES
from models.departments import DATA_OFFICE
from models.pages import local_time
from serving.audit_channel import Channel
from serving.console.case import shown_note
from serving.console.ended import ENDED_RULES
from serving.console.forms import field_label
from serving.console.i18n import LANGS, Messages
from serving.policy import (
    ACTION_SCOPES,
    ACTIONS,
    NOTE_STEP,
    ROLES,
    TRANSITIONS,
    Actor,
    Decision,
    decide,
    may_note,
    task_owner,
)
from serving.schemas import ReloadResult
from serving.sessions import (
    OWN_PASSWORD_RULE,
    OWN_PASSWORD_RULE_ZH,
    THROTTLE_RULE,
    THROTTLE_RULE_ZH,
)
from serving.store.deadlines import DEADLINE_OF_STATUS
from serving.store.models import OUTCOMES, STATUSES, WARNING_LEVELS
from serving.store.people import WRONG_CURRENT_REASON

#: What a refused attempt's `attempted` names besides the policy's actions: a console page or
#: form asked for with a session that had ended or a forged form, a case's chart (the case page's
#: `warning_page` action, refused by its own name), a sign-in the throttle refused, a request the
#: API's guard tied to no action
ATTEMPTED = (*ACTIONS, "console_page", "console_form", "warning_chart", "sign_in", "request")
#: How a case or list was looked at (`view`): the console's queue, case page, chart, people list
VIEWS = ("console_queue", "console_case", "console_chart", "console_people")
#: A step a refused attempt names (`step`): the policy's transitions, and a progress note
STEPS = (*TRANSITIONS, NOTE_STEP)
#: What a model promotion decided (`model_promotion`'s `decision`): the outcomes of
#: `training.promote.PromotionDecision`, and `first`, a task's first version, champion from its
#: training (`training.promote.audit_first_champion`)
PROMOTION_DECISIONS = ("first", "promoted", "refused", "unchanged")
#: A stored code of a detail -> the message group naming it, and the codes it names (a step is
#: sent by a form: a text no page offers, e.g. `dispatch.submit`, shows as sent)
CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "attempted": ("audit_attempted", ATTEMPTED),
    "view": ("audit_view", VIEWS),
    "channel": ("audit_channel", get_args(Channel)),
    "step": ("act", STEPS),
    "status": ("status", STATUSES),
    "from": ("status", STATUSES),
    "to": ("status", STATUSES),
    "outcome": ("outcome", OUTCOMES),
    "role": ("role", ROLES),
    "risk_level": ("level", WARNING_LEVELS),
    "level": ("level", WARNING_LEVELS),  # an API list's filter
    "decision": ("audit_decision", PROMOTION_DECISIONS),
    "deadline": ("deadline", tuple(DEADLINE_OF_STATUS.values())),
    "lang": ("audit_lang", LANGS),
    "task": ("task", TASK_NAMES),  # a read's or a list's filter (a row's own task has a column)
}
#: A detail whose codes come from a second list too: a model reload's outcome, beside a case's
#: status (`warning_overdue`'s)
MORE_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "status": ("audit_reload", get_args(ReloadResult.model_fields["status"].annotation)),
}
#: Values written as text outside the policy, by the file writing them -> the detail holding
#: them -> their message key (`audit_value.<key>`): a sign-out's sessions, a requeue of every
#: dead notification
TEXT_VALUES: dict[str, dict[str, dict[str, str]]] = {
    "serving/store/people.py": {
        "sessions": {"every session ended: the console's and the API's tokens": "sessions_all"},
    },
    "serving/store/outbox.py": {"events": {"all dead": "all_dead"}},
}
#: Rules written as text outside the policy, by the file writing them -> their message key
#: (`audit_rule.<key>`): the console's refused forms (`app._guarded`, `case_actions`), a
#: session ended at a disable or for a reason of no name (`ended._on_record_ended`)
TEXT_RULES: dict[str, dict[str, str]] = {
    "serving/console/app.py": {
        "missing or wrong CSRF token": "csrf",
        "CSRF token of another sign-in of this person": "csrf_other_sign_in",
        "CSRF token of another person's sign-in: the form is not this session's": (
            "csrf_other_person"
        ),
    },
    "serving/console/case_actions.py": {
        "no such step": "no_such_step",
        "a form field no page sends (too long, or holding a refused character)": "form_field",
        "a step carries the case version its page was drawn at": "version",
        "a step closes a case only with an outcome its form offers": "outcome",
        "a close names the outcome the case was closed with": "no_outcome",
        "a dispatch or re-route names the department to send the case to": "no_department",
        "a case goes only to a department that handles its task": "department",
        "a case is not re-routed to the department already holding it": "same_department",
    },
    "serving/console/ended.py": {
        "session ended when the account was disabled": "ended_at_disable",
        "session ended": "ended",
    },
    "serving/store/privacy.py": {"this store was opened without the encryption keys": "no_keys"},
    "serving/store/identity.py": {
        "this warning keeps no encrypted id (purged or never kept)": "no_id",
        "the encrypted id does not belong to this warning": "wrong_id",
    },
}
#: Rules written with a figure or a name in them, by the file writing them: their pattern ->
#: their message key (`audit_rule.<key>`), the named parts put into the words (a refused
#: identity reveal: `privacy.RevealLimited`, `identity.KeyNotHeld`)
PATTERNED_RULES: dict[str, dict[str, str]] = {
    "serving/store/privacy.py": {
        r"reveal limit reached: (?P<limit>\d+) per hour; try again in (?P<seconds>\d+) seconds": (
            "reveal_limit"
        ),
    },
    "serving/store/identity.py": {
        r"encryption key (?P<key_id>'[^']*'|\"[^\"]*\") is not in the secrets file": "key_not_held",
    },
    "serving/auth.py": {r"API key revoked \(key id (?P<key_id>[0-9a-f]+)\)": "key_revoked"},
}
#: A failed sign-in's or password change's reason (`serving.store.people`) -> its message key
#: (`audit_reason.<key>`); a wrong password that locked the account adds "; locked until …"
REASONS = {
    "unknown user": "unknown_user",
    "account disabled": "disabled",
    "wrong password": "wrong_password",
    WRONG_CURRENT_REASON: "wrong_current_password",
}
_LOCKED_ACCOUNT = re.compile(r"account locked until (?P<until>\S+)")
_THEN_LOCKED = re.compile(r"(?P<reason>.+); locked until (?P<until>\S+)")
#: a moment as the store writes it in a detail (`iso_utc`, `city_moment`, `isoformat`)
_STORED_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})"
)
#: details a person or a hand-made form wrote: shown as written, whatever they look like
_WRITTEN = ("note", "purpose", "version")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_TASK = r"(?P<task>[a-z][a-z0-9-]*)"
#: A promotion's reason as `training.promote` writes it -> its message key
#: (`audit_promotion.<key>`), the named parts put into the words; `forced: ` before one of
#: them and a rule's worse figures (`_WORSE`, `_WORSE_PART`) are read apart
_PROMOTION_REASONS = {
    re.compile(
        rf"challenger not worse: AUC change (?P<auc>{_NUMBER}), ECE change (?P<ece>{_NUMBER})"
    ): "not_worse",
    re.compile(rf"first version of {_TASK}: champion from its training"): "first",
    re.compile(r"no champion yet"): "no_champion",
    re.compile(r"AUC or ECE undefined on the test slice"): "undefined",
    re.compile(r"version (?P<version>\d+) is already the champion"): "already",
    re.compile(
        r"version (?P<version>\d+) is the same model as champion version (?P<champion>\d+) "
        r"\(same booster, calibrator and thresholds\): promoting it would only re-score every "
        r"open warning under a new version number"
    ): "same_model",
    re.compile(
        r"champion cannot be evaluated: (?P<detail>.+); nothing serves it either: "
        r"`riskloop promote --task (?P<command_task>[a-z][a-z0-9-]*) --force` moves champion "
        r"to the challenger"
    ): "unusable",
}
_WORSE = re.compile(r"challenger is worse: (?P<problems>.+)")
_WORSE_PART = re.compile(
    rf"(?P<metric>AUC|ECE) (?P<amount>{_NUMBER}) (?:lower|higher) \(limit (?P<limit>{_NUMBER})\)"
)

# stand-ins for what a policy's rule names that no list holds: a key's name, and the department
# a key is bound to or an auditor account is in (the policy writes both with `repr`)
_NAME = "⟪name⟫"
_DEPARTMENT = "⟪department⟫"
_STAND_INS = {"name": repr(_NAME), "department": repr(_DEPARTMENT)}


def in_words(key: str, value: str, t: Messages, department: Callable[[str], str]) -> str:
    """The stored text `value` of detail `key` as the page shows it in `t`'s language (as
    stored when not known). `department` names a department's code in that language."""
    if key == "rule":
        return rule_in_words(value, t)
    if key == "reason":
        return _reason(value, t)
    if key == "department":
        return department(value)
    if key == "actions":  # an audit read's filter: the log's own actions
        return t.word("audit_action", value)
    if key == "field":  # a refused form's field
        return field_label(value, t)
    if key in ("note", "purpose"):  # as written, each id the store took out said in words
        return shown_note(value, t)
    fixed = _text_values().get((key, value))
    if fixed is not None:
        return t(f"audit_value.{fixed}")
    if key not in _WRITTEN and _STORED_MOMENT.fullmatch(value):
        return _moment(value) or value
    for group, known in (CODES.get(key, ("", ())), MORE_CODES.get(key, ("", ()))):
        if value in known:
            return t.word(group, value)
    return value


def rule_in_words(stored: str, t: Messages) -> str:
    """A refusal's rule as stored (the English sentence that refused it) in `t`'s language:
    the policy's Chinese for a policy's rule, the catalog's words for the others."""
    keyed = _keyed_rules().get(stored)
    if keyed is not None:
        return t(f"audit_rule.{keyed}")
    for pattern, key in _patterned_rules():
        found = pattern.fullmatch(stored)
        if found is not None:
            return t(f"audit_rule.{key}", **found.groupdict())
    if t.lang != "zh":
        return stored
    exact, named = _policy_rules()
    if stored in exact:
        return exact[stored]
    for pattern, chinese in named:
        found = pattern.fullmatch(stored)
        if found is not None:
            for group, stand_in in _STAND_INS.items():
                if group in pattern.groupindex:
                    chinese = chinese.replace(stand_in, found[group])
            return chinese
    return stored


def _reason(stored: str, t: Messages) -> str:
    """A failed sign-in's or password change's reason, one that locked the account saying
    until when in the city's time; or a model promotion's (`_promotion_reason`)."""
    locked = _LOCKED_ACCOUNT.fullmatch(stored) or _THEN_LOCKED.fullmatch(stored)
    until = _moment(locked["until"]) if locked is not None else None
    if locked is None or until is None:
        if stored in REASONS:
            return t(f"audit_reason.{REASONS[stored]}")
        return _promotion_reason(stored, t) or stored
    if "reason" not in locked.groupdict():
        return t("audit_reason.locked", until=until)
    if locked["reason"] not in REASONS:
        return stored
    reason = t(f"audit_reason.{REASONS[locked['reason']]}")
    return t("audit_reason.then_locked", reason=reason, until=until)


def _promotion_reason(stored: str, t: Messages) -> str | None:
    """A model promotion's reason in `t`'s language, task codes in words and figures as
    written; None for one of no form known (a leakage refusal's own sentence)."""
    forced = stored.startswith("forced: ")
    reason = stored.removeprefix("forced: ")
    said = None
    worse = _WORSE.fullmatch(reason)
    if worse is not None:
        parts = [_WORSE_PART.fullmatch(part) for part in worse["problems"].split("; ")]
        if all(parts):
            problems = [
                t(
                    f"audit_promotion.{'auc_lower' if part['metric'] == 'AUC' else 'ece_higher'}",
                    amount=part["amount"],
                    limit=part["limit"],
                )
                for part in parts
                if part is not None
            ]
            said = t("audit_promotion.worse", problems=t("audit_promotion.and").join(problems))
    for pattern, key in _PROMOTION_REASONS.items():
        found = pattern.fullmatch(reason)
        if found is not None:
            named = found.groupdict()
            if "task" in named:
                named["task"] = t.word("task", named["task"])
            said = t(f"audit_promotion.{key}", **named)
            break
    if said is None:
        return None
    return t("audit_promotion.forced", reason=said) if forced else said


def _moment(text: str) -> str | None:
    """A stored moment (`2026-12-07T10:30:05+08:00`) as the page's times read; None if none."""
    try:
        return local_time(text)
    except ValueError:
        return None


@cache
def _text_values() -> dict[tuple[str, str], str]:
    """(detail, value) of each value written as text outside the policy -> its message key
    (`audit_value.<key>`)."""
    return {
        (detail, text): key
        for details in TEXT_VALUES.values()
        for detail, values in details.items()
        for text, key in values.items()
    }


@cache
def _keyed_rules() -> dict[str, str]:
    """Each rule written outside the policy -> its message key (`audit_rule.<key>`)."""
    keyed = {rule: f"ended.{why}" for why, rule in ENDED_RULES.items()}
    for rules in TEXT_RULES.values():
        keyed.update(rules)
    return keyed


@cache
def _patterned_rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each rule written with a figure or a name in it, as a pattern, and its message key."""
    return tuple(
        (re.compile(pattern), key)
        for rules in PATTERNED_RULES.values()
        for pattern, key in rules.items()
    )


@cache
def _policy_rules() -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    """Every rule the policy writes -> the Chinese it gives beside it (the sign-in throttle's
    and the own-password rule too): sentences naming a key or a department as a pattern, the
    name found put into the Chinese, the others as they are."""
    exact = {THROTTLE_RULE: THROTTLE_RULE_ZH, OWN_PASSWORD_RULE: OWN_PASSWORD_RULE_ZH}
    named: dict[str, str] = {}
    for decision in policy_decisions():
        if not decision.rule_zh:
            continue
        if any(stand_in in decision.rule for stand_in in _STAND_INS.values()):
            named[decision.rule] = decision.rule_zh
        else:
            exact[decision.rule] = decision.rule_zh
    return exact, tuple((_pattern(rule), chinese) for rule, chinese in named.items())


def _pattern(rule: str) -> re.Pattern[str]:
    """The rule with each stand-in a group taking any name as the policy writes it (`repr`)."""
    pattern = ""
    for part in re.split("(" + "|".join(map(re.escape, _STAND_INS.values())) + ")", rule):
        group = next((name for name, stand_in in _STAND_INS.items() if part == stand_in), None)
        if group is None:
            pattern += re.escape(part)
        elif f"(?P<{group}>" in pattern:  # named twice: the same name
            pattern += f"(?P={group})"
        else:
            pattern += f"(?P<{group}>'[^']*'|\"[^\"]*\")"
    return re.compile(pattern)


def policy_decisions() -> Iterator[Decision]:
    """The policy's answer to every question there is, asked in the departments its answers
    differ by (the tasks' owners, the auditing office, a department of no name), by each role,
    and by keys of every one or two scopes bound to none, to an owner or to a department of no
    name: each action on no warning and on warnings of each task, department (an outside
    body's, none) and status, by each transition, and the progress note."""
    owners = sorted({task_owner(task) for task in TASK_NAMES})
    departments = (*owners, DATA_OFFICE, _DEPARTMENT)
    cases = [
        {"task": task, "department": department, "status": status}
        for task in TASK_NAMES
        for department in (*owners, DATA_OFFICE, "an outside body", None)
        for status in STATUSES
    ]
    scopes = sorted({scope for scope in ACTION_SCOPES.values() if scope is not None})
    actors = [Actor.user(_NAME, role, department) for role in ROLES for department in departments]
    actors += [Actor.system(_NAME)]
    actors += [
        Actor.key(_NAME, held, department)
        for n in range(3)
        for held in combinations(scopes, n)
        for department in (None, owners[0], _DEPARTMENT)
    ]
    for actor in actors:
        for task in (None, *TASK_NAMES):
            yield decide(actor, "score", task=task)
        for action in ACTIONS:
            if action == "score":
                continue
            steps = (None, *TRANSITIONS) if action == "feedback" else (None,)
            for warning in (None, *cases):
                for transition in steps:
                    yield decide(actor, action, warning=warning, transition=transition)
        for case in cases:
            yield may_note(actor, case)
