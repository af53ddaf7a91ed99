"""Broadcasts: one message from a coordinator to a segment of participants, in each participant's language.

The coordinator picks a segment (district, language, stage, or course), sees how many participants it reaches
and which languages they read, then writes the text once per language or picks a ready-made message that the
catalog translates. Nothing is sent before a yes to "Send to N participants?". Each recipient's message goes
through the outbox, so the senders keep each platform's limits and retry; `/broadcasts` reports what was
delivered, blocked (the person blocked the bot) or failed. Only participants who consented and live in a
district the coordinator covers are in a segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import STAFF, Action, covered_districts, may
from bot.core.i18n import LANGUAGES, N_, NP_, Translator
from bot.core.messages import Choice, Outgoing
from bot.core.network import Network
from bot.core.notify import translator_for
from bot.core.reach import chat_for
from bot.services.routing import visible_participants
from bot.services.stages import STAGES
from flows.engine import END, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.registry import Command, register
from storage.models import (
    BULK,
    AuditEntry,
    Broadcast,
    BroadcastDelivery,
    Course,
    Enrolment,
    OutboxEntry,
    Person,
    Profile,
    StaffScope,
)

MAX_TEXT = 1500
SEGMENT_KINDS: dict[str, str] = {
    "district": N_("A district"),
    "language": N_("A language"),
    "stage": N_("A stage"),
    "course": N_("A language course (Sprachkurs)"),
}
TEMPLATES: dict[str, str] = {
    "course_dates": N_("New language courses (Sprachkurs) start soon. If you are interested, write to us here."),
    "job_fair": N_("There is a job fair soon with companies that offer Ausbildung and Praktikum. "
                   "Write to us here if you want to go."),
    "closed": N_("Our offices are closed between Christmas and New Year. We answer your questions afterwards."),
    "check_in": N_("How are you? If you have a question about your way to work or training, write to us here."),
}
TEMPLATE_LABELS: dict[str, str] = {
    "course_dates": N_("New language courses"),
    "job_fair": N_("Job fair"),
    "closed": N_("Offices closed over the holidays"),
    "check_in": N_("How are you?"),
}

async def course_options(session: AsyncSession, network: Network, t: Translator) -> list[Choice]:
    """Courses a broadcast can go to: the latest thirty, each under its name and level."""
    courses = (await session.scalars(select(Course).order_by(Course.id.desc()).limit(30))).all()
    return [Choice(str(course.id), f"{course.name} ({course.level})") for course in courses]


async def course_members(session: AsyncSession, course: str) -> set[int]:
    """The participants enrolled in a course."""
    if not course.isdigit() or len(course) > 9:
        return set()
    return set((await session.scalars(select(Enrolment.participant_id).where(
        Enrolment.course_id == int(course)))).all())


# ---------------------------------------------------------------------------------------------------------------
# Segments


async def segment_members(session: AsyncSession, network: Network, staff: Person,
                          segment: dict[str, str]) -> list[Person]:
    """Consented participants the staff member is responsible for (`bot.services.routing`) who fit the segment."""
    statement = (select(Person).outerjoin(Profile, Profile.person_id == Person.id)
                 .where(await visible_participants(session, network, staff)))
    kind, value = segment.get("kind"), segment.get("value", "")
    if kind == "district":
        statement = statement.where(Person.district == value)
    elif kind == "language":
        statement = statement.where(Person.locale == value)
    elif kind == "stage":
        statement = statement.where(Profile.stage == value) if value != "registered" else statement.where(
            (Profile.stage == value) | Profile.person_id.is_(None))
    elif kind == "course":
        statement = statement.where(Person.id.in_(await course_members(session, value)))
    else:
        return []
    return list((await session.scalars(statement.order_by(Person.id))).all())


def segment_name(t: Translator, network: Network, segment: dict[str, Any]) -> str:
    kind, value = segment.get("kind"), str(segment.get("value", ""))
    if kind == "district" and value in network.districts:
        return network.districts[value].name[t.locale]
    if kind == "language" and value in LANGUAGES:
        return LANGUAGES[value]
    if kind == "stage":
        return t(dict(STAGES).get(value, value))
    return str(segment.get("label") or value)


# ---------------------------------------------------------------------------------------------------------------
# The flow


def kind_options(turn: Turn) -> list[Choice]:
    kinds = [key for key in SEGMENT_KINDS if key != "course" or turn.data.get("_courses")]
    return [Choice(key, turn.t(SEGMENT_KINDS[key])) for key in kinds]


def value_options(turn: Turn) -> list[Choice]:
    kind = turn.data.get("kind")
    if kind == "district":
        covered = covered_districts(turn.network, turn.person, turn.data.get("_scope_districts"))
        return [Choice(k, d.name[turn.t.locale]) for k, d in turn.network.districts.items()
                if covered is None or k in covered]
    if kind == "language":
        return [Choice(code, name) for code, name in LANGUAGES.items()]
    if kind == "stage":
        return [Choice(key, turn.t(label)) for key, label in STAGES]
    if kind == "course":
        return [Choice(key, label) for key, label in (turn.data.get("_courses") or {}).items()]
    return []


async def _segment_chosen(turn: Turn, value: Any) -> Next:
    segment = {"kind": str(turn.data["kind"]), "value": str(value)}
    if segment["kind"] == "course":
        segment["label"] = (turn.data.get("_courses") or {}).get(str(value), str(value))
    members = await segment_members(turn.session, turn.network, turn.person, segment)
    if not members:
        turn.say(N_("Nobody is in this group, so nothing can be sent. Please choose another group."))
        return "kind"
    languages = Counter(person.locale or "en" for person in members)
    turn.data.update(segment=segment, count=len(members),
                     languages=[code for code in LANGUAGES if code in languages],
                     language_counts={code: languages[code] for code in languages}, texts={})
    return "how"


def how_text(turn: Turn) -> str:
    counts: dict[str, int] = turn.data.get("language_counts", {})
    readers = ", ".join(f"{LANGUAGES[code]} ({turn.t.number(counts[code])})" for code in turn.data["languages"])
    return "\n".join([
        turn.t.plural(NP_("{count} participant is in this group.", "{count} participants are in this group."),
                      int(turn.data["count"])),
        turn.t(N_("They read: {languages}"), languages=readers), "",
        turn.t(N_("Write the message yourself, once per language, or choose a ready-made message that is "
                  "translated into every language?")),
    ])


def how_options(turn: Turn) -> list[Choice]:
    return [Choice("write", turn.t(N_("Write it myself"))), Choice("template", turn.t(N_("Ready-made message")))]


async def _how_chosen(turn: Turn, value: Any) -> Next:
    return "template" if value == "template" else "text"


def template_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in TEMPLATE_LABELS.items()]


def text_prompt(turn: Turn) -> str:
    languages: list[str] = turn.data["languages"]
    done = len(turn.data.get("texts", {}))
    return turn.t(N_("Please write the message in {language} ({number} of {total}). At most {limit} characters."),
                  language=LANGUAGES[languages[done]], number=done + 1, total=len(languages), limit=MAX_TEXT)


def _words(turn: Turn, value: Any) -> str:
    if not any(ch.isalnum() for ch in str(value)):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return str(value)


async def _text_written(turn: Turn, value: Any) -> Next:
    languages: list[str] = turn.data["languages"]
    texts: dict[str, str] = dict(turn.data.get("texts", {}))
    texts[languages[len(texts)]] = str(value)
    turn.data["texts"] = texts
    return "text" if len(texts) < len(languages) else "confirm"


def message_for(t: Translator, network: Network, author: Person, texts: dict[str, str], template: str | None) -> str:
    """What one participant reads: the translated template, or the coordinator's text for their language."""
    if template:
        return t(TEMPLATES[template])
    organisation = network.organisations.get(author.organisation or "")
    head = t(N_("Message from {organisation}:"), organisation=organisation.name if organisation else network.name)
    return f"{head}\n\n{texts.get(t.locale, '')}"


