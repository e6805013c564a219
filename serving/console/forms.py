"""The console's form fields: read as trimmed text within their limits, refused in the
person's words (`FormFieldError`, `field_problem`)."""

from __future__ import annotations

from starlette.datastructures import FormData

from serving.console.i18n import Messages
from serving.store.free_text import (
    NOTE_MAX_CHARS,
    PURPOSE_MAX_CHARS,
    code_points,
    plain_line_breaks,
    refused_characters,
)

#: the longest text a field without a limit of its own takes
MAX_FORM_FIELD = 4000


class FormFieldError(ValueError):
    """A form field that is not text, too long or holding a refused character (HTTP 400):
    `name` is the field, `limit` its longest length, `refused` the refused characters found."""

    def __init__(
        self, name: str, limit: int, refused: list[str] | None = None, length: int | None = None
    ) -> None:
        super().__init__(f"{name}: expected text of at most {limit} characters")
        self.name = name
        self.limit = limit
        self.refused = refused or []
        #: the typed text's length, when that is what was refused (to say how much to cut)
        self.length = length


# the words that name a form field in a refusal (other fields are named as they are sent)
_FIELD_LABELS = {
    "note": "field.note",
    "purpose": "reveal.purpose",
    "name": "sign_in.name",
    "department": "field.department",
    "outcome": "field.outcome",
    "unit_id": "unit.id",
}
# the longest text a field takes, as over the API; other fields: MAX_FORM_FIELD
FIELD_LIMITS = {"note": NOTE_MAX_CHARS, "purpose": PURPOSE_MAX_CHARS}


def form_text(form: FormData, name: str) -> str:
    """A form field as text, trimmed, its line breaks as LF (a browser sends CRLF but counts
    one character); files, over-long values and the characters no person's text may hold
    (`serving.store.free_text`) are a `FormFieldError`."""
    value = form.get(name)
    limit = FIELD_LIMITS.get(name, MAX_FORM_FIELD)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormFieldError(name, limit)
    value = plain_line_breaks(value)
    if len(value) > limit:
        raise FormFieldError(name, limit, length=len(value))
    refused = refused_characters(value)
    if refused:
        raise FormFieldError(name, limit, refused)
    return value.strip()


def field_label(name: str, t: Messages) -> str:
    """A form field's name in the person's words (one of no words: as it is sent)."""
    return t(_FIELD_LABELS[name]) if name in _FIELD_LABELS else name


def field_problem(exc: FormFieldError, t: Messages) -> str:
    """A refused form field in the person's words."""
    label = field_label(exc.name, t)
    if exc.refused:
        return t("error.form_characters", field=label, chars=code_points(exc.refused))
    if exc.length is not None:
        return t("error.form_too_long", field=label, n=exc.limit, length=exc.length)
    return t("error.form_field", field=label, n=exc.limit)
