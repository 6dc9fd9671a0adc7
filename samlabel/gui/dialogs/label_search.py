"""Ranking label names against what the user typed (no Qt; used by the label picker).

``rank_labels(["car", "cat", "scarf"], "ca")`` gives ``["car", "cat", "scarf"]``:
exact match first, then names that start with the text, then names with a word that
starts with it, then names that merely contain it; case-insensitive, and the label
list's own order is kept inside each group (so the number-key order stays familiar).
"""

from __future__ import annotations

import re
from typing import Iterable


def _rank(name: str, query: str) -> int | None:
    low = name.casefold()
    if low == query:
        return 0
    if low.startswith(query):
        return 1
    if any(word.startswith(query) for word in re.split(r"[\s_\-./]+", low)):
        return 2
    if query in low:
        return 3
    return None


def rank_labels(names: Iterable[str], text: str) -> list[str]:
    """The names matching ``text``, best first; every name when ``text`` is blank."""
    names = list(names)
    query = text.strip().casefold()
    if not query:
        return names
    ranked = [(rank, i, name) for i, name in enumerate(names) if (rank := _rank(name, query)) is not None]
    return [name for _, _, name in sorted(ranked)]


def exact_match(names: Iterable[str], text: str) -> str | None:
    """The existing name equal to ``text`` ignoring case and surrounding blanks, if any."""
    query = text.strip().casefold()
    return next((name for name in names if name.casefold() == query), None) if query else None


def can_create(names: Iterable[str], text: str) -> bool:
    """True when ``text`` is a usable new label name (not blank, not already there)."""
    return bool(text.strip()) and exact_match(names, text) is None
