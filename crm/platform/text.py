"""Text helpers shared by search, imports and validation."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str | None) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces.

    "EHPAD L'OUSTAL – SAINT-GAUDENS" -> "ehpad l oustal saint gaudens". The
    same folding is applied to the stored search text and to the query, so
    search is accent-, case- and punctuation-insensitive on every database.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    stripped = stripped.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    return _NON_ALNUM.sub(" ", stripped.lower()).strip()


def search_tokens(query: str | None, limit: int = 8) -> list[str]:
    """Distinct folded words of a search query, longest first, at most ``limit``."""
    words = {w for w in fold(query).split() if w}
    return sorted(words, key=len, reverse=True)[:limit]
