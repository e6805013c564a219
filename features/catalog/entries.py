"""The catalog's entry type and helpers shared by the three task modules."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal[-1, 0, 1]
FeatureDtype = Literal["float", "int", "bool", "category"]


@dataclass(frozen=True)
class FeatureDef:
    """Metadata of one model feature.

    Attributes:
        name: column name in datasets and API records.
        dtype: value type; `category` features list their `categories`.
        unit: unit of the value ("months", "CNY", "count", "ratio", "" for none).
        label_en / label_zh: short human labels for reports and reasons.
        source_table / source_columns: the raw table and columns it is derived from.
        direction: expected effect on risk (+1 raises, -1 lowers, 0 no stated direction);
            becomes the LightGBM monotone constraint.
        actionable: whether a department can act on what it shows: the task spec attaches
            steps to it and a risk-raising reason of it triggers them. A fact nobody can change
            may be (an older resident living alone gets visits, a group dispute a named
            official); one no department answers is not (age, sector, dispute type).
        signal: the business signal it measures (`si_arrears`: social-insurance arrears),
            shared by the features that measure the same thing; a task spec attaches
            department actions to a signal, so every actionable feature of it triggers them.
            (Which features a simulated city planted as drivers, noise or proxies is not
            catalog metadata: it lives with the simulator's truth, truth/drivers.json.)
        min_value / max_value: valid range, checked on API input.
        categories: allowed values of a category feature.
        category_words: how a reason words each of `categories`, in the same order, as
            (English, Chinese): "registered via a walk-in visit", "登记渠道：来访".
        reason_en / reason_zh: sentence templates formatted with `value` (and `label`);
            `[one|other]` picks a word's form by the value: "{value:.0f} [complaint|complaints]"
            reads "1 complaint" and "3 complaints" (`reason_text` fills them).
        why_kept / why_kept_zh: for age/sex-derived features, why the model may use them
            (English, Chinese: the report's model card shows its edition's).
    """

    name: str
    dtype: FeatureDtype
    unit: str
    label_en: str
    label_zh: str
    source_table: str
    source_columns: tuple[str, ...]
    direction: Direction
    actionable: bool
    signal: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[str, ...] = ()
    category_words: tuple[tuple[str, str], ...] = ()
    reason_en: str = ""
    reason_zh: str = ""
    why_kept: str = ""
    why_kept_zh: str = ""

    def reason_text(self, value: Any, lang: Literal["en", "zh"]) -> str:
        """The reason template of `lang` filled with a (present) value."""
        template = self.reason_zh if lang == "zh" else self.reason_en
        label = self.label_zh if lang == "zh" else self.label_en
        return fill_reason(template, self.value_word(value, lang), label, lang)

    def value_word(self, value: Any, lang: Literal["en", "zh"]) -> Any:
        """A category value in words of `lang` (other values as they are)."""
        if self.category_words and value in self.categories:
            english, chinese = self.category_words[self.categories.index(value)]
            return chinese if lang == "zh" else english
        return value


_PLURAL = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")
_VALUE_FIELD = re.compile(r"\{value:([^{}]*)\}")
_FIXED_POINT = re.compile(r"(?P<lead>[^.]*)\.(?P<decimals>\d+)(?P<kind>[f%])")
_ABOUT = {"en": "about ", "zh": "约"}


def fill_reason(
    template: str, value: Any, label: str = "", lang: Literal["en", "zh"] = "en"
) -> str:
    """A reason template filled with `value`: each `[one|other]` becomes `one` when the value
    reads 1 (a count of one; 0.999 shown as "1" too) and `other` otherwise, then `{value}` and
    `{label}` are formatted. A whole number shown to one decimal reads without it ("11
    months", "11个月", not "11.0"); a number that rounds to zero never reads as a signed or
    false zero (`_shown_number`: "-0.4%", "about 0%", not "-0%")."""
    if isinstance(value, float) and value.is_integer():
        template = template.replace("{value:.1f}", "{value:.0f}")
        value = value + 0.0  # -0.0 reads 0
    shown: list[str] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value

        def number_field(match: re.Match[str]) -> str:
            shown.append(_shown_number(match.group(1), number, lang))
            return shown[-1]

        template = _VALUE_FIELD.sub(number_field, template)
    if "[" not in template:
        return template.format(value=value, label=label)
    if shown:
        one = shown[0] == "1"
    else:
        one = not isinstance(value, bool) and isinstance(value, int | float) and value == 1
    chosen = _PLURAL.sub(lambda m: m.group(1) if one else m.group(2), template)
    return chosen.format(value=value, label=label)


def _shown_number(spec: str, value: float, lang: Literal["en", "zh"]) -> str:
    """`value` formatted by `spec`, except where that rounds it to zero: a change of -0.44%
    shown to whole percents read "-0%" and a sign with no size ("+0%") reads as a direction
    the number does not have. Exactly zero reads without a sign ("0%"); a non-zero value gets
    one more decimal ("-0.4%") and, if it still rounds to zero, reads "about 0%" ("约0%"),
    with no decimals ("about 0 months", not "about 0.0")."""
    text = format(value, spec)
    fixed = _FIXED_POINT.fullmatch(spec)
    if fixed is None or re.search(r"[1-9]", text) or not math.isfinite(value):
        return text
    unsigned = spec.replace("+", "")
    if value == 0:
        return format(0.0, unsigned)
    finer = f"{fixed['lead']}.{int(fixed['decimals']) + 1}{fixed['kind']}"
    text = format(value, finer)
    if re.search(r"[1-9]", text):
        return text
    return _ABOUT[lang] + format(0.0, f"{fixed['lead'].replace('+', '')}.0{fixed['kind']}")


COUNT_MAX = 10_000.0
MONEY_MAX = 1e12


def count_feature(
    name: str,
    label_en: str,
    label_zh: str,
    table: str,
    columns: tuple[str, ...],
    **kw: Any,
) -> FeatureDef:
    """A non-negative integer count (events, months, persons)."""
    return FeatureDef(
        name=name,
        dtype="int",
        unit=kw.pop("unit", "count"),
        label_en=label_en,
        label_zh=label_zh,
        source_table=table,
        source_columns=columns,
        min_value=0.0,
        max_value=kw.pop("max_value", COUNT_MAX),
        **kw,
    )
