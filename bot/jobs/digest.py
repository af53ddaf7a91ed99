"""The Montagsrunde digest: what happened last week and what comes this week, per coordinator's cases.

Every Monday at 07:30 Europe/Berlin (setting `LOTSE_DIGEST_SCHEDULE`), each coordinator gets the summary about
the participants they are responsible for (`bot.services.routing.visible_participants`), and the coordinators' room
(`LOTSE_DIGEST_ROOM`) the one for everybody. People without consent are in no digest. "Last week" is the seven
days before the digest's moment. A row in `digests_sent` per week and recipient, written in the same
transaction as the messages, makes sure a digest goes out once, even when the process was down at 07:30 (it
then goes out when it is back, in the same week) or restarts right after.
`lotse digest --format md|html` writes the same sections for the meeting's screen or printer.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.i18n import N_, Translator
from bot.core.messages import Outgoing
from bot.core.network import Network
from bot.core.notify import enqueue, messages_for, translator_for
from bot.core.schedule import BERLIN, Schedule
from bot.services.reminders import APPOINTMENT_KINDS, Event, appointment_key, event_title, session_key
from bot.services.routing import staff_districts, visible_participants
from bot.services.stages import reason_text, stage_name
from flows.cases import MILESTONES, REPORT_KINDS
from flows.intake import language_name, participant_label, person_label
from flows.mediation import report_translation
from storage.models import (
    Appointment,
    Attendance,
    CaseReport,
    Course,
    CourseSession,
    DigestSent,
    Person,
    Reminder,
    StageChange,
    Ticket,
)

log = logging.getLogger("lotse.digest")

MAX_LINES = 40
"""Per section: a chat message stays readable; the file export (`lotse digest`) has no limit."""


def week_key(moment: datetime) -> str:
    year, week, _ = moment.astimezone(BERLIN).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Section:
    heading: str
    lines: list[str]


@dataclass
class Window:
    """Last week is [since, until); this week's appointments are [until, ahead). `districts`: the reader's districts
    for the counts that are not about one participant (places per company, district and cohort); None: all."""

    since: datetime
    until: datetime
    ahead: datetime
    districts: frozenset[str] | None = None


Visible = ColumnElement[bool]
"""A filter on `Person`: the participants whom the digest's reader may see."""
DigestSource = Callable[[AsyncSession, Translator, Network, Visible, Window], Awaitable[list[str]]]


# ---------------------------------------------------------------------------------------------------------------
# Sections that appointments, courses and reminders fill in (one small function each)


async def events_by_key(session: AsyncSession, keys: Iterable[str]) -> dict[str, Event]:
    """Many events in two queries (appointments, course sessions), for the digest's longer lists."""
    wanted = set(keys)
    appointments = [int(k[2:]) for k in wanted if k.startswith("a:") and k[2:].isdigit()]
    sessions_ = [int(k[2:]) for k in wanted if k.startswith("s:") and k[2:].isdigit()]
    found: dict[str, Event] = {}
    for start in range(0, len(appointments), 500):
        for appointment in (await session.scalars(select(Appointment).where(
                Appointment.id.in_(appointments[start:start + 500])))).all():
            found[appointment_key(appointment.id)] = Event(
                appointment_key(appointment.id), appointment.starts_at, appointment.place,
                APPOINTMENT_KINDS.get(appointment.kind, APPOINTMENT_KINDS["other"]), False, appointment.note,
                appointment.status == "scheduled", appointment.booked_by_id)
    for start in range(0, len(sessions_), 500):
        for course_session, course in (await session.execute(select(CourseSession, Course).join(
                Course, Course.id == CourseSession.course_id).where(
                CourseSession.id.in_(sessions_[start:start + 500])))).all():
            found[session_key(course_session.id)] = Event(
                session_key(course_session.id), course_session.starts_at, course.place,
                f"{course.name} ({course.level})", True, None, course_session.status == "scheduled", course.run_by_id)
    return found


