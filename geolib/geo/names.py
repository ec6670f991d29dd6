"""Name normalisation shared by country and city lookups: accents, case, punctuation, articles."""

from __future__ import annotations

import re
import unicodedata

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
_SPECIAL = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "ı": "i", "&": " and ", "'": "", "’": ""}
)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _is_accent(ch: str) -> bool:
    # the combining accents of Latin, Greek and Cyrillic; other scripts' marks (Devanagari vowel signs,
    # Japanese dakuten, Thai tone marks) are part of the spelling and stay
    return "\u0300" <= ch <= "\u036f"


def fold(text: str) -> str:
    """'São Paulo' -> 'sao paulo'; 'Zürich' -> 'zurich'; 'St. John's' -> 'st johns'; 'Ελλάδα' -> 'ελλαδα'.

    Letters of every script are kept ('日本' stays '日本'), so two names in other scripts never fold to
    the same empty key.
    """
    text = text.translate(_SPECIAL)
    if text.isascii():
        return _NOT_ALNUM.sub(" ", text.lower()).strip()
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not _is_accent(ch))
    text = unicodedata.normalize("NFC", text).casefold()
    # letters, digits and marks of any script are kept, everything else separates words
    return " ".join("".join(ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text).split())


def variants(text: str) -> set[str]:
    """Keys under which a name is indexed: the folded form and its German transliteration ('zuerich')."""
    keys = {fold(text)}
    if any(ch in text for ch in "äöüÄÖÜ"):
        keys.add(fold(text.translate(_GERMAN)))
    return {k for k in keys if k}


def strip_article(key: str) -> str:
    return key[4:] if key.startswith("the ") else key
