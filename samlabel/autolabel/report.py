"""The job's report and its progress callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

Progress = Callable[..., None]
"""``progress(done, total, message)`` after each image; it may raise to cancel the job."""
Cancel = Callable[[], bool]


@dataclass
class AutolabelReport:
    """What a job did.

    ``images``: images taken; ``written``: sidecars written; ``unchanged``: images with
    nothing (left) to do; ``made``: shapes made; ``removed`` / ``kept``: source
    rectangles replaced / kept; ``empty``: rectangles whose mask traced to nothing (kept,
    marked); ``proposals``: proposals stored; ``problems``: one message per image skipped
    (file and problem); ``plan``: in a dry run, one line per image that would change;
    ``seconds``: summed time per stage (encoder, decoder, tracing, everything, write).
    """

    images: int = 0
    written: int = 0
    unchanged: int = 0
    made: int = 0
    removed: int = 0
    kept: int = 0
    empty: int = 0
    proposals: int = 0
    problems: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    cancelled: bool = False

    def add_counts(self, counts) -> None:
        for name in ("made", "removed", "kept", "empty", "proposals"):
            setattr(self, name, getattr(self, name) + getattr(counts, name))

    def add_seconds(self, seconds: dict) -> None:
        for key, value in seconds.items():
            self.seconds[key] = self.seconds.get(key, 0.0) + float(value)

    def summary(self) -> str:
        parts = [f"{self.images} image(s)", f"{self.written} sidecar(s) written"]
        if self.made:
            parts.append(f"{self.made} mask(s) made")
        if self.removed:
            parts.append(f"{self.removed} box(es) replaced")
        if self.kept:
            parts.append(f"{self.kept} box(es) kept")
        if self.empty:
            parts.append(f"{self.empty} box(es) with an empty mask")
        if self.proposals:
            parts.append(f"{self.proposals} proposal(s) stored")
        if self.unchanged:
            parts.append(f"{self.unchanged} already done")
        if self.problems:
            parts.append(f"skipped {len(self.problems)}")
        return ", ".join(parts)


def report_progress(progress: Optional[Progress], done: int, total: int, message: str = "") -> None:
    if progress is not None:
        progress(done, total, message)
