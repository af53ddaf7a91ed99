"""Mentoring for apprentices: a mentor, a check-in every four weeks, and an early warning when it goes wrong.

The dropped-out apprenticeship is the programme's most expensive failure, and it announces itself: answers turn
bad, or stop. So:
- when a participant's stage becomes Ausbildung (by a check-in, a coordinator or a volunteer's report), the
  `placements` round of `lotse run` opens a mentorship and tells the responsible coordinators to assign a mentor
  (`/mentor NUMBER`: a company contact or a volunteer, with the vocational school, BBS);
- every four weeks the apprentice is asked in their language how it is going (Good / Not so good / I have a
  problem, then free text);
- the mentor and the responsible coordinators are told at once when the answer is "a problem", when "not so
  good" comes twice in a row, or when two check-ins in a row stay unanswered. The digest lists these warnings
  and the apprentices still without a mentor;
- the coordinator or the mentor ends a mentorship by hand (`/mentoring`: finished, dropped out, changed company,
  other), dated: its check-ins stop at once (the round asks only active mentorships, so also after a restart), the
  apprentice, the mentor and the coordinators are told, and a drop-out counts in the reports' drop-out line and moves
  the stage back to Matching with a dated history entry.
A company mentor reads the apprentice's name only with the partner-companies consent, like every company contact.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import COMPANY, PLACE_STAFF, Action, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, company_name
from bot.core.notify import enqueue, messages_for
from bot.services.mentorships import EVERY
from bot.services.reminders import out_of_quiet_hours
from bot.services.routing import is_responsible, responsible_staff
from bot.services.stages import lotse_reason
from flows.cases import CASE_SECTIONS, one_participant
from flows.contracts import MENTOR_BUTTON, contract_lines, mentor_choice
from flows.contracts import shown_name as apprentice_label
from flows.engine import END, Flow, InputKind, Next, Step, Turn
from flows.intake import participant_label, person_label
from flows.registry import Command, register, register_button, start_flow
from storage.models import AuditEntry, MentoringCheckIn, Mentorship, MentorshipEnding, Person, Profile

ANSWERS: dict[str, str] = {"good": N_("Good"), "hard": N_("Not so good"), "problem": N_("I have a problem")}
MAX_TEXT, MAX_SCHOOL = 1000, 200


async def _warn(session: AsyncSession, network: Network, mentorship: Mentorship, participant: Person,
                message: str, now: datetime, **values: str) -> list[Any]:
    """The early warning to the mentor and the responsible coordinators, each in their language."""
    profile = await session.get(Profile, participant.id)
    readers = await responsible_staff(session, network, participant)
    mentor = await session.get(Person, mentorship.mentor_id) if mentorship.mentor_id else None
    if mentor is not None and mentor.id not in {r.id for r in readers}:
        readers.append(mentor)
    found: list[Any] = []
    for reader in readers:
        def render(t: Translator, reader: Person = reader) -> str:
            shown = {key: t(value) if key == "answer" else value for key, value in values.items()}
            return t(message, participant=apprentice_label(t, reader, participant, profile), **shown)

        found += await messages_for(session, reader, render)
    session.add(AuditEntry(actor_id=None, subject_id=participant.id, action="mentoring.warning", at=now,
                           details={"mentorship": mentorship.id, "to": [r.id for r in readers]}))
    return found


# ---------------------------------------------------------------------------------------------------------------
# The round: new apprentices, due check-ins, check-ins nobody answered


def _checkin_text(t: Translator) -> str:
    return t(N_("How is your {kind} going? Please tap a button."), kind=t(N_("Apprenticeship (Ausbildung)")))


def _checkin_buttons(t: Translator, checkin_id: int) -> list[Choice]:
    return [Choice(button_key("mt", f"{key}:{checkin_id}"), t(label)) for key, label in ANSWERS.items()]


def _started(t: Translator, participant: Person) -> str:
    return t(N_("{participant} started an apprenticeship (Ausbildung). Please assign a mentor: /mentor {number}"),
             participant=participant_label(t, participant), number=participant.id)


async def mentoring_round(session: AsyncSession, network: Network, now: datetime) -> int:
    """Opens mentorships for new apprentices and sends the due check-ins; returns how many messages went out."""
    sent = 0
    new = (await session.scalars(select(Person).join(Profile, Profile.person_id == Person.id).outerjoin(
        Mentorship, Mentorship.participant_id == Person.id).where(
        Profile.stage == "apprenticeship", Person.role == "participant", Person.privacy_version.is_not(None),
        Mentorship.id.is_(None)).order_by(Person.id).limit(100))).all()
    for participant in new:
        session.add(Mentorship(participant_id=participant.id, status="active", started_at=now,
                               next_due_at=out_of_quiet_hours(now + EVERY, participant.time_zone)))
        for coordinator in await responsible_staff(session, network, participant):
            found = await messages_for(session, coordinator, partial(_started, participant=participant))
            enqueue(session, found, now)
            sent += len(found)
    due = (await session.scalars(select(Mentorship).where(Mentorship.status == "active", Mentorship.next_due_at
                                                          <= now).order_by(Mentorship.id).limit(100))).all()
    for mentorship in due:
        participant = await session.get_one(Person, mentorship.participant_id)
        profile = await session.get(Profile, participant.id)
        if profile is None or profile.stage != "apprenticeship" or participant.privacy_version is None:
            mentorship.status = "ended"
            continue
        last = list((await session.scalars(select(MentoringCheckIn).where(
            MentoringCheckIn.mentorship_id == mentorship.id).order_by(MentoringCheckIn.sent_at.desc(),
                                                                     MentoringCheckIn.id.desc()).limit(2))).all())
        if last and last[0].status == "sent":
            last[0].status = "missed"
        if len(last) == 2 and all(c.status == "missed" for c in last) and not any(c.warned for c in last):
            last[0].warned = True
            found = await _warn(session, network, mentorship, participant, N_(
                "Early warning (Ausbildung): {participant} has not answered two check-ins in a row."), now)
            enqueue(session, found, now)
            sent += len(found)
        checkin = MentoringCheckIn(mentorship_id=mentorship.id, participant_id=participant.id, status="sent",
                                   sent_at=now)
        session.add(checkin)
        await session.flush()
        found = await messages_for(session, participant, _checkin_text,
                                   partial(_checkin_buttons, checkin_id=checkin.id))
        enqueue(session, found, now)
        sent += len(found)
        next_due = mentorship.next_due_at
        while next_due <= now:
            next_due += EVERY
        mentorship.next_due_at = out_of_quiet_hours(next_due, participant.time_zone)
    return sent


async def next_mentoring_moment(session: AsyncSession) -> datetime | None:
    from sqlalchemy import func

    found: datetime | None = await session.scalar(select(func.min(Mentorship.next_due_at)).where(
        Mentorship.status == "active"))
    return found


# ---------------------------------------------------------------------------------------------------------------
# The apprentice's answer


async def _checkin_button(turn: Turn, payload: str) -> None:
    answer, _, number = payload.partition(":")
    checkin = await turn.session.get(MentoringCheckIn, int(number)) if number.isdigit() and len(number) < 10 else None
    if checkin is None or checkin.participant_id != turn.person.id or answer not in ANSWERS or \
            checkin.status not in ("sent", "missed"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    mentorship = await turn.session.get_one(Mentorship, checkin.mentorship_id)
    if mentorship.status != "active":  # ended by hand: its questions are closed
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    before = (await turn.session.scalars(select(MentoringCheckIn).where(
        MentoringCheckIn.mentorship_id == mentorship.id, MentoringCheckIn.id != checkin.id,
        MentoringCheckIn.status == "answered").order_by(MentoringCheckIn.answered_at.desc()).limit(1))).first()
    checkin.status, checkin.answer, checkin.answered_at = "answered", answer, turn.now
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=turn.person.id, action="mentoring.answered",
                                at=turn.now, details={"check_in": checkin.id, "answer": answer}))
    if answer == "problem" or (answer == "hard" and before is not None and before.answer != "good"):
        checkin.warned = True
        turn.outgoing.extend(await _warn(turn.session, turn.network, mentorship, turn.person, N_(
            "Early warning (Ausbildung): {participant} answered the check-in with \"{answer}\"."), turn.now,
            answer=ANSWERS[answer]))
    start_flow(turn, "mentoring_note", {"check_in": checkin.id})


async def _note(turn: Turn, value: Any) -> Next:
    checkin = await turn.session.get(MentoringCheckIn, int(turn.data.get("check_in", 0)))
    if checkin is None or checkin.participant_id != turn.person.id:
        return END
    text = str(value or "").strip()
    if text:
        checkin.text = text[:MAX_TEXT]
        if checkin.answer != "good":
            mentorship = await turn.session.get_one(Mentorship, checkin.mentorship_id)
            turn.outgoing.extend(await _warn(turn.session, turn.network, mentorship, turn.person,
                                             N_("{participant} adds: {text}"), turn.now, text=checkin.text))
    if checkin.answer == "good":
        turn.say(N_("That is good to hear. Good luck!"))
    else:
        turn.say(N_("Thank you for telling us. Your coordinator will get in touch."))
    return END


MENTORING_NOTE = Flow(name="mentoring_note", roles=frozenset({"participant"}), steps=(
    Step(name="text", prompt=N_("Thank you. Is there anything else you want to tell us? Write it here, or tap Skip."),
         kind=InputKind.TEXT, optional=True, max_length=MAX_TEXT, on_answer=_note, next=END,
         describe="free text or skip; a bad answer's text goes to the mentor and the coordinators"),
))


# ---------------------------------------------------------------------------------------------------------------
# Assigning a mentor


async def mentor_command(turn: Turn, argument: str) -> None:
    """`/mentor NUMBER`: choose the mentor of an apprentice (a company contact or a volunteer)."""
    if not argument.strip():
        turn.say(N_("Please write the number of the apprentice, for example /mentor 12."))
        return
    participant = await one_participant(turn, argument)
    if participant is None:
        return
    profile = await turn.session.get(Profile, participant.id)
    if profile is None or profile.stage != "apprenticeship":
        turn.say(N_("{participant} is not in an apprenticeship (Ausbildung)."),
                 participant=participant_label(turn.t, participant))
        return
    options = _mentor_options(turn, await _mentors(turn))
    if not options:
        turn.say(N_("There is nobody to choose yet: please invite a company contact or a volunteer first."))
        return
    start_flow(turn, "mentor", {"participant": participant.id,
                                "mentors": [{"key": c.key, "label": c.label} for c in options]})


async def _mentors(turn: Turn) -> list[Person]:
    return list((await turn.session.scalars(select(Person).where(Person.role.in_((COMPANY, "volunteer")),
                                                                 Person.privacy_version.is_not(None) |
                                                                 (Person.role == COMPANY)).order_by(
        Person.role, Person.id).limit(60))).all())


async def _mentor_button(turn: Turn, payload: str) -> None:
    """"Assign a mentor" under a recorded Ausbildung contract or an ending after a change of company."""
    if not payload.isdigit() or len(payload) > 9 or not may(turn.person, Action.BE_RESPONSIBLE):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    await mentor_command(turn, payload)


def _mentor_options(turn: Turn, people: list[Person]) -> list[Choice]:
    options = []
    for person in people:
        where = company_name(turn.network, person.organisation or "") if person.role == COMPANY else turn.t(
            N_("Volunteer"))
        options.append(Choice(str(person.id), f"{participant_label(turn.t, person)} – {where}"))
    return options


def mentor_options(turn: Turn) -> list[Choice]:
    return [Choice(str(c["key"]), str(c["label"])) for c in turn.data.get("mentors", [])]


async def _mentor_chosen(turn: Turn, value: Any) -> Next:
    return "school"


async def _mentor_done(turn: Turn, value: Any) -> Next:
    participant = await turn.session.get(Person, int(turn.data.get("participant", 0)))
    mentor = await turn.session.get(Person, int(turn.data.get("mentor", 0)))
    if participant is None or mentor is None or mentor.role not in (COMPANY, "volunteer"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    mentorship = (await turn.session.scalars(select(Mentorship).where(
        Mentorship.participant_id == participant.id))).first()
    if mentorship is None:
        mentorship = Mentorship(participant_id=participant.id, status="active", started_at=turn.now,
                                next_due_at=out_of_quiet_hours(turn.now + EVERY, participant.time_zone))
        turn.session.add(mentorship)
    mentorship.mentor_id, mentorship.status = mentor.id, "active"
    if value:
        mentorship.school = str(value)[:MAX_SCHOOL]
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="mentoring.assigned",
                                at=turn.now, details={"mentor": mentor.id}))
    profile = await turn.session.get(Profile, participant.id)
    turn.say(N_("{mentor} is now the mentor of {participant}. Lotse asks the apprentice every four weeks how it is "
                "going."), mentor=person_label(turn.t, turn.network, mentor),
             participant=participant_label(turn.t, participant))
    found = await messages_for(turn.session, mentor, lambda t: t(N_(
        "You are now the mentor of {participant} in their apprenticeship (Ausbildung). Lotse asks them every four "
        "weeks how it is going and tells you early when it is not going well."),
        participant=apprentice_label(t, mentor, participant, profile)))
    turn.outgoing.extend(found)
    return END


MENTOR = Flow(name="mentor", roles=PLACE_STAFF, steps=(
    Step(name="mentor", prompt=N_("Who will be the mentor? A contact at a company or a volunteer."),
         kind=InputKind.CHOICE, options=mentor_options, on_answer=_mentor_chosen, next="school",
         describe="company contacts and volunteers"),
    Step(name="school", prompt=N_("Which vocational school (BBS)? Write the name, or tap Skip."), kind=InputKind.TEXT,
         optional=True, max_length=MAX_SCHOOL, on_answer=_mentor_done, next=END, describe="optional"),
))


# ---------------------------------------------------------------------------------------------------------------
# In /case: the places, match-making days and mentoring of one participant


async def case_lines(session: AsyncSession, t: Translator, network: Network, participant: Person,
                     now: datetime) -> list[str]:
    from flows.places import kind_name
    from flows.proposals import CAME, NOT_CAME, STATUS_NAMES
    from storage.models import MatchingDay, MatchingInvite, Place, Proposal

    lines = [t(N_("Place no. {number} ({kind}, {company}): {status}"), number=place.id,
               kind=kind_name(t, place.kind), company=company_name(network, place.organisation),
               status=t(STATUS_NAMES.get(proposal.status, STATUS_NAMES["offered"])) + (
                   "" if proposal.attended is None else ", " + t(CAME if proposal.attended else NOT_CAME)))
             for proposal, place in (await session.execute(select(Proposal, Place).join(
                 Place, Place.id == Proposal.place_id).where(Proposal.participant_id == participant.id)
                 .order_by(Proposal.id))).all()]
    from flows.proposals import MIDWAY_ANSWERS
    from storage.models import PlacementFollowUp

    for follow_up, proposal in (await session.execute(select(PlacementFollowUp, Proposal).join(
            Proposal, Proposal.id == PlacementFollowUp.proposal_id).where(
            Proposal.participant_id == participant.id, PlacementFollowUp.kind == "company_midway",
            PlacementFollowUp.status == "answered").order_by(PlacementFollowUp.id))).all():
        given = follow_up.answer or {}
        said = str(given.get("answer"))
        lines.append(t(N_("Place no. {number}, halfway, the company said: {answer}"), number=proposal.place_id,
                       answer=t(MIDWAY_ANSWERS[said]) if said in MIDWAY_ANSWERS else "–")
                     + (f" – {str(given['text'])[:120]}" if given.get("text") else ""))
    for invite, day in (await session.execute(select(MatchingInvite, MatchingDay).join(
            MatchingDay, MatchingDay.id == MatchingInvite.day_id).where(
            MatchingInvite.participant_id == participant.id).order_by(MatchingDay.starts_at))).all():
        answer = {"yes": N_("Yes"), "no": N_("No")}.get(invite.status)
        said = t(answer) if answer else "–"
        if invite.attended is not None:
            said = f"{said}, {t(CAME if invite.attended else NOT_CAME)}"
        if day.status == "cancelled":
            said = f"{said} ({t(CANCELLED)})"
        lines.append(t(N_("Match-making day no. {number}, {date}: {answer}"), number=day.id,
                       date=t.date(day.starts_at, "medium"), answer=said))
    lines += await contract_lines(session, t, network, participant)
    if participant.role == "participant":
        lines.append(t(N_("Contract signed? Record it: /contract {number}"), number=participant.id))
    mentorship = (await session.scalars(select(Mentorship).where(Mentorship.participant_id == participant.id))).first()
    if mentorship is not None:
        mentor = await session.get(Person, mentorship.mentor_id) if mentorship.mentor_id else None
        lines.append(t(N_("Mentor: {mentor}"), mentor=person_label(t, network, mentor) if mentor else t(
            N_("no mentor yet"))) + (f" · {mentorship.school}" if mentorship.school else ""))
        for ending in (await session.scalars(select(MentorshipEnding).where(
                MentorshipEnding.mentorship_id == mentorship.id).order_by(MentorshipEnding.ended_at))).all():
            lines.append(t(N_("Mentoring ended on {date}: {reason}"), date=t.date(ending.ended_at, "medium"),
                           reason=t(ENDINGS.get(ending.reason, ENDINGS["other"])))
                         + (f" – {ending.note[:120]}" if ending.note else ""))
        for checkin in (await session.scalars(select(MentoringCheckIn).where(
                MentoringCheckIn.mentorship_id == mentorship.id).order_by(MentoringCheckIn.sent_at.desc())
                .limit(6))).all():
            answer = t(ANSWERS[checkin.answer]) if checkin.answer in ANSWERS else "–"
            lines.append(t(N_("Check-in {date}: {answer}"), date=t.date(checkin.sent_at, "medium"), answer=answer)
                         + (" ⚠" if checkin.warned else "") + (f" – {checkin.text[:120]}" if checkin.text else ""))
    return lines


# ---------------------------------------------------------------------------------------------------------------
# A mentorship that opens again, and one ended by hand


ENDINGS: dict[str, str] = {
    "finished": N_("Apprenticeship finished"),
    "dropped": N_("Dropped out of the apprenticeship"),
    "changed": N_("Changed company"),
    "other": N_("Something else"),
}


async def _may_end(turn: Turn, mentorship: Mentorship) -> bool:
    """The mentor, a coordinator responsible for the apprentice, or an admin."""
    if mentorship.status != "active":
        return False
    if mentorship.mentor_id == turn.person.id or may(turn.person, Action.SEE_ALL):
        return True
    return may(turn.person, Action.BE_RESPONSIBLE) and await is_responsible(
        turn.session, turn.network, turn.person, mentorship.participant_id)


async def mentorships_command(turn: Turn, argument: str = "") -> None:
    """`/mentoring`: the active mentorships this person may end (as mentor or coordinator), to choose one."""
    found = []
    for mentorship, participant in (await turn.session.execute(select(Mentorship, Person).join(
            Person, Person.id == Mentorship.participant_id).where(Mentorship.status == "active")
            .order_by(Person.id).limit(200))).all():
        if await _may_end(turn, mentorship):
            profile = await turn.session.get(Profile, participant.id)
            found.append({"key": str(mentorship.id), "label": apprentice_label(turn.t, turn.person, participant,
                                                                              profile)})
    if not found:
        turn.say(N_("No mentoring is running for you."))
        return
    if may(turn.person, Action.ACT_FOR_COMPANY):  # what a company contact is shown goes to the audit log
        turn.session.add(AuditEntry(actor_id=turn.person.id, action="company.mentorships.listed", at=turn.now,
                                    details={"mentorships": [int(c["key"]) for c in found[:40]]}))
    start_flow(turn, "end_mentoring", {"mentorships": found[:40]})


def mentorship_options(turn: Turn) -> list[Choice]:
    return [Choice(str(c["key"]), str(c["label"])) for c in turn.data.get("mentorships", [])]


def ending_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in ENDINGS.items()]


def _note_text(turn: Turn, value: Any) -> Any:
    from flows.cases import _reason  # the same rule as a stage change's note: words, not only signs

    return _reason(turn, value)


async def _ended(turn: Turn, value: Any) -> Next:
    from bot.services.stages import stage_name
    from flows.cases import change_stage

    mentorship = await turn.session.get(Mentorship, int(turn.data.get("which", 0)))
    reason = str(turn.data.get("reason"))
    if mentorship is None or reason not in ENDINGS or not await _may_end(turn, mentorship):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    participant = await turn.session.get_one(Person, mentorship.participant_id)
    note = str(value)[:MAX_TEXT] if value else None
    turn.session.add(MentorshipEnding(mentorship_id=mentorship.id, participant_id=participant.id,
                                      mentor_id=mentorship.mentor_id, ended_by_id=turn.person.id, reason=reason,
                                      note=note, ended_at=turn.now))
    mentorship.status = "ended"
    for checkin in (await turn.session.scalars(select(MentoringCheckIn).where(
            MentoringCheckIn.mentorship_id == mentorship.id, MentoringCheckIn.status == "sent"))).all():
        checkin.status = "closed"  # its buttons stop working, and it never counts as missed
    profile = await turn.session.get(Profile, participant.id)
    if reason == "dropped" and profile is not None and profile.stage == "apprenticeship":
        await change_stage(turn.session, participant.id, "matching", turn.person.id, turn.now,
                           reason=lotse_reason(N_("mentoring ended: dropped out of the apprenticeship")))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, action="mentoring.ended",
                                at=turn.now, details={"mentorship": mentorship.id, "reason": reason}))
    # Still in an Ausbildung at another company: the coordinators get the button for a new mentor right away.
    new_mentor = reason == "changed" and profile is not None and profile.stage == "apprenticeship"
    choices = [mentor_choice(turn.t, participant.id)] if new_mentor and may(turn.person, Action.BE_RESPONSIBLE) else []
    turn.send(turn.t(N_("The mentoring of {participant} has ended ({reason}). No more check-ins go out. Stage: "
                        "{stage}."), participant=apprentice_label(turn.t, turn.person, participant, profile),
                     reason=turn.t(ENDINGS[reason]), stage=stage_name(turn.t, profile.stage if profile else None)),
              choices, selection="single" if choices else "none")

    def to_apprentice(t: Translator) -> str:
        return t(N_("Your mentoring has ended ({reason}). Lotse no longer asks how your apprenticeship is going. If "
                    "you need help, write to us here."), reason=t(ENDINGS[reason]))

    turn.outgoing.extend(await messages_for(turn.session, participant, to_apprentice))
    readers = [r for r in await responsible_staff(turn.session, turn.network, participant) if r.id != turn.person.id]
    mentor = await turn.session.get(Person, mentorship.mentor_id) if mentorship.mentor_id else None
    if mentor is not None and mentor.id != turn.person.id and mentor.id not in {r.id for r in readers}:
        readers.append(mentor)
    who = turn.person.display_name or str(turn.person.id)
    for reader in readers:
        def render(t: Translator, reader: Person = reader) -> str:
            return t(N_("The mentoring of {participant} was ended on {date} by {who}: {reason}."),
                     participant=apprentice_label(t, reader, participant, profile), date=t.date(turn.now, "medium"),
                     who=who, reason=t(ENDINGS[reason]))

        button = new_mentor and may(reader, Action.BE_RESPONSIBLE)
        turn.outgoing.extend(await messages_for(turn.session, reader, render,
                                                (lambda t: [mentor_choice(t, participant.id)]) if button else None))
    return END


END_MENTORING = Flow(name="end_mentoring", roles=frozenset({*PLACE_STAFF, COMPANY, "volunteer"}), steps=(
    Step(name="which", prompt=N_("Which mentoring do you want to end?"), kind=InputKind.CHOICE,
         options=mentorship_options, next="reason", describe="the active mentorships one mentors or answers for"),
    Step(name="reason", prompt=N_("Why does the mentoring end?"), kind=InputKind.CHOICE, options=ending_options,
         next="note", describe="finished, dropped out, changed company, something else"),
    Step(name="note", prompt=N_("A short note for the record? (optional)"), kind=InputKind.TEXT, optional=True,
         max_length=500, validate=_note_text, on_answer=_ended, next=END,
         describe="optional; check-ins stop, everyone is told; a drop-out moves the stage back to Matching"),
))


CANCELLED = N_("cancelled")
CASE_SECTIONS.append((N_("Places, match-making days and mentoring"), case_lines))
register(MENTOR, Command("mentor", N_("Assign a mentor to an apprentice: /mentor NUMBER"), action=mentor_command,
                         roles=PLACE_STAFF))
register(MENTORING_NOTE)
register(END_MENTORING, Command("mentoring", N_("End a mentoring (finished, dropped out, changed company)"),
                                action=mentorships_command, roles=frozenset({*PLACE_STAFF, COMPANY, "volunteer"})))
register_button("mt", _checkin_button)
register_button(MENTOR_BUTTON, _mentor_button)
