"""What the case page shows, computed from a stored warning: reasons, actions, timeline, forms.

Pure functions of the warning's dict (the store's `get_warning`), the task's spec and the
person's allowed transitions, so the page, the benchmark and tests build the same view.
Reasons are re-worded from the feature catalog in the page's language, whatever language the
warning was scored in; the waterfall is a separate PNG so the page itself stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.explain_plots import (
    PlotLanguage,
    other_version_title,
    plot_language,
    waterfall_heading,
    waterfall_png,
)
from models.pages import local_time
from models.risk_model import RiskModel
from models.scorer import ReasonRow, base_value, margin_from_score, reason_rows
from models.spec import TaskSpec, get_spec
from serving.console.i18n import Lang, Messages
from serving.policy import transition_for
from serving.store.models import OUTCOMES
from serving.store.transitions import TRIAGE_OUTCOMES

# the note a person must write: sending back says why; the other steps may explain
NOTE_REQUIRED = frozenset({"send_back"})
_DETAIL_KEYS = ("score", "risk_level", "previous_score", "from", "to", "department", "outcome")


@dataclass(frozen=True)
class TransitionForm:
    """One form on the case page: a transition this person may make now."""

    name: str
    departments: tuple[tuple[str, str], ...] = ()
    outcomes: tuple[str, ...] = ()
    note_required: bool = False


def short_id(warning_id: str) -> str:
    """The first characters of a warning id: enough to tell cases apart on a screen."""
    return warning_id[:10]


def actor_in_words(actor: str, t: Messages, display_name: Callable[[str], str | None]) -> str:
    """`user:alice` as "Alice Wang (alice)" (`display_name` looks the account up; "alice"
    alone when that is the display name too, as it is when none was given); an API key or
    riskloop's own job says which it is, in `t`'s language; anything else as recorded."""
    kind, _, name = actor.partition(":")
    if kind == "system" and name:  # riskloop's own jobs have names in both languages
        return t("actor.system", name=t.word("system", name))
    if kind == "key" and name:
        return t("actor.key", name=name)
    shown = display_name(name) if kind == "user" and name else None
    if shown is None:
        return actor
    return name if shown == name else f"{shown} ({name})"


def top_reason(reasons: Sequence[Mapping[str, Any]] | None, task: str, lang: Lang) -> str:
    """The queue's one-line reason: the largest contribution, as a sentence in `lang`."""
    if not reasons:
        return "–"
    first = max(reasons, key=lambda item: abs(float(item.get("contribution", 0.0))))
    rows = reason_rows([first], get_spec(task), lang)
    return rows[0].sentence or rows[0].label


def localised_actions(
    actions: Sequence[Mapping[str, Any]], spec: TaskSpec, lang: Lang
) -> list[tuple[str, str]]:
    """Stored actions as (department, action) in `lang` (`TaskSpec.localised_actions`)."""
    return spec.localised_actions(actions, lang)


#: An id a note or purpose held, as the store keeps it (`serving.store.pseudonym.scrub_text`)
_STORED_ID = re.compile(r"\[id:([0-9a-f]{8})[0-9a-f]{24}\]")


def shown_note(note: str, t: Messages) -> str:
    """A stored note or purpose as a person reads it: each id the store took out (`[id:` and
    its 32-character pseudonym) said in the reader's language with the pseudonym's first 8
    characters, which still tell two numbers apart and the same number twice."""
    return _STORED_ID.sub(lambda found: t("note.removed_id", code=found.group(1)), note)


