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

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from data_samples.city.common import (
    DAY,
    SECOND_NS,
    SimulatedChunk,
    add_days,
    draw_districts,
    office_hours,
    pseudonyms,
    rank_within,
    repeat_index,
    sequential_ids,
    sigmoid,
    uniform_times,
)
from data_samples.city.config import CITY_END, DISTRICTS
from data_samples.city.realism import (
    BASE_SHIFT,
    DISPUTE_EMOTION_WEIGHT,
    Realism,
    dispute_detection,
    dispute_effects,
    dispute_listed_parties,
)
from data_samples.city.truth import Driver, NoiseSignal, dominant_driver

SLUG = "dispute_escalation"
HORIZON_DAYS = 90
AS_OF_DELAY_DAYS = 7
BASE_LOG_ODDS = -4.7
INTENSITY_BETA = 0.45
MAX_LISTED_PARTIES = 8

DISPUTE_TYPES = (
    "labour",
    "neighbour",
    "family",
    "land",
    "property_management",
    "lending",
    "consumer",
    "other",
)
_TYPE_SHARES = np.array([0.18, 0.20, 0.14, 0.10, 0.10, 0.12, 0.10, 0.06])
_HIGH_RISK = np.array([True, False, False, True, True, True, False, False])
_GROUP_PROB = np.array([0.22, 0.02, 0.0, 0.18, 0.28, 0.04, 0.05, 0.02])
_AMOUNT_LOG_MEAN = np.log(np.array([40_000, 3_000, 20_000, 80_000, 15_000, 120_000, 5_000, 10_000]))
_VIOLENCE_PRONE = np.array([False, True, True, True, False, True, False, False])

DRIVERS: tuple[Driver, ...] = (
    Driver(
        "high_risk_type",
        "disputes",
        ("dispute_type",),
        1,
        "Labour, land, property-management or lending dispute.",
        0.7,
    ),
    Driver(
        "many_parties",
        "disputes",
        ("n_parties",),
        1,
        "log(n_parties / 2): more parties, more ways to escalate.",
        0.5,
    ),
    Driver(
        "group_dispute",
        "disputes",
        ("group_flag",),
        1,
        "Registered as a group dispute (5 or more people).",
        0.6,
    ),
    Driver(
        "large_amount",
        "disputes",
        ("amount",),
        1,
        "clip(log10(amount) - 4, 0, 2): amounts above 10,000 CNY.",
        0.45,
    ),
    Driver(
        "prior_police_calls",
        "police_calls",
        ("party_id", "event_time"),
        1,
        "log(1 + 110 calls by the dispute's listed parties in the 365 days before the as-of date, on record).",
        0.75,
    ),
    Driver(
        "prior_petitions",
        "petitions",
        ("party_id", "event_time"),
        1,
        "log(1 + petitions by the listed parties in the 365 days before the as-of date, on record).",
        0.8,
    ),
    Driver(
        "failed_mediation",
        "mediation_sessions",
        ("outcome",),
        1,
        "Failed or no-show mediation sessions on record by the as-of date (capped at 2).",
        0.8,
    ),
    Driver(
        "threat_emotion",
        "grid_visits",
        ("threat_flag", "emotion_flag"),
        1,
        "Grid visits on record by the as-of date: any threat flag (1) + any emotion flag (0.5).",
        1.0,
    ),
    Driver(
        "county_handling",
        "disputes",
        ("handling_level",),
        -1,
        "Handled by the county mediation centre, which resolves more.",
        -0.8,
    ),
)
DRIVER_INDEX = {driver.name: i for i, driver in enumerate(DRIVERS)}
NOISE: tuple[NoiseSignal, ...] = (
    NoiseSignal("registration_channel", "disputes", ("registration_channel",)),
    NoiseSignal("visit_duration", "grid_visits", ("visit_duration_min",)),
)


def _to_seconds(times: np.ndarray, base: np.datetime64) -> np.ndarray:
    return (times.astype("datetime64[ns]") - base).astype(np.int64) // SECOND_NS


