"""Match-making days (Matching): companies and participants meet; mutual wishes afterwards become proposals.

1. A coordinator creates the day (`/matchingday`): when, where, district, the companies taking part, the fields.
   Lotse ranks the participants the coordinator may see with the same explainable rules as `/find` and the
   placement ranking (`flows.find.search`, per field); the coordinator chooses whom to invite.
2. Each invited participant reads the invitation in their language and answers Yes / No. A yes books an
   appointment of kind "matching", so the usual reminders (the `reminders` table and its waker) follow.
3. The companies' contacts see who is coming (`/matchingday NUMBER`) by the partner-companies consent rules:
   without consent goals, German level, fields and times only, never name or phone. Every view is audited.
   The evening before, they get a reminder with the number of people coming.
4. After the day, each side is asked whom they want to meet again (one button each). When both sides named each
   other, the company's open place (in one of the day's fields if there is one) is offered to the participant
   by the existing proposal path (`flows.proposals`): the participant says yes, the company accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import COMPANY, PLACE_STAFF, company_sees_name
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, company_name, district_name, field_name
from bot.core.notify import enqueue, messages_for
from bot.core.text import clean_text
from bot.services.reminders import appointment_key, drop, load_event, plan, reminder_buttons
from bot.services.stages import lotse_reason
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.find import ANY, MAX_RESULTS, Criteria, search
from flows.intake import answer_text, participant_label
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.moments import moment_examples, parse_moment
from flows.places import _short_text, audit_company_view, company_options, district_options, occupation_options
from flows.registry import Command, register, register_button, start_flow
from storage.models import (
    Appointment,
    Attendance,
    AuditEntry,
    MatchingDay,
    MatchingInvite,
    MatchingWish,
    Person,
    Place,
    Profile,
    Proposal,
)

BERLIN = ZoneInfo("Europe/Berlin")
ROLES = frozenset({*PLACE_STAFF, COMPANY})
PLACED = ("apprenticeship", "employment")
WISHES_AFTER = timedelta(hours=6)
"""The wishes are asked for this long after the day began (the day is over by then)."""
MAX_SITE = 200
CAME, NOT_CAME = N_("came"), N_("did not come")


def _fields(t: Translator, network: Network, day: MatchingDay) -> str:
    return ", ".join(field_name(t, network, key) for key in day.occupations) or "–"


def _companies(network: Network, day: MatchingDay) -> str:
    return ", ".join(company_name(network, key) for key in day.companies) or "–"


def may_see_day(person: Person, day: MatchingDay) -> bool:
    """Staff see every day; a company contact only the days their company takes part in."""
    if person.role in PLACE_STAFF:
        return True
    return person.role == COMPANY and bool(person.organisation) and person.organisation in day.companies


# ---------------------------------------------------------------------------------------------------------------
# 1. Creating the day and inviting


def _draft(turn: Turn) -> MatchingDay:
    data = turn.data
    return MatchingDay(starts_at=datetime.fromisoformat(data["when"]), site=data["site"], district=data["district"],
                       companies=list(data["companies"]), occupations=list(data["fields"]), status="planned")


def _summary(turn: Turn) -> str:
    day = _draft(turn)
    t = turn.t
    return "\n".join([t(N_("Match-making day (Matching): {when}, {site} ({district})"), when=t.when(day.starts_at),
                        site=day.site, district=district_name(t, turn.network, day.district)),
                      t(N_("Companies: {companies}"), companies=_companies(turn.network, day)),
                      t(N_("Fields: {fields}"), fields=_fields(t, turn.network, day)),
                      "", t(N_("Save this and choose whom to invite?"))])


def _examples(turn: Turn) -> dict[str, object]:
    """The prompt's examples, computed from today, each one the parser reads (the fixed "24.11." had passed)."""
    return dict(moment_examples(turn.now, turn.person.time_zone, turn.t.locale))


def _future_moment(turn: Turn, value: Any) -> str:
    moment = parse_moment(str(value), turn.now, turn.person.time_zone, turn.t.locale)
    if moment <= turn.now:
        raise Invalid(N_("This moment is in the past. Please write a day and time from now on."))
    return moment.isoformat()


async def _when(turn: Turn, value: Any) -> Next:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    turn.data["when"] = moment.astimezone(UTC).isoformat()
    return "site"


