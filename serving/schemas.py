"""The HTTP API's request and response schemas, published in the service's OpenAPI document.

Requests are strict: unknown fields are refused, numbers must be JSON numbers (no numeric
strings, no NaN or Infinity), booleans must be JSON booleans, and every feature is range- and
category-checked from the feature catalog, so bad input is answered 400 naming the field and
never reaches the model. Each task's record model is generated from `features.catalog`, never
written by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    model_validator,
)
from pydantic.json_schema import JsonDict

from features.catalog import FeatureDef
from features.frame_checks import ENTITY_ID_MAX_CHARS, ENTITY_ID_PATTERN
from features.tasks import TASKS
from models.departments import department_code
from models.spec import Lang as Lang  # one definition each; re-exported
from models.spec import RiskLevel as RiskLevel
from serving.store.free_text import (
    NOTE_MAX_CHARS,
    PLAIN_TEXT,
    PURPOSE_MAX_CHARS,
    REFUSED_CLASS,
    plain_line_breaks,
)
from serving.store.passwords import MAX_PASSWORD_CHARS
from serving.store.privacy import PURPOSE_MIN_CHARS, PURPOSE_MIN_LETTERS, PURPOSE_MIN_WEIGHT
from serving.store.pseudonym import looks_like_identifier
from serving.store.walk import CURSOR_PATTERN, WALK_START

MAX_RECORDS = 1000
MAX_TOP_K = 20

#: Task slug by CLI/API name, from the registry.
TASK_SLUGS: dict[str, str] = {task.name: task.slug for task in TASKS.values()}
#: A task name as a query parameter: the registry's names, listed as the OpenAPI enum.
TaskName = StrEnum("TaskName", {task.slug: task.name for task in TASKS.values()})  # type: ignore[misc]
WarningLevel = Literal["red", "orange", "yellow"]
WarningStatus = Literal["open", "dispatched", "in_progress", "closed"]
Outcome = Literal["confirmed", "prevented", "false_alarm", "unreachable"]

EntityId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=ENTITY_ID_MAX_CHARS,
        pattern=ENTITY_ID_PATTERN,
        description="The caller's identifier of the unit (employer, resident or dispute).",
    ),
]
#: A district's code: lower case, starting with a letter, and at most 6 digits, which no phone
#: (11), identity-card (18), bank-card (16-19) or landline (10-12) number fits: it is stored
#: and answered as sent (QA, 2026-12-07: `id330102199001011234` was). An administrative
#: division's 6-digit code fits (`c330502`).
DISTRICT_PATTERN = r"^[a-z](?:[a-z_-]*[0-9]){0,6}[a-z_-]*$"
DISTRICT_MAX_CHARS = 64


def _no_identifier(district: str) -> str:
    """A district's code is stored and answered as sent, beside no scrubbing (it is a place's
    code, and the filters and monitoring group by it): one holding what reads as an identity
    card, phone, bank card or credit code is refused, never stored: past `DISTRICT_PATTERN`,
    a credit code's shape (six digits and letters, `ab330522wnwuuwdqgx`)."""
    if looks_like_identifier(district):
        raise ValueError(
            "a district is a place's code (e.g. wuxing); this one holds what reads as an "
            "identity-card, phone, bank-card or credit-code number, which riskloop never stores"
        )
    return district


District = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DISTRICT_MAX_CHARS,
        pattern=DISTRICT_PATTERN,
        description="The unit's district (lower-case code, e.g. `wuxing`); kept on its warning "
        "so reviewers can filter by district. Not a feature: it never changes the score. At "
        "most 6 digits (no phone, identity-card or bank-card number fits), and a code holding "
        "what reads as a credit code is refused too.",
    ),
    AfterValidator(_no_identifier),
]
FeatureValue = float | int | bool | str | None

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_BOOLEAN = {"true": True, "false": False}


def _text_as(pattern: re.Pattern[str], what: str) -> Any:
    """A before-validator letting through only text in the documented format.

    pydantic's lax parsing reads `0` as 1970-01-01 and `yes` as true: a query parameter would
    then accept what the OpenAPI document (`format: date`, `boolean`) calls invalid.
    """

    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.match(value):
            raise ValueError(f"expected {what}")
        return value

    return BeforeValidator(check)


def _boolean_text(value: Any) -> Any:
    if isinstance(value, str):
        if value not in _BOOLEAN:
            raise ValueError("expected true or false")
        return _BOOLEAN[value]
    return value


