"""`lotse import appointments|courses|participants FILE`: bookings, courses and participant lists, row by row checked.

Every line is checked before anything is written: a wrong header, a file that is not text, or more than
`MAX_ROWS` lines refuses the whole file with one line. Otherwise each good line is imported and each bad line is
reported with its number and the reason, all in one transaction: a crash imports nothing, never half a file,
and never half a line. A line that was imported before (same participant, kind and time; the same enrolment) is
reported as "already imported" and skipped, so a corrected file can simply be imported again.

Files from Excel are welcome: UTF-8 with or without BOM, or Windows-1252/Latin-1 (read when the bytes are not
UTF-8); comma or semicolon; German or English column names.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.network import Network
from bot.core.notify import enqueue
from bot.services.reminders import appointment_key, load_event, plan
from storage.models import Appointment, AuditEntry, Course, DuplicateSuggestion, Person, Profile

MAX_ROWS = 10_000
"""A bigger file is refused as a whole: split it. Each line notifies a person, so a slip should stay small."""
MAX_BYTES = 5_000_000
ZONE = "Europe/Berlin"

APPOINTMENT_COLUMNS = {
    "participant": ("participant", "teilnehmer", "teilnehmerin", "teilnehmende", "nr", "number", "nummer"),
    "kind": ("kind", "art", "typ", "type"),
    "date": ("date", "datum", "tag"),
    "time": ("time", "uhrzeit", "zeit"),
    "place": ("place", "ort", "adresse"),
    "note": ("note", "hinweis", "notiz", "bemerkung"),
    "coordinator": ("coordinator", "koordinator", "koordinatorin", "gebucht von", "booked by"),
}
APPOINTMENT_REQUIRED = ("participant", "kind", "date", "time", "place")
KIND_ALIASES = {
    "jobcenter": "jobcenter", "job centre": "jobcenter", "job center": "jobcenter",
    "counselling": "counselling", "counseling": "counselling", "beratung": "counselling",
    "potential_check": "potential_check", "potential check": "potential_check", "potenzialcheck": "potential_check",
    "kompetenz- und potenzialcheck": "potential_check",
    "matching": "matching", "internship": "internship", "hospitation": "internship", "praktikum": "internship",
    "other": "other", "sonstiges": "other", "andere": "other", "termin": "other",
}
COURSE_COLUMNS = {
    "course": ("course", "kurs", "name"),
    "level": ("level", "niveau", "stufe"),
    "place": ("place", "ort"),
    "weekdays": ("weekdays", "wochentage", "tage", "days"),
    "start": ("start", "beginn", "von", "from"),
    "end": ("end", "ende", "bis", "to"),
    "first_day": ("first_day", "first day", "erster tag", "startdatum", "start date"),
    "last_day": ("last_day", "last day", "letzter tag", "enddatum", "end date"),
    "participant": ("participant", "teilnehmer", "teilnehmerin", "teilnehmende", "nr"),
    "cancelled": ("cancelled", "canceled", "ausfall", "fällt aus", "faellt aus", "abgesagt"),
    "coordinator": ("coordinator", "koordinator", "koordinatorin"),
}
COURSE_REQUIRED = ("course", "level", "place", "weekdays", "start", "end", "first_day", "last_day")
WEEKDAY_NAMES = {
    "mo": 0, "mon": 0, "montag": 0, "monday": 0, "di": 1, "tue": 1, "dienstag": 1, "tuesday": 1,
    "mi": 2, "wed": 2, "mittwoch": 2, "wednesday": 2, "do": 3, "thu": 3, "donnerstag": 3, "thursday": 3,
    "fr": 4, "fri": 4, "freitag": 4, "friday": 4, "sa": 5, "sat": 5, "samstag": 5, "saturday": 5,
    "so": 6, "sun": 6, "sonntag": 6, "sunday": 6,
}
LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")


class ImportRefused(Exception):
    """The whole file cannot be read as what was asked for; one line for the operator, nothing imported."""


@dataclass
class ImportReport:
    what: str
    encoding: str = ""
    imported: int = 0
    told: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    already: list[int] = field(default_factory=list)

    def lines(self, path: Path) -> list[str]:
        head = (f"imported {self.imported} {self.what} from {path} ({self.encoding}); "
                f"{self.told} message(s) to participants queued")
        out = [head]
        if self.already:
            out.append(f"{len(self.already)} line(s) already imported before, skipped: "
                       f"{', '.join(str(n) for n in self.already[:20])}{' ...' if len(self.already) > 20 else ''}")
        if self.rejected:
            out.append(f"{len(self.rejected)} line(s) rejected, nothing of them imported:")
            out += [f"  line {number}: {reason}" for number, reason in self.rejected[:200]]
            if len(self.rejected) > 200:
                out.append(f"  ... and {len(self.rejected) - 200} more")
        return out


# ---------------------------------------------------------------------------------------------------------------
# Reading the file


def _xlsx_as_csv(path: Path) -> bytes:
    """An Excel sheet's first worksheet as CSV bytes, so one reader checks both kinds of file."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise ImportRefused(f"{path} is not a readable Excel file ({type(error).__name__})") from None
    sheet = book.worksheets[0]
    out = io.StringIO()
    writer = csv.writer(out)
    for count, row in enumerate(sheet.iter_rows(values_only=True)):
        if count > MAX_ROWS + 1:
            break
        writer.writerow(["" if cell is None else cell.strftime("%Y-%m-%d") if isinstance(cell, datetime | date)
                         else str(cell) for cell in row])
    book.close()
    return out.getvalue().encode()