def note_preview(note: str, limit: int) -> str:
    """A note's first `limit` characters, whitespace folded, with an ellipsis when cut; never
    cut inside a `[id:…]` code (a half code reads as a number that was not typed)."""
    text = " ".join(note.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    opened = cut.rfind("[id:")
    if opened != -1 and "]" not in cut[opened:]:
        cut = cut[:opened]
    return cut.rstrip() + "…"


def age_text(
    moment: Any, t: Messages, now: datetime | None = None, *, status: str | None = None
) -> str:
    """How long a warning has waited since it was raised, in days or hours; a dash for a
    closed one, which waits for nothing."""
    if moment is None or status == "closed":
        return "–"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds >= 86_400:
        return t("age.days", n=int(seconds // 86_400))
    return t("age.hours", n=int(seconds // 3_600))


def with_reveals(
    history: Sequence[Mapping[str, Any]], reveals: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The case's history with its identity reveals (audit rows) in time order."""
    events = [*history, *({"event": "identity_reveal", **reveal} for reveal in reveals)]
    return sorted(events, key=lambda event: _moment(event.get("at")))


def _moment(at: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timeline(
    history: Sequence[Mapping[str, Any]],
    t: Messages,
    person: Callable[[str], str],
    department_name: Callable[[str | None], str],
) -> list[dict[str, Any]]:
    """The case's history, oldest first, with people's names and readable details; a
    disposition is named by its step (a send-back reads "Send back to the supervisor", not a
    bare "disposition" from dispatched to open)."""
    items = []
    for event in history:
        kind = str(event.get("event", ""))
        title = t.word("event", kind)
        lines = []
        if kind == "disposition":
            frm, to = event.get("from"), event.get("to")
            step = transition_for(str(frm), str(to))
            if step is not None:  # named as the form that took it: Dispatch, Send back, ...
                title = t(f"act.{step}")
            if frm != to:  # a re-route stays dispatched: its new department says what changed
                lines.append(
                    t("timeline.moved", frm=t.word("status", frm), to=t.word("status", to))
                )
            if event.get("department") and to in ("dispatched",):
                lines.append(
                    t("timeline.department", department=department_name(event.get("department")))
                )
            if event.get("outcome"):
                lines.append(t("timeline.outcome", outcome=t.word("outcome", event["outcome"])))
        elif kind in ("raised", "score_update", "score_after_close"):
            lines.extend(_score_lines(event, t))
        elif kind == "identity_reveal":  # from the audit log: who re-identified, and why
            purpose = shown_note(str(event.get("purpose") or ""), t)
            lines.append(t("timeline.purpose", purpose=purpose or "–"))
        elif kind == "overdue":
            deadline = t.word("deadline", event.get("deadline"))
            lines.append(
                t("timeline.overdue", deadline=deadline, due=local_time(event.get("due_at")))
            )
            if event.get("department"):
                lines.append(
                    t("timeline.waiting_at", department=department_name(event.get("department")))
                )
        else:
            lines.extend(
                f"{key}: {event[key]}" for key in _DETAIL_KEYS if event.get(key) is not None
            )
        items.append(
            {
                "at": event.get("at") or "",
                "when": local_time(event.get("at")),
                "event": title,
                "actor": person(str(event.get("actor", ""))),
                "lines": lines,
                "note": shown_note(str(event.get("note") or ""), t),
            }
        )
    return items


def _score_lines(event: Mapping[str, Any], t: Messages) -> list[str]:
    """A score event's lines: the score and level, each as "before → after" where a re-score
    changed it, and the model version that scored it when that is what changed ("Model v1 →
    v2"): a re-score by a new version with the same figures otherwise reads as no change."""
    score = event.get("score")
    if not isinstance(score, int | float):
        return []
    shown = f"{score:.1%}"
    before = event.get("previous_score")
    if isinstance(before, int | float) and f"{before:.1%}" != shown:
        shown = f"{before:.1%} → {shown}"
    level = t.word("level", event.get("risk_level"))
    previous_level = event.get("previous_risk_level")
    if previous_level and previous_level != event.get("risk_level"):
        level = f"{t.word('level', previous_level)} → {level}"
    lines = [t("timeline.score", score=shown, level=level)]
    version, previous_version = event.get("model_version"), event.get("previous_model_version")
    if previous_version is not None and str(previous_version) != str(version):
        lines.append(t("timeline.model", frm=previous_version, to=version))
    return lines


def transition_forms(
    allowed: Sequence[str],
    warning: Mapping[str, Any],
    departments: Sequence[tuple[str, str]],
) -> list[TransitionForm]:
    """One form per transition the policy allows this person now, with the choices it needs."""
    forms = []
    for name in allowed:
        if name in ("dispatch", "reroute"):
            current = warning.get("department")
            choices = tuple((code, label) for code, label in departments if code != current)
            forms.append(TransitionForm(name, departments=choices))
        elif name == "close":
            forms.append(TransitionForm(name, outcomes=OUTCOMES))
        elif name == "triage_close":
            forms.append(
                TransitionForm(name, outcomes=tuple(o for o in OUTCOMES if o in TRIAGE_OUTCOMES))
            )
        else:
            forms.append(TransitionForm(name, note_required=name in NOTE_REQUIRED))
    return forms


def waterfall_margin(
    warning: Mapping[str, Any], model: RiskModel, model_version: str
) -> float | None:
    """The model output the case's waterfall ends at, recovered from the stored score: None
    when the warning was scored by another version (whose calibrator is not loaded) or the
    calibrator cannot be inverted; the chart then ends at the base value plus the reasons."""
    if str(warning.get("model_version", "")) != str(model_version):
        return None
    return margin_from_score(model, float(warning["score"]))


def waterfall_note(
    warning: Mapping[str, Any], model_version: str, margin: float | None, t: Messages
) -> str:
    """The caption under the waterfall: what its last bars are, since a warning keeps only its
    top reasons (`margin` is `waterfall_margin`'s answer for this warning)."""
    if str(warning.get("model_version", "")) != str(model_version):
        return t(
            "case.waterfall_other_version",
            scored=warning.get("model_version", ""),
            used=model_version,
        )
    return t("case.waterfall_other" if margin is not None else "case.waterfall_other_unknown")


def png_size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height in pixels, from its header (the IHDR chunk comes first)."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def waterfall(
    warning: Mapping[str, Any], model: RiskModel, model_version: str, lang: Lang
) -> bytes:
    """The case's waterfall chart (PNG): base value, the recorded reasons, the model output."""
    rows = reason_rows(warning.get("reasons") or [], model.spec, lang)
    score = float(warning["score"])
    final_margin = waterfall_margin(warning, model, model_version)
    chart_lang = plot_language(lang).lang
    contributions = [row.bar(chart_lang) for row in rows]
    scored = str(warning.get("model_version", ""))
    return waterfall_png(
        contributions,
        base_value(model),
        final_margin=final_margin,
        score=score,
        lang=lang,
        top_k=max(len(contributions), 1),
        title=None
        if scored == str(model_version)
        else other_version_title(lang, scored, str(model_version)),
    )


def waterfall_in_words(
    warning: dict[str, Any],
    model: RiskModel,
    version: str,
    margin: float | None,
    reasons: list[ReasonRow],
    lang: Lang,
) -> dict[str, Any]:
    """What the waterfall chart says that the reasons table does not, as text for those who
    cannot see the image: its heading (the base value and this record's raw output, the
    calibrated score) and its base value, "other features" bar and model output, as the chart
    draws them (`waterfall`: every recorded reason a bar of its own)."""
    base = float(base_value(model))
    recorded = float(sum(reason.contribution for reason in reasons))
    output = margin if margin is not None else base + recorded
    scored = str(warning.get("model_version", ""))
    # the page's language, whatever fonts the chart found to draw it in
    language = PlotLanguage(lang=lang, fonts=())
    title = None if scored == str(version) else other_version_title(lang, scored, str(version))
    heading = waterfall_heading(language, base, output, float(warning["score"]), title)
    rest = output - base - recorded
    return {
        "heading": heading.splitlines(),
        "base": f"{base:+.2f}",
        "rest": f"{rest:+.2f}" if abs(rest) > 1e-9 else None,
        "output": f"{output:+.2f}",
    }
