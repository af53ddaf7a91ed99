"""What people type, made comparable: invisible characters removed, and a case- and accent-free form for matching."""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
"""Zero-width space, direction marks, overrides and isolates. The zero-width non-joiner and joiner (U+200C, U+200D)
stay: Persian and Dari spell words with them ("می‌شود"), and emoji sequences are built with them."""
_JOINERS = re.compile("[\u200c\u200d]")


def clean_text(raw: str) -> str:
    """Removes control, bidi-override and zero-width space characters, keeps line breaks and the joiners, NFC."""
    text = unicodedata.normalize("NFC", raw)
    text = _INVISIBLE.sub("", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return text.replace("\t", " ").strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching labels ("türkçe" == "TURKCE")."""
    decomposed = unicodedata.normalize("NFKD", _JOINERS.sub("", clean_text(text)).casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s.!?,;:'\"()\[\]-]+", " ", stripped).strip()
