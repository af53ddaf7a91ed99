"""Questions reach the responsible coordinator, and answers come back in the participant's chat.

A participant asks ("Ask a question": topic, then text, a photo, a document or a voice message; "Talk to a
person": no topic, to the coordinator who already handles them, else by their goals and district, see
`bot.services.routing.route_to_a_person`). The question becomes a ticket, routed by `bot.services.routing`;
every responsible coordinator (and a rule's room) gets a notification in their own language with buttons to
take it, send a ready-made answer, hand it over or close it. When one takes it, every other copy is edited to say
who did. A coordinator answers by replying to the notification or with `/reply NUMBER text`; the participant gets
the answer in their chat, marked as coming from the coordinator's organisation. While a question is open, what
the participant writes at the menu (free text, no new topic) joins its thread; with none open, they are offered
to send it as a new question. A new question is a new ticket,
routed by its own topic; only one asked on the topic of a question still open joins that one, and the
participant is told so. Every view of a ticket by staff is audited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.access import STAFF, Action, holders, may
from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, Outgoing, attachment_record, button_key
from bot.core.network import Network
from bot.core.notify import enqueue, messages_for, translator_for, with_file
from bot.core.text import clean_text
from bot.services.routing import (
    add_working_hours,
    find_lead,
    matching_rules,
    route,
    route_to_a_person,
    staff_covers,
)
from flows.appointments import book_appointment, unreachable
from flows.closed_days import KEEP_DAY, closed_day_note, local_day
from flows.engine import END, MAX_ATTACHMENT_BYTES, STAY, YES, Flow, InputKind, Invalid, Next, Step, Turn, parse_single
from flows.intake import PARTICIPANT, STAFF_LABELS, answer_text, language_name, participant_label, person_label
from flows.mediation import (
    ask_mediators,
    for_participant,
    for_staff,
    mediator_for_answer,
    mediator_wanted,
    translate_for_staff,
    written_in,
)
from flows.menu import MENU_ENTRIES, MenuEntry, menu_options
from flows.moments import dotted_day, example_day, parse_moment
from flows.registry import BUTTON_ACTIONS, INTERCEPTORS, Command, register, register_button, start_flow
from storage.models import AuditEntry, OutboxEntry, Person, Profile, StaffScope, Ticket, TicketMessage, TicketNotice

log = logging.getLogger("lotse.tickets")

ANSWER_WORKING_HOURS = 8.0
"""One working day (Monday to Friday, 8 to 16): the promise made to participants, and the escalation point."""
MAX_QUESTION = 4000
OPEN = ("open", "claimed")


# ---------------------------------------------------------------------------------------------------------------
# Access: the one rule for tickets


async def may_handle(session: AsyncSession, network: Network, staff: Person, ticket: Ticket) -> bool:
    """Admins; the coordinator who took it; anyone it was sent to; a coordinator whose scope covers it."""
    if may(staff, Action.SEE_ALL):
        return True
    if not may(staff, Action.BE_RESPONSIBLE):
        return False
    if ticket.claimed_by_id == staff.id:
        return True
    sent_to = await session.scalar(select(TicketNotice.id).where(TicketNotice.ticket_id == ticket.id,
                                                                 TicketNotice.person_id == staff.id).limit(1))
    if sent_to is not None:
        return True
    if staff.organisation not in (ticket.organisations or []):
        return False
    scope = await session.get(StaffScope, staff.id)
    return staff_covers(scope, ticket.topic, ticket.district)  # their organisation got it; their own scope too?


async def ticket_for(turn: Turn, number: str) -> Ticket | None:
    """The ticket `number` if this staff member may handle it; one short line otherwise, revealing nothing."""
    text = clean_text(number).lstrip("#")
    ticket = await turn.session.get(Ticket, int(text)) if text.isdigit() and len(text) < 10 else None
    if ticket is None or not await may_handle(turn.session, turn.network, turn.person, ticket):
        turn.say(N_("There is no question with this number for you."))
        return None
    return ticket


# ---------------------------------------------------------------------------------------------------------------
# Rendering a ticket for staff


def _attachment_note(t: Translator, attachment: dict[str, Any] | None) -> str:
    if not attachment:
        return ""
    kinds = {"photo": N_("a photo"), "document": N_("a document"), "voice": N_("a voice message")}
    return t(N_("[The participant sent {what}.]"), what=t(kinds.get(attachment.get("kind", ""), N_("a file"))))


def _topic_name(t: Translator, network: Network, ticket: Ticket) -> str:
    if ticket.topic in network.topics:
        return network.topics[ticket.topic].name[t.locale]
    return t(N_("Talk to a person"))


def notice_text(t: Translator, network: Network, ticket: Ticket, participant: Person, profile: Profile | None,
                first: TicketMessage, taken_by: str | None = None) -> str:
    topic = _topic_name(t, network, ticket)
    district = network.districts[ticket.district].name[t.locale] if ticket.district in network.districts else "–"
    lines = [
        t(N_("Question no. {number}: {topic}"), number=ticket.id, topic=topic),
        t(N_("From {participant}, district: {district}."), participant=participant_label(t, participant),
          district=district),
        t(N_("They read {language}. Please answer in simple German or English, or use a ready-made answer: "
             "it arrives in their language."), language=language_name(t, participant.locale or "en")),
    ]
    if profile is not None and profile.answers:
        for question in ("goals", "german", "occupations"):
            if profile.answers.get(question):
                lines.append(f"· {t(STAFF_LABELS[question])}: {answer_text(t, network, profile.answers, question)}")
    lines += ["", for_staff(t, first, participant.locale or "en"), _attachment_note(t, first.attachment)]
    if taken_by:
        lines += ["", t(N_("Taken by {name}."), name=taken_by)]
    elif ticket.status == "closed":
        lines += ["", t(N_("Closed."))]
    return "\n".join(line for line in lines if line is not None).strip()


def notice_buttons(t: Translator, ticket: Ticket, for_claimer: bool, foreign: bool = False) -> list[Choice]:
    """`foreign`: the claimer does not read the question's language (even if an engine translated it) and no
    mediator was asked yet, so a volunteer mediator may be asked."""
    if ticket.status == "closed":
        return []
    if ticket.status == "open":
        return [Choice(button_key("tk", f"claim:{ticket.id}"), t(N_("Take it"))),
                Choice(button_key("tk", f"handover:{ticket.id}"), t(N_("Hand over")))]
    if not for_claimer:
        return []
    mediator = [Choice(button_key("sm", f"ask:{ticket.id}"), t(N_("Ask a mediator")))] if foreign else []
    return [Choice(button_key("tk", f"template:{ticket.id}"), t(N_("Ready-made answer"))),
            Choice(button_key("tk", f"handover:{ticket.id}"), t(N_("Hand over"))),
            Choice(button_key("tk", f"close:{ticket.id}"), t(N_("Close"))), *mediator]  # last: numbers stay


def foreign_to(t: Translator, participant: Person, first: TicketMessage) -> bool:
    return mediator_wanted(t, first, participant.locale or "en")


async def _context(session: AsyncSession, ticket: Ticket) -> tuple[Person, Profile | None, TicketMessage]:
    participant = await session.get_one(Person, ticket.participant_id)
    profile = await session.get(Profile, participant.id)
    first = (await session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
                                   .order_by(TicketMessage.id).limit(1))).one()
    return participant, profile, first


async def send_notices(turn: Turn, ticket: Ticket, people: Sequence[int], rooms: Sequence[tuple[str, str]]) -> None:
    """The first notification to every recipient; each copy is remembered so it can be edited and replied to."""
    participant, profile, first = await _context(turn.session, ticket)
    turn.outgoing.extend(await translate_for_staff(
        turn.session, first, participant.locale or "en",
        [*[await turn.session.get_one(Person, pid) for pid in people], *[None for _ in rooms]], turn.now))
    pending: list[tuple[int | None, Outgoing]] = []
    for person_id in people:
        coordinator = await turn.session.get_one(Person, person_id)
        found = await messages_for(turn.session, coordinator,
                                   lambda t: notice_text(t, turn.network, ticket, participant, profile, first),
                                   lambda t: notice_buttons(t, ticket, False))
        pending += [(person_id, message) for message in found]
    for transport, chat in rooms:
        t = Translator("de")
        pending.append((None, Outgoing(transport=transport, chat=chat, locale="de", rtl=False,
                                       text=notice_text(t, turn.network, ticket, participant, profile, first),
                                       choices=tuple(notice_buttons(t, ticket, False)), selection="single")))
    files = with_file([replace(message, text=_file_caption(Translator(message.locale), turn.network, ticket, first),
                               choices=(), selection="none") for _, message in pending], first.attachment)
    for recipient, message in pending:
        row = OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json(),
                          created_at=turn.now)
        turn.session.add(row)
        await turn.session.flush()
        turn.session.add(TicketNotice(ticket_id=ticket.id, person_id=recipient, transport=message.transport,
                                      chat=message.chat, outbox_id=row.id))
    if first.attachment:
        turn.outgoing.extend(files)  # after the notices, so each file follows its question
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=ticket.participant_id,
                                action="ticket.routed",
                                details={"ticket": ticket.id, "people": list(people), "rooms": len(rooms)}))


def _file_caption(t: Translator, network: Network, ticket: Ticket, first: TicketMessage) -> str:
    return "\n".join([t(N_("Question no. {number}: {topic}"), number=ticket.id, topic=_topic_name(t, network, ticket)),
                      _attachment_note(t, first.attachment)])


async def refresh_notices(turn: Turn, ticket: Ticket) -> None:
    """Edits every copy of the notification: who took it, or that it is closed; buttons only where useful."""
    participant, profile, first = await _context(turn.session, ticket)
    claimer = await turn.session.get(Person, ticket.claimed_by_id) if ticket.claimed_by_id else None
    notices = (await turn.session.scalars(select(TicketNotice).where(TicketNotice.ticket_id == ticket.id))).all()
    for notice in notices:
        if notice.outbox_id is None:
            continue
        reader = await turn.session.get(Person, notice.person_id) if notice.person_id else None
        t = translator_for(reader) if reader else Translator("de")
        taken = person_label(t, turn.network, claimer) if claimer and ticket.status == "claimed" else None
        text = notice_text(t, turn.network, ticket, participant, profile, first, taken_by=taken)
        buttons = notice_buttons(t, ticket, for_claimer=reader is not None and reader.id == ticket.claimed_by_id,
                                 foreign=foreign_to(t, participant, first))
        turn.outgoing.append(Outgoing(transport=notice.transport, chat=notice.chat, text=text, choices=tuple(buttons),
                                      selection="single" if buttons else "none", locale=t.locale, rtl=t.rtl,
                                      edit_of=notice.outbox_id))


# ---------------------------------------------------------------------------------------------------------------
# The participant asks


def topic_options(turn: Turn) -> list[Choice]:
    return [Choice(key, topic.name[turn.t.locale]) for key, topic in turn.network.topics.items()]


async def open_ticket_of(session: AsyncSession, person_id: int) -> Ticket | None:
    """The open question a participant's further words belong to: the one with the latest word in it, theirs or
    an answer. With two open, a reply to the answer just received joins that question (a play-tester's reply to
    the IHK's answer went to her newer pro:connect question, and the IHK never saw it)."""
    latest = (await session.execute(
        select(TicketMessage.ticket_id).join(Ticket, Ticket.id == TicketMessage.ticket_id)
        .where(Ticket.participant_id == person_id, Ticket.status.in_(OPEN),
               TicketMessage.direction.in_(("in", "out")))
        .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc()).limit(1))).scalar()
    if latest is not None:
        return await session.get(Ticket, latest)
    return (await session.scalars(select(Ticket).where(Ticket.participant_id == person_id,
                                                       Ticket.status.in_(OPEN))
                                  .order_by(Ticket.id.desc()).limit(1))).first()