def confirm_text(turn: Turn) -> str:
    template = turn.data.get("template")
    preview = message_for(turn.t, turn.network, turn.person, turn.data.get("texts", {}), template) if template \
        else "\n\n".join(f"[{LANGUAGES[code]}]\n{text}" for code, text in turn.data.get("texts", {}).items())
    return "\n".join([preview, "", turn.t.plural(NP_("Send this to {count} participant now?",
                                                     "Send this to {count} participants now?"),
                                                 int(turn.data["count"]))])


async def fan_out(session: AsyncSession, members: list[Person], render: Callable[[Translator], str],
                  now: datetime) -> list[tuple[int, OutboxEntry | None]]:
    """One outbox row per person (in their one chat), each text rendered once per language; None for the unreachable."""
    handles = {person_id: [handle] for person_id, handle in
               (await chat_for(session, [person.id for person in members])).items()}  # one chat each
    rendered: dict[tuple[str, str], Outgoing] = {}
    pending: list[tuple[int, OutboxEntry | None]] = []
    for person in members:
        t = translator_for(person)
        for handle in handles.get(person.id, []):
            key = (t.locale, t.time_zone)
            if key not in rendered:
                rendered[key] = Outgoing(transport="", chat="", text=render(t), locale=t.locale, rtl=t.rtl)
            message = replace(rendered[key], transport=handle.transport, chat=handle.chat_id)
            row = OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json(),
                              created_at=now, priority=BULK)
            session.add(row)
            pending.append((person.id, row))
        if person.id not in handles:
            pending.append((person.id, None))
    await session.flush()
    return pending