#: What `str.strip()` removes, as a regex class: the store measures a text after stripping it.
_SPACE = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x10000)) if c.isspace())


def _at_least_visible(n: int) -> str:
    """A pattern for free text whose stripped form has at least `n` characters (`n` >= 2)."""
    edge = f"[^{_SPACE}{REFUSED_CLASS}]"
    return f"^[{_SPACE}]*{edge}[^{REFUSED_CLASS}]{{{n - 2},}}{edge}[{_SPACE}]*$"


#: A note's or purpose's line breaks as the store keeps them, one LF each, as the console
#: stores what a browser sends as CRLF (applied after the published limits are checked).
_ONE_LF_A_BREAK = AfterValidator(plain_line_breaks)

#: A reveal's purpose: `PURPOSE_MIN_CHARS` visible characters at least, none refused (the
#: store weighs it further: `serving.store.privacy.states_a_purpose`).
PURPOSE_TEXT = _at_least_visible(PURPOSE_MIN_CHARS)
#: Text with a character besides white space at least, none refused: a text filter of a query
#: as sent (an empty `?entity_id=` from a client's template would otherwise list nothing, as if
#: no warning were there) and a progress note (one of blanks only was refused after the
#: published pattern let it through, a schema-valid request answered 422).
VISIBLE_TEXT = f"^[^{REFUSED_CLASS}]*[^{_SPACE}{REFUSED_CLASS}][^{REFUSED_CLASS}]*$"
#: The text patterns in words, for refusals (a person cannot read the expressions).
PATTERN_WORDS = {
    PLAIN_TEXT: "text must not hold control characters or direction overrides",
    PURPOSE_TEXT: f"needs at least {PURPOSE_MIN_CHARS} visible characters, without control "
    "characters or direction overrides",
    VISIBLE_TEXT: "needs a character besides white space, and no control characters or "
    "direction overrides",
    DISTRICT_PATTERN: "is a place's lower-case code: letters, digits, _ or -, starting with a "
    "letter, with at most 6 digits (a phone or identity-card number is never a district)",
    CURSOR_PATTERN: f"is not a cursor of this list: send `{WALK_START}` to begin a walk, then "
    "each answer's `next_cursor`",
}


#: Query-parameter types that take only their documented text form.
IsoDate = Annotated[date, _text_as(_ISO_DATE, "an ISO date, YYYY-MM-DD")]