def _message_value(turn: Turn) -> dict[str, Any]:
    incoming = turn.incoming
    text = clean_text(incoming.text or "")
    attachment = incoming.attachment
    if attachment is None and not text:
        raise Invalid(N_("Your message was empty. Please write your question, or send a photo of the letter."))
    if len(text) > MAX_QUESTION:
        raise Invalid(N_("That is too long. Please write at most {limit} characters."), limit=MAX_QUESTION)
    if attachment is not None and (attachment.size or 0) > MAX_ATTACHMENT_BYTES:
        raise Invalid(N_("This file is too big. Please send a file smaller than {limit} MB, "
                         "or a photo of the page."), limit=MAX_ATTACHMENT_BYTES // 1_000_000)
    if text and not any(ch.isalnum() for ch in text) and attachment is None:
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return {"text": text, "attachment": attachment_record(attachment, incoming.transport)}


def _checked_message(turn: Turn, value: Any) -> dict[str, Any]:
    if value["attachment"] is None and not any(ch.isalnum() for ch in value["text"]):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return dict(value)


async def open_ticket_about(session: AsyncSession, person_id: int, topic: str | None) -> Ticket | None:
    """The participant's open question on this topic ("Talk to a person": the one without a topic)."""
    about = Ticket.topic.is_(None) if topic is None else Ticket.topic == topic
    return (await session.scalars(select(Ticket).where(Ticket.participant_id == person_id,
                                                       Ticket.status.in_(OPEN), about)
                                  .order_by(Ticket.id.desc()).limit(1))).first()


async def open_question(turn: Turn, topic: str | None, organisations: list[str], message: dict[str, Any],
                        people: Sequence[int], rooms: Sequence[tuple[str, str]]) -> Ticket:
    """A participant's new question with its first message, and the notices to who should answer it."""
    ticket = Ticket(participant_id=turn.person.id, topic=topic, district=turn.person.district,
                    organisations=list(organisations), status="open", created_at=turn.now,
                    due_at=add_working_hours(turn.now, ANSWER_WORKING_HOURS))
    turn.session.add(ticket)
    await turn.session.flush()
    turn.session.add(TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="in",
                                   text=message["text"], attachment=message["attachment"], created_at=turn.now))
    await turn.session.flush()
    await send_notices(turn, ticket, people, rooms)
    return ticket