async def _confirmed(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was sent."))
        return END
    segment: dict[str, str] = turn.data["segment"]
    members = await segment_members(turn.session, turn.network, turn.person, segment)
    if not members:
        turn.say(N_("Nobody is in this group, so nothing can be sent. Please choose another group."))
        return END
    texts: dict[str, str] = turn.data.get("texts", {})
    template: str | None = turn.data.get("template")
    missing = {person.locale or "en" for person in members} - set(texts) if not template else set()
    if missing:  # someone joined the segment meanwhile with a language nobody wrote for
        texts = {**texts, **{code: texts.get("de") or next(iter(texts.values())) for code in missing}}
    broadcast = Broadcast(author_id=turn.person.id, segment=segment, texts=texts, template=template,
                          recipients=len(members), created_at=turn.now)
    turn.session.add(broadcast)
    await turn.session.flush()
    pending = await fan_out(turn.session, members, lambda t: message_for(t, turn.network, turn.person, texts,
                                                                         template), turn.now)
    turn.session.add_all(BroadcastDelivery(broadcast_id=broadcast.id, person_id=person_id,
                                           outbox_id=row.id if row is not None else None)
                         for person_id, row in pending)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="broadcast.sent",
                                details={"broadcast": broadcast.id, "segment": segment, "recipients": len(members)}))
    turn.say(N_("Broadcast no. {number} is on its way to {count} participants. Write /broadcasts to see what "
                "arrived."), number=broadcast.id, count=len(members))
    return END


async def _prepare(turn: Turn, value: Any) -> Next:
    if value == "course":
        courses = await course_options(turn.session, turn.network, turn.t)
        turn.data["_courses"] = {c.key: c.label for c in courses}
    if value == "district":  # a coordinator invited for some districts is offered only those
        scope = await turn.session.get(StaffScope, turn.person.id)
        turn.data["_scope_districts"] = None if scope is None else [str(d) for d in scope.districts]
    return "value"


async def broadcast_command(turn: Turn, argument: str) -> None:
    from flows.registry import start_flow

    courses = await course_options(turn.session, turn.network, turn.t)
    start_flow(turn, "broadcast", {"_courses": {c.key: c.label for c in courses}})