def read_rows(path: Path, columns: dict[str, tuple[str, ...]],
              required: Sequence[str]) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """(encoding, [(line number, {column: value})]); raises `ImportRefused` for a file that cannot be used."""
    try:
        raw = _xlsx_as_csv(path) if path.suffix.casefold() in (".xlsx", ".xlsm") else path.read_bytes()
    except OSError as error:
        raise ImportRefused(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_BYTES:
        raise ImportRefused(f"{path} is {len(raw) // 1_000_000} MB; the limit is {MAX_BYTES // 1_000_000} MB "
                            f"({MAX_ROWS} lines): please split it")
    if b"\x00" in raw[:10_000]:
        raise ImportRefused(f"{path} is not a CSV text file (it contains binary data); save it as CSV")
    if raw.startswith(b"\xef\xbb\xbf"):
        text, encoding = raw[3:].decode("utf-8", errors="strict"), "UTF-8 with BOM"
    else:
        try:
            text, encoding = raw.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            text, encoding = raw.decode("cp1252", errors="replace"), "Windows-1252/Latin-1"
    if not text.strip():
        raise ImportRefused(f"{path} is empty")
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ImportRefused(f"{path} has no header line") from None
    names = [cell.strip().casefold() for cell in header]
    positions: dict[str, int] = {}
    for key, aliases in columns.items():
        for index, name in enumerate(names):
            if name in aliases:
                positions.setdefault(key, index)
    missing = [key for key in required if key not in positions]
    if missing:
        raise ImportRefused(f"{path}: the header must name the columns {', '.join(required)} "
                            f"(optional: {', '.join(k for k in columns if k not in required)}); "
                            f"missing: {', '.join(missing)}; found: {', '.join(header) or 'nothing'}")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportRefused(f"{path} has more than {MAX_ROWS} lines; nothing was imported: please split it")
            values = {key: (record[index].strip() if index < len(record) else "") for key, index in positions.items()}
            rows.append((reader.line_num, values))
    except csv.Error as error:
        raise ImportRefused(f"{path} line {reader.line_num}: not valid CSV ({error})") from None
    return encoding, rows


_DAY_FORMS = (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"))


def parse_day(text: str) -> date:
    dotted, iso = (form.match(text.strip()) for form in _DAY_FORMS)
    try:
        if dotted:
            return date(int(dotted.group(3)), int(dotted.group(2)), int(dotted.group(1)))
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    except ValueError:
        raise ValueError(f"no such date {text!r}") from None
    raise ValueError(f"bad date {text!r} (write 24.11.2026 or 2026-11-24)")


def parse_clock(text: str) -> time:
    found = re.match(r"^(\d{1,2})[:.](\d{2})(?:\s*uhr)?$", text.strip().casefold())
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise ValueError(f"bad time {text!r} (write 10:30)")
    return time(int(found.group(1)), int(found.group(2)))


async def _person(session: AsyncSession, text: str, roles: tuple[str, ...], cache: dict[str, Person | None],
                  ) -> Person | None:
    """A person by number ("12", "#12") or by exact, unique display name."""
    key = text.strip().lstrip("#").casefold()
    if key in cache:
        return cache[key]
    found: Person | None = None
    if key.isdigit() and len(key) < 10:
        person = await session.get(Person, int(key))
        found = person if person is not None and person.role in roles else None
    elif key:
        people = (await session.scalars(select(Person).where(Person.role.in_(roles)))).all()
        named = [p for p in people if (p.display_name or "").casefold() == key]
        found = named[0] if len(named) == 1 else None
    cache[key] = found
    return found


# ---------------------------------------------------------------------------------------------------------------
# Appointments


async def import_appointments(sessions: async_sessionmaker[AsyncSession], path: Path, now: datetime) -> ImportReport:
    encoding, rows = read_rows(path, APPOINTMENT_COLUMNS, APPOINTMENT_REQUIRED)
    report = ImportReport("appointment(s)", encoding)
    async with sessions() as session, session.begin():
        people: dict[str, Person | None] = {}
        staff: dict[str, Person | None] = {}
        seen: dict[tuple[int, str, datetime], int] = {}
        for number, values in rows:
            try:
                participant = await _person(session, values["participant"], ("participant",), people)
                if participant is None:
                    raise ValueError(f"unknown participant {values['participant'][:40]!r} (use the number)")
                kind = KIND_ALIASES.get(values["kind"].strip().casefold())
                if kind is None:
                    known = ", ".join(sorted(set(KIND_ALIASES.values())))
                    raise ValueError(f"unknown kind {values['kind'][:40]!r} (one of {known})")
                zone = ZoneInfo(participant.time_zone or ZONE)
                starts_at = datetime.combine(parse_day(values["date"]), parse_clock(values["time"]),
                                             tzinfo=zone).astimezone(UTC)
                if starts_at <= now:
                    raise ValueError("the date is in the past")
                if starts_at - now > timedelta(days=2 * 366):
                    raise ValueError("the date is more than two years ahead")
                place = values["place"][:200]
                if not any(ch.isalnum() for ch in place):
                    raise ValueError("no place given")
                booked_by: Person | None = None
                if values.get("coordinator"):
                    booked_by = await _person(session, values["coordinator"], ("coordinator", "admin"), staff)
                    if booked_by is None:
                        raise ValueError(f"unknown coordinator {values['coordinator'][:40]!r}")
            except ValueError as error:
                report.rejected.append((number, str(error)))
                continue
            identity = (participant.id, kind, starts_at)
            if identity in seen:
                report.rejected.append((number, f"duplicate of line {seen[identity]}"))
                continue
            seen[identity] = number
            existing = await session.scalar(select(Appointment.id).where(
                Appointment.participant_id == participant.id, Appointment.kind == kind,
                Appointment.starts_at == starts_at, Appointment.status == "scheduled"))
            if existing is not None:
                report.already.append(number)
                continue
            appointment = Appointment(participant_id=participant.id, booked_by_id=booked_by.id if booked_by else None,
                                      kind=kind, starts_at=starts_at, place=place,
                                      note=(values.get("note") or "")[:500] or None, status="scheduled",
                                      created_at=now, updated_at=now)
            session.add(appointment)
            await session.flush()
            await plan(session, participant, appointment_key(appointment.id), starts_at, now, new_event=True)
            event = await load_event(session, appointment_key(appointment.id))
            assert event is not None
            from flows.appointments import BOOKED, notice_for

            messages = await notice_for(session, participant, BOOKED, event)
            enqueue(session, messages, now)
            report.imported += 1
            report.told += len(messages)
        session.add(AuditEntry(action="appointments.imported", details={
            "file": path.name, "imported": report.imported, "rejected": len(report.rejected)}))
    return report


# ---------------------------------------------------------------------------------------------------------------
# Courses


def parse_weekdays(text: str) -> list[int]:
    days: list[int] = []
    for part in re.split(r"[\s,;/+&]+|\bund\b|\band\b", text.strip().casefold()):
        if not part:
            continue
        number = WEEKDAY_NAMES.get(part.rstrip("."))
        if number is None:
            raise ValueError(f"unknown weekday {part[:20]!r} (write Mo, Di, Mi ... or Mon, Tue, Wed ...)")
        if number not in days:
            days.append(number)
    if not days:
        raise ValueError("no weekdays given")
    return sorted(days)


async def import_courses(sessions: async_sessionmaker[AsyncSession], path: Path, now: datetime) -> ImportReport:
    """One line per participant and course (or a course line without a participant); lines with the same course
    name, level and first day describe one course and must agree on its schedule."""
    from bot.services.courses import create_course, enrol, enrolment_notice

    encoding, rows = read_rows(path, COURSE_COLUMNS, COURSE_REQUIRED)
    report = ImportReport("line(s) of courses", encoding)
    async with sessions() as session, session.begin():
        people: dict[str, Person | None] = {}
        staff: dict[str, Person | None] = {}
        courses: dict[tuple[str, str, str], tuple[tuple[object, ...], Course, int]] = {}
        enrolled: dict[tuple[int, int], int] = {}
        for number, values in rows:
            try:
                name = values["course"][:200]
                if not any(ch.isalnum() for ch in name):
                    raise ValueError("no course name given")
                level = values["level"].strip().upper()
                if level not in LEVELS:
                    raise ValueError(f"unknown level {values['level'][:10]!r} (one of {', '.join(LEVELS)})")
                place = values["place"][:200]
                if not any(ch.isalnum() for ch in place):
                    raise ValueError("no place given")
                weekdays = parse_weekdays(values["weekdays"])
                start, end = parse_clock(values["start"]), parse_clock(values["end"])
                if end <= start:
                    raise ValueError("the course ends before it starts")
                first, last = parse_day(values["first_day"]), parse_day(values["last_day"])
                if last < first:
                    raise ValueError("the last day is before the first day")
                if (last - first).days > 2 * 366:
                    raise ValueError("the course is longer than two years")
                cancelled = [parse_day(part) for part in re.split(r"[\s,;]+", values.get("cancelled", "")) if part]
                participant: Person | None = None
                if values.get("participant"):
                    participant = await _person(session, values["participant"], ("participant",), people)
                    if participant is None:
                        raise ValueError(f"unknown participant {values['participant'][:40]!r} (use the number)")
                runner: Person | None = None
                if values.get("coordinator"):
                    runner = await _person(session, values["coordinator"], ("coordinator", "admin"), staff)
                    if runner is None:
                        raise ValueError(f"unknown coordinator {values['coordinator'][:40]!r}")
            except ValueError as error:
                report.rejected.append((number, str(error)))
                continue
            key = (name.casefold(), level, first.isoformat())
            shape = (place, tuple(weekdays), start, end, last, tuple(sorted(cancelled)))
            if key in courses and courses[key][0] != shape:
                report.rejected.append((number, f"course {name!r} is described differently on line {courses[key][2]}"))
                continue
            if key not in courses:
                course = (await session.scalars(select(Course).where(
                    Course.name == name, Course.level == level, Course.first_day == first.isoformat()))).first()
                if course is None:
                    course = await create_course(session, name, level, place, weekdays, start, end, first, last,
                                                 runner.id if runner else None)
                    await _cancel_days(session, course, cancelled)
                    report.imported += 1 if participant is None else 0
                courses[key] = (shape, course, number)
            course = courses[key][1]
            if participant is None:
                continue
            pair = (course.id, participant.id)
            if pair in enrolled:
                report.rejected.append((number, f"duplicate of line {enrolled[pair]}"))
                continue
            enrolled[pair] = number
            if not await enrol(session, course, participant, now):
                report.already.append(number)
                continue
            messages = await enrolment_notice(session, course, participant, now)
            enqueue(session, messages, now)
            report.imported += 1
            report.told += len(messages)
        session.add(AuditEntry(action="courses.imported", details={
            "file": path.name, "imported": report.imported, "rejected": len(report.rejected)}))
    return report


async def _cancel_days(session: AsyncSession, course: Course, days: list[date]) -> None:
    """Sessions on the listed days (holidays) are written as cancelled from the start: nobody is told."""
    if not days:
        return
    from storage.models import CourseSession

    zone = ZoneInfo(course.time_zone)
    for course_session in (await session.scalars(select(CourseSession).where(
            CourseSession.course_id == course.id))).all():
        if course_session.starts_at.astimezone(zone).date() in days:
            course_session.status = "cancelled"
    await session.flush()


# ---------------------------------------------------------------------------------------------------------------
# Participants: an organisation's existing list, matched against the people Lotse knows (issue 15)

PARTICIPANT_COLUMNS = {
    "name": ("name", "vollständiger name", "full name", "teilnehmer", "teilnehmerin"),
    "phone": ("phone", "telefon", "handy", "mobil", "telefonnummer", "mobile"),
    "district": ("district", "landkreis", "kreis", "wohnort", "region", "bezirk"),
    "language": ("language", "sprache", "muttersprache"),
    "goals": ("goals", "ziele", "ziel", "goal", "interessen"),
    "german": ("german level", "german", "deutsch", "deutschniveau", "sprachniveau", "niveau"),
    "stage": ("stage", "stand", "status", "phase"),
    "birth_year": ("birth year", "geburtsjahr", "year of birth", "jahrgang"),
    "start": ("start", "earliest start", "start date", "frühester beginn", "beginn", "eintritt"),
}
PARTICIPANT_REQUIRED = ("name", "district")


@dataclass
class ParticipantRow:
    line: int
    name: str
    district: str
    phone: str | None
    locale: str | None
    goals: list[str]
    german: str | None
    stage: str
    birth_year: int | None
    start: date | None


@dataclass
class ParticipantReport:
    encoding: str = ""
    dry_run: bool = False
    created: list[tuple[int, int]] = field(default_factory=list)
    """(line, new person number)"""
    linked: list[tuple[int, int, str]] = field(default_factory=list)
    """(line, existing person number, why)"""
    suggested: list[tuple[int, int, int, str]] = field(default_factory=list)
    """(line, new person number, possibly the same as, why)"""
    rejected: list[tuple[int, str]] = field(default_factory=list)
    told: int = 0

    def lines(self, path: Path) -> list[str]:
        if self.rejected:
            out = [f"{path} ({self.encoding}): {len(self.rejected)} line(s) need a correction; nothing was "
                   "imported:"]
            out += [f"  line {number}: {reason}" for number, reason in self.rejected[:200]]
            if len(self.rejected) > 200:
                out.append(f"  ... and {len(self.rejected) - 200} more")
            return out
        verb = "would be" if self.dry_run else "were"
        out = [f"{path} ({self.encoding}){' (dry run: nothing was written)' if self.dry_run else ''}: "
               f"{len(self.created)} new participant(s) {verb} created, {len(self.linked)} line(s) {verb} linked to "
               f"people Lotse knows, {len(self.suggested)} possible duplicate(s) {verb} given to the coordinators"]
        out += [f"  line {line}: the same person as no. {number} ({why}): linked" for line, number, why in self.linked]
        out += [f"  line {line}: new no. {new}, possibly the same person as no. {other} ({why}): the responsible "
                "coordinators decide (/duplicates)" for line, new, other, why in self.suggested]
        if not self.dry_run and self.created:
            out.append("  new participants have no chat yet: when they write to Lotse with the same phone "
                       "number, their coordinators are asked to join the two records")
        return out


def _lookup(network: Network, text: str, kind: str) -> str | None:
    """A district or topic by its key or by its name in any language."""
    wanted = text.strip().casefold()
    places = network.districts if kind == "district" else network.topics
    for key, place in places.items():
        if wanted == key.casefold() or wanted in (name.casefold() for name in place.name.names.values()):
            return key
    return None


def _language(text: str) -> str | None:
    from bot.core.i18n import ALL_LANGUAGES

    wanted = text.strip().casefold().replace("-", "_")
    english = {"german": "de", "english": "en", "arabic": "ar", "persian": "fa", "farsi": "fa", "dari": "fa_AF",
               "pashto": "ps", "kurmanji": "ku", "kurdish": "ku", "sorani": "ckb", "tigrinya": "ti",
               "ukrainian": "uk", "russian": "ru", "turkish": "tr", "somali": "so", "french": "fr",
               "deutsch": "de", "englisch": "en", "arabisch": "ar", "persisch": "fa", "paschtu": "ps",
               "kurdisch": "ku", "tigrinisch": "ti", "ukrainisch": "uk", "russisch": "ru", "türkisch": "tr",
               "somalisch": "so", "französisch": "fr"}
    for code, name in ALL_LANGUAGES.items():
        if wanted in (code.casefold(), name.casefold()):
            return code
    return english.get(wanted)


def check_participant(network: Network, line: int, values: dict[str, str], this_year: int,
                      ) -> tuple[ParticipantRow | None, str | None]:
    """One line as a participant, or the reason it cannot be imported."""
    from bot.services.duplicates import e164
    from bot.services.stages import STAGES
    from flows.intake import GERMAN_LEVELS

    name = " ".join(values.get("name", "").split())
    if not name or len(name) > 200:
        return None, "the name is missing or longer than 200 characters"
    district = _lookup(network, values.get("district", ""), "district")
    if district is None:
        return None, f"unknown district {values.get('district', '')[:60]!r}"
    phone = None
    if values.get("phone"):
        phone = e164(values["phone"])
        if phone is None:
            return None, f"not a valid phone number {values['phone'][:40]!r} (write +49 151 23456789)"
    locale = None
    if values.get("language"):
        locale = _language(values["language"])
        if locale is None:
            return None, f"unknown language {values['language'][:40]!r}"
    goals = []
    for part in re.split(r"[,;/]", values.get("goals", "")):
        if part.strip():
            goal = _lookup(network, part, "topic")
            if goal is None:
                return None, f"unknown goal {part.strip()[:40]!r}"
            goals.append(goal)
    german = None
    if values.get("german"):
        german = {"c2": "c1", "keine": "none", "-": "none"}.get(values["german"].strip().casefold(),
                                                                values["german"].strip().casefold())
        if german not in dict(GERMAN_LEVELS):
            return None, f"unknown German level {values['german'][:20]!r} (A1 to C2, or none)"
    stage = values.get("stage", "").strip().casefold() or "registered"
    stage_keys = dict(STAGES)
    if stage not in stage_keys:
        return None, f"unknown stage {values['stage'][:40]!r} ({', '.join(stage_keys)})"
    birth_year = None
    if values.get("birth_year"):
        text = values["birth_year"].strip()
        if not text.isdigit() or not this_year - 90 <= int(text) <= this_year - 14:
            return None, f"not a birth year {text[:12]!r}"
        birth_year = int(text)
    start = None
    if values.get("start"):
        try:
            start = parse_day(values["start"])
        except ValueError as error:
            return None, str(error)
    return ParticipantRow(line, name, district, phone, locale, goals, german, stage, birth_year, start), None


async def _fill_in(session: AsyncSession, person: Person, row: ParticipantRow, organisation: str) -> None:
    """A linked line adds what Lotse did not know yet; it never overwrites what the person said themselves."""
    profile = await session.get(Profile, person.id)
    if profile is None:
        profile = Profile(person_id=person.id, answers={})
        session.add(profile)
    answers = dict(profile.answers or {})
    answers.setdefault("district", row.district)
    if row.goals and not answers.get("goals"):
        answers["goals"] = row.goals
    if row.birth_year and not answers.get("birth_year"):
        answers["birth_year"] = row.birth_year
    if row.start and not answers.get("start"):
        answers["start"] = row.start.isoformat()
    known = list(answers.get("known_to") or [])
    answers["known_to"] = [*known, organisation] if organisation not in known else known
    profile.answers = answers
    profile.phone = profile.phone or row.phone
    profile.german_level = profile.german_level or row.german
    person.district = person.district or row.district


async def import_participants(sessions: async_sessionmaker[AsyncSession], path: Path, now: datetime,
                              network: Network, organisation: str, dry_run: bool = False) -> ParticipantReport:
    """Each line matched against Lotse's participants: the same phone (or a clearly alike name, same district,
    same birth year) is linked; an alike name with a close date becomes a suggestion; the rest are created."""
    from bot.services.duplicates import Record, best_matches, records
    from flows.duplicates import suggest_after_import

    if organisation not in network.organisations:
        raise ImportRefused(f"unknown organisation {organisation!r} (one of: {', '.join(network.organisations)})")
    encoding, rows = read_rows(path, PARTICIPANT_COLUMNS, PARTICIPANT_REQUIRED)
    report = ParticipantReport(encoding, dry_run)
    checked: list[ParticipantRow] = []
    for line, values in rows:
        row, problem = check_participant(network, line, values, now.year)
        if problem is not None:
            report.rejected.append((line, problem))
        elif row is not None:
            checked.append(row)
    if report.rejected:
        return report  # one bad line refuses the file: the organisation corrects it and imports it again
    async with sessions() as session:
        transaction = await session.begin()
        known = await records(session)
        new_ids: list[int] = []
        for row in checked:
            record = Record(person_id=-row.line, name=row.name, district=row.district, phone=row.phone,
                            birth_year=row.birth_year, start=row.start)
            matches = best_matches(record, known)
            best = matches[0] if matches else None
            if best is not None and best[1].clear:
                person = await session.get_one(Person, best[0].person_id)
                await _fill_in(session, person, row, organisation)
                session.add(AuditEntry(at=now, subject_id=person.id, action="person.imported",
                                       details={"organisation": organisation, "linked": True}))
                report.linked.append((row.line, person.id, "same phone" if best[1].reason == "phone"
                                      else "same name, district and birth year"))
                continue
            person = Person(role="participant", display_name=row.name, locale=row.locale, district=row.district,
                            created_at=now)
            session.add(person)
            await session.flush()
            answers: dict[str, object] = {"district": row.district, "goals": row.goals,
                                          "imported_by": organisation, "known_to": [organisation]}
            if row.birth_year:
                answers["birth_year"] = row.birth_year
            if row.start:
                answers["start"] = row.start.isoformat()
            session.add(Profile(person_id=person.id, answers=answers, phone=row.phone, german_level=row.german,
                                stage=row.stage))
            session.add(AuditEntry(at=now, subject_id=person.id, action="person.imported",
                                   details={"organisation": organisation, "linked": False}))
            new_ids.append(person.id)
            report.created.append((row.line, person.id))
            if best is not None:
                first = min(best[0].person_id, person.id)
                session.add(DuplicateSuggestion(first_id=first, second_id=max(best[0].person_id, person.id),
                                                reason=best[1].reason, score=best[1].score, created_at=now))
                report.suggested.append((row.line, person.id, best[0].person_id,
                                         "same phone" if best[1].reason == "phone" else "similar name"))
            known.append(Record(person_id=person.id, name=row.name, district=row.district, phone=row.phone,
                                birth_year=row.birth_year, start=row.start))
        await session.flush()
        messages = await suggest_after_import(session, network, new_ids, now)
        report.told = len(messages)
        enqueue(session, messages, now)
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
    return report