async def _asked(turn: Turn, value: Any) -> Next:
    """A new question is routed by its own topic; only one on the topic of a question still open joins it."""
    message = dict(value)
    topic = turn.data.get("topic")
    existing = await open_ticket_about(turn.session, turn.person.id, topic)
    if existing is not None:
        await add_follow_up(turn, existing, message, joined=True)
        return END
    # "Talk to a person" (no topic) goes to whoever already handles them, and only then by the network's rules.
    result = await route(turn.session, turn.network, topic, turn.person.district) if topic is not None else \
        await route_to_a_person(turn.session, turn.network, turn.person)
    ticket = await open_question(turn, topic, result.organisations, message, result.people, result.rooms)
    names = ", ".join(turn.network.organisations[o].name for o in result.organisations) or turn.network.name
    turn.say(N_("Thank you. Your question has the number {number}. It went to {organisation}. They usually answer "
                "within one working day (Monday to Friday). The answer comes here, in this chat."),
             number=ticket.id, organisation=names)
    return END


def _question_step(next_step: Next = END) -> Step:
    return Step(name="question", prompt=N_("Please write your question. You can also send a photo of a letter, "
                                           "a document or a voice message."),
                kind=InputKind.MESSAGE, validate=_checked_message, on_answer=_asked, next=next_step,
                max_length=MAX_QUESTION, describe="text, photo, document or voice message; then routed")


ASK = Flow(
    name="ask",
    roles=PARTICIPANT,
    steps=(
        Step(name="topic", prompt=N_("What is your question about?"), kind=InputKind.CHOICE, options=topic_options,
             next="question", describe="topic from the network file"),
        _question_step(),
    ),
)
TALK = Flow(name="talk", roles=PARTICIPANT, steps=(_question_step(),))


async def _relay_follow_up(turn: Turn, ticket: Ticket, row: TicketMessage, participant: Person,
                           recipients: Sequence[Person]) -> None:
    """A participant's later message on a question, to the staff who see it (also to new ones after a hand-over)."""
    turn.outgoing.extend(await translate_for_staff(turn.session, row, participant.locale or "en", list(recipients),
                                                   turn.now))

    def buttons(t: Translator) -> list[Choice]:
        """The one who took it may ask a volunteer mediator for what they cannot read (machine-translated or not)."""
        if ticket.status != "claimed" or not mediator_wanted(t, row, participant.locale or "en"):
            return []
        return [Choice(button_key("sm", f"ask:{ticket.id}"), t(N_("Ask a mediator")))]

    for coordinator in recipients:
        turn.outgoing.extend(with_file(await messages_for(turn.session, coordinator, lambda t: "\n".join(filter(None, [
            t(N_("Question no. {number}: more from {participant}:"), number=ticket.id,
              participant=participant_label(t, participant)),
            for_staff(t, row, participant.locale or "en"), _attachment_note(t, row.attachment)])),
            buttons), row.attachment))


async def add_follow_up(turn: Turn, ticket: Ticket, message: dict[str, Any], joined: bool = False) -> None:
    """Adds to an open question's thread; `joined`: asked anew on the same topic, so the person hears why."""
    row = TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="in", text=message["text"],
                        attachment=message["attachment"], created_at=turn.now)
    turn.session.add(row)
    participant = turn.person
    recipients: list[Person]
    if ticket.claimed_by_id:
        recipients = [await turn.session.get_one(Person, ticket.claimed_by_id)]
    else:
        ids = (await turn.session.scalars(select(TicketNotice.person_id).where(
            TicketNotice.ticket_id == ticket.id, TicketNotice.person_id.is_not(None)).distinct())).all()
        recipients = [await turn.session.get_one(Person, pid) for pid in ids if pid is not None]
    await _relay_follow_up(turn, ticket, row, participant, recipients)
    if joined:
        turn.say(N_("You already have an open question on this topic (no. {number}). Your message was added to "
                    "it, so the same people see everything together. The answer comes here, in this chat."),
                 number=ticket.id)
    else:
        turn.say(N_("Added to your question no. {number}."), number=ticket.id)


async def _follow_up(turn: Turn) -> bool:
    """At the menu, what a participant writes that is not a menu choice joins their open question; with none open,
    words (two or more: a greeting is not a question) or a file are offered to be sent as a new one, kept, not
    refused as a wrong number."""
    incoming = turn.incoming
    if not may(turn.person, Action.ADD_TO_QUESTION) or turn.state.get("flow") not in (None, "menu"):
        return False
    if incoming.choice is not None or incoming.undecodable or (not incoming.text and incoming.attachment is None):
        return False
    if incoming.text and incoming.attachment is None:
        if clean_text(incoming.text).strip(".)").isdigit():
            return False  # a number is meant for the menu; a wrong one gets the menu's own hint
        try:
            parse_single(incoming.text, menu_options(turn))
            return False  # a menu answer
        except Invalid:
            pass
    ticket = await open_ticket_of(turn.session, turn.person.id)
    words = clean_text(incoming.text or "")
    if incoming.attachment is None and _NUMBER_LIKE.match(words):
        return False  # "-1", "1.5": a wrong number, which the menu's own hint answers (it joined the question)
    try:
        message = _message_value(turn)
    except Invalid as invalid:
        if ticket is None and incoming.text and clean_text(incoming.text):
            # Words that fit no menu entry (too long, or only emoji): said plainly, with the menu again, instead
            # of "answer with a number".
            turn.say(invalid.hint, **invalid.values)
            start_flow(turn, "menu")
            return True
        return False
    if ticket is None and incoming.attachment is None and len(words.split()) < 2:
        return False  # one word ("hello"): a greeting more than a question; the menu answers it as before
    if ticket is None:
        # Free words at the menu with no open question are most likely a question: offered to send as one, the
        # words kept, instead of being refused as a wrong number.
        start_flow(turn, "kept_question", {"kept": message})
        return True
    await add_follow_up(turn, ticket, message)
    start_flow(turn, "menu")
    return True