async def cancellation_lines(session: AsyncSession, t: Translator, network: Network,
                             visible: Visible, window: Window) -> list[str]:
    """Appointments and course sessions participants said last week they cannot come to, with the reason."""
    rows = (await session.execute(select(Attendance, Person).join(Person, Person.id == Attendance.participant_id)
                                  .where(Attendance.answer == "no", Attendance.answered_at >= window.since,
                                         Attendance.answered_at < window.until,
                                         visible)
                                  .order_by(Attendance.answered_at, Attendance.id))).all()
    events = await events_by_key(session, (answer.event_key for answer, _ in rows))
    lines = []
    for answer, participant in rows:
        event = events.get(answer.event_key)
        if event is not None:
            lines.append(t(N_("{participant}: {what}, {when} – {reason}"),
                           participant=participant_label(t, participant), what=event_title(t, event),
                           when=t.datetime(event.starts_at, "short"), reason=answer.reason or "–"))
    return lines


async def unanswered_reminder_lines(session: AsyncSession, t: Translator, network: Network,
                                    visible: Visible, window: Window) -> list[str]:
    """Reminders sent last week that nobody confirmed or cancelled (one line per participant and event)."""
    rows = (await session.execute(select(Reminder, Person).join(Person, Person.id == Reminder.participant_id)
                                  .where(Reminder.status == "sent", Reminder.sent_at >= window.since,
                                         Reminder.sent_at < window.until,
                                         visible)
                                  .order_by(Reminder.event_starts_at, Reminder.id))).all()
    people = {participant.id for _, participant in rows}
    answered = {(row[0], row[1]) for row in (await session.execute(select(
        Attendance.participant_id, Attendance.event_key).where(Attendance.participant_id.in_(people)))).all()}
    events = await events_by_key(session, (reminder.event_key for reminder, _ in rows))
    lines, seen = [], set()
    for reminder, participant in rows:
        key = (participant.id, reminder.event_key)
        if key in answered or key in seen:
            continue
        seen.add(key)
        event = events.get(reminder.event_key)
        if event is not None and event.active:
            lines.append(t(N_("{participant}: {what}, {when}"), participant=participant_label(t, participant),
                           what=event_title(t, event), when=t.datetime(event.starts_at, "short")))
    return lines


async def upcoming_lines(session: AsyncSession, t: Translator, network: Network,
                         visible: Visible, window: Window) -> list[str]:
    """Appointments in the coming seven days, with each participant's answer so far."""
    from flows.cases import attendance_state

    rows = (await session.execute(select(Appointment, Person).join(Person, Person.id == Appointment.participant_id)
                                  .where(Appointment.status == "scheduled", Appointment.starts_at >= window.until,
                                         Appointment.starts_at < window.ahead,
                                         visible)
                                  .order_by(Appointment.starts_at, Appointment.id))).all()
    keys = [appointment_key(appointment.id) for appointment, _ in rows]
    answers = {(a.participant_id, a.event_key): a for a in (await session.scalars(select(Attendance).where(
        Attendance.event_key.in_(keys)))).all()} if keys else {}
    return [t(N_("{when} · {participant} · {what} · {place}: {state}"), when=t.datetime(appointment.starts_at, "short"),
              participant=participant_label(t, participant),
              what=t(APPOINTMENT_KINDS.get(appointment.kind, APPOINTMENT_KINDS["other"])), place=appointment.place,
              state=attendance_state(t, False, answers.get((participant.id, appointment_key(appointment.id)))))
            for appointment, participant in rows]


# ---------------------------------------------------------------------------------------------------------------
# The sections Lotse already knows


