"""Run one torch computation on a short-lived thread, so that its OpenMP threads end with it.

Why: GNU OpenMP (libgomp, which PyTorch's Linux wheels use) gives every thread that runs a
parallel region its own team of worker threads and keeps that team alive as long as the
thread lives. When a process holds more such threads than it has CPUs, libgomp stops letting
them spin between parallel regions ("throttled" spinning), so each of the decoder's ~300 ops
must wake a sleeping worker, and after the CPUs have idled for a while each wake-up is slow:
a hover decode after the mouse has rested becomes much slower than one while it moves, as
long as another model thread's idle team is alive. With that work run through
:func:`run_on_transient_thread`, a hover after a pause costs what a hover while moving does
(figures: docs/performance.md, "OpenMP: one long-lived team").

So the long-lived model threads are kept to one: the decoder worker. The encoder, the
automatic mask generator, the full-resolution mask of an accepted prediction and the model
loader each run on a thread that ends when its work ends; the UI thread runs no torch ops.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def run_on_transient_thread(fn: Callable[[], T], torch_threads: Optional[int] = None, name: str = "samlabel-job") -> T:
    """Call ``fn()`` on a new thread, wait for it, and return its result (or raise its exception).

    ``torch_threads``: call ``torch.set_num_threads`` on that thread first (the setting is
    process-wide in torch 2.x). The calling thread blocks until ``fn`` returns; cancellation
    works as before through whatever flag ``fn`` polls.
    """
    outcome: dict = {}

    def target() -> None:
        try:
            if torch_threads:
                import torch

                torch.set_num_threads(int(torch_threads))
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