VIEWED = "viewed_ticket"
"""Conversation state: the question a coordinator just opened with /ticket, and the prompt count at that moment."""
KEPT_ANSWER_CHOICES = 5
"""At most this many of one's taken questions are offered for words typed at the menu (the newest first)."""


async def _staff_words(turn: Turn) -> bool:
    """At the menu, words a coordinator types that are no menu choice are most likely an answer to a question
    they took (a play-tester answered a follow-up this way and her words were refused as a wrong number, and lost):
    kept and offered to send to one of their open questions, never sent by guess."""
    incoming = turn.incoming
    if (not may(turn.person, Action.WORK_AS_STAFF) or turn.state.get("flow") not in (None, "menu")
            or incoming.in_group or incoming.choice is not None or incoming.attachment is not None
            or incoming.undecodable):
        return False
    words = clean_text(incoming.text or "")
    if len(words.split()) < 2 or _NUMBER_LIKE.match(words) or len(words) > MAX_QUESTION:
        return False
    try:
        parse_single(words, menu_options(turn))
        return False  # a menu entry by its name
    except Invalid:
        pass
    taken: list[tuple[int, Person]] = [(number, person) for number, person in (await turn.session.execute(
        select(Ticket.id, Person).join(Person, Person.id == Ticket.participant_id)
        .where(Ticket.claimed_by_id == turn.person.id, Ticket.status == "claimed")
        .order_by(Ticket.id.desc()).limit(KEPT_ANSWER_CHOICES))).all()]
    viewed = turn.state.pop(VIEWED, None)
    if isinstance(viewed, list) and len(viewed) == 2 and viewed[1] == int(turn.state.get("seq", 0)):
        # The question just opened with /ticket comes first, taken or not (a play-tester opened question 2,
        # typed its answer, pressed 1 and sent it to question 1's participant, the only one offered).
        ticket = await turn.session.get(Ticket, int(viewed[0]))
        if ticket is not None and ticket.status != "closed" and await may_handle(turn.session, turn.network,
                                                                                 turn.person, ticket):
            participant = await turn.session.get_one(Person, ticket.participant_id)
            taken = [(ticket.id, participant), *((number, person) for number, person in taken
                                                  if number != ticket.id)][:KEPT_ANSWER_CHOICES]
    if not taken:
        return False  # nothing to answer: the menu's own hint says how to choose
    start_flow(turn, "kept_answer", {"kept": words, "tickets": [
        [ticket_id, participant_label(turn.t, participant)] for ticket_id, participant in taken]})
    return True


def kept_answer_options(turn: Turn) -> list[Choice]:
    return [*(Choice(str(number), turn.t(N_("Answer to question no. {number} ({participant})"), number=number,
                                         participant=label))
              for number, label in turn.data.get("tickets", [])),
            Choice(MENU_KEPT, turn.t(N_("Back to the menu")))]


async def _kept_answer_chosen(turn: Turn, value: Any) -> Next:
    kept = turn.data.get("kept")
    if value == MENU_KEPT or not isinstance(kept, str):
        return END
    ticket = await turn.session.get(Ticket, int(value))
    if ticket is None or ticket.status == "closed" or not await may_handle(turn.session, turn.network, turn.person,
                                                                           ticket):
        turn.say(N_("There is no question with this number for you."))
        return END
    await answer(turn, ticket, kept)
    return END


KEPT_ANSWER = Flow(name="kept_answer", roles=STAFF, steps=(
    Step(name="which", prompt=N_("Is what you wrote an answer? Choose the question, and it is sent. Nothing is "
                                 "sent otherwise."),
         kind=InputKind.CHOICE, options=kept_answer_options, on_answer=_kept_answer_chosen, next=END,
         describe="words a coordinator typed at the menu: send them as the answer to one of their taken questions"),
))


_NUMBER_LIKE = re.compile(r"^[-+]?\d[\d.,\s]*$")
""""-1", "1.5", "3 4": meant as a menu number, not a question: the menu's own hint answers them."""
SEND_KEPT, MENU_KEPT = "send", "menu"


def kept_options(turn: Turn) -> list[Choice]:
    return [Choice(SEND_KEPT, turn.t(N_("Send it as a question"))), Choice(MENU_KEPT, turn.t(N_("Back to the menu")))]


async def _kept_chosen(turn: Turn, value: Any) -> Next:
    return "topic" if value == SEND_KEPT else END


async def _kept_topic(turn: Turn, value: Any) -> Next:
    kept = turn.data.get("kept")
    if not isinstance(kept, dict):
        return END
    return await _asked(turn, kept)


KEPT_QUESTION = Flow(name="kept_question", roles=PARTICIPANT, steps=(
    Step(name="offer", prompt=N_("You have no open question. Do you want to send what you wrote as a new question? "
                                 "A person who can help will answer here."),
         kind=InputKind.CHOICE, options=kept_options, on_answer=_kept_chosen,
         describe="words at the menu that answer nothing: send them as a question, or back to the menu",
         branches=(("send", "topic"), ("back", "menu"))),
    Step(name="topic", prompt=N_("What is your question about?"), kind=InputKind.CHOICE, options=topic_options,
         on_answer=_kept_topic, next=END, describe="topic; the kept words are routed as a new question"),
))


# ---------------------------------------------------------------------------------------------------------------
# The coordinator's side


