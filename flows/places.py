"""Places at partner companies: a company contact (or a coordinator for them) describes one in a short flow.

A place is a Hospitation, Praktikum, Einstiegsqualifizierung, Ausbildung or job in one of the potential check's
occupational fields, at a site in a district, from a day, for a length, at certain hours, with a German level, for a
number of people and with a contact for the day. `/places` lists what the person may see (`bot.core.access`): a company
contact only their own company's places; coordinators the places in the districts they cover. `/place NUMBER`
shows one, with buttons to pause, reopen, mark it filled or close it, and (for coordinators) to propose participants
(`flows.proposals`). Everything a company contact is shown is in the audit log.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from bot.core.access import COMPANY, PLACE_STAFF, Action, may, may_see_place
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network, company_name, district_name, field_name
from bot.core.text import clean_text
from bot.services.routing import staff_districts
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.registry import Command, register, register_button, start_flow
from storage.models import AuditEntry, Place, Proposal, StaffScope

PLACE_ROLES = frozenset({COMPANY, *PLACE_STAFF})
KINDS: dict[str, str] = {
    "hospitation": N_("Job shadowing (Hospitation)"),
    "praktikum": N_("Internship (Praktikum)"),
    "eq": N_("Entry qualification (Einstiegsqualifizierung)"),
    "ausbildung": N_("Apprenticeship (Ausbildung)"),
    "job": N_("Job (Arbeit)"),
}
SHORT_KINDS = ("hospitation", "praktikum", "eq")
"""Kinds with a fixed length, followed up during and after."""
DURATIONS: dict[str, str] = {
    "day": N_("One day"),
    "week": N_("One week"),
    "two_weeks": N_("Two weeks"),
    "four_weeks": N_("Four weeks"),
    "three_months": N_("Three months"),
    "open": N_("No end date"),
}
DURATION_DAYS = {"day": 1, "week": 7, "two_weeks": 14, "four_weeks": 28, "three_months": 91, "open": 14}
"""Days until the company's check-in ("open": after two weeks)."""
HOURS: dict[str, str] = {
    "morning": N_("Mornings"),
    "afternoon": N_("Afternoons"),
    "full_day": N_("Full days"),
}
START_HOUR = {"morning": 8, "afternoon": 13, "full_day": 8}
GERMAN_LEVELS = ("a1", "a2", "b1", "b2", "c1")
STATUSES: dict[str, str] = {
    "open": N_("open"),
    "paused": N_("paused"),
    "filled": N_("filled"),
    "closed": N_("closed"),
}
MAX_SITE, MAX_CONTACT, MAX_CAPACITY = 200, 200, 50


def kind_name(t: Translator, kind: str) -> str:
    return t(KINDS.get(kind, KINDS["job"]))


def german_name(t: Translator, level: str) -> str:
    return level.upper() if level in GERMAN_LEVELS else t(N_("Any"))


def place_lines(t: Translator, network: Network, place: Place) -> list[str]:
    """The whole place, for the company and coordinators (not for participants: no site before a match)."""
    return [
        t(N_("Place no. {number}: {kind}"), number=place.id, kind=kind_name(t, place.kind)),
        t(N_("Company: {company}"), company=company_name(network, place.organisation)),
        t(N_("Field: {field}"), field=field_name(t, network, place.occupation)),
        t(N_("Site: {site} ({district})"), site=place.site, district=district_name(t, network, place.district)),
        t(N_("From {date}, {duration}, {hours}"), date=t.date(date.fromisoformat(place.starts_on)),
          duration=t(DURATIONS.get(place.duration, DURATIONS["open"])), hours=t(HOURS.get(place.hours,
                                                                                     HOURS["full_day"]))),
        t(N_("German needed: {level}"), level=german_name(t, place.german_level)),
        t(N_("People: {count}"), count=place.capacity),
        t(N_("Contact on the day: {contact}"), contact=place.day_contact),
        t(N_("Status: {status}"), status=t(STATUSES.get(place.status, STATUSES["open"]))),
    ]


async def visible_place(turn: Turn, number: str) -> Place | None:
    text = clean_text(number).lstrip("#")
    if not text.isdigit() or len(text) > 9:
        return None
    place = await turn.session.get(Place, int(text))
    if place is None:
        return None
    scope = await turn.session.get(StaffScope, turn.person.id)  # a coordinator invited for some districts
    if not may_see_place(turn.network, turn.person, place.organisation, place.district,
                         None if scope is None else [str(district) for district in scope.districts]):
        return None
    return place


