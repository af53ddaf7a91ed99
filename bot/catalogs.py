"""The gettext catalogs: extracting and updating them (`lotse catalogs update`) and the native speakers' review loop
(`lotse catalogs review LANG --output FILE.xlsx`, `lotse catalogs apply FILE.xlsx`, `lotse catalogs status`).

Review status lives in each entry's translator comments, which `update` keeps: an entry without a `reviewed:` line
is machine-drafted. The line carries a short hash of the translation it approved, so a later edit by hand makes the
entry count as unreviewed again; earlier translations stay below it as `previous:` lines, the history.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.core.i18n import ALL_LANGUAGES, LANGUAGES, LOCALES_DIR, RTL_LANGUAGES, catalog_path

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
    "fa_AF": "nplurals=2; plural=(n > 1);",
    "fr": "nplurals=2; plural=(n > 1);",
    "so": "nplurals=2; plural=(n != 1);",
    "ckb": "nplurals=2; plural=(n != 1);",
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
    return catalog_path(code)


def load(code: str) -> Catalog:
    with po_path(code).open("rb") as handle:
        return read_po(handle, locale=code)


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
        catalog.language_team = f"{ALL_LANGUAGES[code]} <translations@proconnect.example>"
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


# ---------------------------------------------------------------------------------------------------------------
# The review loop for native speakers

REVIEWED = "reviewed: "
PREVIOUS = "previous: "
REMARK = "reviewer: "
PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}")
HEADINGS = ("key", "form", "English", "Deutsch", "Translation", "Correction", "Correct as it is (x)", "Comment",
            "Status")


class ReviewError(Exception):
    """One line for the person running the command."""


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def fingerprint(message: Message) -> str:
    """A short hash of the translation as it stands; a review mark holds the one it approved."""
    return hashlib.sha256("\x00".join(_forms(message.string)).encode()).hexdigest()[:8]


def is_reviewed(message: Message) -> bool:
    marks = [c for c in message.user_comments if c.startswith(REVIEWED)]
    return bool(marks) and marks[-1].rsplit(" ", 1)[-1] == fingerprint(message)


def entries(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


@dataclass(frozen=True, slots=True)
class Share:
    code: str
    reviewed: int
    total: int


def review_status(codes: Iterable[str] | None = None) -> list[Share]:
    shares = []
    for code in codes if codes is not None else LANGUAGES:
        if code == "en" or not po_path(code).is_file():
            continue  # English is the source text
        messages = entries(load(code))
        shares.append(Share(code, sum(is_reviewed(m) for m in messages), len(messages)))
    return shares


def flow_of(message: Message) -> str:
    """The sheet an entry goes on: the source file that uses it first (`#:` comments), e.g. `appointments`."""
    files = sorted({Path(filename).with_suffix("").as_posix() for filename, _ in message.locations})
    return files[0] if files else "other"


def _sheet_titles(flows: Iterable[str]) -> dict[str, str]:
    flows = sorted(set(flows))
    stems = [flow.rsplit("/", 1)[-1] for flow in flows]
    return {flow: (stem if stems.count(stem) == 1 else flow.replace("/", "-"))[:31] for flow, stem in zip(flows, stems,
                                                                                                          strict=True)}


def write_review(code: str, output: Path) -> int:
    """A workbook for a native speaker: a sheet per flow, one row per translation (and per plural form)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    if code not in LANGUAGES or code == "en":
        choices = ", ".join(c for c in LANGUAGES if c != "en")
        raise ReviewError(f"no catalog to review for {code!r}; choose one of {choices}")
    catalog, english, german = load(code), load("en"), load("de")
    book = Workbook()
    about = book.active
    assert about is not None
    about.title = "About"
    about.append(["language", code])
    about.append(["language name", ALL_LANGUAGES[code]])
    about.append(["reviewer", ""])
    about.append([])
    for line in (
        "Thank you for reading these messages. Each sheet holds the messages of one part of Lotse.",
        "Write your name next to 'reviewer' above.",
        "Where a translation is wrong, unclear or impolite, write the better text in 'Correction'.",
        "Where it is right as it is, write x in 'Correct as it is (x)'. Use 'Comment' for anything else.",
        "Keep everything in curly brackets, like {date}, exactly as it is: Lotse puts the values there.",
        "Keep German terms in brackets, like (Termin), as the English text has them.",
    ):
        about.append([line])
    about.column_dimensions["A"].width = 24
    rtl = code in RTL_LANGUAGES
    groups: dict[str, list[Message]] = {}
    for message in entries(catalog):
        groups.setdefault(flow_of(message), []).append(message)
    titles = _sheet_titles(groups)
    rows = 0
    for flow in sorted(groups):
        sheet = book.create_sheet(titles[flow])
        sheet.append(list(HEADINGS))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for message in groups[flow]:
            key = json.dumps(message.id if isinstance(message.id, str) else list(message.id), ensure_ascii=False)
            in_english, in_german = english.get(message.id), german.get(message.id)
            sources = _forms(in_english.string if in_english is not None else message.id)
            germans = _forms(in_german.string if in_german is not None else "")
            for form, translation in enumerate(_forms(message.string)):
                source = sources[min(form, len(sources) - 1)] if sources else ""
                deutsch = germans[min(form, len(germans) - 1)] if germans else ""
                status = "reviewed" if is_reviewed(message) else "machine-drafted"
                sheet.append([key, form, source, deutsch, translation, "", "", "", status])
                rows += 1
                for cell in sheet[sheet.max_row]:
                    if isinstance(cell.value, str):
                        cell.data_type = "s"  # a text starting with "=" stays text, not a formula
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                if rtl:
                    for column in ("E", "F"):
                        sheet[f"{column}{sheet.max_row}"].alignment = Alignment(
                            wrap_text=True, vertical="top", horizontal="right", readingOrder=2)
        sheet.column_dimensions["A"].hidden = True
        sheet.column_dimensions["B"].width = 5
        for column in ("C", "D", "E", "F"):
            sheet.column_dimensions[column].width = 45
        sheet.column_dimensions["G"].width = 12
        sheet.column_dimensions["H"].width = 30
        sheet.column_dimensions["I"].width = 16
        sheet.freeze_panes = "C2"
    output.parent.mkdir(parents=True, exist_ok=True)
    book.save(output)
    return rows


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


