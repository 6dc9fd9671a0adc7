"""Listen to a Qt-free model (Document, ProposalSet) from a widget, safely.

Models call plain listeners (``model.subscribe(callback) -> unsubscribe``). A widget can be
deleted by Qt (its window closed) while the model lives on; :func:`bind` makes the listener
stop, and unsubscribe itself, once the widget's C++ object is gone, instead of raising
"Internal C++ object already deleted" from inside the model's notification.
"""

from __future__ import annotations

from typing import Any, Callable

from shiboken6 import isValid


def bind(widget: Any, model: Any, callback: Callable[[Any], None]) -> Callable[[], None]:
    """``model.subscribe`` a listener that calls ``callback(change)`` while ``widget`` lives."""
    unsubscribe: Callable[[], None] | None = None

    def listener(change: Any) -> None:
        if isValid(widget):
            callback(change)
        elif unsubscribe is not None:
            unsubscribe()

    unsubscribe = model.subscribe(listener)
    return unsubscribe