def _in_utc(value: datetime) -> datetime:
    """The moment in UTC, which the store compares in: an offset that moves it before year 1 or
    after 9999 there is refused rather than overflowing later."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("expected a moment between years 1 and 9999 in UTC") from None


IsoDateTime = Annotated[
    datetime,
    _text_as(_RFC3339, "an RFC 3339 date-time with a time zone"),
    AfterValidator(_in_utc),
]
StrictBool = Annotated[bool, BeforeValidator(_boolean_text)]


def _text_filter(max_chars: int) -> Any:
    """The published limits of a text filter, checked on the value as sent (before trimming)."""
    return Field(max_length=max_chars, pattern=VISIBLE_TEXT)


#: Trims a text filter after its limits are checked: white space around an id or a name is no
#: part of it (a dispatch's department is read so too), and every text filter trims alike.
_TRIMMED = AfterValidator(str.strip)
#: The text filters of `GET /v1/warnings` and `GET /v1/audit`, trimmed: a unit's id, a
#: department's or an actor's name, a warning id.
EntityIdFilter = Annotated[str, _text_filter(ENTITY_ID_MAX_CHARS), _TRIMMED]
NameFilter = Annotated[str, _text_filter(200), _TRIMMED]
WarningIdFilter = Annotated[str, _text_filter(40), _TRIMMED]

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_RESPONSE = ConfigDict(extra="ignore", allow_inf_nan=False)


def _title(slug: str) -> str:
    return "".join(part.capitalize() for part in slug.split("_"))


def _feature_field(feature: FeatureDef) -> tuple[Any, Any]:
    """One catalog entry as an optional, typed, range-checked pydantic field (None = missing)."""
    unit = f" [{feature.unit}]" if feature.unit else ""
    description = f"{feature.label_en} / {feature.label_zh}{unit}"
    bounds: dict[str, Any] = {}
    if feature.min_value is not None:
        bounds["ge"] = feature.min_value
    if feature.max_value is not None:
        bounds["le"] = feature.max_value
    typ: Any
    if feature.dtype == "category":
        typ = Literal[tuple(feature.categories)]  # type: ignore[valid-type]
        bounds = {}
    elif feature.dtype == "bool":
        typ = bool
        bounds = {}
    elif feature.dtype == "int":
        typ = int
        bounds = {k: int(v) if float(v).is_integer() else v for k, v in bounds.items()}
    else:
        typ = float
        bounds["allow_inf_nan"] = False
    return (
        Annotated[typ | None, Field(description=description, **bounds)],
        None,
    )


@cache
def record_model(slug: str) -> type[BaseModel]:
    """The per-task feature record: `entity_id`, the optional `district`, and every catalog
    feature, all optional."""
    from features.catalog import CATALOG

    fields: dict[str, Any] = {"entity_id": (EntityId, ...), "district": (District | None, None)}
    for feature in CATALOG[slug]:
        fields[feature.name] = _feature_field(feature)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{_title(slug)}Record",
        __config__=_STRICT,
        __doc__=f"One {slug.replace('_', ' ')} unit's features; omitted or null = missing.",
        **fields,
    )


_RECORDS_SENT: JsonDict = {"required": ["records"], "properties": {"records": {"type": "array"}}}
_IDS_SENT: JsonDict = {"required": ["entity_ids"], "properties": {"entity_ids": {"type": "array"}}}
#: The "exactly one of `records` or `entity_ids`" rule, as the published schema says it:
#: not both sent, nor neither (a null counts as not sent). Said by `not`, not `oneOf`: a
#: body sending `"entity_ids": null` beside its records, which the server scores, matched both
#: `{required: [records]}` and `{required: [entity_ids]}` branches (a strict validator refused
#: it), and code generators read a `oneOf` beside `properties` as a union of its branches
#: (openapi-python-client then left the score routes out of its client); they read past `not`.
#: `serving.openapi` adds it to the published schema: BentoML builds its own schema objects
#: from the model's, and they take no `not`.
EXACTLY_ONE_SOURCE: JsonDict = {
    "not": {
        "anyOf": [
            {"allOf": [{"not": _RECORDS_SENT}, {"not": _IDS_SENT}]},
            {"allOf": [_RECORDS_SENT, _IDS_SENT]},
        ]
    }
}


class _ScoreRequestBase(BaseModel):
    """Score either literal feature records or entity ids looked up in the online store."""

    model_config = _STRICT

    entity_ids: Annotated[list[EntityId], Field(min_length=1, max_length=MAX_RECORDS)] | None = (
        Field(
            default=None,
            description="Score the latest materialized features of these entities (online store).",
        )
    )
    explain: bool = Field(default=True, description="Return SHAP reasons and actions.")
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="Number of reasons.")
    lang: Lang = Field(default="en", description="Language of labels, sentences and actions.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> _ScoreRequestBase:
        has_records = getattr(self, "records", None) is not None
        if has_records == (self.entity_ids is not None):
            raise ValueError("send exactly one of 'records' or 'entity_ids'")
        return self


@cache
def score_request_model(slug: str) -> type[_ScoreRequestBase]:
    """`ScoreRequest` for one task: its `records` carry that task's feature record schema."""
    record = record_model(slug)
    records_field: Any = (
        Annotated[list[record], Field(min_length=1, max_length=MAX_RECORDS)] | None,  # type: ignore[valid-type]
        Field(default=None, description="Feature records, scored in order."),
    )
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{_title(slug)}ScoreRequest",
        __base__=_ScoreRequestBase,
        __doc__=(
            f"Score {slug.replace('_', ' ')} units: `records` (at most {MAX_RECORDS}) or "
            "`entity_ids`, exactly one of the two."
        ),
        records=records_field,
    )


class Reason(BaseModel):
    """One feature's SHAP contribution to a score, in words a case worker reads."""

    model_config = _RESPONSE

    feature: str
    label: str
    value: FeatureValue
    contribution: float = Field(description="SHAP contribution in log-odds of the raw margin.")
    direction: Literal["raises", "lowers", "neutral"]
    actionable: bool
    sentence: str


class ActionOut(BaseModel):
    """A recommended step for a department and what triggered it."""

    model_config = _RESPONSE

    department: str
    action: str
    trigger: str = Field(description="`level:<level>` or `reason:<feature>`.")


