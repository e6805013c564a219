"""The per-warning explanation page a supervisor reads before a department acts on a warning.

`GET /v1/warnings/{id}/explanation` answers with `render_warning_page(...)`: a self-contained
HTML page (no script, no external resource) with the score and level, the reasons in words, a
waterfall chart of the recorded SHAP contributions, the recommended actions, the model version
and the warning's disposition history. `lang="zh"` gives the Chinese page; reason labels and
sentences are re-worded from the feature catalog so they follow the page's language even when
the warning was scored in the other one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from models import pages
from models.departments import department_in_words
from models.explain_plots import other_version_title, plot_language, waterfall_png
from models.risk_model import RiskModel
from models.scorer import ReasonRow, base_value, reason_rows
from models.spec import Lang
from serving.console.case import actor_in_words, timeline, waterfall_margin, waterfall_note
from serving.console.i18n import Messages
from serving.store.deadlines import DEADLINE_OF_STATUS

_TEXT: dict[str, dict[Lang, str]] = {
    "title": {"en": "Warning {id}: why this score", "zh": "预警 {id}：评分依据"},
    "actionable": {"en": "Actionable", "zh": "可干预"},
    "yes": {"en": "yes", "zh": "是"},
    "no": {"en": "no", "zh": "否"},
    "no_history": {"en": "No history recorded.", "zh": "暂无处置记录。"},
    "when": {"en": "When", "zh": "时间"},
    "event": {"en": "Event", "zh": "事件"},
    "actor": {"en": "By", "zh": "操作人"},
    "details": {"en": "Details", "zh": "详情"},
    "footer": {
        "en": "Automated risk assessment: a person reviews every warning before any action "
        "(PIPL Art. 24). Scores are probabilities of the event within the task's horizon. "
        "Times are Beijing time (UTC+8).",
        "zh": "本评估由模型自动生成，任何处置前均须人工复核（《个人信息保护法》第二十四条）。评分为在任务期限内发生该事件的概率。时间均为北京时间（UTC+8）。",
    },
}

# the words the console's case page uses for the same things, from its catalog: one wording
# for a person who reads both pages (Factor, not Feature; Timeline, not Disposition history)
_CONSOLE_WORDS = {
    "summary": "case.summary",
    "task": "field.task",
    "entity": "field.entity",
    "as_of": "field.as_of",
    "score": "field.score",
    "level": "field.level",
    "status": "field.status",
    "department": "field.department",
    "outcome": "field.outcome",
    "model": "field.model",
    "reasons": "case.reasons",
    "reasons_intro": "case.reasons_intro",
    "feature": "case.feature",
    "value": "case.value",
    "contribution": "case.contribution",
    "sentence": "case.in_words",
    "chart": "case.waterfall",
    "chart_alt": "case.waterfall_alt",
    "actions": "case.actions",
    "no_actions": "case.no_actions",
    "action": "case.action",
    "history": "case.timeline",
}


def _language(lang: str) -> Lang:
    return "zh" if lang == "zh" else "en"


def _t(key: str, lang: Lang, **values: object) -> str:
    if key in _CONSOLE_WORDS:
        return Messages(lang)(_CONSOLE_WORDS[key], **values)
    return _TEXT[key][lang].format(**values)


def _waterfall(
    warning: Mapping[str, Any],
    rows: list[ReasonRow],
    model: RiskModel,
    lang: Lang,
    model_version: str | None,
) -> dict[str, object]:
    """The waterfall chart of the recorded reasons and the note on where it ends."""
    score = float(warning["score"])
    scored = str(warning.get("model_version", ""))
    # the version whose base value draws the chart: the warning's own unless another is given
    version = str(model_version) if model_version is not None and scored else scored
    final_margin = waterfall_margin(warning, model, version)
    chart_lang = plot_language(lang).lang  # English when no CJK font can draw the labels
    contributions = [row.bar(chart_lang) for row in rows]
    png = waterfall_png(
        contributions,
        base_value(model),
        final_margin=final_margin,
        score=score,
        lang=lang,
        top_k=max(len(contributions), 1),
        title=None if version == scored else other_version_title(lang, scored, version),
    )
    note = waterfall_note(warning, version, final_margin, Messages(lang))
    return {
        "png": png,
        "alt": _t("chart_alt", lang),
        "note": note,
        "note_class": "note" if version != scored else "muted",
    }


def _summary(warning: Mapping[str, Any], lang: Lang) -> list[tuple[str, object]]:
    """The summary card's pairs (the level's badge is drawn by the template)."""
    words = Messages(lang)
    model_line = f"{warning.get('model_name', '')} v{warning.get('model_version', '')}"
    return [
        (_t("task", lang), words.word("task", warning.get("task"))),
        (_t("entity", lang), warning.get("entity", "")),
        (_t("as_of", lang), warning.get("as_of", "")),
        (_t("score", lang), pages.format_share(float(warning["score"]))),
        (_t("level", lang), warning.get("risk_level", "")),
        (_t("status", lang), words.word("status", warning.get("status"))),
        (_t("department", lang), department_in_words(warning.get("department"), lang)),
        (_t("outcome", lang), words.word("outcome", warning.get("outcome"))),
        *_deadline(warning, words),
        (_t("model", lang), model_line),
    ]


def _deadline(warning: Mapping[str, Any], words: Messages) -> list[tuple[str, object]]:
    """The deadline the warning races now, named as the console names it (dispatch while
    open, first action once dispatched), and whether it has passed; none once in progress."""
    kind = DEADLINE_OF_STATUS.get(str(warning.get("status")))
    if not warning.get("due_at") or kind is None:
        return []
    when = pages.local_time(warning["due_at"])
    late = f" ({words('queue.overdue')})" if warning.get("overdue") else ""
    return [(words(f"field.due_{kind}"), when + late)]


def _reason_view(row: ReasonRow, lang: Lang) -> dict[str, object]:
    """One reason as the page shows it: label and value in the page language."""
    return {
        "label": row.label,
        "value": row.value,
        "contribution": row.contribution,
        "actionable": _t("yes" if row.actionable else "no", lang),
        "sentence": row.sentence,
    }


def _history_rows(
    history: Sequence[Mapping[str, Any]],
    lang: Lang,
    display_name: Callable[[str], str | None],
) -> list[list[object]]:
    """The history as the console's timeline words it (statuses, departments, outcomes,
    scores and missed deadlines in the page's language), people by name, keys and riskloop's
    own jobs said as such."""
    words = Messages(lang)
    items = timeline(
        history,
        words,
        person=lambda actor: actor_in_words(actor, words, display_name),
        department_name=lambda code: department_in_words(code, lang),
    )
    note_label = words("field.note") + ("：" if lang == "zh" else ": ")
    joint = "；" if lang == "zh" else "; "
    return [
        [
            item["when"],
            item["event"],
            item["actor"],
            joint.join([*item["lines"], *([note_label + item["note"]] if item["note"] else [])]),
        ]
        for item in items
    ]


def render_warning_page(
    warning: Mapping[str, Any],
    model: RiskModel,
    lang: str = "en",
    *,
    model_version: str | None = None,
    display_name: Callable[[str], str | None] | None = None,
) -> str:
    """The explanation page of one stored warning, as a complete HTML document.

    Args:
        warning: the store's `get_warning` dict (id, task, entity, as_of, score, risk_level,
            status, department, outcome, reasons, actions, model_name, model_version, history).
        model: the task's model, for the catalog wording and the SHAP base value.
        lang: `en` or `zh`.
        model_version: the version of `model`, noted when it differs from the warning's own.
        display_name: the name people read for an account (the store's `display_name`);
            without it, people show as the audit log records them (`user:alice`).

    Raises:
        ValueError: the model is for another task than the warning.
    """
    task = str(warning.get("task", ""))
    if task not in (model.spec.task, model.spec.slug):
        raise ValueError(f"warning {warning.get('id')} is a {task} warning, not {model.spec.task}")
    page_lang = _language(lang)
    rows = reason_rows(warning.get("reasons") or [], model.spec, page_lang)
    level = str(warning.get("risk_level", ""))
    return pages.render(
        "explanation.html",
        packages=("serving",),
        lang=page_lang,
        title=_t("title", page_lang, id=warning.get("id", "")),
        t={
            **{key: texts[page_lang] for key, texts in _TEXT.items()},
            **{key: _t(key, page_lang) for key in _CONSOLE_WORDS},
        },
        summary=_summary(warning, page_lang),
        level=level,
        level_name=Messages(page_lang).word("level", level),
        reasons=[_reason_view(row, page_lang) for row in rows],
        chart=_waterfall(warning, rows, model, page_lang, model_version),
        actions=model.spec.localised_actions(warning.get("actions") or [], page_lang),
        history=_history_rows(
            warning.get("history") or [], page_lang, display_name or (lambda _name: None)
        ),
    )