BROADCAST = Flow(name="broadcast", roles=STAFF, steps=(
    Step(name="kind", prompt=N_("To whom? Choose the kind of group."), kind=InputKind.CHOICE, options=kind_options,
         on_answer=_prepare, describe="district, language, stage or course", branches=(("", "value"),)),
    Step(name="value", prompt=N_("Which one?"), kind=InputKind.CHOICE, options=value_options,
         on_answer=_segment_chosen, describe="the group; empty: choose again",
         branches=(("empty", "kind"), ("count shown", "how"))),
    Step(name="how", prompt=N_("Write it yourself or a ready-made message?"), kind=InputKind.CHOICE,
         options=how_options, text=how_text, on_answer=_how_chosen, describe="count and languages shown",
         branches=(("write", "text"), ("ready-made", "template"))),
    Step(name="text", prompt=N_("Please write the message."), kind=InputKind.TEXT, text=text_prompt,
         max_length=MAX_TEXT, validate=_words, on_answer=_text_written, describe="once per language",
         branches=(("next language", "text"), ("all written", "confirm"))),
    Step(name="template", prompt=N_("Which ready-made message?"), kind=InputKind.CHOICE, options=template_options,
         next="confirm", describe="translated templates"),
    Step(name="confirm", prompt=N_("Send it now?"), kind=InputKind.YES_NO, text=confirm_text, on_answer=_confirmed,
         next=END, describe="preview and count; yes sends through the outbox"),
))


# ---------------------------------------------------------------------------------------------------------------
# The delivery report


def classify(status: str | None, error: str | None, has_row: bool) -> str:
    """delivered, blocked (the person blocked the bot, or no reachable chat), failed, or waiting."""
    if not has_row:
        return "blocked"
    if status == "sent":
        return "delivered"
    if status == "failed":
        text = (error or "").lower()
        return "blocked" if "blocked" in text or "forbidden" in text or "deactivated" in text else "failed"
    return "waiting"


async def delivery_counts(session: AsyncSession, broadcast_id: int) -> Counter[str]:
    rows = (await session.execute(select(BroadcastDelivery.person_id, BroadcastDelivery.outbox_id, OutboxEntry.status,
                                         OutboxEntry.last_error)
                                  .outerjoin(OutboxEntry, OutboxEntry.id == BroadcastDelivery.outbox_id)
                                  .where(BroadcastDelivery.broadcast_id == broadcast_id))).all()
    best: dict[int | None, str] = {}
    order = ["delivered", "waiting", "failed", "blocked"]  # a person counts once, by their best handle
    for person_id, outbox_id, status, error in rows:
        outcome = classify(status, error, outbox_id is not None)
        current = best.get(person_id)
        if current is None or order.index(outcome) < order.index(current):
            best[person_id] = outcome
    return Counter(best.values())


async def show_broadcasts(turn: Turn, argument: str = "") -> None:
    statement = select(Broadcast).order_by(Broadcast.id.desc()).limit(5)
    if not may(turn.person, Action.SEE_ALL):
        statement = statement.where(Broadcast.author_id == turn.person.id)
    broadcasts = (await turn.session.scalars(statement)).all()
    if not broadcasts:
        turn.say(N_("You have not sent any broadcast yet. Write /broadcast to send one."))
        return
    lines = [turn.t(N_("Your latest broadcasts:"))]
    for broadcast in broadcasts:
        counts = await delivery_counts(turn.session, broadcast.id)
        lines.append(turn.t(N_("No. {number}, {date}, {segment}: {delivered} delivered, {blocked} blocked, "
                               "{failed} failed, {waiting} waiting"), number=broadcast.id,
                            date=turn.t.datetime(broadcast.created_at, "short"),
                            segment=segment_name(turn.t, turn.network, broadcast.segment),
                            delivered=counts["delivered"], blocked=counts["blocked"], failed=counts["failed"],
                            waiting=counts["waiting"]))
    turn.send("\n".join(lines))


register(BROADCAST, Command("broadcast", N_("Send one message to a group of participants"),
                            action=broadcast_command, roles=STAFF),
         Command("broadcasts", N_("What your broadcasts reached"), action=show_broadcasts, roles=STAFF))
MENU_ENTRIES.append(MenuEntry("broadcast", N_("Message to a group"), action=lambda turn: broadcast_command(turn, ""),
                              roles=STAFF, order=30))
