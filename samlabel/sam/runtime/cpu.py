"""Process-wide CPU runtime settings for fast inference (threads and the C allocator).

Call :func:`configure_runtime` (or only :func:`configure_threads`) once, early, before the
first model runs. Both are idempotent: calling them again with the same arguments changes
nothing, and they never raise on a platform where a knob does not exist.

Threads
    ``torch.set_num_threads`` is set to the number of *physical* cores this process may run
    on. Hyper-threads share one core's FMA units, so an extra intra-op thread per sibling only
    adds synchronisation; a GEMM-bound ViT is fastest with one thread per physical core.
    Physical cores are counted from ``/sys/devices/system/cpu/cpuN/topology`` (distinct
    ``(physical_package_id, core_id)`` pairs) over the CPUs in ``os.sched_getaffinity(0)``
    (so ``taskset`` and container CPU sets are honoured); where ``/sys`` is missing
    (macOS, Windows) it falls back to ``os.cpu_count()``. The inter-op pool gets one
    thread: SAM's graph is a chain, there is nothing to run side by side, and
    ``set_num_interop_threads`` may only be called before the first parallel op, so it is
    attempted once and skipped silently afterwards.

    A GUI keeps its UI and decoder threads responsive by reserving cores:
    ``configure_threads(reserve=1)`` leaves one physical core free of torch's intra-op
    pool (never fewer than one torch thread). ``torch.set_num_threads`` is process-wide in
    practice (a call from any thread changes the count all threads use), so switch with
    ``reserve=1`` while an encoder worker may run beside the decoder (prefetching) and back
    to ``reserve=0`` when one model call runs alone. Why it matters: with every core busy,
    OpenMP barriers stall on descheduled workers, and a decoder call with 2 threads can take
    several times as long as with 1 (docs/performance.md, "Threads: physical cores, one
    inter-op thread, two for the decoder").

Allocator (glibc only)
    PyTorch's CPU allocator asks ``malloc`` for every tensor. glibc serves blocks above
    ``M_MMAP_THRESHOLD`` (dynamic, at most 32 MiB) with a fresh ``mmap`` and returns them
    with ``munmap`` on free, so *every* large activation (a ViT-B MLP hidden state is 48 MiB,
    an unchunked attention matrix 800 MiB) is page-faulted and zeroed by the kernel again on
    each use. :func:`configure_allocator` raises the mmap and trim thresholds so freed
    blocks stay in the heap and are reused: a large buffer allocated again is not
    page-faulted and zeroed again (docs/performance.md, "glibc allocator thresholds", for the
    effect on ``set_image``). The cost: the process keeps its
    peak heap instead of returning it to the OS between images.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

DEFAULT_MMAP_THRESHOLD = 1 << 30  # 1 GiB: every SAM activation stays in the heap
DEFAULT_TRIM_THRESHOLD = 1 << 30


@dataclass(frozen=True)
class RuntimeSettings:
    """What :func:`configure_runtime` applied."""

    num_threads: int
    num_interop_threads: int
    physical_cores: int
    allocator_tuned: bool


_interop_attempted = False
_allocator_tuned: Optional[bool] = None


def physical_core_count(sys_root: str | os.PathLike = "/sys/devices/system/cpu") -> int:
    """Physical cores among the CPUs this process may run on (at least 1).

    Reads ``cpuN/topology/{physical_package_id,core_id}`` under ``sys_root`` for each CPU
    in ``os.sched_getaffinity(0)``; falls back to the logical CPU count when the topology
    cannot be read.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = list(range(os.cpu_count() or 1))
    root = Path(sys_root)
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topo = root / f"cpu{cpu}" / "topology"
        try:
            package = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def configure_threads(num_threads: Optional[int] = None, *, reserve: int = 0) -> int:
    """Set torch's intra-op threads (default: physical cores - ``reserve``) and one inter-op thread.

    Returns the intra-op thread count now in effect. Idempotent.
    """
    import torch  # here, not at import: configure_allocator needs no torch

    global _interop_attempted
    if num_threads is not None and num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    if reserve < 0:
        raise ValueError(f"reserve must be >= 0, got {reserve}")
    n = num_threads if num_threads is not None else max(1, physical_core_count() - reserve)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if not _interop_attempted:
        _interop_attempted = True
        if torch.get_num_interop_threads() != 1:
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:
                pass  # already used: the pool size is fixed for this process
    return torch.get_num_threads()


def configure_allocator(
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD, trim_threshold: int = DEFAULT_TRIM_THRESHOLD
) -> bool:
    """Keep large freed blocks in glibc's heap (see module docstring). True if applied.

    A no-op returning False where the C library has no ``mallopt`` (macOS, Windows, musl).
    Environment variable ``SAMLABEL_NO_MALLOC_TUNING=1`` disables it.
    """
    global _allocator_tuned
    if os.environ.get("SAMLABEL_NO_MALLOC_TUNING") == "1" or not sys.platform.startswith("linux"):
        return False
    if _allocator_tuned is not None:
        return _allocator_tuned
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _allocator_tuned = False
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )
    _allocator_tuned = ok
    return ok


def configure_runtime(
    num_threads: Optional[int] = None, *, reserve: int = 0, tune_allocator: bool = True
) -> RuntimeSettings:
    """Threads (:func:`configure_threads`) plus the allocator (:func:`configure_allocator`)."""
    import torch  # here, not at import: configure_allocator needs no torch

    n = configure_threads(num_threads, reserve=reserve)
    tuned = configure_allocator() if tune_allocator else False
    return RuntimeSettings(
        num_threads=n,
        num_interop_threads=torch.get_num_interop_threads(),
        physical_cores=physical_core_count(),
        allocator_tuned=tuned,
    )
