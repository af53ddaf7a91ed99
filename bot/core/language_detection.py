"""Which language a message is written in, offline: people write in another language than the one they chose.

Only the languages Lotse has catalogs for are ever answered, and only when the evidence is clear; otherwise None
(callers keep the language the person chose). Scripts decide first: Ethiopic letters are Tigrinya, letters only
Pashto or Sorani use are those, Ukrainian and Russian have their own letters, and a few words and letters mark
Kurmanji (which no detection library knows). The rest goes to lingua-language-detector (models in its wheel,
nothing downloaded), low-accuracy mode for a quick start, and only for three words or more at 90 % confidence.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Collection
from typing import Any

from bot.core.i18n import LANGUAGES

log = logging.getLogger("lotse.language_detection")

ETHIOPIC = re.compile(r"[\u1200-\u137f]")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
PASHTO_LETTERS = set("ټډړږښګڼېۍځڅ")
SORANI_LETTERS = set("ڵڕۆێە")
PERSIAN_LETTERS = set("پچژگکی")
URDU_LETTERS = set("ےںٹڈڑہھ")
ARABIC_LETTERS = set("ةىي")
UKRAINIAN_LETTERS = set("іїєґ")
RUSSIAN_LETTERS = set("ыэъё")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")
KURMANJI_WORDS = frozenset({"ez", "û", "ji", "çawa", "kengî", "dixwazim", "heye", "spas", "silav", "hûn", "dike",
                            "pê", "bizanim", "nizanim", "çi", "xwe", "karê", "kursa", "dikarim", "ezê"})
WORD = re.compile(r"\w+", re.UNICODE)
LINGUA_CODES = ("ar", "fa", "uk", "ru", "tr", "de", "en", "fr", "so", "sq", "ur")
MIN_WORDS = 3
MIN_CONFIDENCE = 0.9

_detector: Any = None
_lock = threading.Lock()


def _lingua() -> Any:
    """Built once per process on first use; None if the library is missing.

    Built when the first free text that needs it arrives, not at startup: building holds the interpreter for
    about 0.3 s (measured: the event loop stalls as long even when it is built in another thread, since the
    library does not release the GIL) and takes 25 MB, which a process that only sees buttons never needs."""
    global _detector
    with _lock:
        if _detector is None:
            try:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
            except ImportError:  # pragma: no cover - installed with Lotse
                _detector = False
                return None
            started = time.perf_counter()
            languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LINGUA_CODES]
            _detector = (LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode()
                         .with_preloaded_language_models().build())
            log.info("language detection: models loaded in %.0f ms (once per process, at the first free text)",
                     (time.perf_counter() - started) * 1000)
        return _detector or None


def _by_script(text: str) -> str | None:
    letters = set(text)
    if ETHIOPIC.search(text):
        return "ti"
    if ARABIC_SCRIPT.search(text):
        if letters & SORANI_LETTERS:
            return "ckb"
        if letters & PASHTO_LETTERS:
            return "ps"
        if letters & URDU_LETTERS:
            return None
        if letters & PERSIAN_LETTERS and not letters & ARABIC_LETTERS:
            return "fa"
        if letters & ARABIC_LETTERS and not letters & PERSIAN_LETTERS:
            return "ar"
        return None
    if CYRILLIC.search(text):
        lower = set(text.lower())
        if lower & UKRAINIAN_LETTERS and not lower & RUSSIAN_LETTERS:
            return "uk"
        if lower & RUSSIAN_LETTERS and not lower & UKRAINIAN_LETTERS:
            return "ru"
        return None
    words = [word.lower() for word in WORD.findall(text)]
    if len([word for word in words if word in KURMANJI_WORDS]) >= 2:
        return "ku"
    return None


KEEP_CHOSEN = {"fa": frozenset({"ps", "ckb", "fa_AF"}), "ar": frozenset({"ps"})}
"""A guess from letters Persian or Arabic lack, not from letters of their own, does not overrule a chosen
language that writes the same letters: Pashto and Sorani also write پ چ ژ ک ی, Pashto also ي, Dari is Persian
("بل لیک راغلی" is Pashto, though nothing in it shows that)."""


def detect(text: str, known: Collection[str] | None = None, chosen: str | None = None) -> str | None:
    """The language `text` is written in, if clear and among `known` (default: Lotse's catalogs); `chosen` is
    the language the writer chose, kept where the letters cannot tell it apart."""
    known = set(LANGUAGES) if known is None else set(known)
    text = text.strip()
    if not text:
        return None
    found = _by_script(text)
    if found is not None and chosen in KEEP_CHOSEN.get(found, ()):
        return chosen if chosen in known else None
    if found is None and len(WORD.findall(text)) >= MIN_WORDS:
        detector = _lingua()
        if detector is not None:
            values = detector.compute_language_confidence_values(text)
            if values and values[0].value >= MIN_CONFIDENCE:
                found = values[0].language.iso_code_639_1.name.lower()
    return found if found in known else None
