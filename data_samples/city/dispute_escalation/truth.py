"""Driver quantities, escalations day by day in as-of order (each becoming a record later
disputes read) and the unit truth."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from data_samples.city.common import add_days, office_hours, sigmoid
from data_samples.city.dispute_escalation.draws import Disputes, FirstWeek, Parties, Records
from data_samples.city.dispute_escalation.drivers import (
    BASE_LOG_ODDS,
    DRIVER_INDEX,
    DRIVERS,
    HIGH_RISK,
    HORIZON_DAYS,
    INTENSITY_BETA,
    SLUG,
    VIOLENCE_PRONE,
)
from data_samples.city.realism import (
    BASE_SHIFT,
    DISPUTE_EMOTION_WEIGHT,
    Realism,
    dispute_detection,
    dispute_effects,
)
from data_samples.city.truth import dominant_driver


def static_drivers(
    d: Disputes, week: FirstWeek, realism: Realism | None
) -> tuple[np.ndarray, np.ndarray]:
    """Driver quantities that do not depend on other disputes (the priors are filled in day by
    day), and whether a threat is on record (it shapes the kind of escalation)."""
    n_disp, as_of = d.n, d.as_of
    dtype, n_parties, group, amount, handling = d.dtype, d.n_parties, d.group, d.amount, d.handling
    ms_disp, ms_avail, outcome = week.ms_disp, week.ms_avail, week.outcome
    gv_disp, gv_avail, threat, emotion = week.gv_disp, week.gv_avail, week.threat, week.emotion
    failed = np.minimum(
        np.bincount(
            ms_disp[(ms_avail <= as_of[ms_disp]) & np.isin(outcome, ["failed", "no_show"])],
            minlength=n_disp,
        ),
        2,
    )
    on_record = gv_avail <= as_of[gv_disp]
    any_threat = np.bincount(gv_disp[on_record & threat], minlength=n_disp) > 0
    any_emotion = np.bincount(gv_disp[on_record & emotion], minlength=n_disp) > 0
    x_static = np.stack(
        [
            HIGH_RISK[dtype].astype(float),
            np.log(n_parties / 2.0),
            group.astype(float),
            np.clip(np.log10(np.maximum(amount, 1)) - 4, 0, 2),
            np.zeros(n_disp),
            np.zeros(n_disp),
            failed.astype(float),
            any_threat + (0.5 if realism is None else DISPUTE_EMOTION_WEIGHT) * any_emotion,
            (handling == 2).astype(float),
        ],
        axis=1,
    )
    return x_static, any_threat


def escalate_day_by_day(
    rng: np.random.Generator,
    d: Disputes,
    parties: Parties,
    records: Records,
    x_static: np.ndarray,
    any_threat: np.ndarray,
    rate_multiplier: float,
    realism: Realism | None,
) -> tuple[pd.DataFrame, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """In as-of order: each day's disputes read their parties' priors, escalate or not, and
    their escalations become records later disputes read. Returns the unit truth and the
    escalations."""
    n_disp, as_of, end = d.n, d.as_of, d.end
    dtype, group, handling, dispute_ids = d.dtype, d.group, d.handling, d.ids
    slot_dispute, slot_party, slot_rank = (
        parties.slot_dispute,
        parties.slot_party,
        parties.slot_rank,
    )
    intensity = parties.intensity
    calls, petitions = records.calls, records.petitions
    beta = np.array([driver.beta for driver in DRIVERS])
    detect = np.where(dtype == 2, 0.8, 0.92)
    if realism is not None:
        detect = dispute_detection(dtype == 2, group, handling)
    event_prob = np.zeros(n_disp)

    # --- day by day in as-of order: priors, escalation, and its records ----------------------
    true_prob = np.zeros(n_disp)
    contributions = np.zeros((n_disp, len(DRIVERS)))
    escalations: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    applicant = np.full(n_disp, -1)
    applicant[slot_dispute[slot_rank == 0]] = slot_party[slot_rank == 0]
    day_bounds = np.r_[0, np.flatnonzero(as_of[1:] != as_of[:-1]) + 1, n_disp]
    slot_order = np.argsort(slot_dispute, kind="stable")
    slot_start = np.searchsorted(slot_dispute[slot_order], np.arange(n_disp + 1))
    draws = rng.random((n_disp, 3))
    for a, b in itertools.pairwise(day_bounds):
        s_lo, s_hi = slot_start[a], slot_start[b]
        sd = slot_dispute[slot_order[s_lo:s_hi]]
        sp = slot_party[slot_order[s_lo:s_hi]]
        t = as_of[sd]
        prior_calls = np.bincount(sd - a, weights=calls.count(sp, t, 365), minlength=b - a)
        prior_pets = np.bincount(sd - a, weights=petitions.count(sp, t, 365), minlength=b - a)
        x = x_static[a:b].copy()
        x[:, 4] = np.log1p(prior_calls)
        x[:, 5] = np.log1p(prior_pets)
        if realism is None:
            contributions[a:b] = x * beta
        else:
            contributions[a:b] = dispute_effects(x, group[a:b], dtype[a:b], DRIVER_INDEX) * beta
        p = sigmoid(
            BASE_LOG_ODDS
            + (0.0 if realism is None else BASE_SHIFT[SLUG])
            + np.log(rate_multiplier)
            + contributions[a:b].sum(axis=1)
            + INTENSITY_BETA * intensity[a:b]
        )
        true_prob[a:b] = p * detect[a:b]
        event_prob[a:b] = p
        escalate = draws[a:b, 0] < p
        recorded = draws[a:b, 1] < detect[a:b]
        late = ~escalate & (draws[a:b, 2] < 0.04)
        idx = a + np.flatnonzero((escalate & recorded) | late)
        if len(idx) == 0:
            continue
        offset = np.where(
            late[idx - a],
            rng.uniform(HORIZON_DAYS + 1, 200, len(idx)),
            rng.uniform(0.05, HORIZON_DAYS - 0.5, len(idx)),
        )
        when = add_days(as_of[idx], offset)
        keep = when < end
        idx, when = idx[keep], when[keep]
        kind = _escalation_kind(rng, idx, group, dtype, any_threat)
        # Petitions are received in office hours, on the day the escalation happens.
        when = np.where(kind == "police_case", when, office_hours(rng, when))
        police = (kind == "police_case") | (kind == "group_incident")
        petition = ~police | (kind == "group_incident")
        call_at = add_days(when, rng.uniform(0, 1, len(idx)))
        petition_at = add_days(when, rng.uniform(1, 5, len(idx)))
        calls.add(applicant[idx][police], when[police], call_at[police], idx[police], kind[police])
        petitions.add(
            applicant[idx][petition],
            when[petition],
            petition_at[petition],
            idx[petition],
            kind[petition],
        )
        escalations.append((idx, when, kind, np.where(police, call_at, petition_at)))

    dominant = dominant_driver(contributions, [driver.name for driver in DRIVERS])
    units = pd.DataFrame(
        {
            "entity_id": dispute_ids,
            "as_of": as_of,
            "true_prob": true_prob,
            "dominant_driver": dominant.astype(str),
        }
    )
    if realism is not None:
        units["event_prob"] = event_prob
    return units, escalations


def _escalation_kind(
    rng: np.random.Generator,
    idx: np.ndarray,
    group: np.ndarray,
    dtype: np.ndarray,
    threat: np.ndarray,
) -> np.ndarray:
    """Which form an escalation takes, given the dispute."""
    u = rng.random(len(idx))
    w_group = np.where(group[idx], 0.35, 0.0)
    w_police = np.where(VIOLENCE_PRONE[dtype[idx]] | threat[idx], 0.45, 0.15)
    w_higher = np.full(len(idx), 0.25)
    w_repeat = np.full(len(idx), 0.3)
    total = w_group + w_police + w_higher + w_repeat
    c1 = w_group / total
    c2 = c1 + w_police / total
    c3 = c2 + w_higher / total
    return np.where(
        u < c1,
        "group_incident",
        np.where(u < c2, "police_case", np.where(u < c3, "higher_petition", "repeat_petition")),
    )
