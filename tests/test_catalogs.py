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

from bot.catalogs import POT, extract, po_path
from bot.i18n import LANGUAGES, LOCALES_DIR, Translator, check_catalogs

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


@pytest.mark.parametrize("code", LANGUAGES)
def test_plural_forms_agree_with_cldr(code: str) -> None:
    """Same CLDR category <-> same gettext form, for every whole number up to 1000, and every form filled."""
    catalog = load(code)
    locale = Locale.parse(code)
    form_of = catalog.plural_expr  # a C expression; evaluate it through gettext's own parser
    import gettext

    evaluate = gettext.c2py(form_of)
    pairs = {(locale.plural_form(n), evaluate(n)) for n in range(1001)}
    categories = {category for category, _ in pairs}
    assert len(pairs) == len(categories) == catalog.num_plurals, f"{code}: {sorted(pairs)}"
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
    assert [code for code in LANGUAGES if Translator(code).rtl] == ["ar", "fa", "ps"]


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
