"""Duplicates in the chat: one notice per likely pair to the coordinators responsible for both, `/duplicates`.

"Same person" joins the two records (`bot.services.person_merge`, the older one stays) and offers an undo for 14 days;
"Different people" is remembered, and the pair is never suggested again. Who decided is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, Outgoing, button_key
from bot.core.network import Network
from bot.core.notify import messages_for
from bot.services.duplicates import suggest_for
from bot.services.person_merge import MergeError, merge, undo
from bot.services.routing import is_responsible
from flows.engine import Turn
from flows.registry import Command, register, register_button
from storage.models import AuditEntry, DuplicateSuggestion, Person, PersonMerge, Profile

STAFF = frozenset({"coordinator", "admin"})
LISTED = 10
"""`/duplicates` shows this many open pairs at once (the oldest first)."""
REASONS = {"phone": N_("the same phone number"), "name": N_("a similar name, the same district and close dates")}


def _district(t: Translator, network: Network, key: str | None) -> str:
    place = network.districts.get(key or "")
    return place.name[t.locale] if place is not None else (key or "–")


def _side(t: Translator, network: Network, person: Person, profile: Profile | None) -> str:
    answers = profile.answers if profile is not None else {}
    return t(N_("No. {number}: {name}\nDistrict: {district}\nPhone: {phone}\nIn Lotse since: {date}\n"
                "Organisation that entered it: {organisation}"),
             number=person.id, name=person.display_name or "–", district=_district(t, network, person.district),
             phone=(profile.phone if profile is not None else None) or "–", date=t.date(person.created_at),
             organisation=str(answers.get("imported_by") or "–"))


async def pair_text(session: AsyncSession, t: Translator, network: Network, suggestion: DuplicateSuggestion) -> str:
    sides = []
    for person_id in (suggestion.first_id, suggestion.second_id):
        person = await session.get_one(Person, person_id)
        sides.append(_side(t, network, person, await session.get(Profile, person_id)))
    head = t(N_("Possibly the same person twice ({reason}):"), reason=t(REASONS[suggestion.reason]))
    return "\n\n".join([head, *sides, t(N_("Are these the same person?"))])


def pair_choices(t: Translator, suggestion_id: int) -> list[Choice]:
    return [Choice(button_key("dup", f"same:{suggestion_id}"), t(N_("Same person"))),
            Choice(button_key("dup", f"diff:{suggestion_id}"), t(N_("Different people")))]


async def coordinators_for(session: AsyncSession, network: Network, first_id: int, second_id: int) -> list[Person]:
    """Coordinators responsible for both records (and only those: nobody learns of a record they may not see)."""
    staff = (await session.scalars(select(Person).where(Person.role == "coordinator").order_by(Person.id))).all()
    return [person for person in staff if await is_responsible(session, network, person, first_id)
            and await is_responsible(session, network, person, second_id)]


async def notices_for(session: AsyncSession, network: Network,
                      suggestions: Sequence[DuplicateSuggestion]) -> list[Outgoing]:
    """One notice per pair to each coordinator responsible for both, with "Same person" / "Different people"."""
    found: list[Outgoing] = []
    for suggestion in suggestions:
        for coordinator in await coordinators_for(session, network, suggestion.first_id, suggestion.second_id):
            t = Translator(coordinator.locale or "de", coordinator.time_zone)
            text = await pair_text(session, t, network, suggestion)
            number = suggestion.id

            def render(_t: Translator, text: str = text) -> str:
                return text

            def buttons(t: Translator, number: int = number) -> list[Choice]:
                return pair_choices(t, number)

            found.extend(await messages_for(session, coordinator, render, buttons))
    return found


JOINED = N_("Good to know: Lotse had two records for you. A coordinator has joined them into one, with "
            "everything of both. Nothing else changes for you.")
SEPARATED = N_("A correction: Lotse had joined two records as yours by mistake. They are separate again, as "
               "before.")


def _told(message: str) -> Callable[[Translator], str]:
    """What the participant hears about a merge or its undo, in their language, in the chat messages go to."""
    def render(t: Translator) -> str:
        return t(message)
    return render


async def look_for_duplicates(turn: Turn) -> None:
    """After a completed profile: new likely pairs go to the coordinators responsible for both."""
    made = await suggest_for(turn.session, turn.person.id, turn.now)
    turn.outgoing.extend(await notices_for(turn.session, turn.network, made))


async def _may_decide(turn: Turn, suggestion: DuplicateSuggestion | None) -> bool:
    return (suggestion is not None and turn.person.role in STAFF
            and (turn.person.role == "admin"
                 or (await is_responsible(turn.session, turn.network, turn.person, suggestion.first_id)
                     and await is_responsible(turn.session, turn.network, turn.person, suggestion.second_id))))


async def decide(turn: Turn, payload: str) -> None:
    what, _, number = payload.partition(":")
    if what == "undo":
        await _undo(turn, number)
        return
    suggestion = await turn.session.get(DuplicateSuggestion, int(number)) if number.isdigit() else None
    if what not in ("same", "diff") or suggestion is None or not await _may_decide(turn, suggestion):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if suggestion.status != "open":
        turn.say(N_("Someone already decided about these two records."))
        return
    if what == "diff":
        suggestion.status, suggestion.decided_by_id, suggestion.decided_at = "different", turn.person.id, turn.now
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=suggestion.first_id,
                                    action="person.not_duplicate", details={"other": suggestion.second_id}))
        turn.say(N_("Noted: two different people. Lotse will not ask about these two again."))
        return
    try:
        merged = await merge(turn.session, suggestion.first_id, suggestion.second_id, turn.now, reason="duplicate",
                             decided_by=turn.person.id)
    except MergeError:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    survivor = await turn.session.get_one(Person, merged.survivor_id)
    await turn.session.refresh(survivor)
    turn.outgoing.extend(await messages_for(turn.session, survivor, _told(JOINED)))
    turn.send(turn.t(N_("Done: no. {absorbed} is now part of no. {survivor}, with everything of both. You can "
                        "undo this within 14 days."), absorbed=merged.absorbed_id, survivor=merged.survivor_id),
              choices=[Choice(button_key("dup", f"undo:{merged.merge_id}"), turn.t(N_("Undo")))],
              selection="single")


async def _undo(turn: Turn, number: str) -> None:
    record = await turn.session.get(PersonMerge, int(number)) if number.isdigit() else None
    allowed = record is not None and turn.person.role in STAFF and (
        turn.person.role == "admin" or record.decided_by_id == turn.person.id
        or await is_responsible(turn.session, turn.network, turn.person, record.survivor_id))
    if record is None or not allowed:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    try:
        await undo(turn.session, record.id, turn.now, decided_by=turn.person.id)
    except MergeError:
        turn.say(N_("This can no longer be undone: a merge can be undone within 14 days."))
        return
    for person_id in (record.survivor_id, record.absorbed_id):
        person = await turn.session.get(Person, person_id)
        if person is not None:
            await turn.session.refresh(person)
            turn.outgoing.extend(await messages_for(turn.session, person, _told(SEPARATED)))
    turn.say(N_("Undone: no. {first} and no. {second} are two records again, as before."),
             first=record.survivor_id, second=record.absorbed_id)


async def list_duplicates(turn: Turn, argument: str = "") -> None:
    """`/duplicates`: the open pairs this coordinator may decide, each with its two buttons."""
    open_ = (await turn.session.scalars(select(DuplicateSuggestion).where(DuplicateSuggestion.status == "open")
                                        .order_by(DuplicateSuggestion.id))).all()
    mine = [s for s in open_ if await _may_decide(turn, s)]
    if not mine:
        turn.say(N_("No possible duplicates are waiting for you."))
        return
    turn.send(turn.t(N_("Possible duplicates waiting for a decision: {count}"), count=len(mine)))
    for suggestion in mine[:LISTED]:
        turn.send(await pair_text(turn.session, turn.t, turn.network, suggestion),
                  choices=pair_choices(turn.t, suggestion.id), selection="single")


async def suggest_after_import(session: AsyncSession, network: Network, person_ids: Sequence[int],
                               now: datetime) -> list[Outgoing]:
    """The import's doubtful pairs, as notices (the import itself wrote the suggestions)."""
    suggestions = (await session.scalars(select(DuplicateSuggestion).where(
        DuplicateSuggestion.status == "open", DuplicateSuggestion.second_id.in_(list(person_ids))))).all()
    return await notices_for(session, network, suggestions)


register(None, Command("duplicates", N_("Possible duplicates: the same person entered twice"),
                       action=list_duplicates, roles=STAFF))
register_button("dup", decide)
