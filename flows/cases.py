"""One case view per participant for coordinators, stage changes with their history, and `/stats`.

`/case NAME-OR-NUMBER` gathers what the network knows about one participant in the coordinator's language:
profile, stage and its history, potential check, questions, appointments and courses, volunteer and reports.
Only participants the coordinator is responsible for are found (`bot.services.routing.visible_participants`: topic x
district x invite scope, plus the cases they already handle); every view is audited.
A stage change is recorded with who, when, from, to and why; skipping stages needs a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import STAFF
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network
from bot.core.text import clean_text, fold
from bot.services.participant_search import MAX_LISTED, find_participants
from bot.services.reminders import APPOINTMENT_KINDS, appointment_key, session_key
from bot.services.routing import is_responsible, staff_districts
from bot.services.stages import STAGE_RANK, STAGES, has_contract_for, reason_text, stage_name
from flows.engine import END, Flow, InputKind, Invalid, Next, Step, Turn
from flows.intake import STAFF_LABELS, language_name, participant_label, person_label, summary_lines
from flows.mediation import report_mediator_choices, report_translation
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.potential_check import field_names
from flows.registry import Command, register, start_flow
from storage.models import (
    Appointment,
    Attendance,
    AuditEntry,
    CaseReport,
    Course,
    CourseSession,
    Enrolment,
    Pairing,
    Person,
    PotentialCheck,
    Profile,
    StageChange,
    Ticket,
)

MAX_REASON = 500
NOT_YOURS = N_("Nobody with this name or number is among your cases.")
"""The same answer whether the person does not exist or is someone else's case: it reveals nothing."""


def skips(from_stage: str | None, to_stage: str) -> bool:
    """True when the change jumps over a stage or goes back: allowed, but only with a reason."""
    before = STAGE_RANK.get(from_stage or "registered", 0)
    after = STAGE_RANK[to_stage]
    return after > before + 1 or after < before


async def change_stage(session: AsyncSession, participant_id: int, to_stage: str, actor_id: int | None,
                       now: datetime, reason: str | None = None, report_id: int | None = None) -> StageChange | None:
    """Sets the stage and records the change; None when the participant is already there."""
    profile = await session.get(Profile, participant_id)
    if profile is None:
        profile = Profile(person_id=participant_id, answers={})
        session.add(profile)
    if profile.stage == to_stage:
        return None
    change = StageChange(participant_id=participant_id, actor_id=actor_id, from_stage=profile.stage or "registered",
                         to_stage=to_stage, reason=reason, report_id=report_id, at=now)
    profile.stage = to_stage
    session.add(change)
    session.add(AuditEntry(at=now, actor_id=actor_id, subject_id=participant_id, action="stage.changed",
                           details={"from": change.from_stage, "to": to_stage, "reason": reason}))
    return change


# ---------------------------------------------------------------------------------------------------------------
# Finding a participant by name or number, among those this coordinator may see


async def one_participant(turn: Turn, text: str) -> Person | None:
    """The one participant meant, or a short answer (none found, or which of several) revealing nothing else."""
    query = clean_text(text).lstrip("#")
    if not query.isdigit() and len(fold(query)) < 2:  # one letter fits almost everyone: ask for more, not "nobody"
        turn.say(N_("Please write at least two letters of the name, or the number."))
        return None
    found = await find_participants(turn.session, turn.network, turn.person, text)
    if not found:
        turn.say(NOT_YOURS)
        return None
    if len(found) > 1:
        lines = [participant_label(turn.t, person) for person in found[:MAX_LISTED]]
        turn.send("\n".join([turn.t(N_("Several participants fit. Please write the number:")), *lines]))
        return None
    return found[0]


# ---------------------------------------------------------------------------------------------------------------
# The case view


CaseSection = Callable[[AsyncSession, Translator, Network, Person, datetime], Awaitable[list[str]]]


