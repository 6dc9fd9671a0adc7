"""Lazy re-exports for package ``__init__`` modules (no Qt, no torch).

A package lists which submodule defines each public name; the name is imported on first
access, so importing the package stays cheap and each module can be used on its own::

    __getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), {"Sam": "samlabel.sam.modeling.sam1.sam"})
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """The module-level ``__getattr__``, ``__dir__`` and ``__all__`` for ``exports`` (name -> module)."""
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return list(names)

    return __getattr__, __dir__, names