async def candidates_for(turn: Turn, day: MatchingDay) -> list[dict[str, Any]]:
    """The participants who fit one of the day's fields, best first, with reasons (the rules of /find)."""
    already = set((await turn.session.scalars(select(MatchingInvite.participant_id).where(
        MatchingInvite.day_id == day.id))).all()) if day.id else set()
    found: dict[int, dict[str, Any]] = {}
    same = turn.t(N_("lives in the same district"))
    for occupation in day.occupations or [ANY]:
        for match in await search(turn, Criteria(occupation=occupation)):
            if match.person.id in already or match.profile.stage in PLACED:
                continue
            reasons = list(match.reasons)
            if match.person.district == day.district:
                reasons.insert(0, same)
            entry = found.setdefault(match.person.id, {"id": match.person.id, "points": 0, "why": [],
                                                       "label": participant_label(turn.t, match.person)})
            entry["points"] += match.points + (2 if match.person.district == day.district else 0)
            entry["why"] += [reason for reason in reasons if reason not in entry["why"]]
    ranked = sorted(found.values(), key=lambda c: (-c["points"], c["id"]))[:MAX_RESULTS]
    return [{"id": c["id"], "label": c["label"], "why": "; ".join(c["why"]) or turn.t(N_("fits the filters"))}
            for c in ranked]


async def _save(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was saved."))
        return END
    day = _draft(turn)
    day.created_by_id, day.created_at = turn.person.id, turn.now
    turn.session.add(day)
    await turn.session.flush()
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="matching_day.created", at=turn.now,
                                details={"day": day.id, "companies": day.companies}))
    candidates = await candidates_for(turn, day)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="participants.searched", at=turn.now,
                                details={"matching_day": day.id, "shown": [c["id"] for c in candidates]}))
    turn.data.update(day=day.id, candidates=candidates)
    if not candidates:
        turn.say(N_("Saved: match-making day no. {number}. Nobody fits its fields yet."), number=day.id)
        return END
    return "invite"


def _candidate_options(turn: Turn) -> list[Choice]:
    return [Choice(str(c["id"]), c["label"]) for c in turn.data.get("candidates", [])]


def _candidates_text(turn: Turn) -> str:
    lines = [turn.t(N_("Saved: match-making day no. {number}. Participants who fit, the best first:"),
                    number=turn.data.get("day"))]
    lines += [f"{n}. {c['label']} – {c['why']}" for n, c in enumerate(turn.data.get("candidates", []), start=1)]
    lines += ["", turn.t(N_("Whom do you want to invite? They get the invitation in their language."))]
    return "\n".join(lines)


def invitation_text(t: Translator, network: Network, day: MatchingDay) -> str:
    return "\n".join([t(N_("You are invited to a match-making day (Matching): companies meet people who are "
                           "looking for work or an apprenticeship.")),
                      t(N_("Field: {field}"), field=_fields(t, network, day)),
                      t(N_("When: {when}"), when=t.when(day.starts_at)),
                      t(N_("Where: {district}"), district=f"{day.site} ({district_name(t, network, day.district)})"),
                      "", t(N_("Would you like to come?"))])


def invitation_buttons(t: Translator, invite: MatchingInvite) -> list[Choice]:
    return [Choice(button_key("md", f"y:{invite.id}"), t(N_("Yes"))),
            Choice(button_key("md", f"n:{invite.id}"), t(N_("No")))]


async def _invite(turn: Turn, value: Any) -> Next:
    day = await turn.session.get(MatchingDay, int(turn.data.get("day", 0)))
    if day is None or day.status not in ("planned", "reminded"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    chosen = {str(c["id"]): c for c in turn.data.get("candidates", [])}
    sent = 0
    for key in value:
        participant = await turn.session.get(Person, int(key)) if str(key) in chosen else None
        if participant is None or participant.privacy_version is None:
            continue
        invite = MatchingInvite(day_id=day.id, participant_id=participant.id, status="invited",
                                reasons=chosen[str(key)]["why"])
        turn.session.add(invite)
        await turn.session.flush()
        turn.outgoing.extend(await messages_for(turn.session, participant,
                                                partial(invitation_text, network=turn.network, day=day),
                                                partial(invitation_buttons, invite=invite)))
        turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant.id, at=turn.now,
                                    action="matching_day.invited", details={"day": day.id}))
        sent += 1
    turn.say(N_("Invitations sent: {count}. See who is coming with /matchingday {number}."), count=sent,
             number=day.id)
    return END


