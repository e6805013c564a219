"""The simulated arrays laid out as the department tables of the raw-table contract."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_samples.city.common import DAY, add_days, entity_column, sequential_ids
from data_samples.city.config import CITY_END
from data_samples.city.telecom_fraud.draws import fraud_losses
from data_samples.city.telecom_fraud.drivers import SCAM_MIX_OLDER, SCAM_MIX_YOUNG, SCAM_TYPES
from data_samples.city.telecom_fraud.panel import fraud_rows, merge_days


def assemble(
    rng, chunk, ids, residents, age0, contacts, alerts, outflows, warnings, installs, frauds
) -> dict[str, pd.DataFrame]:
    """Lay the simulated arrays out as the contract's tables (fixed column and row order)."""
    fc_res, fc_day, calls, sms, overseas = contacts
    order = np.lexsort((fc_day, fc_res))
    flagged = pd.DataFrame(
        {
            "resident_id": entity_column(ids, fc_res[order]),
            "flagged_calls": calls[order].astype(np.int64),
            "flagged_sms": sms[order].astype(np.int64),
            "overseas_calls": overseas[order].astype(np.int64),
            "event_time": fc_day[order].astype("datetime64[ns]"),
            "available_at": (fc_day[order] + DAY).astype("datetime64[ns]"),
        }
    )

    al_res, al_type, al_time, al_avail = alerts
    order = np.lexsort((al_time, al_res))
    app_alerts = pd.DataFrame(
        {
            "alert_id": sequential_ids("AA", chunk, len(order)),
            "resident_id": ids[al_res[order]],
            "alert_type": al_type[order],
            "event_time": al_time[order],
            "available_at": al_avail[order],
        }
    )

    hist_res, hist_time, fr_res, fr_time, fr_report, fr_reported, fr_loss = frauds
    in_window = fr_time < np.datetime64(pd.Timestamp(CITY_END))
    fr_res, fr_time, fr_report, fr_reported, fr_loss = (
        fr_res[in_window],
        fr_time[in_window],
        fr_report[in_window],
        fr_reported[in_window],
        fr_loss[in_window],
    )
    bo_res, bo_day, bo_amount, bo_payees, bo_night, t0 = outflows
    merged = merge_days(
        (bo_res, bo_day, bo_amount, bo_payees, bo_night), fraud_rows(fr_res, fr_time, fr_loss), t0
    )
    by_day = np.lexsort((merged[1], merged[0]))
    d_res, d_day, d_amount, d_payees, d_night = (values[by_day] for values in merged)
    bank = pd.DataFrame(
        {
            "resident_id": entity_column(ids, d_res),
            "amount_out": np.round(d_amount, 2),
            "new_payees": d_payees.astype(np.int64),
            "night_transfers": d_night.astype(np.int64),
            "card_payment_count": rng.poisson(3.0, len(d_res)).astype(np.int64),
            "event_time": d_day,
            "available_at": d_day + DAY,
        }
    )

    wa_res, wa_channel, wa_answered, wa_time, wa_avail = warnings
    order = np.lexsort((wa_time, wa_res))
    antifraud = pd.DataFrame(
        {
            "warning_id": sequential_ids("AW", chunk, len(order)),
            "resident_id": ids[wa_res[order]],
            "channel": wa_channel[order],
            "answered": wa_answered[order],
            "event_time": wa_time[order],
            "available_at": wa_avail[order],
        }
    )

    install_time, install_avail = installs
    has = ~np.isnat(install_time)
    app_installs = pd.DataFrame(
        {
            "resident_id": ids[has],
            "event_time": install_time[has],
            "available_at": install_avail[has],
        }
    ).sort_values("resident_id", kind="stable")

    case_res = np.concatenate([hist_res, fr_res[fr_reported]])
    case_time = np.concatenate([hist_time, fr_time[fr_reported]])
    case_report = np.concatenate(
        [add_days(hist_time, rng.uniform(0, 10, len(hist_res))), fr_report[fr_reported]]
    )
    case_loss = np.concatenate([fraud_losses(rng, age0[hist_res]), fr_loss[fr_reported]])
    order = np.lexsort((case_time, case_res))
    case_res, case_time, case_report, case_loss = (
        case_res[order],
        case_time[order],
        case_report[order],
        case_loss[order],
    )
    older = age0[case_res] >= 60
    scam = np.where(
        older,
        rng.choice(len(SCAM_TYPES), size=len(case_res), p=SCAM_MIX_OLDER),
        rng.choice(len(SCAM_TYPES), size=len(case_res), p=SCAM_MIX_YOUNG),
    )
    fraud_cases = pd.DataFrame(
        {
            "case_id": sequential_ids("FC", chunk, len(order)),
            "resident_id": ids[case_res],
            "scam_type": np.array(SCAM_TYPES)[scam],
            "loss_amount": case_loss,
            "event_time": case_time,
            "available_at": case_report,
        }
    )
    return {
        "residents": residents,
        "flagged_contacts": flagged,
        "app_alerts": app_alerts,
        "bank_outflows": bank,
        "antifraud_warnings": antifraud,
        "app_installs": app_installs.reset_index(drop=True),
        "fraud_cases": fraud_cases,
    }
