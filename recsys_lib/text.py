"""Text helpers shared by the content models (chapters 2 and 4)."""
from __future__ import annotations

import re

__all__ = ["tokenize_title"]

_WORD = re.compile(r"[a-z0-9']+")


def tokenize_title(title: str) -> list[str]:
    """Lower-cased word tokens of a title (letters, digits and apostrophes)."""
    return _WORD.findall(str(title).lower())