MATCHING_DAY = Flow(name="matching_day", roles=PLACE_STAFF, steps=(
    Step(name="when", prompt=N_("When? For example: {weekday}, {day} or {tomorrow}."), prompt_values=_examples,
         kind=InputKind.TEXT, validate=_future_moment, max_length=100, on_answer=_when, next="site",
         describe="day and time, read as an appointment's"),
    Step(name="site", prompt=N_("What is the address of the site (street, town)?"), kind=InputKind.TEXT,
         validate=_short_text(MAX_SITE), max_length=MAX_SITE, next="district", describe="address"),
    Step(name="district", prompt=N_("In which district is the site?"), kind=InputKind.CHOICE,
         options=district_options, next="companies", describe="district"),
    Step(name="companies", prompt=N_("Which companies take part?"), kind=InputKind.MULTI, options=company_options,
         next="fields", describe="partner companies"),
    Step(name="fields", prompt=N_("Which occupational fields?"), kind=InputKind.MULTI, options=occupation_options,
         next="confirm", describe="the potential check's fields"),
    Step(name="confirm", prompt=N_("Save this and choose whom to invite?"), kind=InputKind.YES_NO, text=_summary,
         on_answer=_save, next="invite", describe="summary; then the ranked participants"),
    Step(name="invite", prompt=N_("Whom do you want to invite? They get the invitation in their language."),
         kind=InputKind.MULTI, options=_candidate_options, text=_candidates_text, on_answer=_invite, next=END,
         describe="ranked participants with reasons; each gets the invitation"),
))


# ---------------------------------------------------------------------------------------------------------------
# 2. The participant's answer