def audit_company_view(turn: Turn, action: str, details: dict[str, Any], subject: int | None = None) -> None:
    """What a company contact was shown goes to the audit log (with the participant as subject, if any)."""
    if may(turn.person, Action.ACT_FOR_COMPANY):
        turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=subject, action=action, details=details,
                                    at=turn.now))


# ---------------------------------------------------------------------------------------------------------------
# Describing a place


def company_options(turn: Turn) -> list[Choice]:
    return [Choice(key, found.name) for key, found in turn.network.organisations.items() if found.kind == "company"]


def kind_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in KINDS.items()]


def occupation_options(turn: Turn) -> list[Choice]:
    return [Choice(key, found.name[turn.t.locale]) for key, found in turn.network.occupations.items()]


def district_options(turn: Turn) -> list[Choice]:
    return [Choice(key, found.name[turn.t.locale]) for key, found in turn.network.districts.items()]


def duration_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in DURATIONS.items()]


def hours_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in HOURS.items()]


def german_options(turn: Turn) -> list[Choice]:
    return [Choice("any", turn.t(N_("Any"))), *(Choice(key, key.upper()) for key in GERMAN_LEVELS)]


def _short_text(limit: int) -> Any:
    def check(turn: Turn, value: Any) -> Any:
        text = clean_text(str(value))
        if len(text) < 3:
            raise Invalid(N_("Please write a little more (at least 3 characters)."))
        return text[:limit]

    return check


def _capacity(turn: Turn, value: Any) -> Any:
    text = clean_text(str(value))
    if not text.isdigit() or not 1 <= int(text) <= MAX_CAPACITY:
        raise Invalid(N_("Please write a number from 1 to {limit}."), limit=MAX_CAPACITY)
    return int(text)


def _draft(turn: Turn) -> Place:
    data = turn.data
    return Place(organisation=data["company"], kind=data["kind"], occupation=data["occupation"],
                 site=data["site"], district=data["district"], starts_on=data["starts"], duration=data["duration"],
                 hours=data["hours"], german_level=data["german"], capacity=data["capacity"],
                 day_contact=data["contact"], status="open")


def summary_text(turn: Turn) -> str:
    place = _draft(turn)
    # The first line names the place by its number, which it gets only once saved: its kind stands alone here.
    lines = [turn.t(N_("Kind: {kind}"), kind=kind_name(turn.t, place.kind)),
             *place_lines(turn.t, turn.network, place)[1:-1]]
    return "\n".join([turn.t(N_("Please check the place:")), *lines, "", turn.t(N_("Save this place?"))])


async def _save(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was saved."))
        return END
    if may(turn.person, Action.ACT_FOR_COMPANY) and turn.data["company"] != turn.person.organisation:
        turn.say(N_("This is not available for you."))
        return END
    place = _draft(turn)
    place.created_by_id, place.created_at, place.updated_at = turn.person.id, turn.now, turn.now
    turn.session.add(place)
    await turn.session.flush()
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="place.created", at=turn.now,
                                details={"place": place.id, "organisation": place.organisation}))
    turn.say(N_("Saved: place no. {number}. The network's coordinators can now propose participants. "
                "See your places with /places."), number=place.id)
    return END


async def place_command(turn: Turn, argument: str) -> None:
    """`/place`: describe a new place; `/place NUMBER`: show one with what can be done with it."""
    if argument:
        number = clean_text(argument).lstrip("#")
        if not number.isdigit() or len(number) > 9:  # quoted only when it is a plausible number, never cut short
            turn.say(N_("Please write the number of a place, for example /place 12. See your places with /places."))
            return
        place = await visible_place(turn, argument)
        if place is None:
            turn.say(N_("I found no place with the number {number} among yours."), number=number)
            return
        await show_place(turn, place)
        return
    if may(turn.person, Action.ACT_FOR_COMPANY):
        if not turn.person.organisation:
            turn.say(N_("This is not available for you."))
            return
        start_flow(turn, "place", {"company": turn.person.organisation}, at="kind")
        return
    if not company_options(turn):
        turn.say(N_("The network file lists no partner company yet. Please ask the administrator."))
        return
    start_flow(turn, "place")