class ModelRef(BaseModel):
    """Which registered model version produced a score."""

    model_config = _RESPONSE

    name: str
    version: str
    alias: str


class ScoreResult(BaseModel):
    """One record's calibrated score, risk level, reasons and actions."""

    model_config = _RESPONSE

    entity_id: str
    score: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the event.")
    risk_level: RiskLevel
    raw_margin: float = Field(description="The booster's log-odds before calibration.")
    base_value: float | None = Field(
        default=None, description="SHAP expected value: base_value + sum(contributions) = margin."
    )
    contributions: dict[str, float] | None = Field(
        default=None, description="Every feature's SHAP contribution (log-odds)."
    )
    reasons: list[Reason]
    actions: list[ActionOut]
    warning_id: str | None = Field(
        default=None, description="The warning raised or updated (yellow and above)."
    )
    model: ModelRef


class ScoreResponse(BaseModel):
    """Scores in request order."""

    model_config = _RESPONSE

    results: list[ScoreResult]


class ModelInfo(BaseModel):
    """The model serving one task, with its test metrics and level thresholds."""

    model_config = _RESPONSE

    task: str
    name: str
    version: str
    alias: str
    loaded_at: datetime
    metrics: dict[str, float]
    thresholds: dict[str, float]
    catalog_version: str
    last_reload_error: str | None = None
    promotion: Literal["first", "rule", "forced"] | None = Field(
        default=None,
        description="How this version became champion: `first` (the task's first version), "
        "`rule` (promoted by the promotion rule) or `forced` (`riskloop promote --force` past "
        "the rule); null when the registry does not say (a bento's packaged model).",
    )
    promotion_reason: str | None = Field(
        default=None, description="The promotion's reason as recorded in the registry."
    )


class ModelsResponse(BaseModel):
    """The models each task is served by."""

    model_config = _RESPONSE

    models: list[ModelInfo]


class ReloadResult(BaseModel):
    """Outcome of a reload for one task: `reloaded`, `unchanged` or `failed` (old model kept)."""

    model_config = _RESPONSE

    task: str
    status: Literal["reloaded", "unchanged", "failed"]
    version: str
    previous_version: str | None = None
    error: str | None = None


class ReloadResponse(BaseModel):
    """Per-task reload outcomes."""

    model_config = _RESPONSE

    results: list[ReloadResult]


class WarningPublic(BaseModel):
    """A warning as reviewers see it; the entity appears only pseudonymised (`entity`)."""

    model_config = _RESPONSE

    id: str
    task: str
    entity: str = Field(description="Keyed hash of the caller's entity id.")
    as_of: date
    period: date
    score: float
    risk_level: WarningLevel
    status: WarningStatus
    department: str | None = None
    district: str | None = Field(default=None, description="The unit's district, when known.")
    outcome: Outcome | None = None
    reasons: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    model_name: str
    model_version: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    due_at: datetime | None = Field(
        default=None,
        description="The response deadline the case now races (dispatch, then first action); "
        "none once handling has started.",
    )
    overdue: bool = Field(default=False, description="True when `due_at` has passed.")
    version: int = Field(
        default=1, description="+1 on every change; send it back as `expected_version`."
    )
    history: list[dict[str, Any]] | None = Field(
        default=None,
        description="Score updates and disposition steps, oldest first (single-warning view).",
    )


class WarningList(BaseModel):
    """One page of warnings."""

    model_config = _RESPONSE

    items: list[WarningPublic]
    total: int
    page: int
    page_size: int
    next_cursor: str | None = Field(
        default=None,
        description="In a walk (`cursor=start`, then this): the next page's cursor; null on "
        "the walk's last page. Absent from pages asked for by number.",
    )


def _one_department(department: str | None) -> str | None:
    """A dispatch names one department: a list of known ones (`labour_inspection,tax`), kept
    as an outside body's name, was a case nobody listed (a list filter reads the same text as
    the two departments; QA, 2026-12-07). An outside body's name may hold a comma."""
    if department is None:
        return None
    parts = [part.strip() for part in re.split(r"[,，、]", department) if part.strip()]
    if len(parts) > 1 and all(department_code(part) is not None for part in parts):
        raise ValueError(
            "names more than one department: a case is dispatched to one (send each "
            "department's code or name alone)"
        )
    return department


