"""`lotse import appointments|courses FILE.csv`: bookings and courses from a spreadsheet, row by row checked.

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

from bot.reminders import appointment_key, load_event, plan
from flows.notify import enqueue
from storage.models import Appointment, AuditEntry, Course, Person

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


def read_rows(path: Path, columns: dict[str, tuple[str, ...]],
              required: Sequence[str]) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """(encoding, [(line number, {column: value})]); raises `ImportRefused` for a file that cannot be used."""
    try:
        raw = path.read_bytes()
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
            await plan(session, participant, appointment_key(appointment.id), starts_at, now)
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
    from flows.courses import create_course, enrol, enrolment_notice

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