PLACE = Flow(
    name="place",
    roles=PLACE_ROLES,
    steps=(
        Step(name="company", prompt=N_("Which company offers the place?"), kind=InputKind.CHOICE,
             options=company_options, next="kind", describe="coordinators only; a company contact starts at kind"),
        Step(name="kind", prompt=N_("What kind of place is it?"), kind=InputKind.CHOICE, options=kind_options,
             next="occupation", describe="Hospitation, Praktikum, EQ, Ausbildung, job"),
        Step(name="occupation", prompt=N_("Which occupational field?"), kind=InputKind.CHOICE,
             options=occupation_options, next="district", describe="the potential check's fields"),
        Step(name="district", prompt=N_("In which district is the site?"), kind=InputKind.CHOICE,
             options=district_options, next="site", describe="district"),
        Step(name="site", prompt=N_("What is the address of the site (street, town)?"), kind=InputKind.TEXT,
             validate=_short_text(MAX_SITE), max_length=MAX_SITE, next="starts", describe="address"),
        Step(name="starts", prompt=N_("From which day?"), kind=InputKind.DATE, next="duration",
             describe="first day"),
        Step(name="duration", prompt=N_("How long?"), kind=InputKind.CHOICE, options=duration_options,
             next="hours", describe="a day to three months, or no end date"),
        Step(name="hours", prompt=N_("At which times of day?"), kind=InputKind.CHOICE, options=hours_options,
             next="german", describe="mornings, afternoons, full days"),
        Step(name="german", prompt=N_("Which German level is needed at least?"), kind=InputKind.CHOICE,
             options=german_options, next="capacity", describe="A1 to C1 or any"),
        Step(name="capacity", prompt=N_("For how many people?"), kind=InputKind.TEXT, validate=_capacity,
             max_length=10, next="contact", describe="1 to 50"),
        Step(name="contact", prompt=N_("Who is the contact on the day? Please write a name and a phone number."),
             kind=InputKind.TEXT, validate=_short_text(MAX_CONTACT), max_length=MAX_CONTACT, next="confirm",
             describe="name and phone"),
        Step(name="confirm", prompt=N_("Save this place?"), kind=InputKind.YES_NO, text=summary_text,
             on_answer=_save, next=END, describe="summary; then saved"),
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Listing and managing places


MAX_LISTED = 10
"""Places offered as choices under /places (a phone screen's worth); the list itself shows up to 50."""


async def places_command(turn: Turn, argument: str = "") -> None:
    statement = select(Place).where(Place.status != "closed")
    if may(turn.person, Action.ACT_FOR_COMPANY):
        statement = statement.where(Place.organisation == (turn.person.organisation or ""))
    else:
        covered = await staff_districts(turn.session, turn.network, turn.person)  # the invite scope too
        if covered is not None:
            statement = statement.where(Place.district.in_(covered))
    places = (await turn.session.scalars(statement.order_by(Place.starts_on, Place.id).limit(50))).all()
    audit_company_view(turn, "company.places.listed", {"places": [p.id for p in places]})
    if not places:
        turn.say(N_("No places yet. Describe one with /place."))
        return
    counts = dict((await turn.session.execute(select(Proposal.place_id, func.count()).where(
        Proposal.place_id.in_([p.id for p in places])).group_by(Proposal.place_id))).all())
    lines = [turn.t(N_("Places:"))]
    for place in places:
        lines.append(turn.t(N_("#{number} · {kind} · {field} · {district} · from {date} · {status} · "
                               "{proposals} proposed"), number=place.id, kind=kind_name(turn.t, place.kind),
                            field=field_name(turn.t, turn.network, place.occupation),
                            district=district_name(turn.t, turn.network, place.district),
                            date=turn.t.date(date.fromisoformat(place.starts_on), "short"),
                            status=turn.t(STATUSES.get(place.status, STATUSES["open"])),
                            proposals=counts.get(place.id, 0)))
    lines += ["", turn.t(N_("Write /place NUMBER to see one, pause it, mark it filled or close it."))]
    if may(turn.person, Action.WORK_WITH_PLACES):
        from bot.services.placement_reports import company_lines, placement_counts

        scope = await staff_districts(turn.session, turn.network, turn.person)  # as /stats and the digest count
        summary = company_lines(turn.t, turn.network, await placement_counts(turn.session, "company", scope))
        lines += ["", *summary] if summary else []
    # Each place is a choice that opens it, so the numbers in the list answer it (a play-tester typed "1" after
    # /places and opened the menu's first entry instead).
    shown = [Choice(button_key("pl", f"show:{place.id}"), f"#{place.id} · {kind_name(turn.t, place.kind)} · "
                    f"{turn.t.date(date.fromisoformat(place.starts_on), 'short')}") for place in places[:MAX_LISTED]]
    turn.send("\n".join(lines), shown, "single")


def place_buttons(turn: Turn, place: Place) -> list[Choice]:
    buttons: list[Choice] = []
    if place.status == "open" and may(turn.person, Action.WORK_WITH_PLACES):
        buttons.append(Choice(button_key("pl", f"match:{place.id}"), turn.t(N_("Propose participants"))))
    if place.status == "open":
        buttons.append(Choice(button_key("pl", f"paused:{place.id}"), turn.t(N_("Pause"))))
    if place.status in ("paused", "filled"):
        buttons.append(Choice(button_key("pl", f"open:{place.id}"), turn.t(N_("Open again"))))
    if place.status != "filled":
        buttons.append(Choice(button_key("pl", f"filled:{place.id}"), turn.t(N_("Filled"))))
    buttons.append(Choice(button_key("pl", f"closed:{place.id}"), turn.t(N_("Close"))))
    return buttons


async def show_place(turn: Turn, place: Place) -> None:
    from flows.proposals import proposal_lines, started_candidates  # proposals build on places, not the reverse

    lines = place_lines(turn.t, turn.network, place)
    lines += await proposal_lines(turn, place)
    audit_company_view(turn, "company.place.shown", {"place": place.id})
    buttons = place_buttons(turn, place) if place.status != "closed" else []
    if may(turn.person, Action.WORK_WITH_PLACES) and await started_candidates(turn.session, place, turn.now):
        buttons.insert(0, Choice(button_key("pl", f"came:{place.id}"), turn.t(N_("Who came?"))))
    if await turn.session.scalar(select(Proposal.id).where(Proposal.place_id == place.id,
                                                           Proposal.status == "accepted").limit(1)):
        buttons.append(Choice(button_key("pl", f"contract:{place.id}"), turn.t(N_("Contract signed"))))
    turn.send("\n".join(lines), buttons, selection="single")


async def _place_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    place = await visible_place(turn, number)
    exists = place is None and may(turn.person, Action.WORK_WITH_PLACES) and number.isdigit() and \
        len(number) < 10 and await turn.session.get(Place, int(number)) is not None
    if exists:  # another district's place, to a coordinator (another company learns nothing of it)
        turn.say(N_("This is not available for you."))
        return
    if place is None or turn.person.role not in PLACE_ROLES:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if action == "show":
        await show_place(turn, place)
        return
    if action == "match":
        from flows.proposals import start_matching

        await start_matching(turn, place)
        return
    if action == "came":
        from flows.proposals import start_place_attendance

        await start_place_attendance(turn, place)
        return
    if action == "contract":
        from flows.contracts import start_from_place  # contracts build on places, not the reverse

        await start_from_place(turn, place)
        return
    if action not in STATUSES or place.status == "closed":
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    before, place.status, place.updated_at = place.status, action, turn.now
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="place.status", at=turn.now,
                                details={"place": place.id, "from": before, "to": action}))
    turn.say(N_("Place no. {number} is now {status}."), number=place.id, status=turn.t(STATUSES[action]))
    if action == "closed" and not may(turn.person, Action.ACT_FOR_COMPANY):
        await tell_company_closed(turn, place)


async def tell_company_closed(turn: Turn, place: Place) -> None:
    """A place closed by a coordinator: its company's contacts hear it in their language, not by surprise later."""
    from flows.proposals import company_contacts

    organisation = turn.network.organisations.get(turn.person.organisation or "")
    for contact in await company_contacts(turn.session, place.organisation):
        await turn.tell(contact, N_("A coordinator of {organisation} has closed your place no. {number} "
                                    "({kind})."), organisation=organisation.name if organisation else "–",
                        number=place.id, kind=lambda t: kind_name(t, place.kind))


async def _new_place_entry(turn: Turn) -> None:
    await place_command(turn, "")


register(PLACE, Command("place", N_("Offer a place, or show one: /place NUMBER"), action=place_command,
                        roles=PLACE_ROLES),
         Command("places", N_("Places at partner companies"), action=places_command, roles=PLACE_ROLES))
register_button("pl", _place_button)
MENU_ENTRIES.extend([
    MenuEntry("new_place", N_("Offer a place"), action=_new_place_entry, roles=frozenset({COMPANY}), order=5),
    MenuEntry("places", N_("Places at partner companies"), action=lambda turn: places_command(turn),
              roles=PLACE_ROLES, order=12),
])