def attendance_state(t: Translator, cancelled: bool, answer: Attendance | None) -> str:
    """How an appointment stands for the coordinator: cancelled, confirmed, cannot come (why), or no answer."""
    if cancelled:
        return t(N_("cancelled"))
    if answer is None:
        return t(N_("no answer yet"))
    if answer.answer == "yes":
        return t(N_("confirmed"))
    return t(N_("cannot come ({reason})"), reason=answer.reason or "–")


async def appointment_lines(session: AsyncSession, t: Translator, network: Network, participant: Person,
                            now: datetime) -> list[str]:
    """The last appointments with their confirmations, and each course with the answers to its sessions so far."""
    appointments = (await session.scalars(select(Appointment).where(Appointment.participant_id == participant.id)
                                          .order_by(Appointment.starts_at.desc()).limit(MAX_LISTED))).all()
    answers = {a.event_key: a for a in (await session.scalars(select(Attendance).where(
        Attendance.participant_id == participant.id))).all()}
    lines = []
    for appointment in sorted(appointments, key=lambda a: a.starts_at):
        lines.append(t(N_("{when} · {what} · {place}: {state}"), when=t.datetime(appointment.starts_at, "short"),
                       what=t(APPOINTMENT_KINDS.get(appointment.kind, APPOINTMENT_KINDS["other"])),
                       place=appointment.place, state=attendance_state(
                           t, appointment.status == "cancelled", answers.get(appointment_key(appointment.id)))))
    courses = (await session.scalars(select(Course).join(Enrolment, Enrolment.course_id == Course.id).where(
        Enrolment.participant_id == participant.id).order_by(Course.id))).all()
    for course in courses:
        held = (await session.scalars(select(CourseSession.id).where(
            CourseSession.course_id == course.id, CourseSession.starts_at <= now,
            CourseSession.status == "scheduled"))).all()
        given = [answers[session_key(number)] for number in held if session_key(number) in answers]
        confirmed = sum(1 for answer in given if answer.answer == "yes")
        lines.append(t(N_("Language course (Sprachkurs) {course}: of {count} sessions so far {yes} confirmed, "
                          "{no} cannot come, {open} no answer"), course=f"{course.name} ({course.level})",
                       count=len(held), yes=confirmed, no=len(given) - confirmed, open=len(held) - len(given)))
    return lines


CASE_SECTIONS: list[tuple[str, CaseSection]] = [(N_("Appointments and courses"), appointment_lines)]
"""Sections other capabilities add to the case view: a heading and the lines under it."""