async def new_participant_lines(session: AsyncSession, t: Translator, network: Network,
                                visible: Visible, window: Window) -> list[str]:
    people = (await session.scalars(select(Person).where(
        Person.created_at >= window.since,
        Person.created_at < window.until, visible).order_by(Person.id))).all()
    lines = []
    for person in people:
        district = network.districts.get(person.district or "")
        lines.append(t(N_("{participant} · {district} · {language}"), participant=participant_label(t, person),
                       district=district.name[t.locale] if district else t(N_("no district yet")),
                       language=language_name(t, person.locale or "en")))
    return lines


async def question_lines(session: AsyncSession, t: Translator, network: Network,
                         visible: Visible, window: Window) -> list[str]:
    tickets = (await session.execute(select(Ticket, Person).join(Person, Person.id == Ticket.participant_id).where(
        Ticket.status.in_(("open", "claimed")), visible).order_by(Ticket.due_at))).all()
    lines = []
    for ticket, participant in tickets:
        topic = network.topics[ticket.topic].name[t.locale] if ticket.topic in network.topics else t(
            N_("Talk to a person"))
        if ticket.due_at <= window.until and ticket.status == "open":
            state = t(N_("OVERDUE"))
        elif ticket.status == "claimed":
            state = t(N_("taken"))
        else:
            state = t(N_("open"))
        lines.append(f"#{ticket.id} · {state} · {topic} · {participant_label(t, participant)}")
    return lines


async def _reports(session: AsyncSession, visible: Visible, window: Window,
                   urgent: bool) -> list[tuple[CaseReport, Person]]:
    return [(r, p) for r, p in (await session.execute(
        select(CaseReport, Person).join(Person, Person.id == CaseReport.participant_id).where(
            CaseReport.needs_action.is_(urgent), CaseReport.created_at >= window.since,
            CaseReport.created_at < window.until, visible)
        .order_by(CaseReport.created_at, CaseReport.id))).all()]


async def _report_lines(session: AsyncSession, t: Translator, network: Network,
                        rows: Iterable[tuple[CaseReport, Person]]) -> list[str]:
    rows = list(rows)
    volunteer_ids = {r.volunteer_id for r, _ in rows if r.volunteer_id}
    volunteers = {p.id: p for p in (await session.scalars(select(Person).where(Person.id.in_(volunteer_ids))))
                  } if volunteer_ids else {}
    lines = []
    for report, participant in rows:
        kind = t(REPORT_KINDS.get(report.kind, N_("Something else")))
        if report.milestone in MILESTONES:
            kind = f"{kind}: {t(MILESTONES[report.milestone or ''])}"
            if report.confirmed_at is None:
                kind = f"{kind} ({t(N_('not confirmed yet'))})"
        volunteer = volunteers.get(report.volunteer_id or 0)
        text = (report.text or t(N_("[voice message or file]")))[:200]
        below = report_translation(t, report, (volunteer.locale if volunteer else None) or "de")
        if below:  # the original first, its translation after it, on the digest's one line per report
            text = f"{text} – {' '.join(below)[:300]}"
        lines.append(t(N_("{participant}: {kind} – {text} ({volunteer}, {date})"),
                       participant=participant_label(t, participant), kind=kind, text=text,
                       volunteer=person_label(t, network, volunteer) if volunteer else "–",
                       date=t.date(report.created_at, "short")))
    return lines


async def urgent_report_lines(session: AsyncSession, t: Translator, network: Network,
                              visible: Visible, window: Window) -> list[str]:
    return await _report_lines(session, t, network, await _reports(session, visible, window, True))


async def other_report_lines(session: AsyncSession, t: Translator, network: Network,
                             visible: Visible, window: Window) -> list[str]:
    return await _report_lines(session, t, network, await _reports(session, visible, window, False))


