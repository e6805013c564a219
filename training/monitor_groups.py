"""`riskloop monitor`'s groups: warning rate and outcomes by district and by the model report's
audit columns the store holds, a group's rate flagged beside the whole's (`group_rate_flag`, by
the report's ratio bounds). Fairness of calibration is audited at training, in the report
(`training.report_metrics`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


#: A group's warning rate is flagged only on groups of at least this many scored units (fewer
#: say little either way).
MIN_GROUP_UNITS = 50


def group_rate_flag(rate: float, whole: float, scored: int | None) -> str | None:
    """`high` or `low` when a group's warning rate, against the whole's, is outside the model
    report's ratio bounds (`report_metrics.RATIO_BOUNDS`) and the group has at least
    `MIN_GROUP_UNITS` scored units; None otherwise (a small group, one whose scored units are
    unknown, no rate)."""
    from training.report_metrics import RATIO_BOUNDS

    if scored is None or scored < MIN_GROUP_UNITS or not math.isfinite(rate):
        return None
    if not (math.isfinite(whole) and whole > 0):
        return None
    low, high = RATIO_BOUNDS
    if rate > high * whole:
        return "high"
    return "low" if rate < low * whole else None


def group_rate_rule() -> str:
    """`group_rate_flag`'s rule in words, as the monitor's output states it."""
    from training.report_metrics import RATIO_BOUNDS

    low, high = RATIO_BOUNDS
    return (
        f"high: warning rate more than {high}x the whole's; low: less than {low}x; only on "
        f"groups of at least {MIN_GROUP_UNITS} scored units"
    )


#: Model features that stand in for an audit column the scored records do not hold: telecom
#: fraud's age band is no model input, but two of its features are age groups.
AUDIT_STAND_INS = {"audit_age_band": ("is_young_adult", "elderly_living_alone")}
#: Said in the report beside the groups: what monitoring shows of fairness, and what it does not.
GROUPS_NOTE = (
    "Fairness of calibration (mean score against the observed rate, per group) is audited at "
    "training, in the model report; monitoring shows warning rates and outcomes by group."
)


def monitor_groups(task: str, units: pd.DataFrame, warnings: pd.DataFrame) -> dict[str, Any]:
    """Warning rate and outcomes by group, for the model report's audit columns the store holds.

    The columns are the report's (`audit_groups` over the task's `audit_columns`), grouped as
    its fairness tables group (`fairness_table`: a missing value is the group `missing`).
    Scored records keep the model's features, so an audit column `audit_<name>` whose values
    are the feature `<name>`'s (sector, size band, dispute type) is read from them, and an
    audit column no feature holds from its stand-ins (`AUDIT_STAND_INS`). The district is
    read from each record's own `district` as the warnings' is from theirs (records scored
    before the store kept it fall in `missing`). A group's warning rate is flagged by
    `group_rate_flag`.
    """
    from features.tasks import DISTRICT_COLUMN, get_task
    from serving.store.monitoring import observed_labels
    from training.report_metrics import RATIO_BOUNDS, audit_groups

    expected = get_task(task).audit_columns
    units = units.rename(columns={"district": DISTRICT_COLUMN})
    as_feature = {
        column: units[column.removeprefix("audit_")]
        for column in expected
        if column.removeprefix("audit_") in units.columns
    }
    scored = units.assign(label=math.nan, **as_feature)
    stand_ins = {
        feature: column
        for column in expected
        if column not in as_feature
        for feature in AUDIT_STAND_INS.get(column, ())
        if feature in units.columns
    }
    keys = ["entity_hash", "as_of"]
    held = scored.loc[:, [*keys, *as_feature, *stand_ins]]
    raised = warnings.rename(columns={"district": DISTRICT_COLUMN}).merge(
        held, on=keys, how="left", validate="many_to_one"
    )
    raised = raised.assign(label=observed_labels(raised["outcome"]))
    present, missing = audit_groups(expected, raised)
    whole = group_rows(scored.assign(_all="all"), raised.assign(_all="all"), "_all")[0]
    columns = []
    for column in [*present, *stand_ins]:
        on_units = column in scored.columns
        rows = group_rows(scored if on_units else None, raised, column)
        for row in rows:
            row["flag"] = group_rate_flag(row["warning_rate"], whole["warning_rate"], row["scored"])
        columns.append(
            {
                "column": column,
                "stands_for": stand_ins.get(column),
                "source": "scored records" if on_units else "warnings only",
                "groups": rows,
            }
        )
    return {
        "rule": group_rate_rule(),
        "bounds": {"low": RATIO_BOUNDS[0], "high": RATIO_BOUNDS[1]},
        "min_units": MIN_GROUP_UNITS,
        "note": GROUPS_NOTE,
        "whole": {key: value for key, value in whole.items() if key != "group"},
        "columns": columns,
        "not_held": [column for column in missing if column not in stand_ins.values()],
    }


def group_rows(
    scored: pd.DataFrame | None, raised: pd.DataFrame, column: str
) -> list[dict[str, Any]]:
    """One row per group of `column`: units scored and warned (None without `scored`),
    warnings raised, those judged (closed confirmed, prevented or false alarm) and the share
    confirmed or prevented among them (`precision`, NaN with none judged)."""
    from training.report_metrics import fairness_table

    def table(frame: pd.DataFrame) -> pd.DataFrame:
        levels = frame["risk_level"].to_numpy()
        return fairness_table(frame, frame["score"].to_numpy(), levels, column).set_index("group")

    units = table(scored) if scored is not None else None
    warnings = table(raised)
    judged = table(raised[raised["label"].notna()])
    groups = sorted(set(warnings.index) | set(() if units is None else units.index))
    rows = []
    for group in groups:
        n_scored = n_warned = None
        rate = math.nan
        if units is not None:
            n_scored, n_warned = (int(units[key].get(group, 0)) for key in ("n", "warned"))
            rate = n_warned / n_scored if n_scored else math.nan
        rows.append(
            {
                "group": group,
                "scored": n_scored,
                "warned": n_warned,
                "warning_rate": rate,
                "warnings": int(warnings["n"].get(group, 0)),
                "judged": int(judged["n"].get(group, 0)),
                "confirmed_or_prevented": int(judged["positives"].get(group, 0)),
                "precision": float(judged["base_rate"].get(group, math.nan)),
            }
        )
    return rows


def print_groups(console: Any, groups: dict[str, Any]) -> None:
    """One table per group column, then the whole's figures, the flag rule and the note."""
    from rich.table import Table

    from training.commands import print_table

    headers = ("scored", "warned", "warning rate", "warnings", "judged", "confirmed+prevented")
    for entry in groups["columns"]:
        title = f"by {entry['column']}"
        if entry["stands_for"]:
            title += f" (standing in for {entry['stands_for']})"
        if entry["source"] != "scored records":
            title += ": kept on warnings only, no scored units by group"
        table = Table(title=title)
        table.add_column("group")
        for header in (*headers, "precision", "flag"):
            table.add_column(header, justify="left" if header == "flag" else "right")
        for row in entry["groups"]:
            counts = (row["scored"], row["warned"])
            table.add_row(
                row["group"],
                *("-" if count is None else str(count) for count in counts),
                fmt(row["warning_rate"]),
                *(str(row[key]) for key in ("warnings", "judged", "confirmed_or_prevented")),
                fmt(row["precision"]),
                row["flag"] or "",
            )
        print_table(console, table)
    whole = groups["whole"]
    console.print(
        f"whole: warning rate {fmt(whole['warning_rate'])} ({whole['warned']} of "
        f"{whole['scored']} units); precision {fmt(whole['precision'])} over "
        f"{whole['judged']} judged warnings"
    )
    console.print(f"group flags: {groups['rule']}")
    if groups["not_held"]:
        console.print(f"not held by the store, so not shown: {', '.join(groups['not_held'])}")
    console.print(groups["note"])


def fmt(value: float, digits: int = 3) -> str:
    """A figure of the monitor's printout (`-` when there is none)."""
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