class FeedbackCreate(BaseModel):
    """A disposition step: dispatch, start handling, close with an outcome, or send back
    (`open`, with a note) to the task's supervisors."""

    model_config = _STRICT

    status: Literal["open", "dispatched", "in_progress", "closed"]
    department: Annotated[
        # a character besides white space, as the schema says: a blank one was the dispatch's
        # 409 where an empty one is a 422 (QA, 2026-12-07)
        Annotated[str, Field(min_length=1, max_length=200, pattern=VISIBLE_TEXT)] | None,
        AfterValidator(_one_department),
    ] = Field(
        default=None,
        description="Department code (or its English or Chinese name): one department (a "
        "comma-separated list of known ones is refused); a name riskloop does not know is an "
        "outside body's.",
    )
    outcome: Outcome | None = None
    note: (
        Annotated[str, Field(max_length=NOTE_MAX_CHARS, pattern=PLAIN_TEXT), _ONE_LF_A_BREAK] | None
    ) = None
    expected_version: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="The warning's version the step was decided on; 409 if it changed since, "
        "or if the warning has not reached it.",
    )


class NoteCreate(BaseModel):
    """A progress note on a case being worked (a visit, a call, papers asked for): no step."""

    model_config = _STRICT

    note: Annotated[
        str,
        Field(min_length=1, max_length=NOTE_MAX_CHARS, pattern=VISIBLE_TEXT),
        _ONE_LF_A_BREAK,
    ]


class RevealRequest(BaseModel):
    """Why the caller needs to know who a warning is about (kept in the audit log)."""

    model_config = _STRICT

    purpose: Annotated[
        str,
        Field(
            min_length=PURPOSE_MIN_CHARS,
            max_length=PURPOSE_MAX_CHARS,
            pattern=PURPOSE_TEXT,
            description=f"Why the identity is needed, in words: at least {PURPOSE_MIN_WEIGHT} "
            "characters, a Chinese (CJK) character counting as two and a space between words "
            f"as one (so {PURPOSE_MIN_CHARS} Chinese characters are enough), with at least "
            f"{PURPOSE_MIN_LETTERS} different letters (a Chinese character counting as one), "
            "not only punctuation or digits and not one pattern repeated (else 422); leading "
            "and trailing white space is not counted; no control or bidirectional-override "
            "characters.",
        ),
        _ONE_LF_A_BREAK,
    ]


class RevealResponse(BaseModel):
    """A warning's entity id, in clear, for the case worker allowed to see it."""

    model_config = _RESPONSE

    warning_id: str
    entity_id: str


class AuditRow(BaseModel):
    """One audit-log row: who did or looked at what, when."""

    model_config = _RESPONSE

    id: int
    at: datetime
    actor: str
    action: str
    task: str | None = None
    model_version: str | None = None
    detail: dict[str, Any]


class AuditList(BaseModel):
    """Audit rows in the order they were written; `next_after_id` is set when `limit` cut the
    answer short: pass it as `after_id` for the rows that follow."""

    model_config = _RESPONSE

    items: list[AuditRow]
    next_after_id: int | None = None


class SessionCreate(BaseModel):
    """A person's sign-in."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_TEXT)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class SessionResponse(BaseModel):
    """A session token for `Authorization: Bearer`, and who it is for."""

    model_config = _RESPONSE

    token: str
    expires_at: datetime
    name: str
    role: str
    department: str
    password_from_admin: bool = Field(
        default=False,
        description="The password is one an administrator set (`users create`, `users "
        "reset-password`): the person should choose their own on the console's password page.",
    )


class ErrorResponse(BaseModel):
    """Every error: a message and, for invalid input, the offending fields."""

    error: str
    detail: list[dict[str, Any]] | None = None
    rule_zh: str | None = Field(default=None, description="A refusal's rule, in Chinese.")


@cache
def field_names() -> frozenset[str]:
    """Every field name the API's schemas declare, each task's records included: the words a
    refusal's log line may repeat from an error's location (any other key there is the client's
    own data, logged as a placeholder: `serving.log_redaction.logged_errors`)."""
    models: list[type[BaseModel]] = [
        value
        for value in globals().values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel
    ]
    models += [score_request_model(slug) for slug in TASK_SLUGS.values()]
    models += [record_model(slug) for slug in TASK_SLUGS.values()]
    names = {name for model in models for name in model.model_fields}
    aliases = {info.alias for model in models for info in model.model_fields.values()}
    return frozenset(names | {alias for alias in aliases if alias})