async def stage_change_lines(session: AsyncSession, t: Translator, network: Network,
                             visible: Visible, window: Window) -> list[str]:
    rows = (await session.execute(select(StageChange, Person).join(Person, Person.id == StageChange.participant_id)
                                  .where(StageChange.at >= window.since, StageChange.at < window.until,
                                         visible)
                                  .order_by(StageChange.at, StageChange.id))).all()
    return [t(N_("{participant}: {before} → {after}"), participant=participant_label(t, participant),
              before=stage_name(t, change.from_stage), after=stage_name(t, change.to_stage))
            + (f" – {reason_text(t, change.reason)[:120]}" if change.reason else "") for change, participant in rows]


async def mentoring_lines(session: AsyncSession, t: Translator, network: Network,
                          visible: Visible, window: Window) -> list[str]:
    """Apprentices: last week's early warnings (bad answers, two check-ins unanswered), and those without mentor."""
    from storage.models import MentoringCheckIn, Mentorship, Profile

    lines = []
    warned = (await session.execute(select(MentoringCheckIn, Person).join(
        Person, Person.id == MentoringCheckIn.participant_id).where(
        MentoringCheckIn.warned.is_(True), visible,
        MentoringCheckIn.sent_at < window.until,
        ((MentoringCheckIn.answered_at >= window.since) | (MentoringCheckIn.answered_at.is_(None)
                                                          & (MentoringCheckIn.sent_at >= window.since - timedelta(
                                                              days=28)))))
        .order_by(MentoringCheckIn.sent_at, MentoringCheckIn.id))).all()
    for checkin, participant in warned:
        if checkin.status == "answered":
            lines.append(t(N_("{participant}: early warning, answered \"{answer}\" on {date}"),
                           participant=participant_label(t, participant),
                           answer=t(N_("I have a problem") if checkin.answer == "problem" else N_("Not so good")),
                           date=t.date(checkin.answered_at or checkin.sent_at, "medium"))
                         + (f" – {checkin.text[:120]}" if checkin.text else ""))
        else:
            lines.append(t(N_("{participant}: early warning, two check-ins unanswered"),
                           participant=participant_label(t, participant)))
    without = (await session.scalars(select(Person).join(Profile, Profile.person_id == Person.id).outerjoin(
        Mentorship, Mentorship.participant_id == Person.id).where(
        Profile.stage == "apprenticeship", visible, Mentorship.mentor_id.is_(None)).order_by(Person.id))).all()
    lines += [t(N_("{participant}: in an apprenticeship (Ausbildung), no mentor yet: /mentor {number}"),
                participant=participant_label(t, person), number=person.id) for person in without]
    from flows.mentoring import ENDINGS
    from storage.models import MentorshipEnding

    lines += [t(N_("{participant}: mentoring ended on {date} ({reason})"), participant=participant_label(
        t, participant), date=t.date(ending.ended_at, "medium"), reason=t(ENDINGS.get(ending.reason, ENDINGS["other"])))
        for ending, participant in (await session.execute(select(MentorshipEnding, Person).join(
            Person, Person.id == MentorshipEnding.participant_id).where(
            visible, MentorshipEnding.ended_at >= window.since, MentorshipEnding.ended_at < window.until)
            .order_by(MentorshipEnding.ended_at, MentorshipEnding.id))).all()]
    return lines


