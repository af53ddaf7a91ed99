"""Parsing what people type: numbers, labels, lists, dates; each wrong form gets its own hint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.messages import Choice
from bot.core.text import clean_text, fold
from flows.engine import Invalid, parse_datetime, parse_multiple, parse_single
from flows.registry import parse_command

OPTIONS = [Choice("de", "Deutsch"), Choice("tr", "Türkçe"), Choice("uk", "Українська"), Choice("ar", "العربية")]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("typed", "key"), [
    ("1", "de"), (" 2 ", "tr"), ("turkce", "tr"), ("TÜRKÇE", "tr"), ("türkçe.", "tr"), ("українська", "uk"),
    ("العربية", "ar"), ("٤", "ar"), ("۳", "uk"), ("ar", "ar"),
])
def test_single_choice_by_number_label_or_key(typed: str, key: str) -> None:
    assert parse_single(typed, OPTIONS).key == key


@pytest.mark.parametrize("typed", ["0", "5", "-1", "99999999999", "1.5", "Deutschland", "", "🙂", "1 2"])
def test_single_choice_out_of_range_or_unknown(typed: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_single(typed, OPTIONS)
    assert raised.value.values == {"count": 4}


@pytest.mark.parametrize(("typed", "keys"), [
    ("1, 3 4", ["de", "uk", "ar"]), ("1,3", ["de", "uk"]), ("2 2 2", ["tr"]), ("deutsch, TURKCE", ["de", "tr"]),
    ("١، ٢", ["de", "tr"]),
])
def test_multiple_choice_lists(typed: str, keys: list[str]) -> None:
    assert [c.key for c in parse_multiple(typed, OPTIONS)] == keys


@pytest.mark.parametrize("typed", ["1, 9", "0", "Deutsch, Englisch", ",,,"])
def test_multiple_choice_rejects_unknown_parts(typed: str) -> None:
    with pytest.raises(Invalid):
        parse_multiple(typed, OPTIONS)


@pytest.mark.parametrize(("typed", "expected"), [
    ("24.11.2026 10:30", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
    ("24.11. 10:30", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
    ("2026-11-24 10:30", datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
    ("24.11.2026 9 Uhr", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ("3.1. 8:00", datetime(2027, 1, 3, 7, 0, tzinfo=UTC)),  # no year and already past: next year
    ("15.7.2027 8:00", datetime(2027, 7, 15, 6, 0, tzinfo=UTC)),  # summer time: UTC+2
])
def test_dates_in_berlin_time_across_daylight_saving(typed: str, expected: datetime) -> None:
    assert parse_datetime(typed, NOW, "Europe/Berlin") == expected


@pytest.mark.parametrize("typed", ["31.02.2027 10:00", "24.11.2026 25:00", "24.11.2026 10:61", "morgen", "",
                                   "24.11.2099 10:00", "1.1.1900 10:00", "24/11 x"])
def test_impossible_dates_get_a_hint(typed: str) -> None:
    with pytest.raises(Invalid):
        parse_datetime(typed, NOW, "Europe/Berlin")


def test_cleaning_removes_controls_and_direction_overrides_but_keeps_words() -> None:
    assert clean_text("\u202eevil\u202c \x00\x1b[31mtext\u200b ") == "evil [31mtext"
    assert clean_text("سلام 👋\nline") == "سلام 👋\nline"
    assert fold("  Ärger!  ") == "arger"


@pytest.mark.parametrize(("text", "command"), [
    ("/start ABC123", ("start", "ABC123")), ("!menu", ("menu", "")), ("/help@LotseBot", ("help", "")),
    ("/LANGUAGE", ("language", "")), ("hello /menu", None), ("/", None), ("/ menu", None), ("", None),
])
def test_commands_with_slash_or_bang(text: str, command: tuple[str, str] | None) -> None:
    assert parse_command(text) == command


def test_persian_joiners_survive_and_hidden_controls_do_not() -> None:
    """Found by a newcomer: "می‌شود" reached the coordinator as "میشود" (the non-joiner was removed), which a Persian
    reader and a translator read as another word."""
    assert clean_text("می‌شود؟ من صبح‌ها وقت دارم") == "می‌شود؟ من صبح‌ها وقت دارم"
    assert clean_text("👩‍🔧 ok") == "👩‍🔧 ok"  # an emoji built with the joiner
    assert clean_text("a\u202eb\u200bc\u2066d\u200fe") == "abcde"
    assert fold("سه‌شنبه") == fold("سهشنبه")  # a label typed without the non-joiner still matches
