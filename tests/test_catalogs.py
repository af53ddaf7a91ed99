"""The catalogs: complete, careful, consistent with the code, with CLDR and with the glossary."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po
from bidi import get_display

from bot.catalogs import PLURAL_FORMS, POT, extract, po_path
from bot.i18n import (
    ALL_LANGUAGES,
    ARRIVING,
    LANGUAGES,
    LOCALES_DIR,
    RTL_LANGUAGES,
    Translator,
    check_catalogs,
    negotiate,
)

PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}")
GLOSSARY = tomllib.loads((LOCALES_DIR / "glossary.toml").read_text(encoding="utf-8"))["terms"]


def load(code: str):  # type: ignore[no-untyped-def]
    with po_path(code).open("rb") as handle:
        return read_po(handle, locale=code)


def messages(code: str):  # type: ignore[no-untyped-def]
    return [m for m in load(code) if m.id]


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(code: str) -> None:
    catalog = load(code)
    assert not catalog.fuzzy
    for message in messages(code):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{code}: untranslated {message.id!r}"
        assert "fuzzy" not in message.flags, f"{code}: fuzzy {message.id!r}"


@pytest.mark.parametrize("code", LANGUAGES)
def test_placeholders_match_the_source(code: str) -> None:
    for message in messages(code):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == expected, f"{code}: {message.id!r} -> {string!r}"


def _agrees_with_cldr(code: str, expression: str, count: int) -> None:
    import gettext

    locale = Locale.parse(code)
    evaluate = gettext.c2py(expression)  # a C expression; evaluated through gettext's own parser
    pairs = {(locale.plural_form(n), evaluate(n)) for n in range(1001)}
    categories = {category for category, _ in pairs}
    assert len(pairs) == len(categories) == count, f"{code}: {sorted(pairs)}"


@pytest.mark.parametrize("code", ALL_LANGUAGES)
def test_every_language_has_a_plural_rule_from_cldr(code: str) -> None:
    """Also for a catalog still to come: `lotse catalogs update` writes this rule into it."""
    rule = PLURAL_FORMS[code]
    count = int(re.search(r"nplurals=(\d+)", rule).group(1))  # type: ignore[union-attr]
    _agrees_with_cldr(code, rule.split("plural=", 1)[1].rstrip(";"), count)


@pytest.mark.parametrize("code", LANGUAGES)
def test_plural_forms_agree_with_cldr(code: str) -> None:
    """Same CLDR category <-> same gettext form, for every whole number up to 1000, and every form filled."""
    catalog = load(code)
    _agrees_with_cldr(code, catalog.plural_expr, catalog.num_plurals)
    assert catalog.plural_forms == PLURAL_FORMS[code]
    for message in messages(code):
        if isinstance(message.id, tuple):
            assert len(message.string) == catalog.num_plurals
            assert all(form.strip() for form in message.string)


@pytest.mark.parametrize("code", LANGUAGES)
def test_gnu_msgfmt_check_passes(code: str) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "GNU gettext's msgfmt is needed (Debian package gettext)"
    result = subprocess.run([msgfmt, "--check", "--statistics", "-o", "/dev/null", str(po_path(code))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr
    assert "warning" not in result.stderr, result.stderr


def test_the_committed_template_matches_a_fresh_extraction() -> None:
    with POT.open("rb") as handle:
        committed = {m.id for m in read_po(handle) if m.id}
    fresh = {m.id for m in extract() if m.id}
    assert fresh - committed == set(), "strings in the code but not in messages.pot: run `lotse catalogs update`"
    assert committed - fresh == set(), "strings in messages.pot no longer in the code: run `lotse catalogs update`"


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_catalog_carries_every_template_entry(code: str) -> None:
    with POT.open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert {m.id for m in messages(code)} == template


@pytest.mark.parametrize("code", LANGUAGES)
def test_german_terms_in_brackets_appear_in_every_translation(code: str) -> None:
    for message in messages(code):
        source = message.id if isinstance(message.id, str) else message.id[0]
        brackets = " ".join(re.findall(r"\(([^)]*)\)", source))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for term in GLOSSARY:
            if re.search(rf"\b{re.escape(term)}", brackets):
                assert all(term in s for s in strings), f"{code}: {term} missing in {strings!r}"


@pytest.mark.parametrize("code", [c for c in LANGUAGES if c != "en"])
def test_each_language_has_its_glossary(code: str) -> None:
    path = LOCALES_DIR / code / "glossary.toml"
    terms = tomllib.loads(path.read_text(encoding="utf-8"))["terms"]
    assert set(terms) == set(GLOSSARY)
    for term, rendering in terms.items():
        assert term.split()[0].rstrip("-") in rendering, f"{code}: {term} -> {rendering}"


def test_every_catalog_loads_and_translates() -> None:
    check_catalogs()
    for code in LANGUAGES:
        if code != "en":
            assert Translator(code)("Yes") != "Yes", code


def test_right_to_left_languages_are_known() -> None:
    assert {code for code in ALL_LANGUAGES if Locale.parse(code).text_direction == "rtl"} == RTL_LANGUAGES
    assert {code for code in LANGUAGES if Translator(code).rtl} == RTL_LANGUAGES & set(LANGUAGES)
    assert {"ar", "fa", "fa_AF", "ps"} <= set(LANGUAGES)


def test_every_catalog_on_disk_is_offered_and_only_arriving_ones_may_be_missing() -> None:
    on_disk = {path.parent.parent.name for path in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert on_disk == set(LANGUAGES)
    assert set(ALL_LANGUAGES) - set(LANGUAGES) <= ARRIVING


def test_platform_hints_find_dari_and_sorani_apart_from_persian_and_kurmanji() -> None:
    assert negotiate("fa-AF") == negotiate("prs") == "fa_AF"
    assert negotiate("fa") == negotiate("fa-IR") == "fa"
    assert negotiate("kmr") == "ku"
    # Sorani is no longer sent to Latin-script Kurmanji: its own catalog, or the language list
    assert negotiate("ckb") == ("ckb" if "ckb" in LANGUAGES else None)


def test_a_missing_catalog_stops_startup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.i18n as i18n

    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n._translations.cache_clear()
    try:
        with pytest.raises(i18n.CatalogMissing, match="the catalog for language 'de' is missing"):
            check_catalogs()
    finally:
        monkeypatch.undo()
        i18n._translations.cache_clear()


# ---------------------------------------------------------------------------------------------------------------
# Right to left that reads right: every entry of every right-to-left catalog, rendered by the Unicode bidi
# algorithm, shows commands, number groups, times, addresses and placeholder values in their own order.

ISOLATES = re.compile("[\u2066-\u2069]")
SAMPLE = "Ab 12"  # what a placeholder may hold: Latin letters and a group of digits, isolated as Translator does
_CHAR = r"A-Za-zÀ-ÿ0-9\u0660-\u0669\u06F0-\u06F9"
_WORD = rf"[/!+]?[{_CHAR}@](?:[{_CHAR}@._:+\-/]*[{_CHAR}])?"
LEFT_TO_RIGHT_RUN = re.compile(rf"{_WORD}(?: {_WORD})*")
"""A run that must read left to right: "/start Ab 12", "0151 23456789", "9:00-12:00", "a@b.example"."""


def reordered(template: str) -> list[str]:
    """The left-to-right runs of a message that the bidi algorithm shows in another order in a right-to-left line."""
    rendered = PLACEHOLDER.sub(f"\u2068{SAMPLE}\u2069", template)
    broken = []
    for line in rendered.split("\n"):
        visual = ISOLATES.sub("", get_display(line, base_dir="R"))
        broken += [run for run in LEFT_TO_RIGHT_RUN.findall(ISOLATES.sub("", line)) if run not in visual]
    return broken


def test_the_bidi_check_catches_what_readers_saw() -> None:
    assert reordered("اكتبوا /help لتروا ما أفهمه.") == ["/help"]
    assert reordered("لا أعرف الأمر /{command}.") == ["/Ab 12"]  # the slash outside the isolated value
    assert reordered("مثلًا 0151 23456789") == ["0151 23456789"]
    assert reordered("لا أعرف الأمر \u2068/{command}\u2069. اكتبوا \u2068/help\u2069.") == []
    assert reordered("مثلًا \u20680151 23456789\u2069 أو (Termin)") == []


@pytest.mark.parametrize("code", [code for code in LANGUAGES if code in RTL_LANGUAGES])
def test_right_to_left_entries_keep_commands_numbers_and_values_in_order(code: str) -> None:
    problems = []
    for message in messages(code):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            if broken := reordered(string):
                problems.append(f"{broken} in {string!r}")
    assert not problems, f"{code}: isolate these with U+2068...U+2069:\n" + "\n".join(problems)