async def placement_lines(session: AsyncSession, t: Translator, network: Network,
                          visible: Visible, window: Window) -> list[str]:
    """Last week's matches and contracts of these participants, then what came of the places per company, district
    and cohort, counted only in the reader's districts (a coordinator never sees another district's rows)."""
    from bot.core.network import company_name
    from bot.services.placement_reports import group_lines, matching_day_counts, placement_counts
    from storage.models import Place, Proposal

    lines = [t(N_("{participant}: place no. {number} at {company} accepted"), participant=participant_label(
        t, participant), number=place.id, company=company_name(network, place.organisation))
        for _proposal, place, participant in (await session.execute(select(Proposal, Place, Person).join(
            Place, Place.id == Proposal.place_id).join(Person, Person.id == Proposal.participant_id).where(
            Proposal.status == "accepted", Proposal.decided_at >= window.since, Proposal.decided_at < window.until,
            visible).order_by(Proposal.decided_at, Proposal.id))).all()]
    from flows.contracts import employer_name, kind_label
    from storage.models import Contract

    lines += [t(N_("{participant}: contract signed ({kind}, {employer}) from {date}"),
                participant=participant_label(t, participant), kind=kind_label(t, contract.kind),
                employer=employer_name(t, network, contract.organisation),
                date=t.date(date.fromisoformat(contract.starts_on), "medium"))
              for contract, participant in (await session.execute(select(Contract, Person).join(
                  Person, Person.id == Contract.participant_id).where(
                  visible, Contract.recorded_at >= window.since, Contract.recorded_at < window.until)
                  .order_by(Contract.recorded_at, Contract.id))).all()]
    for by in ("company", "district", "cohort"):  # only the places and people in the reader's districts
        lines += group_lines(t, network, by, await placement_counts(session, by, window.districts))
    days, invited, coming, came = await matching_day_counts(session, window.districts)
    if days:
        lines.append(t(N_("Match-making days: {days}, invited: {invited}, said yes: {coming}, came: {came}"),
                       days=days, invited=invited, coming=coming, came=came))
    return lines


SECTIONS: list[tuple[str, DigestSource]] = [
    (N_("New participants"), new_participant_lines),
    (N_("Questions open and overdue"), question_lines),
    (N_("Cancellations"), cancellation_lines),
    (N_("Reminders nobody answered"), unanswered_reminder_lines),
    (N_("Volunteer reports that need action"), urgent_report_lines),
    (N_("Other volunteer reports"), other_report_lines),
    (N_("Stage changes"), stage_change_lines),
    (N_("Appointments this week"), upcoming_lines),
    (N_("Places and matches"), placement_lines),
    (N_("Apprentices: mentoring and early warnings"), mentoring_lines),
]


def everybody(districts: frozenset[str] | None = None) -> Visible:
    """Every participant who consented (in these districts): the room's digest and `lotse digest`."""
    consented = and_(Person.role == "participant", Person.privacy_version.is_not(None))
    return consented if districts is None else and_(consented, Person.district.in_(districts))


async def build_digest(session: AsyncSession, t: Translator, network: Network, visible: Visible,
                       moment: datetime, districts: frozenset[str] | None = None) -> list[Section]:
    """`visible` limits the lines about participants, `districts` the counts (None: the whole network)."""
    window = Window(since=moment - timedelta(days=7), until=moment, ahead=moment + timedelta(days=7),
                    districts=districts)
    return [Section(t(heading), await source(session, t, network, visible, window)) for heading, source in SECTIONS]


def title(t: Translator, moment: datetime) -> str:
    return t(N_("Montagsrunde {date}: the week in review"), date=t.date(moment, "long"))


def render_text(t: Translator, moment: datetime, sections: list[Section]) -> str:
    lines = [title(t, moment)]
    for section in sections:
        shown = section.lines[:MAX_LINES]
        lines += ["", f"{section.heading} ({t.number(len(section.lines))})"]
        lines += [f"· {line}" for line in shown] or [t(N_("(nothing)"))]
        if len(section.lines) > MAX_LINES:
            lines.append(t(N_("… and {count} more: see lotse digest"), count=len(section.lines) - MAX_LINES))
    return "\n".join(lines)