async def claim(turn: Turn, ticket: Ticket, then_answer: bool = True) -> None:
    """Takes the question; `then_answer`: the taker writes the answer next (not when the answer is already here)."""
    if ticket.status == "closed":
        turn.say(N_("This question is already closed."))
        return
    if ticket.claimed_by_id and ticket.claimed_by_id != turn.person.id:
        other = await turn.session.get(Person, ticket.claimed_by_id)
        turn.say(N_("{name} has already taken this question."),
                 name=person_label(turn.t, turn.network, other) if other else "–")
        return
    ticket.status, ticket.claimed_by_id, ticket.claimed_at = "claimed", turn.person.id, turn.now
    turn.session.add(TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="event",
                                   text="claimed", created_at=turn.now))
    await refresh_notices(turn, ticket)
    if not then_answer:
        return  # taken by answering it: "Sent to the participant" says enough
    if not turn.incoming.in_group:
        # In their own chat, what they write next is the answer: a newcomer to Lotse types it right away. Taking a
        # question is a choice like a command, so a search or form left open before gives way to it (it swallowed
        # the answer as a wrong number).
        participant, _profile, first = await _context(turn.session, ticket)
        start_flow(turn, "answer", {"ticket": ticket.id, "foreign": foreign_to(turn.t, participant, first)})
        return
    turn.say(N_("You took question no. {number}. Reply to the question's message to answer, or write "
                "/reply {number} and your answer."), number=ticket.id)


async def _answered(turn: Turn, value: Any) -> Next:
    ticket = await turn.session.get(Ticket, int(turn.data.get("ticket", 0)))
    if ticket is None or not await may_handle(turn.session, turn.network, turn.person, ticket):
        turn.say(N_("There is no question with this number for you."))
        return END
    if isinstance(value, str):  # one of the question's buttons, typed by number: the button's own handler
        prefix, _, payload = value.partition(":")
        await BUTTON_ACTIONS[prefix](turn, payload)
        return STAY if turn.state.get("flow") != "answer" else END  # a flow it started (hand-over) goes on
    await answer(turn, ticket, value["text"], attachment=value["attachment"])
    return END


def answer_options(turn: Turn) -> list[Choice]:
    """The taken question's own buttons, so a typed number does what the notice's button does (and is not sent)."""
    number = turn.data.get("ticket", "")
    mediator = [Choice(f"sm:ask:{number}", turn.t(N_("Ask a mediator")))] if turn.data.get("foreign") else []
    return [Choice(f"tk:template:{number}", turn.t(N_("Ready-made answer"))),
            Choice(f"tk:handover:{number}", turn.t(N_("Hand over"))),
            Choice(f"tk:close:{number}", turn.t(N_("Close"))), *mediator]


ANSWER = Flow(name="answer", roles=STAFF, steps=(
    Step(name="answer", prompt=N_("You took question no. {number}. Write your answer now, or send a photo or a "
                                  "file. Or write /menu and answer later."), kind=InputKind.MESSAGE,
         options=answer_options, prompt_values=lambda turn: {"number": turn.data.get("ticket", "")},
         on_answer=_answered, next=END,
         max_length=MAX_QUESTION, describe="the answer to the question just taken (text or a file)"),
))


async def answer(turn: Turn, ticket: Ticket, text: str, rendered: bool = False,
                 attachment: dict[str, Any] | None = None, mediate: bool = False) -> bool:
    """Relays the answer to the participant's chat; True when it was recorded.

    `rendered` text comes from a catalog template and keeps its direction isolates; typed text is cleaned.
    `mediate`: the original goes out now and a volunteer language mediator translates it (flows/mediation.py);
    so does typed text that no engine can translate into the participant's language, when a volunteer mediates
    that language."""
    if ticket.status == "closed":
        turn.say(N_("This question is already closed. Nothing was sent."))
        return False
    text = text.strip() if rendered else clean_text(text)
    if not text and attachment is None:
        turn.say(N_("Your message was empty. Please write your answer."))
        return False
    if attachment is not None and (attachment.get("size") or 0) > MAX_ATTACHMENT_BYTES:
        turn.say(N_("This file is too big. Please send a file smaller than {limit} MB, or a photo of the page."),
                 limit=MAX_ATTACHMENT_BYTES // 1_000_000)
        return False
    if len(text) > MAX_QUESTION:
        turn.say(N_("That is too long. Please write at most {limit} characters."), limit=MAX_QUESTION)
        return False
    if ticket.claimed_by_id is None:
        await claim(turn, ticket, then_answer=False)
    participant = await turn.session.get_one(Person, ticket.participant_id)
    organisation = turn.network.organisations.get(turn.person.organisation or "")
    sender = organisation.name if organisation else turn.network.name
    reply = TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="out", text=text,
                          attachment=attachment, created_at=turn.now)
    turn.session.add(reply)
    mediate = bool(text) and (mediate or (not rendered and await mediator_for_answer(
        turn.session, text, turn.person.locale or "de", participant)))
    mediated = False
    if mediate:
        await turn.session.flush()
        request, asked = await ask_mediators(turn.session, reply, written_in(text, turn.person.locale or "de"),
                                             participant.locale or "en", turn.person.id, turn.now)
        turn.outgoing.extend(asked)
        mediated = request is not None and request.status != "nobody"  # else the coordinator was just told
        shown = "\n\n".join([text, translator_for(participant)(N_(
            "A volunteer translates this answer into your language. The translation follows here."))]) \
            if mediated else text
    else:
        shown = text if rendered else await for_participant(turn.session, reply, participant,
                                                            turn.person.locale or "de", turn.now)
    found = with_file(await messages_for(turn.session, participant, lambda t: "\n\n".join(filter(None, [t(
        N_("Answer to your question no. {number} from {organisation}:"), number=ticket.id,
        organisation=sender), shown]))), attachment)
    if not found:
        turn.say(N_("The participant cannot be reached at the moment (they may have blocked the bot). "
                    "The answer is saved with the question."))
    turn.outgoing.extend(found)
    turn.say(N_("Sent to the participant (question no. {number})."), number=ticket.id)
    if mediated:
        turn.say(N_("A volunteer language mediator translates your answer into {language}. The participant gets "
                    "the translation when it is ready."), language=language_name(turn.t, participant.locale or "en"))
    return True


async def close(turn: Turn, ticket: Ticket) -> None:
    if ticket.status == "closed":
        turn.say(N_("This question is already closed."))
        return
    ticket.status, ticket.closed_at = "closed", turn.now
    turn.session.add(TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="event",
                                   text="closed", created_at=turn.now))
    await refresh_notices(turn, ticket)
    turn.say(N_("Question no. {number} is closed."), number=ticket.id)
    participant = await turn.session.get(Person, ticket.participant_id)
    if participant is not None:  # they hear it, so that what they write next is not taken for a lost answer
        await turn.tell(participant, N_("Your question no. {number} is closed. If you need more help, write /menu "
                                        "and ask again."), number=ticket.id)


