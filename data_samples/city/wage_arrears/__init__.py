"""Wage arrears: employers whose hidden cash stress shows up in departmental records.

Each employer carries a monthly cash-stress state (AR(1) around a firm-specific mean, pushed up
by late owner payments on construction projects). Stress drives what departments record
(social-insurance shortfalls, falling headcount and electricity, tax overdue, creditor suits,
abnormal listings, complaints). The monthly onset hazard is a logistic function of what the
departments can see at the start of the month (rows with `available_at <= as_of`), plus a
modest direct stress term and Spring Festival pressure. An onset starts an episode that blocks
further onsets for `EPISODE_MONTHS`; it is detected (and becomes a label) with a probability
that is lower for construction firms, whose migrant workers complain less.
"""

from __future__ import annotations

import numpy as np

from data_samples.city.common import SimulatedChunk, month_starts
from data_samples.city.config import CITY_END
from data_samples.city.realism import Realism, wage_missing, wage_revisions
from data_samples.city.wage_arrears.draws import (
    draw_employers,
    draw_monthly_records,
    draw_stress_events,
)
from data_samples.city.wage_arrears.drivers import DRIVERS, NOISE, SLUG
from data_samples.city.wage_arrears.panel import Calendar
from data_samples.city.wage_arrears.stress import draw_stress
from data_samples.city.wage_arrears.tables import assemble, drop_missing
from data_samples.city.wage_arrears.tenure import registered_rows, while_registered, with_warmup
from data_samples.city.wage_arrears.truth import driver_quantities, label_records, onsets_and_truth

__all__ = ["DRIVERS", "NOISE", "SLUG", "simulate"]


def simulate(
    rng: np.random.Generator,
    n_firms: int,
    n_months: int,
    chunk: int,
    id_start: int,
    salt: int,
    rate_multiplier: float,
    realism: Realism | None = None,
) -> SimulatedChunk:
    """Simulate `n_firms` employers over the `n_months` months before CITY_END.

    `realism` switches on the realistic profile (non-additive effects, missing declarations,
    detection by firm); None gives the clean city of generator 1.0.0, draw for draw. The steps
    draw from `rng` in this order, which fixes the bytes for a seed.
    """
    cal = Calendar(month_starts(CITY_END, n_months))
    firms = draw_employers(rng, cal, n_firms, id_start, salt, realism)
    proj, stress = draw_stress(rng, cal, firms, chunk)
    records = draw_monthly_records(rng, cal, firms, stress)
    events = draw_stress_events(rng, cal, stress, records.headcount0)
    x, complaints = driver_quantities(
        cal, firms, *while_registered(cal, firms, proj, records, events)
    )
    units, detected = onsets_and_truth(
        rng, cal, firms, x, complaints, stress, rate_multiplier, realism
    )
    label_rows, complaint_rows = label_records(rng, cal, firms, records, events, detected)
    employer_ids, employers = firms.ids, firms.frame
    headcount, amount_due, amount_paid, si_avail = (
        records.headcount,
        records.amount_due,
        records.amount_paid,
        records.si_avail,
    )
    sales, tax_paid, tax_overdue, tax_avail = (
        records.sales,
        records.tax_paid,
        records.tax_overdue,
        records.tax_avail,
    )
    kwh, water, util_avail = records.kwh, records.water, records.util_avail
    tables = assemble(
        cal,
        employer_ids,
        employers,
        headcount,
        amount_due,
        amount_paid,
        si_avail,
        sales,
        tax_paid,
        tax_overdue,
        tax_avail,
        kwh,
        water,
        util_avail,
        proj,
        chunk,
        events.cases,
        events.listings,
        complaint_rows,
        label_rows,
    )
    if realism is not None:
        tables = drop_missing(tables, employer_ids, cal, wage_missing(realism, stress))
        tables["social_insurance"] = wage_revisions(
            realism, tables["social_insurance"], cal.starts[-1]
        )
        tables["utilities"] = with_warmup(realism, cal, firms, records, tables["utilities"])
        tables = registered_rows(tables, firms, cal)
    return SimulatedChunk(tables=tables, units=units)