def _markdown_escape(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def render_markdown(t: Translator, moment: datetime, sections: list[Section]) -> str:
    lines = [f"# {_markdown_escape(title(t, moment))}"]
    for section in sections:
        lines += ["", f"## {_markdown_escape(section.heading)} ({len(section.lines)})", ""]
        lines += [f"- {_markdown_escape(line)}" for line in section.lines] or [f"_{t(N_('(nothing)'))}_"]
    return "\n".join(lines) + "\n"


def render_html(t: Translator, moment: datetime, sections: list[Section]) -> str:
    """A self-contained page for the meeting's screen or printer; every value is escaped."""
    heading = html.escape(title(t, moment))
    parts = [f'<!DOCTYPE html>\n<html lang="{t.locale}">\n<head>\n<meta charset="utf-8">\n<title>{heading}</title>',
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "h2{border-bottom:1px solid #999;margin-top:1.5em}.none{color:#777}"
             "@media print{h2{page-break-after:avoid}}</style>\n</head>\n<body>", f"<h1>{heading}</h1>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)} ({len(section.lines)})</h2>")
        if section.lines:
            parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in section.lines) + "</ul>")
        else:
            parts.append(f'<p class="none">{html.escape(t(N_("(nothing)")))}</p>')
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Sending: once per week and recipient


def _renderer(moment: datetime, sections: list[Section]) -> Callable[[Translator], str]:
    return lambda t: render_text(t, moment, sections)


def parse_room(value: str | None) -> tuple[str, str] | None:
    """`telegram:-1001234` -> ("telegram", "-1001234")."""
    if not value:
        return None
    transport, _, chat = value.partition(":")
    return (transport, chat) if transport and chat else None


async def send_due_digests(sessions: async_sessionmaker[AsyncSession], network: Network, schedule: Schedule,
                           room: tuple[str, str] | None, now: datetime) -> int:
    """Sends this week's digest to every coordinator (and the room) not yet served; returns how many got it.

    Each recipient is one transaction (their `digests_sent` row with their messages), so a long digest run never
    holds the database for everyone, and a crash in between leaves only the others to do."""
    moment = schedule.moment(now)
    if now < moment:
        return 0
    week = week_key(moment)
    async with sessions() as session:
        done = set((await session.scalars(select(DigestSent.recipient).where(DigestSent.week == week))).all())
        coordinators = [person_id for person_id in (await session.scalars(
            select(Person.id).where(Person.role == "coordinator").order_by(Person.id))).all()
            if f"person:{person_id}" not in done]
    sent = 0
    for coordinator_id in coordinators:
        async with sessions() as session, session.begin():
            coordinator = await session.get(Person, coordinator_id)
            if coordinator is None or await session.scalar(select(DigestSent.id).where(
                    DigestSent.week == week, DigestSent.recipient == f"person:{coordinator_id}")) is not None:
                continue
            sections = await build_digest(session, translator_for(coordinator), network,
                                          await visible_participants(session, network, coordinator), moment,
                                          await staff_districts(session, network, coordinator))
            enqueue(session, await messages_for(session, coordinator, _renderer(moment, sections)), now)
            session.add(DigestSent(week=week, recipient=f"person:{coordinator_id}", sent_at=now))
        sent += 1
    key = f"room:{room[0]}:{room[1]}" if room is not None else None
    if room is not None and key not in done:
        async with sessions() as session, session.begin():
            t = Translator("de")
            sections = await build_digest(session, t, network, everybody(), moment)
            enqueue(session, [Outgoing(transport=room[0], chat=room[1], text=render_text(t, moment, sections),
                                       locale="de", rtl=False)], now)
            session.add(DigestSent(week=week, recipient=key, sent_at=now))
        sent += 1
    if sent:
        log.info("digest: week %s sent to %d recipient(s)", week, sent)
    return sent


async def write_digest(sessions: async_sessionmaker[AsyncSession], network: Network, locale: str, day: date,
                       file_format: str, districts: frozenset[str] | None, schedule: Schedule) -> str:
    """The digest of the week containing `day`, as Markdown or HTML (what `lotse digest` writes)."""
    t = Translator(locale)
    moment = schedule.moment(datetime.combine(day, time(12, 0), tzinfo=BERLIN))
    async with sessions() as session:
        sections = await build_digest(session, t, network, everybody(districts), moment, districts)
    return render_html(t, moment, sections) if file_format == "html" else render_markdown(t, moment, sections)
