"""A sequence's propagation report, ``.samlabel-propagation.json`` in its folder: per frame
what propagation wrote and which objects it lost there, per object the frames it was lost on
(``lost``), per run its description. Written atomically after each frame. Qt-free.
"""

from __future__ import annotations

import json
from pathlib import Path

from samlabel.annotations.atomic import atomic_write_text
from samlabel.annotations.project import natural_key
from samlabel.video.errors import VideoError

REPORT_NAME = ".samlabel-propagation.json"


class SequenceReport:
    """The sequence's ``.samlabel-propagation.json``: per frame what propagation wrote and lost,
    per object the frames it was lost on (``lost``), per run its description. Atomic writes."""

    def __init__(self, root: Path):
        self.path = root / REPORT_NAME
        self.data: dict = {"version": 1, "runs": {}, "frames": {}, "lost": {}}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise VideoError(f"{self.path}: cannot read the propagation report ({exc}); delete it to start anew") from exc
            if isinstance(data, dict):
                for key in ("runs", "frames"):
                    if isinstance(data.get(key), dict):
                        self.data[key] = data[key]

    def set_frame(self, name: str, record: dict) -> None:
        self.data["frames"][name] = {k: record.get(k) for k in ("run", "source", "objects", "lost")}

    def set_run(self, run: str, description: dict) -> None:
        self.data["runs"][run] = description

    def save(self) -> None:
        lost: dict[str, list[str]] = {}
        for name, record in self.data["frames"].items():
            for key in record.get("lost") or []:
                lost.setdefault(str(key), []).append(name)
        self.data["lost"] = {k: sorted(v, key=lambda n: natural_key(Path(n))) for k, v in sorted(lost.items())}
        atomic_write_text(self.path, json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")