async def _invitation_button(turn: Turn, payload: str) -> None:
    from flows.appointments import BOOKED, notice_for

    answer, _, number = payload.partition(":")
    invite = await turn.session.get(MatchingInvite, int(number)) if number.isdigit() and len(number) < 10 else None
    day = await turn.session.get(MatchingDay, invite.day_id) if invite else None
    if invite is None or day is None or invite.participant_id != turn.person.id or answer not in ("y", "n"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if day.status not in ("planned", "reminded") or day.starts_at <= turn.now:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if invite.status != "invited":
        turn.say(N_("You have already answered this offer. Thank you."))
        return
    invite.answered_at = turn.now
    if answer == "n":
        invite.status = "no"
        turn.say(N_("All right. Thank you for telling us. We will look for something else with you."))
        return
    invite.status = "yes"
    appointment = Appointment(participant_id=turn.person.id, booked_by_id=day.created_by_id, kind="matching",
                              starts_at=day.starts_at, place=day.site, note=_companies(turn.network, day),
                              status="scheduled", created_at=turn.now, updated_at=turn.now)
    turn.session.add(appointment)
    await turn.session.flush()
    invite.appointment_id = appointment.id
    await plan(turn.session, turn.person, appointment_key(appointment.id), day.starts_at, turn.now, new_event=True)
    event = await load_event(turn.session, appointment_key(appointment.id))
    assert event is not None
    turn.outgoing.extend(await notice_for(turn.session, turn.person, BOOKED, event))
    from flows.proposals import move_forward

    await move_forward(turn.session, turn.person.id, "matching", turn.person.id, turn.now,
                       lotse_reason(N_("coming to match-making day no. {number}"), number=day.id))


# ---------------------------------------------------------------------------------------------------------------
# 3. Who is coming: staff and the companies taking part (by the consent rules)


def attendee_lines(t: Translator, network: Network, reader: Person, participant: Person, profile: Profile | None,
                   ) -> list[str]:
    from flows.proposals import COMPANY_LABELS

    shares = bool(profile and profile.share_with_companies)
    who = participant_label(t, participant) if company_sees_name(reader, shares) else t(
        N_("candidate no. {candidate}"), candidate=participant.id)
    answers = dict(profile.answers) if profile else {}
    details = [f"{t(label)}: {answer_text(t, network, answers, key)}" for key, label in COMPANY_LABELS.items()
               if answers.get(key)]
    return [f"– {who}", *(f"  {line}" for line in details)]


async def day_text(turn: Turn, day: MatchingDay) -> str:
    t = turn.t
    rows = (await turn.session.execute(select(MatchingInvite, Person, Profile).join(
        Person, Person.id == MatchingInvite.participant_id).outerjoin(Profile, Profile.person_id == Person.id)
        .where(MatchingInvite.day_id == day.id).order_by(MatchingInvite.id))).all()
    coming = [(invite, person, profile) for invite, person, profile in rows if invite.status == "yes"]
    lines = [t(N_("Match-making day no. {number}: {when}, {site} ({district})"), number=day.id,
               when=t.when(day.starts_at), site=day.site, district=district_name(t, turn.network, day.district)),
             *([t(N_("Cancelled."))] if day.status == "cancelled" else []),
             t(N_("Companies: {companies}"), companies=_companies(turn.network, day)),
             t(N_("Fields: {fields}"), fields=_fields(t, turn.network, day)),
             t(N_("Invited: {invited}, coming: {coming}, not coming: {declined}"), invited=len(rows),
               coming=len(coming), declined=sum(1 for invite, _, _ in rows if invite.status == "no")), ""]
    if any(invite.attended is not None for invite, _, _ in coming):
        lines.append(t(N_("Came: {came} of {coming}"), came=sum(1 for invite, _, _ in coming if invite.attended),
                       coming=len(coming)))
    for invite, person, profile in coming:
        lines += attendee_lines(t, turn.network, turn.person, person, profile)
        if invite.attended is not None:
            lines.append("  " + t(CAME if invite.attended else NOT_CAME))
        audit_company_view(turn, "company.matching_day.attendee", {
            "day": day.id, "name_shared": bool(profile and profile.share_with_companies)}, subject=person.id)
    return "\n".join(lines)


async def matching_day_command(turn: Turn, argument: str) -> None:
    """`/matchingday`: plan one (coordinators); `/matchingday NUMBER`: who is coming; without a number for
    a company: the days it takes part in."""
    text = clean_text(argument).lstrip("#")
    if text:
        day = await turn.session.get(MatchingDay, int(text)) if text.isdigit() and len(text) < 10 else None
        if day is None or not may_see_day(turn.person, day):
            turn.say(N_("I found no match-making day with the number {number}."), number=text[:12])
            return
        buttons = staff_buttons(turn.t, day, turn.now) if turn.person.role in PLACE_STAFF else []
        turn.send(await day_text(turn, day), buttons, selection="single" if buttons else "none")
        return
    if turn.person.role in PLACE_STAFF:
        start_flow(turn, "matching_day")
        return
    days = [day for day in (await turn.session.scalars(select(MatchingDay).where(
        MatchingDay.status != "cancelled", MatchingDay.starts_at >= turn.now - timedelta(days=1)).order_by(
        MatchingDay.starts_at))).all() if may_see_day(turn.person, day)]
    if not days:
        turn.say(N_("No match-making days for you yet."))
        return
    turn.send("\n".join(turn.t(N_("#{number} · {when} · {site}"), number=day.id, when=turn.t.when(day.starts_at),
                               site=day.site) for day in days))


# ---------------------------------------------------------------------------------------------------------------
# 4. The evening before (companies), and afterwards: whom to meet again


async def company_contacts(session: AsyncSession, organisations: list[Any]) -> list[Person]:
    return list((await session.scalars(select(Person).where(Person.role == COMPANY, Person.organisation.in_(
        [str(o) for o in organisations])).order_by(Person.id))).all())


async def _coming(session: AsyncSession, day: MatchingDay, came: bool = False,
                  ) -> list[tuple[Person, Profile | None]]:
    """Those who said yes; with `came`, only those the coordinator recorded as having come."""
    statement = select(Person, Profile).join(MatchingInvite, MatchingInvite.participant_id == Person.id).outerjoin(
        Profile, Profile.person_id == Person.id).where(MatchingInvite.day_id == day.id, MatchingInvite.status == "yes")
    if came:
        statement = statement.where(MatchingInvite.attended.is_(True))
    rows = (await session.execute(statement.order_by(Person.id))).all()
    return [(person, profile) for person, profile in rows]


async def attendance_recorded(session: AsyncSession, day: MatchingDay) -> bool:
    return await session.scalar(select(MatchingInvite.id).where(
        MatchingInvite.day_id == day.id, MatchingInvite.attended.is_not(None)).limit(1)) is not None


async def ask_wishes(session: AsyncSession, network: Network, day: MatchingDay) -> list[Any]:
    """Whom to meet again: asked of the participants who came and of the companies' contacts (once: the day's
    status becomes "asked")."""
    day.status = "asked"
    coming = await _coming(session, day, came=True)
    found: list[Any] = []
    if not coming:
        return found
    for person, _profile in coming:
        found += await messages_for(session, person, _participant_wish_text,
                                    partial(_participant_wish_buttons, network=network, day=day))
    for contact in await company_contacts(session, day.companies):
        found += await messages_for(session, contact, partial(_company_wish_text, day=day),
                                    partial(_company_wish_buttons, reader=contact, day=day, coming=coming))
    return found


def _reminder(t: Translator, day: MatchingDay, count: int) -> str:
    return t(N_("Reminder: tomorrow is match-making day no. {number}, {when}, at {site}. Coming: {count}. "
                "See who with /matchingday {number}."), number=day.id, when=t.when(day.starts_at), site=day.site,
             count=count)


def _participant_wish_text(t: Translator) -> str:
    return t(N_("Thank you for the match-making day. Which companies would you like to meet again? Tap each one."))


def _participant_wish_buttons(t: Translator, network: Network, day: MatchingDay) -> list[Choice]:
    return [*(Choice(button_key("mw", f"p:{day.id}:{key}"), company_name(network, key)) for key in day.companies),
            Choice(button_key("mw", f"none:{day.id}:-"), t(N_("None")))]


def _company_wish_text(t: Translator, day: MatchingDay) -> str:
    return t(N_("Whom from match-making day no. {number} would you like to meet again? Tap each one."),
             number=day.id)


def _company_wish_buttons(t: Translator, reader: Person, day: MatchingDay,
                          coming: list[tuple[Person, Profile | None]]) -> list[Choice]:
    buttons = []
    for person, profile in coming:
        shares = bool(profile and profile.share_with_companies)
        label = participant_label(t, person) if company_sees_name(reader, shares) else t(
            N_("candidate no. {candidate}"), candidate=person.id)
        buttons.append(Choice(button_key("mw", f"c:{day.id}:{person.id}"), label))
    return buttons


def _with_local_evening(day: MatchingDay, time_zone: str) -> datetime:
    zone = ZoneInfo(time_zone)
    return datetime.combine(day.starts_at.astimezone(zone).date() - timedelta(days=1), time(18),
                            tzinfo=zone).astimezone(UTC)


async def matching_day_round(session: AsyncSession, network: Network, now: datetime) -> int:
    """The companies' reminder the evening before and, after the day, the question whom to meet again.

    Each step flips the day's status first (planned -> reminded -> asked), so nothing goes out twice."""
    sent = 0
    days = (await session.scalars(select(MatchingDay).where(MatchingDay.status.in_(("planned", "reminded")))
                                  .order_by(MatchingDay.id).limit(50))).all()
    for day in days:
        if day.status == "planned" and _with_local_evening(day, "Europe/Berlin") <= now:
            day.status = "reminded"  # a day planned too late for the evening before gets no reminder
            if now < day.starts_at:
                coming = await _coming(session, day)
                for contact in await company_contacts(session, day.companies):
                    found = await messages_for(session, contact, partial(_reminder, day=day, count=len(coming)))
                    enqueue(session, found, now)
                    sent += len(found)
        if day.status == "reminded" and day.starts_at + WISHES_AFTER <= now:
            if await attendance_recorded(session, day) or not await _coming(session, day):
                found = await ask_wishes(session, network, day)
            else:  # the wishes wait until the coordinator says who came
                day.status = "held"
                planner = await session.get(Person, day.created_by_id) if day.created_by_id else None
                found = await messages_for(session, planner, partial(_who_came_text, day=day), partial(
                    staff_buttons, day=day, now=now)) if planner is not None else []
            enqueue(session, found, now)
            sent += len(found)
    return sent


def _who_came_text(t: Translator, day: MatchingDay) -> str:
    return t(N_("Match-making day no. {number} is over. Who came? The question whom to meet again goes only to them."),
             number=day.id)


async def next_matching_moment(session: AsyncSession) -> datetime | None:
    days = (await session.scalars(select(MatchingDay).where(MatchingDay.status.in_(("planned", "reminded")))
                                  .order_by(MatchingDay.starts_at).limit(50))).all()
    moments = [(_with_local_evening(day, "Europe/Berlin") if day.status == "planned" else day.starts_at + WISHES_AFTER)
               for day in days]
    return min(moments, default=None)


async def _wish_button(turn: Turn, payload: str) -> None:
    side, _, rest = payload.partition(":")
    number, _, other = rest.partition(":")
    day = await turn.session.get(MatchingDay, int(number)) if number.isdigit() and len(number) < 10 else None
    stale = N_("This button belongs to an earlier question and no longer works.")
    if day is None or day.status != "asked":
        turn.say(stale)
        return
    coming = {person.id for person, _ in await _coming(turn.session, day, came=True)}
    if side == "none" and turn.person.id in coming:
        turn.say(N_("Thank you for telling us."))
        return
    if side == "p" and turn.person.id in coming and other in day.companies:
        participant_id, organisation = turn.person.id, other
        label = company_name(turn.network, other)
    elif (side == "c" and turn.person.role == COMPANY and turn.person.organisation in day.companies
          and other.isdigit() and int(other) in coming):
        participant_id, organisation = int(other), str(turn.person.organisation)
        label = turn.t(N_("candidate no. {candidate}"), candidate=participant_id)
    else:
        turn.say(stale)
        return
    role = "participant" if side == "p" else "company"
    exists = await turn.session.scalar(select(MatchingWish.id).where(
        MatchingWish.day_id == day.id, MatchingWish.participant_id == participant_id,
        MatchingWish.organisation == organisation, MatchingWish.side == role))
    if exists is None:
        turn.session.add(MatchingWish(day_id=day.id, participant_id=participant_id, organisation=organisation,
                                      side=role, by_id=turn.person.id, created_at=turn.now))
        turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant_id, at=turn.now,
                                    action="matching_day.wish", details={"day": day.id, "organisation": organisation,
                                                                         "side": role}))
    turn.say(N_("Noted: {name}. You can tap another one too."), name=label)
    other_side = "company" if role == "participant" else "participant"
    mutual = await turn.session.scalar(select(MatchingWish.id).where(
        MatchingWish.day_id == day.id, MatchingWish.participant_id == participant_id,
        MatchingWish.organisation == organisation, MatchingWish.side == other_side))
    if exists is None and mutual is not None:
        await _mutual(turn, day, participant_id, organisation)


