"""How much memory this process can still use: for choices between holding data in memory and
letting duckdb spill it to disk (see ``query._fits_in_memory``).

The kernel's ``MemAvailable`` (free memory plus the page cache it can drop; ``MemFree`` alone is
small on any machine that has read files for a while), capped by the memory cgroup's limit less
its working set: in a container (Databricks, SageMaker, Kubernetes) the host's memory is not
ours, and going over the cgroup's limit is an OOM kill.
"""

from __future__ import annotations

import os
from pathlib import Path

# a cgroup v1 "no limit" is the largest page-aligned int64, 9223372036854771712
_UNLIMITED = 1 << 60


def available_bytes(proc: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate, or None when the system does not say (not Linux).

    Args:
        proc (str): where procfs is mounted (default ``/proc``; tests pass a directory of files).
        cgroup_root (str): where the cgroup filesystems are mounted (default ``/sys/fs/cgroup``).

    Returns:
        int | None: ``MemAvailable``, capped by the memory cgroup's limit less its working set
        (usage less inactive file cache), v1 or v2; ``sysconf`` free pages where there is no
        ``/proc/meminfo``; None when nothing is known.

    Example:
        >>> n = available_bytes()
        >>> n is None or n > 0
        True
    """
    known = [n for n in (_meminfo_available(proc), _cgroup_available(proc, cgroup_root)) if n is not None]
    if known:
        return max(0, min(known))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _meminfo_available(proc: str) -> int | None:
    try:
        for line in Path(proc, "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available(proc: str, root: str) -> int | None:
    try:
        lines = Path(proc, "self", "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2, unified: memory.max, memory.current
            files = ("memory.max", "memory.current", "inactive_file")
            base = Path(root)
        elif "memory" in controllers.split(","):  # v1
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            base = Path(root, "memory")
        else:
            continue
        # a container sees its own cgroup at the root of the mount, not at the path the host gave it
        for d in (base / path.lstrip("/"), base):
            left = _left_in(d, *files)
            if left is not None:
                return left
    return None


def _left_in(d: Path, limit_file: str, usage_file: str, inactive_key: str) -> int | None:
    try:
        raw = (d / limit_file).read_text().strip()
        usage = int((d / usage_file).read_text().strip())
    except (OSError, ValueError):
        return None
    if raw == "max" or int(raw) >= _UNLIMITED:
        return None
    inactive = 0
    try:
        for line in (d / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_key:
                inactive = int(value)
    except (OSError, ValueError):
        pass
    return int(raw) - max(0, usage - inactive)
