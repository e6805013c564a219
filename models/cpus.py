"""How many cores this process may use: its CPU affinity and its cgroups' CPU quotas.

`os.cpu_count()` counts the machine's cores, which a container, a `taskset` or a systemd
unit's `CPUQuota=` do not give a process; the service's defaults (the score helper) count
what it may use.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where the kernel shows cgroups, and the file naming this process's own.
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cpus() -> int:
    """The whole cores this process may use: the CPUs its affinity allows (`taskset`, a
    container's cpuset), fewer under a CPU quota on its cgroup or an ancestor's (cgroup v2's
    `cpu.max`, v1's CFS quota; `docker run --cpus 1.5` gives 1, `systemd`'s `CPUQuota=` too);
    `os.cpu_count()` counts the machine's, which a container does not get."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        cpus = os.cpu_count() or 1
    quota = _cpu_quota()
    return cpus if quota is None else min(cpus, max(1, int(quota)))


def _cpu_quota() -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroups and their ancestors; None
    where there is none (or no cgroup to read)."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2
            base, read = CGROUP_ROOT, _v2_quota
        elif "cpu" in controllers.split(","):  # cgroup v1's cpu controller
            base, read = CGROUP_ROOT / controllers, _v1_quota
        else:
            continue
        own = Path(path.lstrip("/"))
        for folder in (own, *own.parents):
            quota = read(base / folder)
            if quota is not None:
                quotas.append(quota)
    return min(quotas, default=None)


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period