async def _mutual(turn: Turn, day: MatchingDay, participant_id: int, organisation: str) -> None:
    """Both sides want to meet again: the company's open place goes to the participant as an offer."""
    from flows.proposals import move_forward, offer_buttons, offer_text, shares_with_companies

    participant = await turn.session.get_one(Person, participant_id)
    places = (await turn.session.scalars(select(Place).where(
        Place.organisation == organisation, Place.status == "open").order_by(Place.starts_on, Place.id))).all()
    taken = set((await turn.session.scalars(select(Proposal.place_id).where(
        Proposal.participant_id == participant_id))).all())
    places = [place for place in places if place.id not in taken]
    places.sort(key=lambda place: place.occupation not in day.occupations)
    coordinator = await turn.session.get(Person, day.created_by_id) if day.created_by_id else None
    de = Translator("de")
    label, company = participant_label(de, participant), company_name(turn.network, organisation)
    if not places:
        if coordinator is not None:
            await turn.tell(coordinator, N_("Both want to meet again: {participant} and {company}. The company has "
                                            "no open place in Lotse: please call them."), participant=label,
                            company=company)
        return
    place = places[0]
    proposal = Proposal(place_id=place.id, participant_id=participant_id, proposed_by_id=day.created_by_id,
                        status="offered", reasons=f"match-making day no. {day.id}: both want to meet again",
                        created_at=turn.now)
    turn.session.add(proposal)
    await turn.session.flush()
    turn.outgoing.extend(await messages_for(turn.session, participant,
                                            partial(offer_text, network=turn.network, place=place,
                                                    shares=await shares_with_companies(turn.session,
                                                                                       participant_id)),
                                            partial(offer_buttons, proposal=proposal)))
    await move_forward(turn.session, participant_id, "matching", turn.person.id, turn.now,
                       lotse_reason(N_("match-making day no. {number}: both want to meet again"), number=day.id))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=participant_id, action="proposal.made",
                                at=turn.now, details={"place": place.id, "proposal": proposal.id,
                                                      "matching_day": day.id}))
    if coordinator is not None:
        await turn.tell(coordinator, N_("Both want to meet again: {participant} and {company}. The offer of place "
                                        "no. {number} was sent."), participant=label, company=company,
                        number=place.id)