class _History:
    """Calls or petitions by party, searchable by time: fixed rows plus rows added as we go."""

    def __init__(
        self, party: np.ndarray, time: np.ndarray, available: np.ndarray, base: np.datetime64
    ) -> None:
        self.base = base
        order = np.lexsort((time, party))
        self.order = order
        self.key = party[order].astype(np.int64) * (1 << 40) + _to_seconds(time[order], base)
        self.avail = available[order]
        self.new_party: list[np.ndarray] = []
        self.new_time: list[np.ndarray] = []
        self.new_avail: list[np.ndarray] = []
        self.new_dispute: list[np.ndarray] = []
        self.new_kind: list[np.ndarray] = []
        self._dynamic: tuple[np.ndarray, np.ndarray, int] | None = None

    def add(
        self,
        party: np.ndarray,
        time: np.ndarray,
        available: np.ndarray,
        dispute: np.ndarray,
        kind: np.ndarray,
    ) -> None:
        """Append rows caused by escalations (their dispute index and escalation type kept)."""
        self.new_party.append(party)
        self.new_time.append(time)
        self.new_avail.append(available)
        self.new_dispute.append(dispute)
        self.new_kind.append(kind)

    def added(self) -> dict[str, np.ndarray]:
        """All rows added so far, as arrays."""
        if not self.new_party:
            empty = np.zeros(0, dtype=np.int64)
            return {
                "party": empty,
                "time": empty.astype("datetime64[ns]"),
                "avail": empty.astype("datetime64[ns]"),
                "dispute": empty,
                "kind": empty.astype(str),
            }
        return {
            "party": np.concatenate(self.new_party),
            "time": np.concatenate(self.new_time),
            "avail": np.concatenate(self.new_avail),
            "dispute": np.concatenate(self.new_dispute),
            "kind": np.concatenate(self.new_kind),
        }

    def count(self, party: np.ndarray, as_of: np.ndarray, days: int) -> np.ndarray:
        """Rows per (party, as-of) with event time in [as_of - days, as_of) and on record at as_of."""
        total = _count_in_window(self.key, self.avail, party, as_of, days, self.base)
        if self.new_party:
            if self._dynamic is None or self._dynamic[2] != len(self.new_party):
                new_party = np.concatenate(self.new_party)
                new_time = np.concatenate(self.new_time)
                order = np.lexsort((new_time, new_party))
                key = new_party[order].astype(np.int64) * (1 << 40) + _to_seconds(
                    new_time[order], self.base
                )
                self._dynamic = (key, np.concatenate(self.new_avail)[order], len(self.new_party))
            key, avail, _ = self._dynamic
            total = total + _count_in_window(key, avail, party, as_of, days, self.base)
        return total


def _count_in_window(
    key: np.ndarray,
    avail: np.ndarray,
    party: np.ndarray,
    as_of: np.ndarray,
    days: int,
    base: np.datetime64,
) -> np.ndarray:
    """Rows of a (party, time)-sorted key array in [as_of - days, as_of) per query, on record at as_of."""
    lo_key = party.astype(np.int64) * (1 << 40) + _to_seconds(
        as_of - np.timedelta64(days, "D"), base
    )
    hi_key = party.astype(np.int64) * (1 << 40) + _to_seconds(as_of, base)
    lo = np.searchsorted(key, lo_key, side="left")
    hi = np.searchsorted(key, hi_key, side="left")
    span = hi - lo
    if not span.sum():
        return span.astype(float)
    # Rows in the window that are not yet on record at the as-of date (lags of a day or so).
    rows = repeat_index(span)
    idx = np.repeat(lo, span) + rank_within(rows)
    late = np.bincount(rows, weights=avail[idx] > as_of[rows], minlength=len(party))
    return span - late


@dataclass(frozen=True)
class _Disputes:
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
class _Parties:
    """Listed parties (slots: dispute x party), the pool's volatility and each dispute's hidden
    intensity."""

    slot_dispute: np.ndarray
    slot_party: np.ndarray
    slot_rank: np.ndarray
    volatility: np.ndarray
    ids: np.ndarray
    intensity: np.ndarray


