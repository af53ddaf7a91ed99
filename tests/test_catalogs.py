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
from bot.core.i18n import (
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
    import bot.core.i18n as i18n

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


# ---------------------------------------------------------------------------------------------------------------
# One word per concept: each language's glossary names the word it uses and the words it avoids.

REQUIRED_CONCEPTS = {"consent", "coordinator", "appointment", "stage"}


def concepts(code: str) -> dict[str, dict[str, object]]:
    data = tomllib.loads((LOCALES_DIR / code / "glossary.toml").read_text(encoding="utf-8"))
    return dict(data.get("concepts", {}))


def avoided_in(text: str, word: str) -> bool:
    """A whole word (letters and the zero-width non-joiner of Persian script belong to the word), case-sensitive."""
    return re.search(rf"(?<![\w\u200c]){re.escape(word)}(?![\w\u200c])", text) is not None


def test_an_avoided_word_is_found_as_a_word_only() -> None:
    assert avoided_in("Ihre Zustimmung wurde gespeichert.", "Zustimmung")
    assert not avoided_in("Sie haben zugestimmt, Zustimmungen", "Zustimmung")
    assert avoided_in("نحن في قرار", "قرار") and not avoided_in("قرارداد آموزش", "قرار")
    assert not avoided_in("Как у Вас дела?", "вас")


@pytest.mark.parametrize("code", [c for c in LANGUAGES if c != "en" and (LOCALES_DIR / c / "glossary.toml").is_file()])
def test_every_translation_keeps_to_the_glossary_words(code: str) -> None:
    found = concepts(code)
    missing = REQUIRED_CONCEPTS - set(found)
    assert not missing, f"{code}: glossary.toml needs [concepts.*] for {missing}"
    problems = []
    for name, concept in found.items():
        assert str(concept["use"]).strip(), f"{code}: {name} has no word to use"
        for word in concept.get("avoid", []):  # type: ignore[attr-defined]
            for message in messages(code):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                if any(avoided_in(string, word) for string in strings):
                    problems.append(f"{name}: {word!r} (use {concept['use']!r}) in {strings[0]!r}")
    assert not problems, f"{code}:\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------------
# The review loop: a workbook for a native speaker, corrections back into the catalog, the share reviewed.


def test_a_native_speaker_reviews_a_catalog_in_a_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import load_workbook

    import bot.core.i18n as i18n
    from bot import catalogs

    shutil.copytree(LOCALES_DIR, tmp_path / "locales")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path / "locales")
    assert catalogs.review_status(["ar"])[0].reviewed == 0  # everything is machine-drafted today

    sheet_file = tmp_path / "ar.xlsx"
    rows = catalogs.write_review("ar", sheet_file)
    book = load_workbook(sheet_file)
    assert "onboarding" in book.sheetnames and "About" in book.sheetnames
    sheet = book["onboarding"]
    headings = [cell.value for cell in sheet[1]]
    assert headings[2:8] == ["English", "Deutsch", "Translation", "Correction", "Correct as it is (x)", "Comment"]
    assert rows >= len(messages("ar"))
    by_english = {row[2].value: row for row in sheet.iter_rows(min_row=2)}
    yes = by_english["Please choose your language."]
    assert yes[3].value == "Bitte wählen Sie Ihre Sprache."
    yes[5].value = "اختاروا لغتكم من فضلكم."
    yes[7].value = "أوضح هكذا"
    more = by_english["More languages"]
    more[6].value = "x"
    book["About"]["B3"] = "Amal H."
    broken = by_english["From now on I will write to you in {language}."]
    broken[5].value = "من الآن سأكتب لكم بالعربية."  # drops {language}: not taken
    book.save(sheet_file)

    applied = catalogs.apply_review(sheet_file, today=__import__("datetime").date(2026, 12, 2))
    assert (applied.corrected, applied.confirmed, applied.commented) == (1, 1, 1)
    assert len(applied.rejected) == 1 and "{placeholders}" in applied.rejected[0]

    catalog = catalogs.load("ar")
    corrected = catalog.get("Please choose your language.")
    assert corrected.string == "اختاروا لغتكم من فضلكم."
    assert any(c.startswith("previous: ") for c in corrected.user_comments)  # the history stays in the .po
    assert any(c.startswith("reviewer: Amal H.: ") for c in corrected.user_comments)
    assert catalogs.is_reviewed(corrected) and catalogs.is_reviewed(catalog.get("More languages"))
    assert not catalogs.is_reviewed(catalog.get("From now on I will write to you in {language}."))
    assert catalogs.review_status(["ar"])[0].reviewed == 2

    catalogs.update()  # the review marks survive a refresh of the catalogs
    assert catalogs.is_reviewed(catalogs.load("ar").get("Please choose your language."))
    assert catalogs.review_status(["ar"])[0].reviewed == 2
    corrected = catalogs.load("ar").get("More languages")
    corrected.string = "لغات أخرى كثيرة"  # edited by hand afterwards: no longer counts as reviewed
    assert not catalogs.is_reviewed(corrected)


def test_names_for_an_arriving_language_go_into_the_network_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.core.i18n as i18n
    from bot import catalogs
    from bot.core.network import EXAMPLE_NETWORK

    (tmp_path / "so").mkdir()
    (tmp_path / "so" / "extras.toml").write_text('name = "Soomaali"\n[network_names.districts]\n'
                                                 'stadt_oldenburg = "Oldenburg (magaalo, Stadt)"\n', encoding="utf-8")
    network = tmp_path / "network.toml"
    # the shipped file has the Somali names already: take them out, as before Somali arrived
    network.write_text(re.sub(r', so = "[^"]*"', "", EXAMPLE_NETWORK.read_text(encoding="utf-8")), encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    assert catalogs.merge_network_names("so", network) == 1
    assert catalogs.merge_network_names("so", network) == 0  # once only
    names = tomllib.loads(network.read_text(encoding="utf-8"))["districts"]["stadt_oldenburg"]["name"]
    assert names["so"] == "Oldenburg (magaalo, Stadt)" and names["de"] == "Stadt Oldenburg"


def test_dari_drafts_for_new_strings_use_the_words_afghans_read(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.core.i18n as i18n
    from bot import catalogs

    assert catalogs.to_dari("اطلاعات شما در بخش و کلاس زبان، بله") == "معلومات شما در ولسوالی و کورس زبان، بلی"
    assert catalogs.to_dari("قرارداد و بخش‌بندی") == "قرارداد و بخش‌بندی"  # whole words only
    shutil.copytree(LOCALES_DIR, tmp_path / "locales")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path / "locales")
    dari = catalogs.load("fa_AF")
    dari.get("More languages").string = ""  # as after `lotse catalogs update` with a new string
    catalogs.write_catalog(catalogs.po_path("fa_AF"), dari, width=0)
    assert catalogs.draft_dari_from_persian() == 1
    assert catalogs.load("fa_AF").get("More languages").string == catalogs.load("fa").get("More languages").string
