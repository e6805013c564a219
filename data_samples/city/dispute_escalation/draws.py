"""The random draws of the disputes, their parties, the first week's sessions and visits, and
the parties' earlier calls and petitions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    add_days,
    office_hours,
    pseudonyms,
    rank_within,
    repeat_index,
    sequential_ids,
    sigmoid,
    uniform_times,
)
from data_samples.city.config import CITY_END
from data_samples.city.dispute_escalation.drivers import (
    AMOUNT_LOG_MEAN,
    AS_OF_DELAY_DAYS,
    DISPUTE_TYPES,
    GROUP_PROB,
    HIGH_RISK,
    HORIZON_DAYS,
    MAX_LISTED_PARTIES,
    TYPE_SHARES,
)
from data_samples.city.dispute_escalation.party_history import History


@dataclass(frozen=True)
class Disputes:
    """The registered disputes of one chunk, in as-of order."""

    end: np.datetime64
    history_start: np.datetime64
    registered: np.ndarray
    as_of: np.ndarray
    dtype: np.ndarray
    group: np.ndarray
    n_parties: np.ndarray
    amount: np.ndarray
    handling: np.ndarray
    ids: np.ndarray

    @property
    def n(self) -> int:
        return len(self.as_of)


@dataclass(frozen=True)
class Parties:
    """Listed parties (slots: dispute x party), the pool's volatility and each dispute's hidden
    intensity."""

    slot_dispute: np.ndarray
    slot_party: np.ndarray
    slot_rank: np.ndarray
    volatility: np.ndarray
    ids: np.ndarray
    intensity: np.ndarray


@dataclass(frozen=True)
class FirstWeek:
    """Mediation sessions and grid visits (the first week's and later ones)."""

    ms_disp: np.ndarray
    ms_time: np.ndarray
    outcome: np.ndarray
    ms_avail: np.ndarray
    gv_disp: np.ndarray
    gv_time: np.ndarray
    emotion: np.ndarray
    threat: np.ndarray
    gv_avail: np.ndarray
    duration: np.ndarray


@dataclass(frozen=True)
class Records:
    """The parties' 110 calls and petitions, which escalations add to as they happen."""

    calls: History
    call_type: np.ndarray
    petitions: History
    pet_disp: np.ndarray
    pet_level: np.ndarray


def draw_disputes(rng: np.random.Generator, n_disp: int, n_months: int, chunk: int) -> Disputes:
    """Registration times, types, parties' count, amounts and handling levels."""
    end = np.datetime64(pd.Timestamp(CITY_END), "ns")
    first = np.datetime64(pd.Timestamp(CITY_END) - pd.DateOffset(months=n_months), "ns")
    last_reg = end - np.timedelta64(HORIZON_DAYS + AS_OF_DELAY_DAYS + 1, "D")
    span_days = int((last_reg - first) / DAY)
    reg_day = first + np.sort(rng.integers(0, span_days + 1, n_disp)) * DAY
    registered = add_days(reg_day, rng.uniform(8 / 24, 18 / 24, n_disp))
    as_of = reg_day + AS_OF_DELAY_DAYS * DAY
    dtype = rng.choice(len(DISPUTE_TYPES), size=n_disp, p=TYPE_SHARES)
    group = rng.random(n_disp) < GROUP_PROB[dtype]
    n_parties = np.where(
        group, 5 + rng.geometric(0.12, n_disp), 2 + rng.poisson(0.35, n_disp)
    ).astype(np.int64)
    n_parties = np.minimum(n_parties, 60)
    amount = np.round(
        np.exp(AMOUNT_LOG_MEAN[dtype] + rng.normal(0, 1.0, n_disp)) * np.where(group, 3.0, 1.0), -1
    )
    handling = rng.choice(3, size=n_disp, p=[0.55, 0.33, 0.12])
    handling = np.where(group & (rng.random(n_disp) < 0.15), 2, handling)
    return Disputes(
        end=end,
        history_start=first - np.timedelta64(400, "D"),
        registered=registered,
        as_of=as_of,
        dtype=dtype,
        group=group,
        n_parties=n_parties,
        amount=amount,
        handling=handling,
        ids=sequential_ids("MD", chunk, n_disp),
    )


def draw_parties(rng: np.random.Generator, d: Disputes, id_start: int, salt: int) -> Parties:
    """A pool of parties in which some people recur, and each dispute's hidden intensity."""
    n_disp = d.n
    listed = np.minimum(d.n_parties, MAX_LISTED_PARTIES)
    slots = int(listed.sum())
    n_pool = max(int(slots * 0.8), 10)
    weight = np.exp(rng.normal(0, 1.0, n_pool))
    volatility = rng.normal(0, 0.7, n_pool) + 0.5 * np.log(weight)
    slot_dispute = repeat_index(listed)
    slot_party = rng.choice(n_pool, size=slots, p=weight / weight.sum())
    dedupe = pd.DataFrame({"d": slot_dispute, "p": slot_party}).drop_duplicates()
    slot_dispute, slot_party = dedupe["d"].to_numpy(), dedupe["p"].to_numpy()
    slot_rank = rank_within(slot_dispute)
    party_ids = pseudonyms(id_start * 4, n_pool, salt * 4 + 2)

    mean_vol = np.bincount(
        slot_dispute, weights=volatility[slot_party], minlength=n_disp
    ) / np.maximum(np.bincount(slot_dispute, minlength=n_disp), 1)
    intensity = rng.normal(0, 0.8, n_disp) + 0.4 * mean_vol + 0.3 * HIGH_RISK[d.dtype]
    return Parties(slot_dispute, slot_party, slot_rank, volatility, party_ids, intensity)


def draw_first_week(rng: np.random.Generator, d: Disputes, intensity: np.ndarray) -> FirstWeek:
    """Mediation sessions and grid visits in the first week and up to 120 days after."""
    n_disp, registered, as_of = d.n, d.registered, d.as_of

    def first_week(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parent = repeat_index(counts)
        return parent, uniform_times(rng, registered[parent], as_of[parent])

    def later(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parent = repeat_index(counts)
        return parent, add_days(as_of[parent], rng.uniform(0, 120, len(parent)))

    ms_early, ms_early_t = first_week(rng.poisson(0.9, n_disp))
    ms_late, ms_late_t = later(rng.poisson(1.0, n_disp))
    ms_disp = np.concatenate([ms_early, ms_late])
    ms_time = np.concatenate([ms_early_t, ms_late_t])
    u = rng.random(len(ms_disp))
    p_fail = sigmoid(-1.4 + 1.1 * intensity[ms_disp])
    p_noshow = sigmoid(-2.6 + 0.7 * intensity[ms_disp])
    p_agree = (1 - p_fail - p_noshow) * 0.6
    outcome = np.where(
        u < p_fail,
        "failed",
        np.where(
            u < p_fail + p_noshow,
            "no_show",
            np.where(u < p_fail + p_noshow + p_agree, "agreement", "partial"),
        ),
    )
    ms_avail = add_days(ms_time, rng.uniform(0, 2, len(ms_disp)))

    gv_early, gv_early_t = first_week(rng.poisson(1.1, n_disp))
    gv_late, gv_late_t = later(rng.poisson(0.8, n_disp))
    gv_disp = np.concatenate([gv_early, gv_late])
    gv_time = np.concatenate([gv_early_t, gv_late_t])
    emotion = rng.random(len(gv_disp)) < sigmoid(-1.6 + 1.2 * intensity[gv_disp])
    threat = rng.random(len(gv_disp)) < sigmoid(-3.2 + 1.5 * intensity[gv_disp])
    gv_avail = add_days(gv_time, rng.uniform(0, 1, len(gv_disp)))
    duration = np.round(np.exp(rng.normal(np.log(25), 0.5, len(gv_disp)))).astype(np.int64)
    return FirstWeek(
        ms_disp, ms_time, outcome, ms_avail, gv_disp, gv_time, emotion, threat, gv_avail, duration
    )


def draw_party_records(rng: np.random.Generator, d: Disputes, parties: Parties) -> Records:
    """The parties' background calls and petitions, and those around registration."""
    end, history_start, registered, as_of = d.end, d.history_start, d.registered, d.as_of
    slot_party, slot_dispute, slot_rank = (
        parties.slot_party,
        parties.slot_dispute,
        parties.slot_rank,
    )
    volatility, intensity = parties.volatility, parties.intensity
    n_pool = len(volatility)
    call_years = (end - history_start) / np.timedelta64(365, "D")
    listed_somewhere = np.bincount(slot_party, minlength=n_pool) > 0
    bg_calls = rng.poisson(np.exp(-2.4 + 0.9 * volatility) * call_years * listed_somewhere)
    bc_party = repeat_index(bg_calls)
    bc_time = uniform_times(rng, np.full(len(bc_party), history_start), np.full(len(bc_party), end))
    incident = rng.random(len(slot_party)) < sigmoid(-3.0 + 1.0 * intensity[slot_dispute])
    ic_party = slot_party[incident]
    ic_time = uniform_times(
        rng,
        registered[slot_dispute[incident]] - np.timedelta64(2, "D"),
        as_of[slot_dispute[incident]],
    )
    call_party = np.concatenate([bc_party, ic_party])
    call_time = np.concatenate([bc_time, ic_time])
    call_type = np.concatenate(
        [
            rng.choice(
                ["dispute", "violence", "noise", "other"],
                size=len(bc_party),
                p=[0.35, 0.1, 0.25, 0.3],
            ),
            rng.choice(["dispute", "violence"], size=len(ic_party), p=[0.8, 0.2]),
        ]
    )
    call_avail = add_days(call_time, rng.uniform(0, 1, len(call_time)))

    bg_pet = rng.poisson(np.exp(-4.0 + 0.8 * volatility) * call_years * listed_somewhere)
    bp_party = repeat_index(bg_pet)
    bp_time = office_hours(
        rng, uniform_times(rng, np.full(len(bp_party), history_start), np.full(len(bp_party), end))
    )
    first_pet = (slot_rank == 0) & (
        rng.random(len(slot_party)) < sigmoid(-3.0 + 0.8 * intensity[slot_dispute])
    )
    fp_party = slot_party[first_pet]
    fp_disp = slot_dispute[first_pet]
    fp_time = office_hours(
        rng, uniform_times(rng, registered[fp_disp], as_of[fp_disp] - np.timedelta64(1, "D"))
    )
    pet_party = np.concatenate([bp_party, fp_party])
    pet_disp = np.concatenate([np.full(len(bp_party), -1), fp_disp])
    pet_time = np.concatenate([bp_time, fp_time])
    pet_level = np.concatenate(
        [
            rng.choice(
                ["township", "county", "city", "province"],
                size=len(bp_party),
                p=[0.6, 0.3, 0.08, 0.02],
            ),
            np.full(len(fp_party), "township"),
        ]
    )
    pet_avail = add_days(pet_time, rng.uniform(1, 5, len(pet_time)))

    calls = History(call_party, call_time, call_avail, history_start)
    petitions = History(pet_party, pet_time, pet_avail, history_start)
    return Records(calls, call_type, petitions, pet_disp, pet_level)
