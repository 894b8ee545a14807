"""``_memory.available_bytes``: MemAvailable capped by the memory cgroup (v1 and v2, at the host's
path or at the mount's root as a container sees it), over fake procfs/cgroup trees, and on this
machine."""

from __future__ import annotations

from pathlib import Path

from larder._memory import available_bytes

GIB = 1 << 30


def _tree(tmp_path: Path, cgroup: str, files: dict[str, str], meminfo_kb: int | None = 16 * 1024 * 1024):
    proc, root = tmp_path / "proc", tmp_path / "cg"
    (proc / "self").mkdir(parents=True)
    if meminfo_kb is not None:
        (proc / "meminfo").write_text(
            f"MemTotal: 33554432 kB\nMemFree: 1024 kB\nMemAvailable: {meminfo_kb} kB\n"
        )
    (proc / "self" / "cgroup").write_text(cgroup)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return str(proc), str(root)


def test_mem_available_not_mem_free(tmp_path):
    proc, root = _tree(tmp_path, "0::/\n", {})
    assert available_bytes(proc, root) == 16 * GIB  # the page cache counts; MemFree (1 MiB) does not


def test_cgroup_v2_limit_less_working_set(tmp_path):
    files = {
        "job/memory.max": str(4 * GIB),
        "job/memory.current": str(3 * GIB),
        "job/memory.stat": f"anon 1\ninactive_file {2 * GIB}\nactive_file 5\n",
    }
    proc, root = _tree(tmp_path, "0::/job\n", files)
    assert available_bytes(proc, root) == 3 * GIB  # 4 GiB - (3 GiB used - 2 GiB droppable cache)
    files["job/memory.max"] = "max"
    proc, root = _tree(tmp_path / "unlimited", "0::/job\n", files)
    assert available_bytes(proc, root) == 16 * GIB


def test_cgroup_v1_and_a_container_at_the_mount_root(tmp_path):
    cgroup = "9:pids:/\n4:memory:/kubepods/pod1/abc\n1:cpu:/\n"
    files = {  # the container's own cgroup is the mount's root, not the host's path
        "memory/memory.limit_in_bytes": str(2 * GIB),
        "memory/memory.usage_in_bytes": str(GIB),
        "memory/memory.stat": f"cache 5\ntotal_inactive_file {GIB // 2}\n",
    }
    proc, root = _tree(tmp_path, cgroup, files)
    assert available_bytes(proc, root) == 2 * GIB - GIB // 2
    files["memory/memory.limit_in_bytes"] = "9223372036854771712"  # v1's "no limit"
    proc, root = _tree(tmp_path / "unlimited", cgroup, files, meminfo_kb=None)
    assert available_bytes(proc, root) is not None  # no meminfo, no limit: the OS's free pages


def test_over_the_limit_is_zero_and_this_machine_is_known(tmp_path):
    files = {"memory.max": str(GIB), "memory.current": str(2 * GIB)}
    proc, root = _tree(tmp_path, "0::/\n", files)
    assert available_bytes(proc, root) == 0
    total = next(
        int(line.split()[1]) * 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    here = available_bytes()
    assert here is not None and 0 < here <= total