async def _reply_to_notice(turn: Turn) -> bool:
    """A coordinator's reply (Telegram reply, Matrix reply) to a notification answers that question."""
    reply_to = turn.incoming.reply_to
    if reply_to is None or not may(turn.person, Action.WORK_AS_STAFF):
        return False
    notice = (await turn.session.execute(
        select(TicketNotice).join(OutboxEntry, OutboxEntry.id == TicketNotice.outbox_id)
        .where(OutboxEntry.transport == turn.incoming.transport, OutboxEntry.platform_message_id == str(reply_to))
    )).scalars().first()
    if notice is None:
        return False
    ticket = await turn.session.get_one(Ticket, notice.ticket_id)
    if not await may_handle(turn.session, turn.network, turn.person, ticket):
        turn.say(N_("There is no question with this number for you."))
        return True
    await answer(turn, ticket, turn.incoming.text or "",
                 attachment=attachment_record(turn.incoming.attachment, turn.incoming.transport))
    return True


async def _ticket_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    ticket = await ticket_for(turn, number) if may(turn.person, Action.WORK_AS_STAFF) else None
    if ticket is None:
        if not may(turn.person, Action.WORK_AS_STAFF):
            turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if action == "claim":
        await claim(turn, ticket)
    elif action == "close":
        await close(turn, ticket)
    elif action == "show":
        await show_ticket(turn, number)
    elif action == "handover":
        start_flow(turn, "handover", {"ticket": ticket.id})
    elif action == "template":
        start_flow(turn, "template", {"ticket": ticket.id})
    else:
        turn.say(N_("This button belongs to an earlier question and no longer works."))


async def _numbered(turn: Turn, argument: str) -> tuple[Ticket | None, str]:
    number, _, rest = clean_text(argument).partition(" ")
    if not number:
        turn.say(N_("Please write the question's number, for example /ticket 12."))
        return None, ""
    return await ticket_for(turn, number), rest


async def reply_command(turn: Turn, argument: str) -> None:
    ticket, text = await _numbered(turn, argument)
    if ticket is not None:
        await answer(turn, ticket, text)


async def claim_command(turn: Turn, argument: str) -> None:
    ticket, _ = await _numbered(turn, argument)
    if ticket is not None:
        await claim(turn, ticket)


async def close_command(turn: Turn, argument: str) -> None:
    ticket, _ = await _numbered(turn, argument)
    if ticket is not None:
        await close(turn, ticket)


async def show_ticket(turn: Turn, argument: str) -> None:
    ticket, _ = await _numbered(turn, argument)
    if ticket is None:
        return
    participant, profile, first = await _context(turn.session, ticket)
    claimer = await turn.session.get(Person, ticket.claimed_by_id) if ticket.claimed_by_id else None
    lines = [notice_text(turn.t, turn.network, ticket, participant, profile, first,
                         taken_by=person_label(turn.t, turn.network, claimer) if claimer else None), ""]
    thread = (await turn.session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
                                         .order_by(TicketMessage.id))).all()
    for message in thread[1:]:
        when = turn.t.datetime(message.created_at, "short")
        if message.direction == "in":
            lines.append(turn.t(N_("{when} participant: {text}"), when=when,
                                text=for_staff(turn.t, message, participant.locale or "en")
                                or _attachment_note(turn.t, message.attachment)))
        elif message.direction == "out":
            lines.append(turn.t(N_("{when} answer: {text}"), when=when, text=message.text or ""))
    foreign = foreign_to(turn.t, participant, first)
    if ticket.status == "claimed" and ticket.claimed_by_id == turn.person.id and not turn.incoming.in_group \
            and turn.state.get("flow") in (None, "menu"):
        # Their own question, opened to answer it: what they write next is the answer (as right after "Take it").
        turn.send("\n".join(lines))
        start_flow(turn, "answer", {"ticket": ticket.id, "foreign": foreign})
    else:
        turn.send("\n".join(lines), notice_buttons(turn.t, ticket, ticket.claimed_by_id == turn.person.id,
                                                   foreign), "single")
        # Words typed right after this view are offered for this question first (`_staff_words`).
        turn.state[VIEWED] = [ticket.id, int(turn.state.get("seq", 0))]
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=ticket.participant_id,
                                action="ticket.viewed",
                                details={"ticket": ticket.id}))


async def show_inbox(turn: Turn, argument: str) -> None:
    """Open questions for this coordinator, overdue first, then the ones they took."""
    candidates = (await turn.session.scalars(
        select(Ticket).where(Ticket.status.in_(OPEN)).where(or_(
            Ticket.claimed_by_id == turn.person.id, Ticket.status == "open")).order_by(Ticket.due_at))).all()
    visible = [t for t in candidates if await may_handle(turn.session, turn.network, turn.person, t)]
    if not visible:
        turn.say(N_("No open questions for you. Well done!"))
        return
    lines: list[Choice] = []
    for ticket in visible[:30]:
        topic = turn.network.topics[ticket.topic].name[turn.t.locale] if ticket.topic in turn.network.topics \
            else turn.t(N_("Talk to a person"))
        if ticket.status == "claimed":
            state = turn.t(N_("taken by you"))
        elif ticket.due_at <= turn.now:
            state = turn.t(N_("OVERDUE"))
        else:
            state = turn.t(N_("take it by {when} or it goes to the lead contact"),  # the escalation deadline
                           when=turn.t.datetime(ticket.due_at, "short"))
        lines.append(Choice(button_key("tk", f"show:{ticket.id}"), f"#{ticket.id} · {topic} · {state}"))
    # Each question is a choice, so its number in the list opens it (as /ticket does with the question's own number).
    turn.send(turn.t(N_("Your questions:")), lines, "single", hint=turn.t(N_("Write the number of your answer.")))
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="tickets.listed",
                                details={"tickets": [t.id for t in visible[:30]]}))


# ---------------------------------------------------------------------------------------------------------------
# Hand-over and ready-made answers


def handover_options(turn: Turn) -> list[Choice]:
    return [Choice(key, topic.name[turn.t.locale]) for key, topic in turn.network.topics.items()]


