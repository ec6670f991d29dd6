"""Name normalisation shared by country and city lookups: accents, case, punctuation, articles."""

from __future__ import annotations

import re
import unicodedata

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
_SPECIAL = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "ı": "i", "&": " and ", "'": "", "’": ""}
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """'São Paulo' -> 'sao paulo'; 'Zürich' -> 'zurich'; 'St. John's' -> 'st johns'."""
    text = text.translate(_SPECIAL)
    if not text.isascii():
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub(" ", text.lower()).strip()


def variants(text: str) -> set[str]:
    """Keys under which a name is indexed: the folded form and its German transliteration ('zuerich')."""
    keys = {fold(text)}
    if any(ch in text for ch in "äöüÄÖÜ"):
        keys.add(fold(text.translate(_GERMAN)))
    return {k for k in keys if k}


def strip_article(key: str) -> str:
    return key[4:] if key.startswith("the ") else key
