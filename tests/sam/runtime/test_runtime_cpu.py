"""samlabel.sam.runtime.cpu: physical-core counting, idempotent thread settings, allocator tuning."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from samlabel.sam.runtime import cpu as runtime


def _fake_topology(root, cores_by_cpu):
    for cpu, (package, core) in cores_by_cpu.items():
        topo = root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{package}\n")
        (topo / "core_id").write_text(f"{core}\n")


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _affinity():
    return sorted(os.sched_getaffinity(0))


def test_hyperthread_siblings_count_as_one_core(tmp_path):
    cpus = _affinity()
    # every CPU we may run on reports the same (package, core): one physical core
    _fake_topology(tmp_path, {c: (0, 0) for c in cpus})
    assert runtime.physical_core_count(tmp_path) == 1


def test_distinct_cores_and_packages_are_counted(tmp_path):
    cpus = _affinity()
    # same core_id on different packages are different cores
    _fake_topology(tmp_path, {c: (i, 0) for i, c in enumerate(cpus)})
    assert runtime.physical_core_count(tmp_path) == len(cpus)


def test_missing_topology_falls_back_to_logical_cpus(tmp_path):
    assert runtime.physical_core_count(tmp_path / "nothing") == len(_affinity())


def test_configure_threads_is_idempotent(restore_threads):
    n = runtime.configure_threads()
    assert n == runtime.physical_core_count() == torch.get_num_threads()
    assert runtime.configure_threads() == n
    assert torch.get_num_threads() == n


def test_reserve_leaves_cores_but_never_zero_threads(restore_threads):
    cores = runtime.physical_core_count()
    assert runtime.configure_threads(reserve=1) == max(1, cores - 1)
    assert runtime.configure_threads(reserve=cores + 5) == 1
    assert runtime.configure_threads(3) == 3


@pytest.mark.parametrize("kwargs", [dict(num_threads=0), dict(reserve=-1)])
def test_bad_thread_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        runtime.configure_threads(**kwargs)


_RSS_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from samlabel.sam.runtime import cpu as runtime
    tuned = runtime.configure_allocator()
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    before = rss()
    x = torch.ones(64 * 2**20 // 4)   # 64 MiB: above glibc's mmap threshold by default
    del x
    print(tuned, rss() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
@pytest.mark.parametrize("disable", ["1", "0"])
def test_allocator_tuning_keeps_freed_blocks_in_the_heap(disable):
    env = dict(os.environ, SAMLABEL_NO_MALLOC_TUNING=disable)
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT], env=env, capture_output=True, text=True, check=True)
    tuned, kept_mb = out.stdout.split()
    if disable == "1":
        assert tuned == "False"
        assert float(kept_mb) < 16  # munmap'ed on free
    else:
        assert tuned == "True"
        assert float(kept_mb) > 48  # stays mapped for reuse


def test_configure_runtime_reports_what_it_applied(restore_threads):
    settings = runtime.configure_runtime()
    assert settings.num_threads == torch.get_num_threads() == runtime.physical_core_count()
    assert settings.physical_cores == runtime.physical_core_count()
    assert settings == runtime.configure_runtime()
