"""What the two Ray engines share (``samlabel.autolabel.ray_engine``: images on Ray Data;
``samlabel.video.ray_batch``: one sequence per actor): joining or starting Ray, and the
line to show for an error an actor raised. Imports nothing of samlabel's (both engines'
layers use it) and Ray only when called.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

_ERROR_LINE = re.compile(r"^((?:[\w.]+\.)?\w+(?:Error|Exception): (.*))$", re.MULTILINE)


def init_ray(ray: Any, address: Optional[str], runtime_env: Optional[dict],
             error: Callable[[str], Exception]) -> bool:
    """Join Ray at ``address`` (None: start a local one) unless this process already has;
    True when this call started it (the caller shuts it down after). Failure raises
    ``error(message)`` naming where it tried."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise error(f"cannot start or join Ray at {address or 'a new local cluster'}: {exc}") from exc
    return True


def actor_error_line(exc: BaseException) -> str:
    """The error an actor raised, found in Ray's wrappers (which carry the actor's traceback
    as text): the last ``samlabel`` error line if any, else the last error line, with
    samlabel's module path left out (``VideoError: ...``); the exception's type name when
    no line is found."""
    texts, seen = [], set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(str(current))
        nxt = getattr(current, "cause", None)
        current = nxt if isinstance(nxt, BaseException) else (current.__cause__ or current.__context__)
    found = [m.group(1) for text in texts for m in _ERROR_LINE.finditer(text) if m.group(2).strip()]
    ours = [line for line in found if "samlabel." in line.split(":", 1)[0]]
    if ours or found:
        return re.sub(r"^samlabel\.[\w.]+\.", "", (ours or found)[-1])
    return type(exc).__name__