@dataclass
class Applied:
    code: str
    corrected: int = 0
    confirmed: int = 0
    commented: int = 0
    rejected: list[str] = field(default_factory=list)


def apply_review(path: Path, today: date | None = None) -> Applied:
    """Takes a filled-in review workbook back into its catalog: corrections replace the translation (the old one is
    kept as a `previous:` comment), corrected and confirmed entries are marked reviewed, comments are kept."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    about = {str(row[0]).strip(): str(row[1] or "").strip() for row in book["About"].iter_rows(values_only=True)
             if row and row[0] and len(row) > 1}
    code = about.get("language", "")
    if code not in LANGUAGES or code == "en":
        raise ReviewError(f"{path}: the About sheet names no language with a catalog ({code!r})")
    reviewer = " ".join(about.get("reviewer", "").split()) or "native speaker"
    day = (today or datetime.now(UTC).date()).isoformat()
    catalog = load(code)
    result = Applied(code)
    touched: dict[str, Message] = {}
    for sheet in book.worksheets[1:]:
        for row in sheet.iter_rows(min_row=2, values_only=True):
            if not row or not row[0]:
                continue
            key, form, _source, _de, _translation, correction, confirmed, comment = (list(row) + [None] * 9)[:8]
            raw = json.loads(str(key))
            msgid = raw if isinstance(raw, str) else tuple(raw)
            message = catalog.get(msgid if isinstance(msgid, str) else msgid[0])
            if message is None:
                result.rejected.append(f"{sheet.title}: {str(key)[:60]} is no longer in the catalog")
                continue
            correction = str(correction or "").strip()
            confirmed = str(confirmed or "").strip()
            comment = " ".join(str(comment or "").split())
            forms = _forms(message.string)
            index = int(str(form or 0))
            if correction and correction != forms[index]:
                source = message.id if isinstance(message.id, str) else message.id[-1]
                if set(PLACEHOLDER.findall(correction)) != set(PLACEHOLDER.findall(source)):
                    result.rejected.append(f"{sheet.title}: the correction of {source[:60]!r} changes the "
                                           "{placeholders}; keep them exactly as in the English text")
                    continue
                message.user_comments.append(PREVIOUS + _one_line(forms[index]))
                forms[index] = correction
                message.string = forms[0] if isinstance(message.id, str) else tuple(forms)
                result.corrected += 1
                touched[json.dumps(message.id)] = message
            elif confirmed:
                result.confirmed += 1
                touched[json.dumps(message.id)] = message
            if comment:
                message.user_comments.append(f"{REMARK}{reviewer}: {comment}")
                result.commented += 1
    for message in touched.values():
        message.user_comments = [c for c in message.user_comments if not c.startswith(REVIEWED)]
        message.user_comments.append(f"{REVIEWED}{day}, {reviewer}, {fingerprint(message)}")
    write_catalog(po_path(code), catalog, width=0)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Names in the example network for a language that arrives with `locales/<code>/extras.toml`

EXAMPLE_NETWORK = ROOT / "bot" / "example_network.toml"


def merge_network_names(code: str, network: Path = EXAMPLE_NETWORK) -> int:
    """Adds `code = "..."` to each `name = {...}` of the network file from `[network_names.<section>] key = "..."`
    in the language's extras.toml; names already there stay. Returns how many were added."""
    import tomllib

    extras = tomllib.loads((catalog_path(code).parent.parent / "extras.toml").read_text(encoding="utf-8"))
    names: dict[str, dict[str, str]] = extras.get("network_names", {})
    section = ""
    added = 0
    lines = network.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        header = re.fullmatch(r"\[([\w.]+)\]\s*", line)
        if header:
            section = header.group(1)
            continue
        kind, _, key = section.partition(".")
        value = names.get(kind, {}).get(key)
        if line.startswith("name = {") and line.rstrip().endswith("}") and value and f" {code} = " not in line:
            lines[number] = line.rstrip()[:-1].rstrip() + f", {code} = {json.dumps(value, ensure_ascii=False)} }}"
            added += 1
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # still a valid file
    network.write_text(text, encoding="utf-8")
    return added


