"""Moves in and out (realistic profile): what the city holds of a resident while it lives here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from data_samples.city.history import Tenure
from data_samples.city.telecom_fraud.draws import Residents, Signals, Warnings


def signals_while_resident(signals: Signals, tenure: Tenure | None) -> Signals:
    """Contacts, alerts and transfers the city's operators and banks record while the resident
    lives here (the count of alerts per month keeps what the warnings read)."""
    if tenure is None:
        return signals
    fc = tenure.keeps(signals.fc_res, signals.fc_day.astype("datetime64[ns]"))
    al = tenure.keeps(signals.al_res, signals.al_time)
    bo = tenure.keeps(signals.bo_res, signals.bo_day.astype("datetime64[ns]"))
    return replace(
        signals,
        fc_res=signals.fc_res[fc],
        fc_month=signals.fc_month[fc],
        fc_day=signals.fc_day[fc],
        calls=signals.calls[fc],
        sms=signals.sms[fc],
        overseas=signals.overseas[fc],
        fc_total=signals.fc_total[fc],
        al_res=signals.al_res[al],
        al_type=signals.al_type[al],
        al_time=signals.al_time[al],
        al_avail=signals.al_avail[al],
        bo_res=signals.bo_res[bo],
        bo_day=signals.bo_day[bo],
        bo_amount=signals.bo_amount[bo],
        bo_payees=signals.bo_payees[bo],
        bo_night=signals.bo_night[bo],
    )


def warnings_while_resident(warned: Warnings, tenure: Tenure | None) -> Warnings:
    """Warnings, app installs and earlier cases on the city's record: none from before a
    resident moved in (those cases were filed where the resident lived then) or after it left."""
    if tenure is None:
        return warned
    wa = tenure.keeps(warned.wa_res, warned.wa_time)
    n_res = len(warned.install_time)
    installed = ~np.isnat(warned.install_time)
    keep_install = installed & tenure.keeps(np.arange(n_res), warned.install_time)
    hist = tenure.keeps(warned.hist_res, warned.hist_time)
    return replace(
        warned,
        wa_res=warned.wa_res[wa],
        wa_channel=warned.wa_channel[wa],
        wa_answered=warned.wa_answered[wa],
        wa_time=warned.wa_time[wa],
        wa_avail=warned.wa_avail[wa],
        install_time=np.where(keep_install, warned.install_time, np.datetime64("NaT", "ns")),
        install_avail=np.where(keep_install, warned.install_avail, np.datetime64("NaT", "ns")),
        hist_res=warned.hist_res[hist],
        hist_time=warned.hist_time[hist],
    )


def resident_rows(tables: dict[str, pd.DataFrame], people: Residents) -> dict[str, pd.DataFrame]:
    """Drop any record left outside a resident's [moved_in_at, moved_out_at) (a fraud whose
    rate segment ran past a move out)."""
    index = pd.Index(people.ids)
    tenure = people.tenure
    assert tenure is not None  # only the realistic profile asks
    out = dict(tables)
    for name, frame in tables.items():
        if name == "residents":
            continue
        resident = index.get_indexer(frame["resident_id"].astype(str))
        keep = tenure.keeps(resident, frame["event_time"].to_numpy(dtype="datetime64[ns]"))
        out[name] = frame[keep].reset_index(drop=True)
    return out