# ---------------------------------------------------------------------------------------------------------------
# 5. Moving or cancelling the day (everyone invited is told in their language), and who came


def staff_buttons(t: Translator, day: MatchingDay, now: datetime) -> list[Choice]:
    """Before the day: move or cancel it; once it began: record who came."""
    if day.status == "cancelled":
        return []
    if now < day.starts_at:
        return [Choice(button_key("mdx", f"move:{day.id}"), t(N_("Move the day"))),
                Choice(button_key("mdx", f"cancel:{day.id}"), t(N_("Cancel the day")))]
    return [Choice(button_key("mdx", f"came:{day.id}"), t(N_("Who came?")))]


async def _staff_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    day = await turn.session.get(MatchingDay, int(number)) if number.isdigit() and len(number) < 10 else None
    if day is None or turn.person.role not in PLACE_STAFF or not any(
            choice.key == button_key("mdx", payload) for choice in staff_buttons(turn.t, day, turn.now)):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if action == "came":
        coming = [{"id": person.id, "label": participant_label(turn.t, person)}
                  for _, person in await _yes_sayers(turn.session, day)]
        start_flow(turn, "matching_day_came", {"day": day.id, "coming": coming})
        return
    start_flow(turn, "matching_day_move" if action == "move" else "matching_day_cancel", {"day": day.id})