async def _handed_over(turn: Turn, value: Any) -> Next:
    ticket = await turn.session.get(Ticket, int(turn.data.get("ticket", 0)))
    if ticket is None or not await may_handle(turn.session, turn.network, turn.person, ticket):
        turn.say(N_("There is no question with this number for you."))
        return END
    if ticket.status == "closed":
        turn.say(N_("This question is already closed."))
        return END
    result = await route(turn.session, turn.network, str(value), ticket.district)
    ticket.topic, ticket.organisations = str(value), result.organisations
    ticket.status, ticket.claimed_by_id, ticket.claimed_at = "open", None, None
    ticket.due_at = add_working_hours(turn.now, ANSWER_WORKING_HOURS)
    ticket.escalated_at = None
    await refresh_notices(turn, ticket)  # the old copies say it is no longer theirs
    await turn.session.flush()
    await send_notices(turn, ticket, result.people, result.rooms)
    participant, _, first = await _context(turn.session, ticket)
    later = (await turn.session.scalars(select(TicketMessage).where(  # what the participant added since asking
        TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "in", TicketMessage.id > first.id)
        .order_by(TicketMessage.id))).all()
    if later:
        receivers = [await turn.session.get_one(Person, person_id) for person_id in result.people]
        for row in later:
            await _relay_follow_up(turn, ticket, row, participant, receivers)
    turn.session.add(TicketMessage(ticket_id=ticket.id, author_id=turn.person.id, direction="event",
                                   text=f"handed over to {value}", created_at=turn.now))
    names = ", ".join(turn.network.organisations[o].name for o in result.organisations) or "–"
    turn.say(N_("Question no. {number} was handed over to {organisation}."), number=ticket.id, organisation=names)
    participant = await turn.session.get_one(Person, ticket.participant_id)
    turn.outgoing.extend(await messages_for(turn.session, participant, lambda t: t(
        N_("Your question no. {number} was passed to {organisation}. They will answer you here."),
        number=ticket.id, organisation=names)))
    return END


HANDOVER = Flow(name="handover", roles=STAFF, steps=(
    Step(name="topic", prompt=N_("To which topic should the question go? It is routed again by the network's "
                                 "rules."), kind=InputKind.CHOICE, options=handover_options,
         on_answer=_handed_over, next=END, describe="new topic; routed again"),
))

TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "photo": (N_("Please send a photo of the letter. All of the page should be easy to read."), ()),
    "come": (N_("Please come to {place} on {date}. Bring the letter and your ID (Ausweis)."), ("place", "date")),
    "passed": (N_("Your question was passed to {organisation}. They will contact you."), ("organisation",)),
    "received": (N_("We have received your documents. We will check them and write to you."), ()),
}
TEMPLATE_LABELS = {
    "photo": N_("Ask for a photo of the letter"),
    "come": N_("Invite to a place and time"),
    "passed": N_("Passed to another organisation"),
    "received": N_("Documents received"),
}


def template_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in TEMPLATE_LABELS.items()]


def organisation_options(turn: Turn) -> list[Choice]:
    return [Choice(key, organisation.name) for key, organisation in turn.network.organisations.items()]


async def _template_chosen(turn: Turn, value: Any) -> Next:
    needs = TEMPLATES[str(value)][1]
    return needs[0] if needs else await _send_template(turn)


async def _send_template(turn: Turn) -> Next:
    ticket = await turn.session.get(Ticket, int(turn.data.get("ticket", 0)))
    if ticket is None or not await may_handle(turn.session, turn.network, turn.person, ticket):
        turn.say(N_("There is no question with this number for you."))
        return END
    if ticket.status == "closed":
        turn.say(N_("This question is already closed. Nothing was sent."))
        return END
    message, _needs = TEMPLATES[turn.data["template"]]
    participant = await turn.session.get_one(Person, ticket.participant_id)
    organisation_key = turn.data.get("organisation")
    organisation = turn.network.organisations[organisation_key].name if organisation_key else None
    when = datetime.fromisoformat(turn.data["date"]) if turn.data.get("date") else None

    def render(t: Translator) -> str:
        values: dict[str, object] = {"place": turn.data.get("place", ""), "organisation": organisation or "",
                                     "date": t.when(when) if when else ""}
        return t(message, **values)

    if await answer(turn, ticket, render(translator_for(participant)), rendered=True):
        turn.say(N_("They read it in {language}. In your language it says:"),
                 language=language_name(turn.t, participant.locale or "en"))
        turn.send(render(turn.t))
        if turn.data["template"] == "come" and when is not None:
            await _book_invitation(turn, participant, when, str(turn.data.get("place", "")))
    return END


async def _book_invitation(turn: Turn, participant: Person, when: datetime, place: str) -> None:
    """An invitation to a place and time is an appointment (Termin): booked as `/appointment` books one, so the
    participant gets the usual notice with "I'll be there" / "I can't come" and the reminders, and it shows in
    /appointments and the case."""
    number, reached = await book_appointment(turn, participant, "other", when, place, None)
    turn.say(N_("It is also booked as appointment no. {number}, with the usual reminders."), number=number)
    if not reached:
        unreachable(turn, participant)


async def _value_given(turn: Turn, value: Any) -> Next:
    current = turn.state.get("step")
    if current == "date" and _invitation_closed_day(turn):
        return "closed_day"  # a weekend or public holiday is questioned, as a booking does
    return await _after(turn, current)


async def _after(turn: Turn, current: str | None) -> Next:
    needs = TEMPLATES[turn.data["template"]][1]
    following = needs[needs.index(current) + 1:] if current in needs else ()
    return following[0] if following else await _send_template(turn)


def _invitation_closed_day(turn: Turn) -> str | None:
    moment = turn.data.get("date")
    if not moment:
        return None
    return closed_day_note(turn.t, local_day(datetime.fromisoformat(str(moment)), turn.person.time_zone))


def _invitation_closed_day_text(turn: Turn) -> str:
    return f"{_invitation_closed_day(turn) or ''}\n\n{turn.t(KEEP_DAY)}".strip()


async def _invitation_day_kept(turn: Turn, value: Any) -> Next:
    return await _after(turn, "date") if value == YES else "date"


def _invitation_moment(turn: Turn, value: Any) -> Any:
    """Read as an appointment's time is (`flows.moments`): a day that has passed is questioned, not quietly taken
    as next year's, and "tomorrow 9:00" works here too."""
    return parse_moment(str(value), turn.now, turn.person.time_zone, turn.t.locale).isoformat()


def _date_example(turn: Turn) -> dict[str, object]:
    """Next Monday at 10:30, computed from today: an example is never in the past."""
    return {"example": f"{dotted_day(example_day(turn.now, turn.person.time_zone))} 10:30"}


