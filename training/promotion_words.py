"""A promotion's reason in the report's words: the forms `training.promote` writes, parsed.

`training.report_words.Words.promotion_reason` reads a version's `riskloop.promotion_reason`
tag through here, so the report says it in its own language.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: The forms of a promotion's reason, as `training.promote.PromotionRule.judge` and
#: `training.promote._judge` write them (`tests/training/test_promotion_reason_words.py`
#: holds the two alike).
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_NOT_WORSE = re.compile(
    rf"challenger not worse: AUC change (?P<auc>{_NUMBER}), ECE change (?P<ece>{_NUMBER})"
)
_WORSE = re.compile(r"challenger is worse: (?P<problems>.+)")
_PROBLEM = re.compile(
    rf"(?P<metric>AUC|ECE) (?P<amount>{_NUMBER}) (?:lower|higher) \(limit (?P<limit>{_NUMBER})\)"
)
_UNUSABLE = re.compile(r"champion cannot be evaluated: (?P<detail>.+?); nothing serves it.*")
_FIRST = re.compile(r"first version of (?P<task>[a-z-]+)")
_UNDEFINED = "AUC or ECE undefined on the test slice"
_NO_CHAMPION = "no champion yet"


def reason_in_words(reason: str, say: Callable[..., str]) -> str:
    """`reason` rebuilt from its parts with `say` (a `Words`: key and values to text), signed
    changes never reading -0.0000; the `forced: ` prefix is left to the card's own words. A
    reason of another form is shown as it is."""
    from training.promote import signed

    text = reason.strip().removeprefix("forced: ")
    found = _NOT_WORSE.fullmatch(text)
    if found:
        return say(
            "reason.not_worse",
            auc=signed(float(found["auc"])),
            ece=signed(float(found["ece"])),
        )
    found = _WORSE.fullmatch(text)
    if found:
        parts = [_PROBLEM.fullmatch(part) for part in found["problems"].split("; ")]
        if all(parts):
            problems = [
                say(
                    "reason.auc_lower" if part["metric"] == "AUC" else "reason.ece_higher",
                    amount=part["amount"],
                    limit=part["limit"],
                )
                for part in parts
                if part is not None
            ]
            return say("reason.worse", problems=say("reason.problems_separator").join(problems))
    found = _UNUSABLE.fullmatch(text)
    if found:
        return say("reason.champion_unusable", detail=found["detail"])
    found = _FIRST.fullmatch(text)
    if found:
        return say("reason.first", task=found["task"])
    fixed = {_UNDEFINED: "reason.undefined", _NO_CHAMPION: "reason.no_champion"}
    return say(fixed[text]) if text in fixed else reason