async def case_text(session: AsyncSession, t: Translator, network: Network, participant: Person,
                    now: datetime) -> str:
    profile = await session.get(Profile, participant.id)
    district = network.districts.get(participant.district or "")
    lines = [
        t(N_("Case: {participant}"), participant=participant_label(t, participant)),
        t(N_("District: {district} · Language: {language} · Registered: {date}"),
          district=district.name[t.locale] if district else "–",
          language=language_name(t, participant.locale or "en"), date=t.date(participant.created_at, "medium")),
        t(N_("Stage: {stage}"), stage=stage_name(t, profile.stage if profile else "registered")),
        "", t(N_("Profile")),
    ]
    if profile is not None and profile.answers:
        lines += summary_lines(t, network, profile.answers, STAFF_LABELS)
    else:
        lines.append(t(N_("(no answers yet)")))

    check = (await session.scalars(select(PotentialCheck).where(PotentialCheck.person_id == participant.id)
                                   .order_by(PotentialCheck.completed_at.desc()).limit(1))).first()
    lines += ["", t(N_("Stage history"))]
    changes = (await session.scalars(select(StageChange).where(StageChange.participant_id == participant.id)
                                     .order_by(StageChange.at, StageChange.id))).all()
    actors = await _names(session, t, network, [c.actor_id for c in changes])
    history: list[tuple[datetime, str]] = [(participant.created_at, t(N_("{when}: registered"), when=t.datetime(
        participant.created_at, "short")))]
    own = participant_label(t, participant)
    recorded = {change.to_stage for change in changes}
    if profile is not None and profile.completed_at is not None and "profile_complete" not in recorded:
        history.append((profile.completed_at, t(N_("{when}: {before} → {after}, by {who}"), when=t.datetime(
            profile.completed_at, "short"), before=stage_name(t, "registered"),
            after=stage_name(t, "profile_complete"), who=own)))
    if check is not None and "potential_check" not in recorded:
        history.append((check.completed_at, t(N_("{when}: {before} → {after}, by {who}"), when=t.datetime(
            check.completed_at, "short"), before=stage_name(t, "profile_complete"),
            after=stage_name(t, "potential_check"), who=own)))
    for change in changes:
        line = t(N_("{when}: {before} → {after}, by {who}"), when=t.datetime(change.at, "short"),
                 before=stage_name(t, change.from_stage), after=stage_name(t, change.to_stage),
                 who=actors.get(change.actor_id or 0, "–"))
        history.append((change.at, line + (f" – {reason_text(t, change.reason)}" if change.reason else "")))
    lines += [line for _, line in sorted(history, key=lambda item: item[0])]

    lines += ["", t(N_("Potential check (Potenzialcheck)"))]
    if check is None:
        lines.append(t(N_("(not done yet)")))
    else:
        lines.append(t(N_("{date}: suggested {fields}"), date=t.date(check.completed_at, "medium"),
                       fields=field_names(t, network, list(check.suggestions)) or "–"))

    lines += ["", t(N_("Questions"))]
    tickets = (await session.scalars(select(Ticket).where(Ticket.participant_id == participant.id)
                                     .order_by(Ticket.id.desc()).limit(MAX_LISTED))).all()
    for ticket in tickets:
        topic = network.topics[ticket.topic].name[t.locale] if ticket.topic in network.topics else t(
            N_("Talk to a person"))
        state = t(N_("closed")) if ticket.status == "closed" else (
            t(N_("OVERDUE")) if ticket.due_at <= now and ticket.status == "open" else t(N_("open")))
        lines.append(f"#{ticket.id} · {topic} · {state} · {t.date(ticket.created_at, 'medium')}")
    if not tickets:
        lines.append(t(N_("(none)")))

    for heading, section in CASE_SECTIONS:
        extra = await section(session, t, network, participant, now)
        lines += ["", t(heading), *(extra or [t(N_("(none)"))])]

    lines += ["", t(N_("Volunteer and reports"))]
    pairings = (await session.scalars(select(Pairing).where(Pairing.participant_id == participant.id,
                                                            Pairing.status.in_(("asked", "active")))
                                      .order_by(Pairing.id))).all()
    volunteers = await _names(session, t, network, [p.volunteer_id for p in pairings])
    for pairing in pairings:
        if pairing.status == "active":
            lines.append(t(N_("{volunteer}, since {date}"), volunteer=volunteers.get(pairing.volunteer_id, "–"),
                           date=t.date(pairing.decided_at or pairing.created_at, "medium")))
        else:
            lines.append(t(N_("{volunteer}: waiting for the participant's consent"),
                           volunteer=volunteers.get(pairing.volunteer_id, "–")))
    if not pairings:
        lines.append(t(N_("(no volunteer)")))
    reports = (await session.scalars(select(CaseReport).where(CaseReport.participant_id == participant.id)
                                     .order_by(CaseReport.created_at.desc(), CaseReport.id.desc())
                                     .limit(MAX_LISTED))).all()
    authors = await _names(session, t, network, [r.volunteer_id for r in reports])
    chosen = await _locales(session, [r.volunteer_id for r in reports])
    for report in reports:
        lines.append(report_line(t, report, authors.get(report.volunteer_id or 0, "–")))
        lines += [f"  {line}" for line in report_translation(t, report, chosen.get(report.volunteer_id or 0, "de"))]
    return "\n".join(lines)


