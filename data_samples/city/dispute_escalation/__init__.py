"""Dispute escalation: registered disputes, their parties' history, and what the first week shows.

Each dispute has a hidden intensity (its type, its parties' volatility and chance). Intensity
drives what grid workers and mediators record in the first week (emotion and threat flags,
failed or missed mediation) and the parties' 110 calls. Seven days after registration (the
as-of date) the probability of escalating within 90 days is a logistic function of what is on
record by then plus a modest direct intensity term. Parties recur across disputes, so one
dispute's escalation (a petition, a police case) becomes the next dispute's "prior" record:
disputes are therefore simulated day by day in as-of order. Escalations are recorded in
`escalation_events` and, consistently, as rows of `petitions` or `police_calls`; a few are
never recorded (label noise), and a few happen after the 90-day horizon.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from data_samples.city.common import SimulatedChunk
from data_samples.city.dispute_escalation.draws import (
    draw_disputes,
    draw_first_week,
    draw_parties,
    draw_party_records,
)
from data_samples.city.dispute_escalation.drivers import DRIVERS, NOISE, SLUG
from data_samples.city.dispute_escalation.tables import assemble
from data_samples.city.dispute_escalation.truth import escalate_day_by_day, static_drivers
from data_samples.city.realism import Realism, dispute_listed_parties

__all__ = ["DRIVERS", "NOISE", "SLUG", "simulate"]


def simulate(
    rng: np.random.Generator,
    n_disp: int,
    n_months: int,
    chunk: int,
    id_start: int,
    salt: int,
    rate_multiplier: float,
    realism: Realism | None = None,
) -> SimulatedChunk:
    """Simulate `n_disp` disputes registered over the `n_months` months before CITY_END.

    `realism` switches on the realistic profile (interactions with group disputes and type,
    thresholds, recording by type); None gives the clean city of generator 1.0.0, draw for
    draw. The steps draw from `rng` in this order, which fixes the bytes for a seed.
    """
    disputes = draw_disputes(rng, n_disp, n_months, chunk)
    if realism is not None:
        listed = dispute_listed_parties(realism, disputes.group, disputes.n_parties)
        disputes = replace(disputes, n_parties=listed)
    parties = draw_parties(rng, disputes, id_start, salt)
    week = draw_first_week(rng, disputes, parties.intensity)
    records = draw_party_records(rng, disputes, parties)
    x_static, any_threat = static_drivers(disputes, week, realism)
    units, escalations = escalate_day_by_day(
        rng, disputes, parties, records, x_static, any_threat, rate_multiplier, realism
    )
    tables = assemble(
        rng,
        chunk,
        disputes.ids,
        parties.ids,
        disputes.registered,
        disputes.dtype,
        disputes.amount,
        disputes.n_parties,
        disputes.group,
        disputes.handling,
        (parties.slot_dispute, parties.slot_party, parties.slot_rank),
        (week.ms_disp, week.outcome, week.ms_time, week.ms_avail),
        (week.gv_disp, week.emotion, week.threat, week.duration, week.gv_time, week.gv_avail),
        (records.calls, records.call_type),
        (records.petitions, records.pet_disp, records.pet_level),
        escalations,
    )
    return SimulatedChunk(tables=tables, units=units)