TEMPLATE = Flow(name="template", roles=STAFF, steps=(
    Step(name="template", prompt=N_("Which ready-made answer? It arrives in the participant's language."),
         kind=InputKind.CHOICE, options=template_options, on_answer=_template_chosen, describe="template",
         branches=(("place", "place"), ("organisation", "organisation"))),
    Step(name="place", prompt=N_("Which place? For example: Jobcenter Oldenburg, Stau 70, room 12."),
         kind=InputKind.TEXT, max_length=200, on_answer=_value_given, describe="place", branches=(("", "date"),)),
    Step(name="date", prompt=N_("Which day and time? For example {example}."), prompt_values=_date_example,
         kind=InputKind.TEXT, validate=_invitation_moment, max_length=100,
         on_answer=_value_given, describe="date and time, checked as a booking's"),
    Step(name="closed_day", prompt=KEEP_DAY, kind=InputKind.YES_NO, text=_invitation_closed_day_text,
         on_answer=_invitation_day_kept, describe="a weekend or public holiday: keep it? (as a booking asks)",
         branches=(("no", "date"),)),
    Step(name="organisation", prompt=N_("Which organisation?"), kind=InputKind.CHOICE,
         options=organisation_options, on_answer=_value_given, describe="organisation"),
))


async def _ask_entry(turn: Turn) -> None:
    start_flow(turn, "ask")


async def _talk_entry(turn: Turn) -> None:
    start_flow(turn, "talk")


register(ASK, Command("ask", N_("Ask a question"), flow="ask", roles=PARTICIPANT))
register(TALK)
register(KEPT_QUESTION)
register(KEPT_ANSWER)
register(HANDOVER)
register(ANSWER)
register(TEMPLATE)
register(None, Command("inbox", N_("Your open questions"), action=show_inbox, roles=STAFF),
         Command("ticket", N_("Show one question: /ticket NUMBER"), action=show_ticket, roles=STAFF),
         Command("reply", N_("Answer a question: /reply NUMBER text"), action=reply_command, roles=STAFF),
         Command("claim", N_("Take a question: /claim NUMBER"), action=claim_command, roles=STAFF),
         Command("close", N_("Close a question: /close NUMBER"), action=close_command, roles=STAFF))
register_button("tk", _ticket_button)
INTERCEPTORS.extend([_reply_to_notice, _follow_up, _staff_words])
MENU_ENTRIES.extend([
    MenuEntry("ask", N_("Ask a question"), action=_ask_entry, roles=PARTICIPANT, order=5),
    MenuEntry("talk", N_("Talk to a person"), action=_talk_entry, roles=PARTICIPANT, order=6),
    MenuEntry("inbox", N_("Open questions"), action=lambda turn: show_inbox(turn, ""), roles=STAFF, order=5),
])


# ---------------------------------------------------------------------------------------------------------------
# Escalation: nobody took it in time


async def escalate_overdue(sessions: async_sessionmaker[AsyncSession], network: Network, now: datetime) -> int:
    """Overdue open questions go to the rule's lead contact (or the fallback organisation) and are marked; the
    participant hears that they are not forgotten. Each happens once per ticket; returns how many escalated."""
    escalated = 0
    async with sessions() as session, session.begin():
        overdue = (await session.scalars(select(Ticket).where(
            Ticket.status.in_(OPEN), Ticket.due_at <= now,
            or_(Ticket.escalated_at.is_(None), Ticket.reassured_at.is_(None))).order_by(Ticket.id))).all()
        for ticket in overdue:
            escalated += await _escalate(session, network, ticket, now)
    return escalated


async def next_escalation(sessions: async_sessionmaker[AsyncSession], now: datetime) -> datetime | None:
    """When the next open question falls overdue (the escalation loop's wake-up); None when none is open."""
    async with sessions() as session:
        moment: datetime | None = await session.scalar(select(func.min(Ticket.due_at)).where(
            Ticket.status.in_(OPEN), or_(Ticket.escalated_at.is_(None), Ticket.reassured_at.is_(None))))
    if moment is None:
        return None
    return max(moment, now + timedelta(seconds=60)) if moment <= now else moment  # a failed one: not in a loop


async def _escalate(session: AsyncSession, network: Network, ticket: Ticket, now: datetime) -> int:
    participant = await session.get_one(Person, ticket.participant_id)
    if ticket.reassured_at is None:
        answered = await session.scalar(select(TicketMessage.id).where(
            TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "out").limit(1))
        if answered is None:
            enqueue(session, await messages_for(session, participant, lambda t: t(N_(
                "We have not forgotten your question no. {number}. It takes a little longer. "
                "Thank you for your patience."), number=ticket.id)), now)
        ticket.reassured_at = now
    if ticket.escalated_at is not None or ticket.status != "open":
        return 0
    leads: list[Person] = []
    for rule in matching_rules(network, ticket.topic, ticket.district):
        if rule.organisation in (ticket.organisations or []) and rule.lead:
            lead = await find_lead(session, rule.lead)
            if lead is not None and lead not in leads:
                leads.append(lead)
    if not leads and network.fallback_organisation:
        leads = list((await session.scalars(select(Person).where(
            Person.role.in_(holders(Action.BE_RESPONSIBLE)),
            Person.organisation == network.fallback_organisation))).all())
    profile = await session.get(Profile, participant.id)
    first = (await session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
                                   .order_by(TicketMessage.id).limit(1))).one()

    def overdue_text(t: Translator) -> str:
        return t(N_("OVERDUE: nobody has taken this question yet.")) + "\n\n" + notice_text(
            t, network, ticket, participant, profile, first)

    for lead in leads:
        for message in await messages_for(session, lead, overdue_text, lambda t: notice_buttons(t, ticket, False)):
            row = OutboxEntry(transport=message.transport, chat=message.chat, payload=message.to_json(),
                              created_at=now)
            session.add(row)
            await session.flush()
            session.add(TicketNotice(ticket_id=ticket.id, person_id=lead.id, transport=message.transport,
                                     chat=message.chat, outbox_id=row.id))
    ticket.escalated_at = now
    session.add(AuditEntry(at=now, subject_id=participant.id, action="ticket.escalated",
                           details={"ticket": ticket.id, "to": [lead.id for lead in leads]}))
    log.info("tickets: question %s is overdue; escalated to %d lead contact(s)", ticket.id, len(leads))
    return 1
