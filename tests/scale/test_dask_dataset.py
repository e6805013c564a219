"""The Dask engine builds the pandas engine's dataset; partitions route linked rows correctly."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import partition
from features.dataset import build_dataset
from training.engines import build_dataset_dask
from training.raw_io import load_raw_tables

TASKS = ("wage_arrears", "telecom_fraud", "dispute_escalation")
N_PARTITIONS = 3


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A real two-worker `dask.distributed` cluster (threads, to start fast)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as opened,
    ):
        yield opened


def assert_same_dataset(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same rows, order, dtypes and values, to the bit (float window sums are per entity)."""
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


@pytest.mark.parametrize("task", TASKS)
def test_dask_engine_builds_the_pandas_dataset(small_city: Path, client: object, task: str) -> None:
    expected = partition.canonical_order(build_dataset(task, load_raw_tables(small_city, task)))
    got = build_dataset_dask(task, small_city, N_PARTITIONS, client=client)
    assert len(got) == len(expected) > 0
    assert_same_dataset(got, expected)


def test_scoring_set_from_partitioned_parquet_folders(
    small_city: Path, client: object, tmp_path: Path
) -> None:
    """Tables given as folders of Parquet parts; the latest scoring date is found across them."""
    task = "dispute_escalation"
    shutil.copytree(small_city / task, tmp_path / task)
    for table in ("disputes", "police_calls", "dispute_parties"):
        whole = pd.read_parquet(tmp_path / task / f"{table}.parquet")
        (tmp_path / task / f"{table}.parquet").unlink()
        folder = tmp_path / task / f"{table}.parquet"
        folder.mkdir()
        half = len(whole) // 2
        for number, part in enumerate((whole.iloc[:half], whole.iloc[half:])):
            pq.write_table(
                pa.Table.from_pandas(part, preserve_index=False),
                folder / f"part-{number}.parquet",
            )
    expected = partition.canonical_order(
        build_dataset(task, load_raw_tables(small_city, task), unlabelled=True)
    )
    got = build_dataset_dask(task, tmp_path, N_PARTITIONS, unlabelled=True, client=client)
    assert len(got) == len(expected) > 0
    assert_same_dataset(got, expected)


def test_linked_rows_reach_every_partition_of_their_units(small_city: Path) -> None:
    disputes = load_raw_tables(small_city, "dispute_escalation")
    parts = partition.split_tables("dispute_escalation", disputes, N_PARTITIONS)
    calls_per_party = disputes["police_calls"].groupby("party_id").size()
    shared = disputes["dispute_parties"].assign(
        p=partition.entity_partition(disputes["dispute_parties"]["dispute_id"], N_PARTITIONS)
    )
    spread = shared.groupby("party_id")["p"].nunique()
    assert (spread > 1).any(), "the small city should have parties in disputes of two partitions"
    for number, tables in enumerate(parts):
        own_parties = shared.loc[shared["p"] == number, "party_id"].unique()
        calls = tables["police_calls"]
        held = calls[calls["party_id"].isin(own_parties)].groupby("party_id").size()
        expected = calls_per_party.reindex(own_parties).dropna().astype(int)
        pd.testing.assert_series_equal(held.sort_index(), expected.sort_index(), check_names=False)

    wage = load_raw_tables(small_city, "wage_arrears")
    owner = wage["construction_projects"].set_index("project_id")["employer_id"]
    for number, tables in enumerate(partition.split_tables("wage_arrears", wage, N_PARTITIONS)):
        contractors = owner.reindex(tables["project_payments"]["project_id"])
        assert contractors.notna().all()
        assert (partition.entity_partition(contractors, N_PARTITIONS) == number).all()
