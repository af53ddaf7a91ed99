"""Extracting and updating the gettext catalogs (developer commands `lotse catalogs extract|update`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parent
KEYWORDS = {"N_": None, "NP_": (1, 2)}
POT = LOCALES_DIR / "messages.pot"

# gettext plural rules matching CLDR's categories for whole numbers. Babel's own table is wrong for Arabic
# (100-102) and gives Persian and Turkish one form where CLDR has two; the catalog tests check these rules.
PLURAL_FORMS = {
    "de": "nplurals=2; plural=(n != 1);",
    "en": "nplurals=2; plural=(n != 1);",
    "ar": "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);",
    "fa": "nplurals=2; plural=(n > 1);",
    "ps": "nplurals=2; plural=(n != 1);",
    "ku": "nplurals=2; plural=(n != 1);",
    "ti": "nplurals=2; plural=(n > 1);",
    "uk": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "ru": "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);",
    "tr": "nplurals=2; plural=(n != 1);",
}


def extract() -> Catalog:
    """A fresh template from the source: the strings the code uses now."""
    catalog = Catalog(project="lotse", version="0.1", msgid_bugs_address="translations@proconnect.example",
                      copyright_holder="pro:connect e.V.", charset="utf-8")
    method_map = [("bot/**.py", "python"), ("flows/**.py", "python"), ("storage/**.py", "python")]
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


# Catalogs are written sorted by message, with file names but no line numbers and a fixed date in the header, so
# that two branches adding strings touch different lines and a change of code never rewrites every catalog.
STABLE_DATE = datetime(2026, 12, 1, tzinfo=UTC)


def write_catalog(path: Path, catalog: Catalog, width: int) -> None:
    catalog.creation_date = STABLE_DATE
    catalog.revision_date = STABLE_DATE
    with path.open("wb") as handle:
        write_po(handle, catalog, width=width, omit_header=False, sort_output=True, include_lineno=False)


def write_template(catalog: Catalog) -> None:
    write_catalog(POT, catalog, width=110)


def po_path(code: str) -> Path:
    return LOCALES_DIR / code / "LC_MESSAGES" / "messages.po"


def update() -> None:
    """Rewrites the template and merges it into every language's catalog (new strings appear untranslated)."""
    template = extract()
    write_template(template)
    for code in LANGUAGES:
        path = po_path(code)
        if path.is_file():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=code)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=code, project="lotse", version="0.1", charset="utf-8")
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.last_translator = "Lotse translators <translations@proconnect.example>"
        catalog.language_team = f"{LANGUAGES[code]} <translations@proconnect.example>"
        catalog.copyright_holder = "pro:connect e.V."
        catalog.msgid_bugs_address = "translations@proconnect.example"
        headers = [(k, v) for k, v in catalog.mime_headers if k.lower() != "plural-forms"]
        catalog.mime_headers = [*headers, ("Plural-Forms", PLURAL_FORMS[code])]
        if code == "en":  # the source language: msgstr is the msgid
            for message in catalog:
                untranslated = not message.string or (isinstance(message.string, tuple) and not any(message.string))
                if message.id and untranslated:
                    message.string = message.id
        write_catalog(path, catalog, width=0)
