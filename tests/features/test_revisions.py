"""Revised values: a later row for the same (employer, month) counts from its own `available_at`.

The realistic city revises short social-insurance declarations after back-payments (a later row
for the same month, paid in full). Features at an as-of date between a declaration and its
revision must see the first value (what the agency knew then), and features after it the
revision. The reference is the rule itself, applied the slow way: keep the rows on record at
the as-of date and, per (employer, month), the latest of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.schemas import RawTables
from features.tasks import TASKS
from features.validation import validate_tables
from training.raw_io import load_raw_tables

SLUG = "wage_arrears"
KEY = ["employer_id", "month"]
N_REVISIONS = 12


@pytest.fixture(scope="module")
def revised(realistic_city: Path) -> tuple[RawTables, pd.DataFrame]:
    """A few revised employers' tables, and their revisions (one row per revised month)."""
    tables = validate_tables(SLUG, load_raw_tables(realistic_city, SLUG))
    si = tables["social_insurance"].sort_values("available_at", kind="stable")
    later = si[si.duplicated(KEY, keep="first")]
    first = si.drop_duplicates(KEY, keep="first").set_index(KEY)["available_at"]
    picks = later.drop_duplicates("employer_id").head(N_REVISIONS)
    picks = picks.assign(first_at=first.reindex(pd.MultiIndex.from_frame(picks[KEY])).to_numpy())
    keep = set(picks["employer_id"])
    sliced = {
        name: frame[frame["employer_id"].isin(keep)].reset_index(drop=True)
        for name, frame in tables.items()
        if "employer_id" in frame.columns
    }
    projects = set(sliced["construction_projects"]["project_id"])
    for name in ("project_instalments", "project_payments"):
        sliced[name] = tables[name][tables[name]["project_id"].isin(projects)].reset_index(
            drop=True
        )
    return sliced, picks.reset_index(drop=True)


def _on_record(si: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The slow reference: per month, the latest row available at `as_of`."""
    seen = si[si["available_at"] <= as_of].sort_values("available_at", kind="stable")
    return seen.drop_duplicates(KEY, keep="last").sort_values(KEY).reset_index(drop=True)


def _features(tables: RawTables, employer: str, as_of: pd.Timestamp) -> pd.DataFrame:
    pairs = pd.DataFrame({"entity_id": [employer], "as_of": [as_of]})
    return TASKS[SLUG].builder.build_features(tables, pairs)


def test_the_realistic_city_revises_short_declarations_later(revised) -> None:
    tables, picks = revised
    assert len(picks) == N_REVISIONS
    si = tables["social_insurance"]
    for _, group in si[si.duplicated(KEY, keep=False)].groupby(KEY):
        first, *later = group.sort_values("available_at").itertuples()
        assert first.amount_paid < first.amount_due
        for row in later:
            assert row.amount_paid == row.amount_due
            assert row.available_at > first.available_at


def test_features_read_the_first_value_before_a_revision_and_the_revision_after(revised) -> None:
    tables, picks = revised
    si = tables["social_insurance"]
    revision_seen = 0
    for pick in picks.itertuples():
        between = pick.first_at + (pick.available_at - pick.first_at) / 2
        after = pick.available_at + pd.Timedelta(hours=1)
        for as_of in (between, after):
            reference = {**tables, "social_insurance": _on_record(si, as_of)}
            got = _features(tables, pick.employer_id, as_of)
            pd.testing.assert_frame_equal(got, _features(reference, pick.employer_id, as_of))
        # After the revision the month reads as paid: the first value alone would differ.
        first_only = si.sort_values("available_at", kind="stable").drop_duplicates(KEY)
        stale = _features({**tables, "social_insurance": first_only}, pick.employer_id, after)
        got = _features(tables, pick.employer_id, after)
        si_columns = [c for c in got.columns if c.startswith("si_")]
        revision_seen += int(
            not np.allclose(
                got[si_columns].to_numpy(float), stale[si_columns].to_numpy(float), equal_nan=True
            )
        )
    assert revision_seen > 0
