"""What the ``samlabel`` subcommands share: a tqdm progress bar as a ``progress`` callback,
and the check that the paths given are what they must be (without opening them)."""

from __future__ import annotations

import sys

class TqdmProgress:
    """A ``progress(done, total, message="")`` callback drawing a tqdm bar on stderr."""

    def __init__(self, desc: str, unit: str = "it", unit_scale: bool = False):
        self._options = dict(desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr, leave=True)
        self._bar = None  # drawn on the first report, so an early error prints no empty bar

    def __call__(self, done: int, total: int | None, message: str = "") -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, **self._options)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if message:
            self._bar.set_postfix_str(message, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def inputs_problem(*checks: tuple[str | None, str]) -> str | None:
    """The first of ``(path, "file" | "folder" | "file or folder")`` that is not what it must
    be, as ``"PATH: problem"`` (a link loop, a named pipe, ...); None when all are. Nothing is
    opened, so a named pipe cannot block the command."""
    from samlabel.path_kinds import path_problem

    for path, want in checks:
        problem = None if path is None else path_problem(path, want)
        if problem is not None:
            return f"{path}: {problem}"
    return None
