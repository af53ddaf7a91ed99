"""Languages, catalogs and locale-aware formatting.

Catalogs are read from the committed `.po` files and compiled in memory with Babel, so an install needs no
build step and a fresh clone never runs with stale `.mo` files.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime, format_time, get_date_format, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger("lotse.i18n")

LOCALES_DIR: Final = Path(__file__).resolve().parents[2] / "locales"
DOMAIN: Final = "messages"

# Each language under its own name, in the order the picker shows them (the platform's hint first, then this
# order over two pages; see flows/onboarding.py). Dari (`fa_AF`) is its own catalog next to Iranian Persian: Afghans
# read other words (معلومات, وقت ملاقات, ولسوالی, کورس, بلی).
ALL_LANGUAGES: Final[dict[str, str]] = {
    "de": "Deutsch",
    "en": "English",
    "ar": "العربية",
    "fa_AF": "دری",
    "fa": "فارسی",
    "ps": "پښتو",
    "tr": "Türkçe",
    "ku": "Kurdî (Kurmancî)",
    "ckb": "کوردی سۆرانی",
    "ti": "ትግርኛ",
    "so": "Soomaali",
    "fr": "Français",
    "uk": "Українська",
    "ru": "Русский",
}
ARRIVING: Final[frozenset[str]] = frozenset()
"""Catalogs still being written on their own branches: offered only once their `.po` is in locales/. Empty when
every catalog has arrived, so that a missing catalog stops startup (see `check_catalogs`) instead of hiding a
language."""


def catalog_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


LANGUAGES: Final[dict[str, str]] = {
    code: name for code, name in ALL_LANGUAGES.items() if code not in ARRIVING or catalog_path(code).is_file()
}
"""The languages offered: every language whose catalog ships."""
DEFAULT_LOCALE: Final = "en"
STAFF_LOCALES: Final = ("de", "en")
DATE_LOCALES: Final = {"en": "en_DE"}
"""The network is in Germany: English readers get day-before-month dates and a 24-hour clock (CLDR's en_DE),
not the US formats of plain "en"; the other languages' own defaults already read that way."""
MONTH_NAME_LOCALES: Final = frozenset({"en", "ti"})
"""Readers for whom an all-number date is ambiguous (07/12/2026: July or December?): their short dates name the
month (Babel's medium date, "7 Dec 2026"). English: the UK and US orders differ; Tigrinya: CLDR's short date is
month first ("12/7/26"), while Eritreans write the day first."""
ARABIC_SCRIPT_BASES: Final = frozenset({"ar", "fa", "ps", "ckb"})
"""Languages written in Arabic script (with their regional variants, e.g. Dari `fa_AF`): their comma is "،"."""
_LATIN_COMMA: Final = re.compile(r",\s*")
RTL_LANGUAGES: Final = frozenset({"ar", "fa", "fa_AF", "ps", "ckb"})
"""Written right to left; `is_rtl` asks CLDR, a test checks that it agrees with this list."""

# Platform hints that Babel cannot negotiate on its own: Dari, Kurmanji, and Telegram's odd codes. Sorani (`ckb`)
# has its own catalog: it is written in Arabic script and reads poorly as Latin Kurmanji.
_HINT_ALIASES: Final = {"prs": "fa_AF", "fa-af": "fa_AF", "kmr": "ku", "tir": "ti", "pbu": "ps", "pbt": "ps",
                        "ckb-iq": "ckb", "ckb-ir": "ckb"}

Width = Literal["full", "long", "medium", "short"]
"""Babel's standard format widths."""
FSI: Final = "\u2068"
PDI: Final = "\u2069"


def N_(message: str) -> str:
    """Marks a catalog message for extraction; it is translated later, per person."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural catalog message for extraction."""
    return singular, plural


@cache
def short_date_pattern(date_locale: str) -> str:
    """CLDR's short date of the language with the year in full: "dd.MM.y" (07.12.2026), never "dd.MM.yy"
    (07.12.26) as CLDR has it for German, Ukrainian and Somali. People meet four-digit years on paper (letters,
    forms, appointment slips); the order of day, month and year stays the language's own."""
    pattern = str(get_date_format("short", locale=date_locale).pattern)
    return re.sub(r"(?<!y)yy(?!y)", "y", pattern)


class CatalogMissing(Exception):
    pass


@cache
def _translations(locale: str) -> gettext.GNUTranslations:
    path = catalog_path(locale)
    if not path.is_file():
        # Babel's Translations.load() would silently fall back to msgids; a missing catalog is a broken install.
        raise CatalogMissing(f"the catalog for language {locale!r} is missing: {path}")
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def check_catalogs() -> None:
    """Loads every shipped catalog once, so a missing one stops startup instead of a conversation."""
    for code in LANGUAGES:
        _translations(code)


def negotiate(hint: str | None) -> str | None:
    """Maps a platform's language hint (e.g. Telegram's `uk-UA`) to a shipped language, if any."""
    if not hint:
        return None
    cleaned = hint.strip().lower().replace("_", "-")
    found = _HINT_ALIASES.get(cleaned) or negotiate_locale([cleaned], [c.replace("_", "-") for c in LANGUAGES], sep="-")
    code = str(found).replace("-", "_") if found else None
    return code if code in LANGUAGES else None


@cache  # Locale.parse costs ~0.2 ms and runs for every interpolated value (measured in bench/reminders.py)
def is_rtl(locale: str) -> bool:
    return bool(Locale.parse(locale).text_direction == "rtl")


@dataclass(frozen=True, slots=True)
class Translator:
    """Everything one person reads goes through here: their language, their time zone, their direction."""

    locale: str
    time_zone: str = "Europe/Berlin"

    @property
    def rtl(self) -> bool:
        return is_rtl(self.locale)

    @property
    def date_locale(self) -> str:
        """The locale Babel formats dates and times with (Babel's standard formats, a European territory)."""
        return DATE_LOCALES.get(self.locale, self.locale)

    @property
    def comma(self) -> str:
        """The list separator a reader of this script expects: the Arabic comma in Arabic-script languages and the
        Ethiopic one in Tigrinya (Babel's list patterns lack the short style for several of these locales)."""
        base = self.locale.split("_")[0]
        return "، " if base in ARABIC_SCRIPT_BASES else "፣ " if base == "ti" else ", "

    def in_script(self, formatted: str) -> str:
        """A date as CLDR formats it, with the script's own comma: CLDR's Pashto and Sorani patterns have Latin
        commas ("دوشنبه 7, دسمبر, 2026"), which read as stray marks in Arabic script, and so have Tigrinya's
        ("ታሕሳስ 7, 2026") in Ethiopic script, whose own full date already has "፣"."""
        base = self.locale.split("_")[0]
        if base not in ARABIC_SCRIPT_BASES and base != "ti":
            return formatted
        return _LATIN_COMMA.sub(self.comma, formatted)

    def isolate(self, value: object) -> str:
        """Wraps an interpolated value in Unicode isolates in right-to-left text."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = self.number(value)
        text = str(value)
        return f"{FSI}{text}{PDI}" if self.rtl and text else text

    def _format(self, template: str, fallback: str, values: dict[str, object]) -> str:
        isolated = {key: self.isolate(value) for key, value in values.items()}
        for key, value in values.items():  # "4 грудня 2026 р." at a sentence's end: one full stop, not two
            if str(value).endswith("."):
                placeholder = "{" + key + "}"
                template = template.replace(placeholder + ".", placeholder)
                fallback = fallback.replace(placeholder + ".", placeholder)
        try:
            return template.format(**isolated)
        except (KeyError, IndexError, ValueError):
            log.error("catalog %s: placeholders of %r do not match; showing the source text", self.locale, fallback)
        try:
            return fallback.format(**isolated)
        except (KeyError, IndexError, ValueError):
            log.error("message %r was given the wrong values %s", fallback, sorted(values))
            return fallback

    def __call__(self, message: str, **values: object) -> str:
        return self._format(_translations(self.locale).gettext(message), message, values)

    def plural(self, forms: tuple[str, str], count: int, **values: object) -> str:
        singular, plural = forms
        template = _translations(self.locale).ngettext(singular, plural, count)
        values.setdefault("count", count)
        return self._format(template, plural if count != 1 else singular, values)

    def number(self, value: int | float) -> str:
        return str(format_decimal(value, locale=self.locale))

    def datetime(self, moment: dt.datetime, width: str = "medium") -> str:
        """A date and its hour; the short and medium widths never show seconds ("07.12.2026, 14:00")."""
        if width not in ("short", "medium"):
            return self.in_script(str(format_datetime(moment, width, tzinfo=ZoneInfo(self.time_zone),
                                                      locale=self.date_locale)))
        glue: Width = "short" if width == "short" else "medium"
        return self._joined(moment, self._date_width(width), glue)

    def date(self, day: dt.date | dt.datetime, width: str = "long") -> str:
        if isinstance(day, dt.datetime):
            day = day.astimezone(ZoneInfo(self.time_zone)).date()
        return self.in_script(str(format_date(day, self._date_width(width), locale=self.date_locale)))

    def _date_width(self, width: str) -> str:
        """Babel's width, or for short dates the language's short pattern with the full year (or, where an
        all-number date is ambiguous, the medium date that names the month)."""
        if width != "short":
            return width
        return "medium" if self.locale in MONTH_NAME_LOCALES else short_date_pattern(self.date_locale)

    def _joined(self, moment: dt.datetime, date_width: str, glue_width: Width) -> str:
        """Babel's date of one width (or pattern) and its short time (no seconds), glued by CLDR's own pattern for
        the language, as Babel's format_datetime does."""
        zone = ZoneInfo(self.time_zone)
        day = format_date(moment.astimezone(zone).date(), date_width, locale=self.date_locale)
        clock = format_time(moment, "short", tzinfo=zone, locale=self.date_locale)
        pattern = str(get_datetime_format(glue_width, locale=self.date_locale)).replace("'", "")
        return self.in_script(pattern.replace("{0}", str(clock)).replace("{1}", str(day)))

    def when(self, moment: dt.datetime) -> str:
        """Weekday, date and hour without seconds ("Tuesday, November 24, 2026 at 10:30 AM"), glued by CLDR's own
        pattern for the language, as Babel's format_datetime does (its medium and long widths show seconds)."""
        return self._joined(moment, "full", "long")

    def time(self, moment: dt.datetime, width: str = "short") -> str:
        return str(format_time(moment, width, tzinfo=ZoneInfo(self.time_zone), locale=self.date_locale))