@dataclass(frozen=True)
class _FirstWeek:
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
class _Records:
    """The parties' 110 calls and petitions, which escalations add to as they happen."""

    calls: _History
    call_type: np.ndarray
    petitions: _History
    pet_disp: np.ndarray
    pet_level: np.ndarray


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
    disputes = _draw_disputes(rng, n_disp, n_months, chunk)
    if realism is not None:
        listed = dispute_listed_parties(realism, disputes.group, disputes.n_parties)
        disputes = replace(disputes, n_parties=listed)
    parties = _draw_parties(rng, disputes, id_start, salt)
    week = _draw_first_week(rng, disputes, parties.intensity)
    records = _draw_party_records(rng, disputes, parties)
    x_static, any_threat = _static_drivers(disputes, week, realism)
    units, escalations = _escalate_day_by_day(
        rng, disputes, parties, records, x_static, any_threat, rate_multiplier, realism
    )
    tables = _assemble(
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


def _draw_disputes(rng: np.random.Generator, n_disp: int, n_months: int, chunk: int) -> _Disputes:
    """Registration times, types, parties' count, amounts and handling levels."""
    end = np.datetime64(pd.Timestamp(CITY_END), "ns")
    first = np.datetime64(pd.Timestamp(CITY_END) - pd.DateOffset(months=n_months), "ns")
    last_reg = end - np.timedelta64(HORIZON_DAYS + AS_OF_DELAY_DAYS + 1, "D")
    span_days = int((last_reg - first) / DAY)
    reg_day = first + np.sort(rng.integers(0, span_days + 1, n_disp)) * DAY
    registered = add_days(reg_day, rng.uniform(8 / 24, 18 / 24, n_disp))
    as_of = reg_day + AS_OF_DELAY_DAYS * DAY
    dtype = rng.choice(len(DISPUTE_TYPES), size=n_disp, p=_TYPE_SHARES)
    group = rng.random(n_disp) < _GROUP_PROB[dtype]
    n_parties = np.where(
        group, 5 + rng.geometric(0.12, n_disp), 2 + rng.poisson(0.35, n_disp)
    ).astype(np.int64)
    n_parties = np.minimum(n_parties, 60)
    amount = np.round(
        np.exp(_AMOUNT_LOG_MEAN[dtype] + rng.normal(0, 1.0, n_disp)) * np.where(group, 3.0, 1.0), -1
    )
    handling = rng.choice(3, size=n_disp, p=[0.55, 0.33, 0.12])
    handling = np.where(group & (rng.random(n_disp) < 0.15), 2, handling)
    return _Disputes(
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


def _draw_parties(rng: np.random.Generator, d: _Disputes, id_start: int, salt: int) -> _Parties:
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
    intensity = rng.normal(0, 0.8, n_disp) + 0.4 * mean_vol + 0.3 * _HIGH_RISK[d.dtype]
    return _Parties(slot_dispute, slot_party, slot_rank, volatility, party_ids, intensity)


def _draw_first_week(rng: np.random.Generator, d: _Disputes, intensity: np.ndarray) -> _FirstWeek:
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
    return _FirstWeek(
        ms_disp, ms_time, outcome, ms_avail, gv_disp, gv_time, emotion, threat, gv_avail, duration
    )


def _draw_party_records(rng: np.random.Generator, d: _Disputes, parties: _Parties) -> _Records:
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

    calls = _History(call_party, call_time, call_avail, history_start)
    petitions = _History(pet_party, pet_time, pet_avail, history_start)
    return _Records(calls, call_type, petitions, pet_disp, pet_level)


def _static_drivers(
    d: _Disputes, week: _FirstWeek, realism: Realism | None
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
            _HIGH_RISK[dtype].astype(float),
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


def _escalate_day_by_day(
    rng: np.random.Generator,
    d: _Disputes,
    parties: _Parties,
    records: _Records,
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
    w_police = np.where(_VIOLENCE_PRONE[dtype[idx]] | threat[idx], 0.45, 0.15)
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


def _assemble(
    rng,
    chunk,
    dispute_ids,
    party_ids,
    registered,
    dtype,
    amount,
    n_parties,
    group,
    handling,
    slots,
    sessions,
    visits,
    calls_info,
    petitions_info,
    escalations,
) -> dict[str, pd.DataFrame]:
    """Lay the simulated arrays out as the contract's tables (fixed column and row order)."""
    n_disp = len(dispute_ids)
    disputes = pd.DataFrame(
        {
            "dispute_id": dispute_ids,
            "dispute_type": np.array(DISPUTE_TYPES)[dtype],
            "amount": amount.astype(float),
            "n_parties": n_parties,
            "group_flag": group,
            "district": np.array(DISTRICTS)[draw_districts(rng, n_disp)],
            "handling_level": np.array(["grid", "township", "county"])[handling],
            "registration_channel": rng.choice(
                ["walk_in", "hotline", "online"], size=n_disp, p=[0.5, 0.3, 0.2]
            ),
            "event_time": registered,
            "available_at": add_days(registered, rng.uniform(0, 0.5, n_disp)),
        }
    )

    slot_dispute, slot_party, slot_rank = slots
    order = np.lexsort((party_ids[slot_party], slot_dispute))
    parties = pd.DataFrame(
        {
            "dispute_id": dispute_ids[slot_dispute[order]],
            "party_id": party_ids[slot_party[order]],
            "role": np.where(
                slot_rank[order] == 0,
                "applicant",
                np.where(
                    group[slot_dispute[order]] & (rng.random(len(order)) < 0.7),
                    "applicant",
                    "respondent",
                ),
            ),
            "event_time": registered[slot_dispute[order]],
            "available_at": disputes["available_at"].to_numpy()[slot_dispute[order]],
        }
    )

    ms_disp, outcome, ms_time, ms_avail = sessions
    order = np.lexsort((ms_time, ms_disp))
    mediation = pd.DataFrame(
        {
            "session_id": sequential_ids("MS", chunk, len(order)),
            "dispute_id": dispute_ids[ms_disp[order]],
            "outcome": outcome[order],
            "event_time": ms_time[order],
            "available_at": ms_avail[order],
        }
    )
    mediation = mediation[
        mediation["event_time"] < np.datetime64(pd.Timestamp(CITY_END))
    ].reset_index(drop=True)

    gv_disp, emotion, threat, duration, gv_time, gv_avail = visits
    order = np.lexsort((gv_time, gv_disp))
    grid = pd.DataFrame(
        {
            "visit_id": sequential_ids("GV", chunk, len(order)),
            "dispute_id": dispute_ids[gv_disp[order]],
            "emotion_flag": emotion[order],
            "threat_flag": threat[order],
            "visit_duration_min": duration[order],
            "event_time": gv_time[order],
            "available_at": gv_avail[order],
        }
    )
    grid = grid[grid["event_time"] < np.datetime64(pd.Timestamp(CITY_END))].reset_index(drop=True)

    calls, fixed_call_type = calls_info
    new = calls.added()
    new_type = np.where(
        (new["kind"] == "police_case") & (rng.random(len(new["kind"])) < 0.5), "violence", "dispute"
    )
    party, seconds = np.divmod(calls.key, 1 << 40)
    fixed_time = calls.base + seconds * np.timedelta64(1, "s")
    # `_History` sorted the fixed rows; recover their types in the same order.
    call_party = np.concatenate([party, new["party"]])
    call_time = np.concatenate([fixed_time.astype("datetime64[ns]"), new["time"]])
    call_avail = np.concatenate([calls.avail, new["avail"]])
    call_type = np.concatenate([fixed_call_type[calls.order], new_type])
    order = np.lexsort((call_time, call_party))
    police = pd.DataFrame(
        {
            "call_id": sequential_ids("PC", chunk, len(order)),
            "party_id": party_ids[call_party[order]],
            "call_type": call_type[order],
            "event_time": call_time[order],
            "available_at": call_avail[order],
        }
    )
    police = police[police["event_time"] < np.datetime64(pd.Timestamp(CITY_END))].reset_index(
        drop=True
    )

    petitions, fixed_disp, fixed_level = petitions_info
    new = petitions.added()
    higher = rng.choice(["county", "city", "province"], size=len(new["kind"]), p=[0.6, 0.3, 0.1])
    new_level = np.select(
        [new["kind"] == "repeat_petition", new["kind"] == "group_incident"],
        ["township", "county"],
        higher,
    )
    party, seconds = np.divmod(petitions.key, 1 << 40)
    fixed_time = petitions.base + seconds * np.timedelta64(1, "s")
    pet_party = np.concatenate([party, new["party"]])
    pet_time = np.concatenate([fixed_time.astype("datetime64[ns]"), new["time"]])
    pet_avail = np.concatenate([petitions.avail, new["avail"]])
    pet_disp = np.concatenate([fixed_disp[petitions.order], new["dispute"]])
    pet_level = np.concatenate([fixed_level[petitions.order], new_level])
    order = np.lexsort((pet_time, pet_party))
    pet_disp = pet_disp[order]
    petition_table = pd.DataFrame(
        {
            "petition_id": sequential_ids("PT", chunk, len(order)),
            "party_id": party_ids[pet_party[order]],
            "dispute_id": pd.Series(
                np.where(pet_disp >= 0, dispute_ids[np.maximum(pet_disp, 0)], None), dtype="str"
            ),
            "level": pet_level[order],
            "event_time": pet_time[order],
            "available_at": pet_avail[order],
        }
    )
    petition_table = petition_table[
        petition_table["event_time"] < np.datetime64(pd.Timestamp(CITY_END))
    ].reset_index(drop=True)

    if escalations:
        idx, when, kind, avail = (np.concatenate(parts) for parts in zip(*escalations, strict=True))
    else:
        idx, when, kind, avail = (
            np.zeros(0, dtype=np.int64),
            np.zeros(0, "datetime64[ns]"),
            np.zeros(0, str),
            np.zeros(0, "datetime64[ns]"),
        )
    order = np.lexsort((when, idx))
    events = pd.DataFrame(
        {
            "event_id": sequential_ids("EE", chunk, len(order)),
            "dispute_id": dispute_ids[idx[order]],
            "escalation_type": kind[order],
            "event_time": when[order],
            "available_at": avail[order],
        }
    )
    return {
        "disputes": disputes,
        "dispute_parties": parties,
        "mediation_sessions": mediation,
        "grid_visits": grid,
        "police_calls": police,
        "petitions": petition_table,
        "escalation_events": events,
    }