async def _changeable_day(turn: Turn) -> MatchingDay | None:
    day = await turn.session.get(MatchingDay, int(turn.data.get("day", 0)))
    if day is None or day.status == "cancelled" or day.starts_at <= turn.now:
        turn.say(N_("This match-making day cannot be changed any more."))
        return None
    return day


async def _invited(session: AsyncSession, day: MatchingDay) -> list[tuple[MatchingInvite, Person]]:
    """Participants who said yes or have not answered yet."""
    return [(invite, person) for invite, person in (await session.execute(select(MatchingInvite, Person).join(
        Person, Person.id == MatchingInvite.participant_id).where(
        MatchingInvite.day_id == day.id, MatchingInvite.status.in_(("yes", "invited"))).order_by(
        MatchingInvite.id))).all()]


def _moved_text(t: Translator, network: Network, day: MatchingDay, before: datetime) -> str:
    return "\n".join([t(N_("The match-making day (Matching) was moved.")),
                      t(N_("Before: {when}"), when=t.when(before)),
                      t(N_("Now: {when}"), when=t.when(day.starts_at)),
                      t(N_("Where: {district}"), district=f"{day.site} ({district_name(t, network, day.district)})")])


def _moved_buttons(t: Translator, invite: MatchingInvite) -> list[Choice]:
    if invite.status == "invited":
        return invitation_buttons(t, invite)
    return reminder_buttons(t, appointment_key(invite.appointment_id)) if invite.appointment_id else []


def _invited_text(t: Translator, network: Network, day: MatchingDay, invite: MatchingInvite, before: datetime,
                  ) -> str:
    text = _moved_text(t, network, day, before)
    return f"{text}\n\n{t(N_('Would you like to come?'))}" if invite.status == "invited" else text


async def _moved(turn: Turn, value: Any) -> Next:
    day = await _changeable_day(turn)
    if day is None:
        return END
    before, day.starts_at = day.starts_at, datetime.fromisoformat(str(value))
    day.status = "planned"  # the companies' reminder goes out once more, for the new time
    told = 0
    for invite, participant in await _invited(turn.session, day):
        appointment = await turn.session.get(Appointment, invite.appointment_id) if invite.appointment_id else None
        if appointment is not None and appointment.status == "scheduled":
            appointment.starts_at, appointment.updated_at = day.starts_at, turn.now
            key = appointment_key(appointment.id)
            await turn.session.flush()
            await plan(turn.session, participant, key, day.starts_at, turn.now)  # drops the old time's reminders
            await turn.session.execute(delete(Attendance).where(Attendance.event_key == key))
        found = await messages_for(turn.session, participant, partial(
            _invited_text, network=turn.network, day=day, invite=invite, before=before),
            partial(_moved_buttons, invite=invite))
        turn.outgoing.extend(found)
        told += bool(found)
    coming = len(await _coming(turn.session, day))
    for contact in await company_contacts(turn.session, day.companies):
        found = await messages_for(turn.session, contact, lambda t: t(N_(
            "Match-making day no. {number} was moved to {when}, {site}. Coming so far: {count}."), number=day.id,
            when=t.when(day.starts_at), site=day.site, count=coming))
        turn.outgoing.extend(found)
        told += bool(found)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="matching_day.moved", at=turn.now,
                                details={"day": day.id, "from": before.isoformat(), "to": day.starts_at.isoformat()}))
    turn.say(N_("Match-making day no. {number} is now on {when}. People told: {count}."), number=day.id,
             when=turn.t.when(day.starts_at), count=told)
    return END