REPORT_KINDS: dict[str, str] = {
    "attended": N_("Attended a course or appointment"),
    "missed": N_("Missed a course or appointment"),
    "needs_help": N_("Needs help with something"),
    "milestone": N_("Milestone reached"),
    "other": N_("Something else"),
}
MILESTONES: dict[str, str] = {
    "potential_check": N_("Potential check done (Potenzialcheck)"),
    "internship": N_("Internship started (Praktikum)"),
    "apprenticeship": N_("Apprenticeship contract (Ausbildung)"),
    "employment": N_("Job (SVB)"),
}


def report_line(t: Translator, report: CaseReport, author: str) -> str:
    kind = t(REPORT_KINDS.get(report.kind, N_("Something else")))
    if report.kind == "milestone" and report.milestone in MILESTONES:
        kind = f"{kind}: {t(MILESTONES[report.milestone])}"
    text = report.text or ""
    if report.attachment:
        text = (text + " " + t(N_("[voice message or file]"))).strip()
    return t(N_("{when} · {author} · {kind}: {text}"), when=t.date(report.created_at, "medium"), author=author,
             kind=kind, text=text[:300] or "–")


async def _locales(session: AsyncSession, ids: list[int | None]) -> dict[int, str]:
    """The language each author chose: a report's language when detection is not sure."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = (await session.execute(select(Person.id, Person.locale).where(Person.id.in_(wanted)))).all()
    return {person_id: locale or "de" for person_id, locale in rows}


async def _names(session: AsyncSession, t: Translator, network: Network, ids: list[int | None]) -> dict[int, str]:
    """Who acted, as staff read them: staff by name, or by role and organisation, never by a handle."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    people = (await session.scalars(select(Person).where(Person.id.in_(wanted)))).all()
    return {person.id: person_label(t, network, person) for person in people}


async def show_case(turn: Turn, argument: str) -> None:
    if not clean_text(argument):
        start_flow(turn, "case")
        return
    participant = await one_participant(turn, argument)
    if participant is None:
        return
    choices = await report_mediator_choices(turn.session, turn.t, participant.id)  # reports they cannot read
    turn.send(await case_text(turn.session, turn.t, turn.network, participant, turn.now), choices,
              "single" if choices else "none")
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=participant.id, action="case.viewed"))


async def _case_named(turn: Turn, value: Any) -> Next:
    await show_case(turn, str(value))
    return END


CASE = Flow(name="case", roles=STAFF, steps=(
    Step(name="who", prompt=N_("Whose case? Write a name or a number."), kind=InputKind.TEXT, max_length=100,
         on_answer=_case_named, next=END, describe="name or number; then the case view"),
))


# ---------------------------------------------------------------------------------------------------------------
# /stage NUMBER: a coordinator changes a participant's stage


async def stage_command(turn: Turn, argument: str) -> None:
    if not clean_text(argument):
        turn.say(N_("Please write the participant's number, for example /stage 12."))
        return
    participant = await one_participant(turn, argument)
    if participant is None:
        return
    profile = await turn.session.get(Profile, participant.id)
    start_flow(turn, "stage", {"participant": participant.id, "from": profile.stage if profile else "registered"})


def stage_options(turn: Turn) -> list[Choice]:
    current = turn.data.get("from")
    return [Choice(key, turn.t(label)) for key, label in STAGES if key != current]


CONTRACT_BUTTON = "ct"
"""`flows.contracts` answers it: "new:NUMBER" starts recording a contract for that participant."""


def contract_first(turn: Turn, participant_id: int, stage: str) -> None:
    """Ausbildung and SVB follow a recorded contract; by hand they would count toward the goal without one."""
    turn.send(turn.t(N_("{stage} counts only with a signed contract (Vertrag). Please record the contract first: "
                        "/contract {number}"), stage=stage_name(turn.t, stage), number=participant_id),
              [Choice(button_key(CONTRACT_BUTTON, f"new:{participant_id}"), turn.t(N_("Record the contract")))],
              selection="single")


