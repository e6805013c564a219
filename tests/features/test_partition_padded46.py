"""The Dask engine routes raw rows to partitions before validation strips padded ids: a padded
id (a fixed-width export's `"E1 "`) went to another partition than its unit's, whose features
then missed its rows (e0f0c41 stripped ids in validation only)."""

from __future__ import annotations

import pandas as pd

from features.partition import LINKS, entity_partition, link_partitions, route


def test_padded_ids_and_link_keys_reach_their_units_partition() -> None:
    units = [f"E{i}" for i in range(40)]
    n = 4
    home = dict(zip(units, entity_partition(pd.Series(units, dtype="str"), n), strict=True))
    # the same ids padded, as text of either dtype, land where the units do
    for dtype in ("str", object):
        padded = pd.Series([f" {unit}\u3000" for unit in units], dtype=dtype)
        assert list(entity_partition(padded, n)) == [home[unit] for unit in units]

    link = LINKS["wage_arrears"]["project_payments"]
    projects = pd.DataFrame(
        {"project_id": [f"P{i} " for i in range(40)], "employer_id": [f"{u}  " for u in units]}
    )
    payments = pd.DataFrame({"project_id": [f"P{i}" for i in range(40)], "amount": range(40)})
    parts = route(
        "wage_arrears",
        "project_payments",
        payments,
        n,
        {link.table: link_partitions(link, projects, n)},
    )
    for number, part in enumerate(parts):
        for project in part["project_id"]:
            assert home[units[int(project[1:])]] == number
    assert sum(len(part) for part in parts) == 40  # every payment reached its unit
