"""Two riskloop jobs on one machine, each on a local Dask cluster of its own: neither takes
port 8787.

`LocalCluster(dashboard_address=None)` did not switch the scheduler's HTTP server off: it took
8787, and a second job's cluster warned "Port 8787 is already in use" (seen in a test run with
two Dask tests at once). Each local cluster now listens on a free loopback port.
"""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

from training.engines import dask_client


def test_two_local_clusters_at_once_take_free_loopback_ports_without_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dask_client(n_workers=1) as first, dask_client(n_workers=1) as second:
            links = [urlsplit(client.dashboard_link) for client in (first, second)]
    said = [str(warning.message) for warning in caught]
    assert not [text for text in said if "already in use" in text], said
    assert [link.hostname for link in links] == ["127.0.0.1", "127.0.0.1"]
    ports = [link.port for link in links]
    assert 8787 not in ports and ports[0] != ports[1], ports
