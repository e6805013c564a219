"""Telecom fraud: screened residents whose exposure to scammers shows up in telecom and bank records.

The population is the screened cohort (residents with any exposure signal), as police anti-fraud
centres see it. Each resident has a fixed susceptibility and a monthly exposure state (AR(1)):
exposure drives flagged calls and SMS, risky-app alerts, new payees and outflow spikes; police
send warnings to exposed residents, and an answered warning lowers risk. Fraud occurs as a
Poisson process whose daily rate is fixed at each month's start from what the departments can
see then (rows with `available_at <= as_of`) plus a modest hidden term; a victim reports the
case with a probability that falls with age. A fraud leaves its own trace (a large transfer to
new payees on the day), which is honest data and a leakage trap for careless features.
"""

from __future__ import annotations

import numpy as np

from data_samples.city.common import SimulatedChunk
from data_samples.city.realism import Realism
from data_samples.city.telecom_fraud.draws import draw_residents, draw_signals, draw_warnings
from data_samples.city.telecom_fraud.drivers import DRIVERS, NOISE, SLUG
from data_samples.city.telecom_fraud.panel import fraud_calendar
from data_samples.city.telecom_fraud.tables import assemble
from data_samples.city.telecom_fraud.tenure import (
    resident_rows,
    signals_while_resident,
    warnings_while_resident,
)
from data_samples.city.telecom_fraud.truth import fraud_month_by_month, fraud_truth

__all__ = ["DRIVERS", "NOISE", "SLUG", "simulate"]


def simulate(
    rng: np.random.Generator,
    n_res: int,
    n_months: int,
    chunk: int,
    id_start: int,
    salt: int,
    rate_multiplier: float,
    realism: Realism | None = None,
) -> SimulatedChunk:
    """Simulate `n_res` screened residents over the `n_months` months before CITY_END.

    `realism` switches on the realistic profile (thresholds, age interactions, a new fraud
    script in the last months, reporting by household); None gives the clean city of
    generator 1.0.0, draw for draw. The steps draw from `rng` in this order, which fixes the
    bytes for a seed.
    """
    cal = fraud_calendar(n_months)
    people = draw_residents(rng, cal, n_res, id_start, salt, realism)
    signals = signals_while_resident(draw_signals(rng, cal, people, realism), people.tenure)
    warned = warnings_while_resident(draw_warnings(rng, cal, people, signals), people.tenure)
    frauds = fraud_month_by_month(rng, cal, people, signals, warned, rate_multiplier, realism)
    units = fraud_truth(cal, people, frauds, realism)
    resident_ids, residents, age0, t0 = people.ids, people.frame, people.age0, cal.starts[0]
    fc_res, fc_day, calls, sms, overseas = (
        signals.fc_res,
        signals.fc_day,
        signals.calls,
        signals.sms,
        signals.overseas,
    )
    al_res, al_type, al_time, al_avail = (
        signals.al_res,
        signals.al_type,
        signals.al_time,
        signals.al_avail,
    )
    bo_res, bo_amount, bo_payees, bo_night = (
        signals.bo_res,
        signals.bo_amount,
        signals.bo_payees,
        signals.bo_night,
    )
    bo_day_ns = signals.bo_day.astype("datetime64[ns]")
    wa_res, wa_channel, wa_answered, wa_time, wa_avail = (
        warned.wa_res,
        warned.wa_channel,
        warned.wa_answered,
        warned.wa_time,
        warned.wa_avail,
    )
    install_time, install_avail = warned.install_time, warned.install_avail
    hist_res, hist_time = warned.hist_res, warned.hist_time
    fr_res, fr_time, fr_report, fr_reported, fr_loss = (
        frauds.fr_res,
        frauds.fr_time,
        frauds.fr_report,
        frauds.fr_reported,
        frauds.fr_loss,
    )
    tables = assemble(
        rng,
        chunk,
        resident_ids,
        residents,
        age0,
        (fc_res, fc_day, calls, sms, overseas),
        (al_res, al_type, al_time, al_avail),
        (bo_res, bo_day_ns, bo_amount, bo_payees, bo_night, t0),
        (wa_res, wa_channel, wa_answered, wa_time, wa_avail),
        (install_time, install_avail),
        (hist_res, hist_time, fr_res, fr_time, fr_report, fr_reported, fr_loss),
    )
    if people.tenure is not None:
        tables = resident_rows(tables, people)
    return SimulatedChunk(tables=tables, units=units)
