"""The simulated arrays laid out as the department tables of the raw-table contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_samples.city.common import add_days, draw_districts, sequential_ids
from data_samples.city.config import CITY_END, DISTRICTS
from data_samples.city.dispute_escalation.drivers import DISPUTE_TYPES


def assemble(
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
    # `History` sorted the fixed rows; recover their types in the same order.
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