async def _stage_chosen(turn: Turn, value: Any) -> Next:
    participant_id = int(turn.data.get("participant", 0))
    if not await has_contract_for(turn.session, participant_id, str(value)):
        contract_first(turn, participant_id, str(value))
        return END
    return "why" if skips(turn.data.get("from"), str(value)) else "note"


def _reason(turn: Turn, value: Any) -> str:
    text = str(value)
    if not any(ch.isalnum() for ch in text):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return text


async def _stage_done(turn: Turn, value: Any) -> Next:
    participant = await turn.session.get(Person, int(turn.data.get("participant", 0)))
    if participant is None or not await is_responsible(turn.session, turn.network, turn.person, participant):
        turn.say(NOT_YOURS)
        return END
    to_stage = str(turn.data["to"])
    if not await has_contract_for(turn.session, participant.id, to_stage):  # withdrawn while the note was written
        contract_first(turn, participant.id, to_stage)
        return END
    change = await change_stage(turn.session, participant.id, to_stage, turn.person.id, turn.now,
                                reason=str(value) if value else None)
    if change is None:
        turn.say(N_("{participant} is already at this stage."), participant=participant_label(turn.t, participant))
    else:
        turn.say(N_("Recorded: {participant} is now at stage {stage}."),
                 participant=participant_label(turn.t, participant), stage=stage_name(turn.t, to_stage))
    return END


STAGE = Flow(name="stage", roles=STAFF, steps=(
    Step(name="to", prompt=N_("Which stage has the participant reached?"), kind=InputKind.CHOICE,
         options=stage_options, on_answer=_stage_chosen, describe="new stage",
         branches=(("skips a stage or goes back", "why"), ("next stage", "note"),
                   ("Ausbildung or SVB without a recorded contract: /contract button", "menu"))),
    Step(name="why", prompt=N_("This skips a stage or goes back. That is allowed, but please write the reason."),
         kind=InputKind.TEXT, max_length=MAX_REASON, validate=_reason, on_answer=_stage_done, next=END,
         describe="reason required"),
    Step(name="note", prompt=N_("A short note for the record? (optional)"), kind=InputKind.TEXT, optional=True,
         max_length=MAX_REASON, validate=_reason, on_answer=_stage_done, next=END, describe="optional note"),
))


# ---------------------------------------------------------------------------------------------------------------
# /stats: progress toward the 75 % goal, for the participants this coordinator is responsible for


async def show_stats(turn: Turn, argument: str = "") -> None:
    from bot.services.placement_reports import report_lines
    from bot.services.progress import funnel_text, staff_funnel

    funnel, heading = await staff_funnel(turn.session, turn.network, turn.t, turn.person)  # only whom they may see
    districts = await staff_districts(turn.session, turn.network, turn.person)  # the invite scope too
    placements = await report_lines(turn.session, turn.t, turn.network, districts)
    placement_heading = ["", turn.t(N_("Places, proposals and matches"))] if placements else []
    turn.send("\n".join([funnel_text(turn.t, turn.network, funnel, heading), *placement_heading, *placements]))
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="stats.viewed"))


async def _case_entry(turn: Turn) -> None:
    start_flow(turn, "case")


register(CASE, Command("case", N_("One participant's case: /case NAME or NUMBER"), action=show_case, roles=STAFF))
register(STAGE, Command("stage", N_("Change a participant's stage: /stage NUMBER"), action=stage_command,
                        roles=STAFF))
register(None, Command("stats", N_("Progress toward the goal of 75 percent"), action=show_stats, roles=STAFF))
MENU_ENTRIES.extend([
    MenuEntry("case", N_("Case view"), action=_case_entry, roles=STAFF, order=15),
    MenuEntry("stats", N_("Progress toward the goal"), action=lambda turn: show_stats(turn), roles=STAFF, order=40),
])