async def _cancelled(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("The match-making day stays as it is."))
        return END
    day = await _changeable_day(turn)
    if day is None:
        return END
    day.status = "cancelled"
    told = 0
    for invite, participant in await _invited(turn.session, day):
        appointment = await turn.session.get(Appointment, invite.appointment_id) if invite.appointment_id else None
        if appointment is not None and appointment.status == "scheduled":
            appointment.status, appointment.updated_at = "cancelled", turn.now
            await drop(turn.session, appointment_key(appointment.id), "cancelled")
        found = await messages_for(turn.session, participant, lambda t: t(N_(
            "Cancelled: the match-making day (Matching) on {when} at {site}. You do not need to come."),
            when=t.when(day.starts_at), site=day.site))
        turn.outgoing.extend(found)
        told += bool(found)
    for contact in await company_contacts(turn.session, day.companies):
        found = await messages_for(turn.session, contact, lambda t: t(N_(
            "Match-making day no. {number} on {when} is cancelled."), number=day.id, when=t.when(day.starts_at)))
        turn.outgoing.extend(found)
        told += bool(found)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="matching_day.cancelled", at=turn.now,
                                details={"day": day.id}))
    turn.say(N_("Match-making day no. {number} is cancelled. People told: {count}."), number=day.id, count=told)
    return END


def _cancel_prompt(turn: Turn) -> str:
    return turn.t(N_("Cancel match-making day no. {number}? Everyone invited and the companies will be told."),
                  number=turn.data.get("day"))


NOBODY = "nobody"


async def _yes_sayers(session: AsyncSession, day: MatchingDay) -> list[tuple[MatchingInvite, Person]]:
    return [(invite, person) for invite, person in (await session.execute(select(MatchingInvite, Person).join(
        Person, Person.id == MatchingInvite.participant_id).where(
        MatchingInvite.day_id == day.id, MatchingInvite.status == "yes").order_by(MatchingInvite.id))).all()]


def _came_options(turn: Turn) -> list[Choice]:
    return [*(Choice(str(c["id"]), c["label"]) for c in turn.data.get("coming", [])),
            Choice(NOBODY, turn.t(N_("Nobody came")))]


async def _came(turn: Turn, value: Any) -> Next:
    day = await turn.session.get(MatchingDay, int(turn.data.get("day", 0)))
    if day is None or day.status == "cancelled" or turn.now < day.starts_at:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return END
    chosen = {str(key) for key in value} - {NOBODY}
    invites = await _yes_sayers(turn.session, day)
    for invite, _person in invites:
        invite.attended = str(invite.participant_id) in chosen
    came = sum(1 for invite, _ in invites if invite.attended)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="matching_day.attendance", at=turn.now,
                                details={"day": day.id, "came": sorted(int(key) for key in chosen)}))
    turn.say(N_("Noted: {came} of {coming} came."), came=came, coming=len(invites))
    if day.status == "held":  # the wishes waited for this
        turn.outgoing.extend(await ask_wishes(turn.session, turn.network, day))
    return END


MOVE_DAY = Flow(name="matching_day_move", roles=PLACE_STAFF, steps=(
    Step(name="when", prompt=N_("To when? For example: {weekday}, {day} or {tomorrow}."), prompt_values=_examples,
         kind=InputKind.TEXT, validate=_future_moment, on_answer=_moved, max_length=100, next=END,
         describe="new day and time; everyone invited told, reminders planned again"),
))
CANCEL_DAY = Flow(name="matching_day_cancel", roles=PLACE_STAFF, steps=(
    Step(name="confirm", prompt=N_("Cancel match-making day no. {number}? Everyone invited and the companies will "
                                   "be told."), kind=InputKind.YES_NO, text=_cancel_prompt, on_answer=_cancelled,
         next=END, describe="everyone invited told, reminders stop"),
))
DAY_CAME = Flow(name="matching_day_came", roles=PLACE_STAFF, steps=(
    Step(name="came", prompt=N_("Who came?"),
         kind=InputKind.MULTI, options=_came_options, on_answer=_came, next=END,
         describe="those who said yes; the wishes go only to those who came"),
))


async def _menu_entry(turn: Turn) -> None:
    await matching_day_command(turn, "")


register(MATCHING_DAY, Command("matchingday", N_("Match-making days: plan one, or see who is coming: "
                                                 "/matchingday NUMBER"), action=matching_day_command, roles=ROLES))
register_button("md", _invitation_button)
register_button("mw", _wish_button)
register_button("mdx", _staff_button)
register(MOVE_DAY)
register(CANCEL_DAY)
register(DAY_CAME)
MENU_ENTRIES.append(MenuEntry("matching_days", N_("Match-making days"), action=_menu_entry, roles=ROLES, order=13))