# ---------------------------------------------------------------------------------------------------------------
# Dari drafts from Persian, for strings added after the Dari catalog was made

DARI_WORDS = (
    ("شماره تلفن", "نمبر تیلفون"), ("تلفن", "تیلفون"), ("اطلاعات", "معلومات"), ("اطلاعاتم", "معلوماتم"),
    ("اطلاعات‌تان", "معلومات‌تان"), ("اطلاعاتش", "معلوماتش"), ("بخش", "ولسوالی"), ("بخش‌ها", "ولسوالی‌ها"),
    ("بخشی", "ولسوالی‌ای"), ("کلاس", "کورس"), ("کلاس‌ها", "کورس‌ها"), ("کلاس‌های", "کورس‌های"), ("کلاسی", "کورسی"),
    ("بله", "بلی"), ("سپاس", "تشکر"), ("ممنون", "تشکر"), ("الان", "حالا"), ("اتوبوس", "بس"), ("مدرسه", "مکتب"),
    ("گواهینامه رانندگی", "لایسنس رانندگی"), ("کامپیوتر", "کمپیوتر"), ("دانشگاه", "پوهنتون"), ("دکتر", "داکتر"),
    ("بیمارستان", "شفاخانه"), ("استان", "ولایت"),
)
"""Iranian word -> the word Afghans read, whole words only (the zero-width non-joiner belongs to the word)."""


def to_dari(text: str) -> str:
    for iranian, dari in DARI_WORDS:
        text = re.sub(rf"(?<![\w\u200c]){re.escape(iranian)}(?![\w\u200c])", dari, text)
    return text


def draft_dari_from_persian() -> int:
    """Fills the empty entries of the Dari catalog from the Persian one with Dari words; returns how many. Run it
    after `lotse catalogs update` when code added strings, then read what it wrote (still machine-drafted)."""
    dari, persian = load("fa_AF"), load("fa")
    filled = 0
    for message in entries(dari):
        source = persian.get(message.id)
        if source is None or any(_forms(message.string)) or not any(_forms(source.string)):
            continue
        forms = [to_dari(form) for form in _forms(source.string)]
        message.string = forms[0] if isinstance(message.id, str) else tuple(forms)
        filled += 1
    write_catalog(po_path("fa_AF"), dari, width=0)
    return filled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("update", help="developers: refresh messages.pot and merge it into every .po")
    review = actions.add_parser("review", help="a workbook for a native speaker to check one language")
    review.add_argument("language", help="language code, e.g. ar or fa_AF")
    review.add_argument("--output", type=Path, required=True, help="the .xlsx file to write")
    apply = actions.add_parser("apply", help="take a filled-in review workbook back into its catalog")
    apply.add_argument("file", type=Path)
    actions.add_parser("status", help="the share of entries a native speaker has reviewed, per language")
    names = actions.add_parser("network-names", help="add a language's names from locales/<code>/extras.toml to "
                                                    "bot/example_network.toml")
    names.add_argument("language")
    actions.add_parser("dari-drafts", help="fill empty Dari entries from Persian with Dari words, after an update")


def run(args: argparse.Namespace) -> None:
    try:
        if args.action == "update":
            update()
        elif args.action == "review":
            rows = write_review(args.language, args.output)
            print(f"{args.output}: {rows} translations of {ALL_LANGUAGES[args.language]} to review")
        elif args.action == "apply":
            applied = apply_review(args.file)
            print(f"{applied.code}: {applied.corrected} corrected, {applied.confirmed} confirmed, "
                  f"{applied.commented} comments kept")
            for problem in applied.rejected:
                print(f"  not taken: {problem}")
        elif args.action == "network-names":
            print(f"{merge_network_names(args.language)} names in {ALL_LANGUAGES[args.language]} added")
        elif args.action == "dari-drafts":
            print(f"{draft_dari_from_persian()} Dari entries drafted from Persian; read them before committing")
        elif args.action == "status":
            for share in review_status():
                percent = 100 * share.reviewed // share.total if share.total else 0
                state = "reviewed by a native speaker" if share.reviewed == share.total else "needs a native review"
                print(f"{share.code:6} {ALL_LANGUAGES[share.code]:18} {share.reviewed:4}/{share.total} reviewed "
                      f"({percent}%)  {state}")
    except ReviewError as error:
        raise SystemExit(str(error)) from None
