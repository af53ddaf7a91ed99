"""Coordinators understand every question: machine translation of questions and answers (docs/translation.md).

A participant's message goes to staff with the original first and, where the staff member does not read its
language, a machine translation below it. Staff read their own language and English (the network's working
languages; the notice asks them to answer in German or English), so a question in English or in their own language
is never sent to an engine. A coordinator's typed answer reaches the participant in their language with the
original below. Each translation is stored with its message (`MessageTranslation`) and deleted with it.

Nothing waits on the engine for long: a conversation gives it `IN_TURN_SECONDS`; a failure, a timeout or a 429
lets the original go out with a one-line note, and `retry_translations` (a background loop) sends the translation
as a follow-up message when it arrives. With no engine configured, nothing leaves the server.

Volunteer language mediators (Sprachmittler) are the other way: when no engine can translate a question, or a
coordinator presses "Ask a mediator" (also on a text an engine did translate), one volunteer who translates that
language at a time gets the text only (no name, no district, no phone) with "Translate" / "Not now". The first who
takes it writes the translation; it is stored beside any machine translation (engine "volunteer") and shown below
it, marked "translated by a volunteer". A mediator who does not answer within 4 working hours is passed over
(`hand_over_mediations`, woken like the escalations). A coordinator's typed answer that no engine can translate
goes back the same way when a mediator reads the participant's language (or on purpose: `/mediator NUMBER text`),
reaching them with the German original below. Every text shown, and every request, is in the audit log.
A volunteer's report goes the same way (`mediation_requests.report_id`): by itself when no engine can translate
it, or when a coordinator asks; the mediator's translation is stored with the report
(`volunteer_translation`) and shown in `/case` and the digest below any machine translation, marked the same.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.i18n import N_, Translator
from bot.core.language_detection import detect
from bot.core.messages import Choice, Outgoing, button_key
from bot.core.network import Network
from bot.core.notify import enqueue, messages_for, translator_for
from bot.core.text import clean_text
from bot.core.translation import IN_TURN_SECONDS, TranslationFailed, active
from bot.services.routing import add_working_hours
from flows.engine import END, Flow, InputKind, Invalid, Next, Step, Turn
from flows.intake import language_name, participant_label
from flows.registry import Command, register, register_button
from storage.models import (
    AuditEntry,
    CaseReport,
    MediationRequest,
    MessageTranslation,
    Pairing,
    Person,
    Ticket,
    TicketMessage,
    TicketNotice,
    VolunteerProfile,
)

log = logging.getLogger("lotse.mediation")

STAFF_ALSO_READ = frozenset({"en"})
"""Besides their own language, staff are taken to read English (documented in docs/translation.md)."""
ENGINE_LABELS = {"libretranslate": "LibreTranslate", "deepl": "DeepL"}
BY_VOLUNTEER = "volunteer"
"""The `engine` of a translation a volunteer language mediator wrote."""
HANDOVER_WORKING_HOURS = 4.0
"""A mediator who neither translates nor says "Not now" within this many working hours is passed over."""
MAX_TRANSLATION = 4000
STAFF = frozenset({"coordinator", "admin"})
VOLUNTEER = frozenset({"volunteer"})
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def staff_reads(staff_locale: str, language: str) -> bool:
    return language == staff_locale or language in STAFF_ALSO_READ


def written_in(text: str | None, chosen: str) -> str:
    """The language the text is written in when that is clear (bot.core.language_detection), else the chosen one."""
    return detect(text or "", chosen=chosen) or chosen


def _label(row: MessageTranslation) -> str:
    return ENGINE_LABELS.get(row.engine, row.engine)


def _by_volunteer(message: TicketMessage) -> MessageTranslation | None:
    """A mediator's translation in whatever staff language they wrote it (German or English)."""
    if "translations" in inspect(message).unloaded:
        return None
    return next((row for row in message.translations if row.engine == BY_VOLUNTEER), None)


def _translation_of(message: TicketMessage, target: str) -> MessageTranslation | None:
    """The engine's translation into `target` (a mediator's stands beside it: `_by_volunteer`)."""
    if "translations" in inspect(message).unloaded:
        return None  # not loaded with this message: the original alone, never a lazy query from sync code
    return next((row for row in message.translations if row.target == target and row.engine != BY_VOLUNTEER),
                None)


async def translate_message(session: AsyncSession, message: TicketMessage, source: str, targets: Iterable[str],
                            now: datetime) -> None:
    """Stores a translation of `message` into each of `targets` the engine supports, waiting at most
    `IN_TURN_SECONDS` each; one that does not arrive in time is stored as pending for the background."""
    service = active()
    if service is None or not message.text:
        return
    wanted = sorted({target for target in targets if service.can(source, target)})
    if not wanted:
        return
    await session.flush()
    await session.refresh(message, ["translations"])
    have = {row.target for row in message.translations if row.engine != BY_VOLUNTEER}
    for target in wanted:
        if target in have:
            continue
        row = MessageTranslation(source=source, target=target, engine=service.engine.key, created_at=now,
                                 attempts=1, status="done")
        try:
            row.text = await service.translate(message.text, source, target, budget=IN_TURN_SECONDS)
            row.translated_at = now
        except TranslationFailed as error:
            log.warning("translation: message %s into %s not translated now (%s)", message.id, target, error)
            row.status = "pending" if error.retry else "failed"
            row.next_attempt_at = now + FIRST_RETRY if error.retry else None
        message.translations.append(row)
    await session.flush()


async def translate_for_staff(session: AsyncSession, message: TicketMessage, source: str,
                              readers: Iterable[Person | None], now: datetime) -> list[Outgoing]:
    """Before a participant's message is rendered for `readers` (None: a room, which reads German). When no
    engine can translate it, a volunteer language mediator is asked: returns the message to them (if any)."""
    targets = [(reader.locale or "de") if reader is not None else "de" for reader in readers]
    source = written_in(message.text, source)
    needed = [t for t in targets if not staff_reads(t, source)]
    await translate_message(session, message, source, needed, now)
    service = active()
    if not needed or not message.text or (service is not None and all(service.can(source, t) for t in needed)):
        return []
    _request, outgoing = await ask_mediators(session, message, source, "de", None, now)
    return outgoing


def for_staff(t: Translator, message: TicketMessage, chosen: str) -> str:
    """A participant's text as a staff member sees it: the original (and the language it is written in, when that
    is not the one they chose), then the machine translation or a note that it follows, then a volunteer
    mediator's translation (or a note that one was asked) below it."""
    text = message.text or ""
    if not text:
        return text
    source = written_in(text, chosen)
    if source != chosen:
        text = "\n".join([text, t(N_("(written in {language})"), language=language_name(t, source))])
    if staff_reads(t.locale, source):
        return text
    parts = [text]
    machine = _translation_of(message, t.locale)
    if machine is not None and machine.status == "pending":
        parts.append(t(N_("Machine translation is not available right now; it follows in a separate message.")))
    elif machine is not None and machine.status == "done":
        parts.append(t(N_("Machine translation ({engine}):"), engine=_label(machine)) + "\n" + (machine.text or ""))
    volunteer = _by_volunteer(message)
    if volunteer is not None and volunteer.status == "pending":
        parts.append(t(N_("A volunteer language mediator was asked to translate this; the translation follows in "
                          "a separate message.")))
    elif volunteer is not None and volunteer.status == "done":
        parts.append(t(N_("Translated by a volunteer:")) + "\n" + (volunteer.text or ""))
    return "\n\n".join(parts)


def has_words(text: str | None) -> bool:
    """Whether a text has something to translate: a thumbs-up, "2" or "?!" alone is the same in every language."""
    return any(ch.isalpha() for ch in text or "")


def mediator_wanted(t: Translator, message: TicketMessage, chosen: str) -> bool:
    """Whether a staff member reading in `t` might ask a volunteer mediator for `message`: its language is not
    theirs and no mediator is translating it or has translated it (a machine translation may stand)."""
    if not has_words(message.text) or staff_reads(t.locale, written_in(message.text, chosen)):
        return False
    volunteer = _by_volunteer(message)
    return volunteer is None or volunteer.status == "failed"


async def for_participant(session: AsyncSession, message: TicketMessage, participant: Person, source: str,
                          now: datetime) -> str:
    """A coordinator's typed answer in the participant's language, the original below; or the original and a
    note that the translation follows."""
    text = message.text or ""
    target = participant.locale or "en"
    source = written_in(text, source)
    if not text or target == source:
        return text
    await translate_message(session, message, source, [target], now)
    found = _translation_of(message, target)
    t = translator_for(participant)
    if found is None or found.status == "failed":
        return text
    if found.status == "pending":
        return "\n\n".join([text, t(N_("A translation into your language follows soon."))])
    return "\n\n".join([found.text or "", t(N_("Machine translation ({engine}). The original:"),
                                            engine=_label(found)) + "\n" + text])


async def mediator_for_answer(session: AsyncSession, text: str, written: str, participant: Person) -> bool:
    """Whether a coordinator's typed answer goes through a volunteer language mediator: no engine can translate
    it into the participant's language, and a volunteer mediates that language (issue 16, point 4)."""
    target = participant.locale or "en"
    source = written_in(text, written)
    if not has_words(text) or source == target:
        return False
    service = active()
    if service is not None and service.can(source, target):
        return False
    return bool(await mediators_for(session, target, skip=await companions_of(session, participant.id)))


# ---------------------------------------------------------------------------------------------------------------
# In the background: translations that were late


async def _recipients(session: AsyncSession, ticket: Ticket, message: TicketMessage,
                      target: str) -> list[Person]:
    if message.direction == "out":
        participant = await session.get(Person, ticket.participant_id)
        return [participant] if participant is not None and (participant.locale or "en") == target else []
    return [person for person in await staff_of(session, ticket) if (person.locale or "de") == target]


async def staff_of(session: AsyncSession, ticket: Ticket) -> list[Person]:
    """Who sees a question's news: the coordinator who took it, else everyone it was sent to."""
    if ticket.claimed_by_id:
        ids: list[int] = [ticket.claimed_by_id]
    else:
        found = (await session.scalars(select(TicketNotice.person_id).where(
            TicketNotice.ticket_id == ticket.id, TicketNotice.person_id.is_not(None)).distinct())).all()
        ids = [person_id for person_id in found if person_id is not None]
    people = [await session.get(Person, person_id) for person_id in ids]
    return [person for person in people if person is not None]


async def _deliver_late(session: AsyncSession, row: MessageTranslation, now: datetime) -> None:
    message = await session.get_one(TicketMessage, row.message_id)
    ticket = await session.get_one(Ticket, message.ticket_id)
    for person in await _recipients(session, ticket, message, row.target):
        if message.direction == "out":
            def render(t: Translator) -> str:
                return "\n\n".join([t(N_("Answer to your question no. {number}, translated by machine ({engine}):"),
                                      number=ticket.id, engine=_label(row)), row.text or ""])
        else:
            def render(t: Translator) -> str:
                return "\n\n".join([t(N_("Question no. {number}: machine translation ({engine}) of the "
                                         "participant's message:"), number=ticket.id, engine=_label(row)),
                                    row.text or ""])
        enqueue(session, await messages_for(session, person, render), now)


async def retry_translations(sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int = 20,
                             early: bool = False, network: Network | None = None) -> int:
    """Asks the engine again for late translations (never inside a transaction); each one that arrives is stored
    and sent as a follow-up message. Returns how many arrived. `early`: also those not due yet (the demo, which
    has no background loop, asks with every line). With `network`, volunteers' reports too."""
    service = active()
    if service is None:
        return 0
    arrived = await retry_report_translations(sessions, network, now, limit, early) if network is not None else 0
    due_by = MessageTranslation.next_attempt_at.is_not(None) if early else MessageTranslation.next_attempt_at <= now
    async with sessions() as session:
        due = (await session.execute(
            select(MessageTranslation.id, TicketMessage.text, MessageTranslation.source, MessageTranslation.target)
            .join(TicketMessage, TicketMessage.id == MessageTranslation.message_id)
            .where(MessageTranslation.status == "pending", due_by)
            .order_by(MessageTranslation.next_attempt_at).limit(limit))).all()
    if due and service.supported is None:
        await service.load_languages()  # the engine was not reachable at startup
    for row_id, text, source, target in due:
        try:
            result: str | None = await service.translate(text or "", source, target)
            error: TranslationFailed | None = None
        except TranslationFailed as failure:
            result, error = None, failure
        async with sessions() as session, session.begin():
            row = await session.get(MessageTranslation, row_id)
            if row is None or row.status != "pending":
                continue  # deleted with its message meanwhile, or done by another process
            row.attempts += 1
            if result is not None:
                row.text, row.status, row.translated_at, row.next_attempt_at = result, "done", now, None
                await _deliver_late(session, row, now)
                arrived += 1
            elif error is not None and error.retry and row.attempts < MAX_ATTEMPTS:
                row.next_attempt_at = now + min(FIRST_RETRY * 2 ** row.attempts, LONGEST_WAIT)
                log.info("translation: %s; trying again at %s", error, row.next_attempt_at)
            else:
                row.status, row.next_attempt_at = "failed", None
                log.warning("translation: gave up on message %s into %s (%s)", row.message_id, target, error)
    return arrived


# ---------------------------------------------------------------------------------------------------------------
# Volunteer language mediators: the text only, one mediator at a time


Mediated = TicketMessage | CaseReport
"""What a mediator translates: a question or answer, or a volunteer's report (always toward staff)."""


def _direction(subject: Mediated) -> str:
    return subject.direction if isinstance(subject, TicketMessage) else "in"


async def _participant_of(session: AsyncSession, subject: Mediated) -> int:
    if isinstance(subject, CaseReport):
        return subject.participant_id
    return (await session.get_one(Ticket, subject.ticket_id)).participant_id


async def _subject_of(session: AsyncSession, request: MediationRequest) -> Mediated:
    if request.report_id is not None:
        return await session.get_one(CaseReport, request.report_id)
    return await session.get_one(TicketMessage, request.message_id)


def _language_of(request: MediationRequest, message: Mediated) -> str:
    """The participant's language of a request: what a question was written in, what an answer goes into."""
    return request.target if _direction(message) == "out" else request.source


async def companions_of(session: AsyncSession, participant_id: int) -> list[int]:
    """The volunteers who accompany the participant: they would know whose text it is, so never their mediator."""
    return list((await session.scalars(select(Pairing.volunteer_id).where(
        Pairing.participant_id == participant_id))).all())


async def mediators_for(session: AsyncSession, language: str, skip: Collection[int] = ()) -> list[Person]:
    """Volunteers who mediate `language`, in turn: those never asked first, then the one asked longest ago; on a
    tie the one who joined first. Those in `skip` (asked for this text already) are left out."""
    rows = (await session.execute(select(Person, VolunteerProfile).join(
        VolunteerProfile, VolunteerProfile.person_id == Person.id).where(
        Person.role == "volunteer", VolunteerProfile.completed_at.is_not(None)).order_by(Person.id))).all()
    found = [person for person, profile in rows if language in (profile.mediates or []) and person.id not in skip]
    if not found:
        return []
    last: dict[int | None, datetime] = {actor: at for actor, at in (await session.execute(
        select(AuditEntry.actor_id, func.max(AuditEntry.at)).where(
            AuditEntry.action == "mediation.shown", AuditEntry.actor_id.in_([p.id for p in found]))
        .group_by(AuditEntry.actor_id))).all()}
    never = [person for person in found if person.id not in last]
    asked = sorted((person for person in found if person.id in last), key=lambda p: (last[p.id], p.id))
    return [*never, *asked]


def _request_text(t: Translator, request: MediationRequest, message: Mediated) -> str:
    """What a mediator sees: the request's number, the languages and the text. Nothing about the person."""
    language = language_name(t, _language_of(request, message))
    if _direction(message) == "out" and request.source == "en":  # staff answer in German or English
        intro = t(N_("Translation request no. {number}: please translate this text from English into {language}."),
                  number=request.id, language=language)
    elif _direction(message) == "out":
        intro = t(N_("Translation request no. {number}: please translate this text from German into {language}."),
                  number=request.id, language=language)
    else:
        intro = t(N_("Translation request no. {number}: please translate this text from {language} into German "
                     "(or English)."), number=request.id, language=language)
    return "\n\n".join([intro, message.text or "", t(N_(
        "You see only this text, not who wrote it. Please keep it to yourself."))])


def _request_buttons(t: Translator, request: MediationRequest) -> list[Choice]:
    return [Choice(button_key("sm", f"take:{request.id}"), t(N_("Translate"))),
            Choice(button_key("sm", f"skip:{request.id}"), t(N_("Not now")))]


async def _ask_next(session: AsyncSession, request: MediationRequest, message: Mediated,
                    now: datetime) -> list[Outgoing]:
    """Shows the text to the next mediator who can be reached; when none is left, the request ends and the
    coordinator (or whoever the question went to) is told. Returns the messages to send."""
    participant_id = await _participant_of(session, message)
    language = _language_of(request, message)
    # A volunteer who accompanies this participant would know whose text it is: never their mediator.
    companions = await companions_of(session, participant_id)
    for mediator in await mediators_for(session, language, skip=[*(request.asked or []), *companions]):
        request.asked = [*(request.asked or []), mediator.id]
        found = await messages_for(session, mediator, lambda t: _request_text(t, request, message),
                                   lambda t: _request_buttons(t, request))
        if not found:
            continue  # blocked the bot or no handle left: the next one
        request.status, request.mediator_id = "asking", mediator.id
        request.due_at = add_working_hours(now, HANDOVER_WORKING_HOURS)
        what = "report" if isinstance(message, CaseReport) else "message"
        session.add(AuditEntry(at=now, actor_id=mediator.id, subject_id=participant_id,
                               action="mediation.shown",
                               details={"request": request.id, what: message.id, "language": language}))
        return found
    request.status, request.mediator_id, request.due_at = "nobody", None, None
    if isinstance(message, CaseReport):
        return await _nobody_for_report(session, request, message)
    ticket = await session.get_one(Ticket, message.ticket_id)
    await session.refresh(message, ["translations"])
    for row in message.translations:
        if row.engine == BY_VOLUNTEER and row.status == "pending":
            row.status = "failed"
    if message.direction == "out":
        requester = await session.get(Person, request.requested_by_id) if request.requested_by_id else None
        told = [requester] if requester is not None else []
    else:
        told = await staff_of(session, ticket)
        if await _others_open(session, request, ticket):
            told = []  # another message of the question is still with a mediator: told once, when the last ends
    outgoing: list[Outgoing] = []
    for person in told:
        outgoing += await messages_for(session, person, lambda t: t(N_(
            "No volunteer language mediator could translate question no. {number} into {language}. "
            "Please find another way to understand each other, for example a phone call with an interpreter."),
            number=ticket.id, language=language_name(t, "de" if message.direction == "in" else language)))
    return outgoing


async def _others_open(session: AsyncSession, request: MediationRequest, ticket: Ticket) -> bool:
    """Whether another request for a participant's message on the same question still waits for a mediator."""
    return await session.scalar(select(MediationRequest.id).join(
        TicketMessage, TicketMessage.id == MediationRequest.message_id).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "in", MediationRequest.id != request.id,
        MediationRequest.status.in_(("asking", "taken"))).limit(1)) is not None


async def ask_mediators(session: AsyncSession, message: Mediated, source: str, target: str,
                        requested_by: int | None, now: datetime) -> tuple[MediationRequest | None, list[Outgoing]]:
    """Hands `message` (or a volunteer's report) to the first mediator for its language; None when no volunteer
    mediates that language or one was asked already (then nothing is shown to anyone)."""
    language = target if _direction(message) == "out" else source
    if not has_words(message.text) or not await mediators_for(
            session, language, skip=await companions_of(session, await _participant_of(session, message))):
        return None, []
    report = isinstance(message, CaseReport)
    busy = await session.scalar(select(MediationRequest.id).where(
        (MediationRequest.report_id if report else MediationRequest.message_id) == message.id,
        MediationRequest.status.in_(("asking", "taken", "done"))).limit(1))
    if busy is not None:
        return None, []
    request = MediationRequest(message_id=None if report else message.id, report_id=message.id if report else None,
                               source=source, target=target, status="asking", asked=[],
                               requested_by_id=requested_by, created_at=now)
    session.add(request)
    await session.flush()
    # Shown as "a volunteer was asked" (below a machine translation, if there is one) until the translation comes.
    if isinstance(message, CaseReport):
        message.translation_source = message.translation_source or source
        message.volunteer_translation_status = "pending"
    else:
        await session.refresh(message, ["translations"])
        row = next((row for row in message.translations if row.engine == BY_VOLUNTEER and row.target == target),
                   None)
        if row is None:
            message.translations.append(MessageTranslation(source=source, target=target, engine=BY_VOLUNTEER,
                                                           status="pending", attempts=0, created_at=now))
        else:
            row.status = "pending"  # no mediator was left last time; one is asked again
    outgoing = await _ask_next(session, request, message, now)
    await session.flush()
    return request, outgoing


async def hand_over_mediations(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Requests whose mediator let 4 working hours pass go to the next mediator; returns how many messages that
    wrote (the caller wakes the sender)."""
    written = 0
    async with sessions() as session, session.begin():
        due = (await session.scalars(select(MediationRequest).where(
            MediationRequest.status.in_(("asking", "taken")), MediationRequest.due_at <= now)
            .order_by(MediationRequest.id))).all()
        for request in due:
            message = await _subject_of(session, request)
            log.info("mediation: request %s unanswered by mediator %s; asking the next one", request.id,
                     request.mediator_id)
            outgoing = await _ask_next(session, request, message, now)
            enqueue(session, outgoing, now)
            written += len(outgoing)
    return written


async def next_mediation_handover(sessions: async_sessionmaker[AsyncSession], now: datetime) -> datetime | None:
    """When the next mediator's time is up (the loop's wake-up); None when no request waits."""
    async with sessions() as session:
        moment: datetime | None = await session.scalar(select(func.min(MediationRequest.due_at)).where(
            MediationRequest.status.in_(("asking", "taken"))))
    if moment is None:
        return None
    return max(moment, now + timedelta(seconds=60)) if moment <= now else moment


# The mediator's side: "Translate" / "Not now", then the translation


EARLIER_BUTTON = N_("This button belongs to an earlier question and no longer works.")


async def _mediator_button(turn: Turn, payload: str) -> None:
    action, _, number = payload.partition(":")
    if action == "ask":
        await _ask_for_question(turn, number)
        return
    if action == "report":
        await _ask_for_report(turn, number)
        return
    request = await turn.session.get(MediationRequest, int(number)) if number.isdigit() and len(number) < 10 \
        else None
    if request is None or turn.person.role != "volunteer" or turn.person.id not in (request.asked or []) or \
            action not in ("take", "skip"):
        turn.say(EARLIER_BUTTON)
        return
    if request.status == "done":
        turn.say(N_("Another volunteer has already translated this. Thank you!"))
        return
    if request.status == "nobody":
        turn.say(N_("This translation is no longer needed. Thank you!"))
        return
    message = await _subject_of(turn.session, request)
    if action == "skip":
        if request.mediator_id == turn.person.id:
            turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="mediation.declined",
                                        details={"request": request.id}))
            turn.outgoing.extend(await _ask_next(turn.session, request, message, turn.now))
        if request.status == "nobody":  # nobody else is left to ask: the coordinator was told instead
            turn.say(N_("That is fine. Thank you! Nobody else can translate this now, so the coordinator will find "
                        "another way."))
        else:
            turn.say(N_("That is fine. We will ask someone else."))
        return
    if request.status == "taken" and request.mediator_id != turn.person.id:
        turn.say(N_("Another volunteer is already translating this. Thank you!"))
        return
    request.status, request.mediator_id = "taken", turn.person.id
    request.due_at = add_working_hours(turn.now, HANDOVER_WORKING_HOURS)
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="mediation.taken",
                                details={"request": request.id}))
    from flows.registry import start_flow

    start_flow(turn, "mediate", {"request": request.id,
                                 "target": request.target if _direction(message) == "out" else ""})


def _translation_prompt(turn: Turn) -> str:
    target = str(turn.data.get("target") or "")
    if target:
        return turn.t(N_("Please write the translation into {language}."), language=language_name(turn.t, target))
    return turn.t(N_("Please write the translation into German (or English)."))


def _checked_translation(turn: Turn, value: Any) -> str:
    text = clean_text(str(value))
    if not any(ch.isalnum() for ch in text):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return text


async def _translated(turn: Turn, value: Any) -> Next:
    """Stores the mediator's translation with the message and passes it on, marked as a volunteer's."""
    request = await turn.session.get(MediationRequest, int(turn.data.get("request", 0)))
    if request is None or turn.person.id not in (request.asked or []) or request.status in ("done", "nobody"):
        turn.say(N_("This translation is no longer needed. Thank you!"))
        return END
    subject = await _subject_of(turn.session, request)
    text = str(value)
    if isinstance(subject, CaseReport):
        await _report_translated(turn, request, subject, text)
        turn.say(N_("Thank you! Your translation was passed on."))
        return END
    message = subject
    ticket = await turn.session.get_one(Ticket, message.ticket_id)
    await turn.session.refresh(message, ["translations"])
    row = next((r for r in message.translations if r.target == request.target and r.engine == BY_VOLUNTEER), None)
    if row is None:
        row = MessageTranslation(target=request.target, engine=BY_VOLUNTEER, created_at=turn.now, attempts=0)
        message.translations.append(row)
    row.source, row.text, row.status = request.source, text, "done"
    row.translated_at, row.next_attempt_at = turn.now, None
    request.status, request.mediator_id, request.due_at, request.done_at = "done", turn.person.id, None, turn.now
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=ticket.participant_id,
                                action="mediation.translated",
                                details={"request": request.id, "message": message.id}))
    if message.direction == "out":  # the volunteer's translation, the original below it
        participant = await turn.session.get_one(Person, ticket.participant_id)
        turn.outgoing.extend(await messages_for(turn.session, participant, lambda t: "\n\n".join([
            t(N_("Answer to your question no. {number}, translated by a volunteer:"), number=ticket.id), text,
            t(N_("The original:")) + "\n" + (message.text or "")])))
    else:
        first = await turn.session.scalar(select(func.min(TicketMessage.id)).where(
            TicketMessage.ticket_id == ticket.id))
        if first == message.id:  # the question's notices show it too, below the original (and the machine's)
            from flows.tickets import refresh_notices

            await refresh_notices(turn, ticket)
        for person in await staff_of(turn.session, ticket):
            turn.outgoing.extend(await messages_for(turn.session, person, lambda t: "\n\n".join([
                t(N_("Question no. {number}: translated by a volunteer:"), number=ticket.id), text])))
    turn.say(N_("Thank you! Your translation was passed on."))
    return END


MEDIATE = Flow(name="mediate", roles=VOLUNTEER, steps=(
    Step(name="translation", prompt=N_("Please write the translation into German (or English)."),
         kind=InputKind.TEXT, text=_translation_prompt, validate=_checked_translation, on_answer=_translated,
         next=END, max_length=MAX_TRANSLATION, describe="the mediator's translation; passed on, marked"),
))


# The coordinator's side: "Ask a mediator", /mediator NUMBER [answer]


async def _ask_for_question(turn: Turn, number: str) -> None:
    """Asks a mediator for every message of the participant's on this question not yet translated by one."""
    from flows.tickets import ticket_for

    ticket = await ticket_for(turn, number) if turn.person.role in STAFF else None
    if ticket is None:
        if turn.person.role not in STAFF:
            turn.say(EARLIER_BUTTON)
        return
    participant = await turn.session.get_one(Person, ticket.participant_id)
    messages = (await turn.session.scalars(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "in", TicketMessage.text.is_not(None))
        .order_by(TicketMessage.id))).all()
    requested: list[int] = []
    asked = 0
    language = participant.locale or "en"
    worded = 0
    for message in messages:
        language = written_in(message.text, participant.locale or "en")
        if staff_reads(turn.t.locale, language) or not has_words(message.text):
            continue
        worded += 1
        request, outgoing = await ask_mediators(turn.session, message, language, "de", turn.person.id, turn.now)
        if request is not None:
            requested.append(message.id)
            if request.status == "nobody" and len(requested) > asked + 1:
                continue  # the coordinator was told for an earlier message of this question just now: once is enough
            asked += request.status != "nobody"  # else the coordinator was just told that no mediator could
            turn.outgoing.extend(outgoing)
    if requested:
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=ticket.participant_id,
                                    action="mediation.asked", details={"ticket": ticket.id, "messages": requested}))
    if requested and not asked:
        return
    if asked:
        turn.say(N_("A volunteer language mediator was asked to translate question no. {number}. They see only the "
                    "text, nothing else of the case. The translation comes here."), number=ticket.id)
    elif not worded:
        turn.say(N_("There is nothing to translate in question no. {number}: its messages have no words."),
                 number=ticket.id)
    elif not await say_why_nobody(turn, participant, language):
        turn.say(N_("A volunteer language mediator has already been asked for this question."))


async def say_why_nobody(turn: Turn, participant: Person, language: str) -> bool:
    """Tells the coordinator why no mediator can be asked, if so: none for the language, or only the participant's
    own volunteer (who must not see their texts). False when a mediator could be asked."""
    if not await mediators_for(turn.session, language):
        turn.say(N_("No volunteer translates {language} as a language mediator yet."),
                 language=language_name(turn.t, language))
        return True
    if not await mediators_for(turn.session, language, skip=await companions_of(turn.session, participant.id)):
        turn.say(N_("There is no other volunteer language mediator for {language}: the only one accompanies this "
                    "participant and may not see their messages."), language=language_name(turn.t, language))
        return True
    return False


async def mediator_command(turn: Turn, argument: str) -> None:
    """`/mediator 12`: a mediator translates the question; `/mediator 12 text`: the answer goes back through one."""
    from flows.tickets import answer, ticket_for

    number, _, text = clean_text(argument).partition(" ")
    if not number:
        turn.say(N_("Please write the question's number, for example /mediator 12."))
        return
    if not text.strip():
        await _ask_for_question(turn, number)
        return
    ticket = await ticket_for(turn, number)
    if ticket is None:
        return
    participant = await turn.session.get_one(Person, ticket.participant_id)
    if await say_why_nobody(turn, participant, participant.locale or "en"):
        return
    await answer(turn, ticket, text, mediate=True)


register(MEDIATE, Command("mediator", N_("A volunteer translates a question: /mediator NUMBER, or your answer: "
                                         "/mediator NUMBER text"), action=mediator_command, roles=STAFF))
register_button("sm", _mediator_button)  # Sprachmittler


# ---------------------------------------------------------------------------------------------------------------
# Volunteers' reports


async def translate_report(session: AsyncSession, report: CaseReport, chosen: str, readers: Iterable[Person],
                           now: datetime) -> list[Outgoing]:
    """Stores a machine translation of a volunteer's report for the first reader who does not read its language
    (waiting at most `IN_TURN_SECONDS`). A late or failed one is left pending: `retry_translations` asks again
    and sends it as a follow-up; the original always stands. When no engine can translate it for any of them
    (none set, or the language unsupported), a volunteer language mediator is asked, as for questions: returns
    the message to them (if any)."""
    if not report.text:
        return []
    source = written_in(report.text, chosen)
    needing = [reader for reader in readers if not staff_reads(reader.locale or "de", source)]
    if not needing:
        return []
    service = active()
    for reader in needing if service is not None else []:
        assert service is not None
        target = reader.locale or "de"
        if not service.can(source, target):
            continue
        report.translation_source, report.translation_target = source, target
        report.translation_engine, report.translation_attempts = service.engine.key, 1
        try:
            report.translation = await service.translate(report.text, source, target, budget=IN_TURN_SECONDS)
            report.translation_status = "done"
        except TranslationFailed as error:
            log.warning("translation: report %s into %s not translated now (%s)", report.id, target, error)
            report.translation_status = "pending" if error.retry else "failed"
            report.translation_next_at = now + FIRST_RETRY if error.retry else None
        return []
    _request, outgoing = await ask_mediators(session, report, source, "de", needing[0].id, now)
    return outgoing


async def _report_translated(turn: Turn, request: MediationRequest, report: CaseReport, text: str) -> None:
    """A mediator's translation of a report: stored with it, and sent to the coordinators who were told of it."""
    from flows.volunteers import responsible_coordinators

    report.volunteer_translation, report.volunteer_translation_status = text, "done"
    report.translation_source = report.translation_source or request.source
    request.status, request.mediator_id, request.due_at, request.done_at = "done", turn.person.id, None, turn.now
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=report.participant_id,
                                action="mediation.translated", details={"request": request.id, "report": report.id}))
    participant = await turn.session.get_one(Person, report.participant_id)
    # The coordinator who asked hears it; of an urgent report or a milestone, all who were told of it. The others
    # wait for the weekly overview and /case.
    told = await responsible_coordinators(turn.session, turn.network, participant) \
        if report.needs_action or report.kind == "milestone" else []
    requester = await turn.session.get(Person, request.requested_by_id) if request.requested_by_id else None
    if requester is not None and requester not in told:
        told.append(requester)
    for person in told:
        if staff_reads(person.locale or "de", request.source):
            continue
        turn.outgoing.extend(await messages_for(turn.session, person, lambda t: "\n".join([
            t(N_("Report of {date} about {participant}, translated by a volunteer:"),
              date=t.date(report.created_at, "medium"), participant=participant_label(t, participant)),
            "", text, "", t(N_("The whole case: /case {number}"), number=participant.id)])))


async def _nobody_for_report(session: AsyncSession, request: MediationRequest, report: CaseReport,
                             ) -> list[Outgoing]:
    """No mediator is left for a report: the coordinator it was asked for is told; the original stands."""
    if report.volunteer_translation_status == "pending":
        report.volunteer_translation_status = "failed"
    requester = await session.get(Person, request.requested_by_id) if request.requested_by_id else None
    participant = await session.get(Person, report.participant_id)
    if requester is None or participant is None:
        return []
    return await messages_for(session, requester, lambda t: t(N_(
        "No volunteer language mediator could translate the report of {date} about {participant}. Please find "
        "another way, for example ask the volunteer on the phone."), date=t.date(report.created_at, "medium"),
        participant=participant_label(t, participant)))


def report_translation(t: Translator, report: CaseReport, chosen: str, notice: bool = False) -> list[str]:
    """The lines below a report's original for a staff reader: its stored translation, marked by whom it was made,
    where the reader does not read the language it is written in and it was made into theirs; else nothing.
    `notice`: the coordinator's message, which says that a late translation follows (`/case` and the digest
    simply show the original until it arrived)."""
    source = report.translation_source or written_in(report.text, chosen)
    if staff_reads(t.locale, source):
        return []
    lines: list[str] = []
    if report.translation_engine and report.translation_target == t.locale:  # the machine's, into their language
        if report.translation_status == "pending" and notice:
            lines.append(t(N_("Machine translation is not available right now; it follows in a separate message.")))
        elif report.translation_status == "done" and report.translation:
            engine = ENGINE_LABELS.get(report.translation_engine, report.translation_engine)
            lines += [t(N_("Machine translation ({engine}):"), engine=engine), report.translation]
    # A mediator's (into German or English) is shown to every reader who does not read the report's language.
    if report.volunteer_translation_status == "pending" and notice:
        lines.append(t(N_("A volunteer language mediator was asked to translate this; the translation follows in a "
                          "separate message.")))
    elif report.volunteer_translation_status == "done" and report.volunteer_translation:
        lines += [t(N_("Translated by a volunteer:")), report.volunteer_translation]
    return lines


def report_mediator_wanted(t: Translator, report: CaseReport, chosen: str) -> bool:
    """Whether a coordinator reading in `t` might ask a volunteer mediator for this report: its language is not
    theirs and no mediator is translating it or has translated it (a machine translation may stand)."""
    if not report.text or staff_reads(t.locale, report.translation_source or written_in(report.text, chosen)):
        return False
    return report.volunteer_translation_status in (None, "failed")


def report_mediator_button(t: Translator, report: CaseReport) -> Choice:
    return Choice(button_key("sm", f"report:{report.id}"), t(N_("Ask a mediator")))


async def report_mediator_choices(session: AsyncSession, t: Translator, participant_id: int,
                                  limit: int = 3) -> list[Choice]:
    """"Ask a mediator" for the participant's latest reports a staff reader cannot read, of every kind: an urgent
    report or a milestone has the button on its notice, the others (which nobody is told of) on the case view."""
    reports = (await session.scalars(select(CaseReport).where(
        CaseReport.participant_id == participant_id, CaseReport.text.is_not(None))
        .order_by(CaseReport.created_at.desc(), CaseReport.id.desc()).limit(20))).all()
    authors = {person.id: person.locale or "de" for person in (await session.scalars(select(Person).where(
        Person.id.in_({report.volunteer_id for report in reports if report.volunteer_id})))).all()}
    wanted = [report for report in reports
              if report_mediator_wanted(t, report, authors.get(report.volunteer_id or 0, "de"))]
    return [Choice(button_key("sm", f"report:{report.id}"),
                   t(N_("Ask a mediator: report of {date}"), date=t.date(report.created_at, "medium")))
            for report in wanted[:limit]]


async def _ask_for_report(turn: Turn, number: str) -> None:
    """A coordinator responsible for the participant asks a mediator for a volunteer's report (machine-translated,
    or in a language the engine failed on); pressing again asks nobody twice."""
    from bot.services.routing import is_responsible

    report = await turn.session.get(CaseReport, int(number)) if number.isdigit() and len(number) < 10 else None
    participant = await turn.session.get(Person, report.participant_id) if report is not None else None
    if report is None or participant is None or not report.text or turn.person.role not in STAFF or \
            not await is_responsible(turn.session, turn.network, turn.person, participant):
        turn.say(EARLIER_BUTTON)
        return
    author = await turn.session.get(Person, report.volunteer_id) if report.volunteer_id else None
    language = report.translation_source or written_in(report.text, (author.locale if author else None) or "de")
    if staff_reads(turn.t.locale, language):
        turn.say(EARLIER_BUTTON)
        return
    request, outgoing = await ask_mediators(turn.session, report, language, "de", turn.person.id, turn.now)
    if request is not None:
        turn.outgoing.extend(outgoing)
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=participant.id,
                                    action="mediation.asked", details={"report": report.id}))
        if request.status != "nobody":  # else they were just told that no mediator could
            turn.say(N_("A volunteer language mediator was asked to translate the report. They see only the text, "
                        "nothing else of the case. The translation comes here."))
    elif not await mediators_for(turn.session, language):
        turn.say(N_("No volunteer translates {language} as a language mediator yet."),
                 language=language_name(turn.t, language))
    else:
        turn.say(N_("A volunteer language mediator has already been asked for this report."))


def report_for_staff(t: Translator, report: CaseReport, chosen: str) -> list[str]:
    """A report's text as staff see it: the original first, the translation below it where they do not read the
    language it is written in."""
    if not report.text:
        return []
    source = written_in(report.text, chosen)
    lines = [report.text]
    if source != chosen:
        lines.append(t(N_("(written in {language})"), language=language_name(t, source)))
    below = report_translation(t, report, chosen, notice=True)
    return [*lines, "", *below] if below else lines


async def retry_report_translations(sessions: async_sessionmaker[AsyncSession], network: Network, now: datetime,
                                    limit: int = 20, early: bool = False) -> int:
    """Like `retry_translations`, for volunteers' reports: each translation that arrives is stored with the report
    and sent to the report's coordinators who read the language it was made into. Returns how many arrived."""
    from flows.volunteers import responsible_coordinators

    service = active()
    if service is None:
        return 0
    due_by = CaseReport.translation_next_at.is_not(None) if early else CaseReport.translation_next_at <= now
    async with sessions() as session:
        due = (await session.execute(
            select(CaseReport.id, CaseReport.text, CaseReport.translation_source, CaseReport.translation_target)
            .where(CaseReport.translation_status == "pending", due_by)
            .order_by(CaseReport.translation_next_at).limit(limit))).all()
    if due and service.supported is None:
        await service.load_languages()
    arrived = 0
    for report_id, text, source, target in due:
        try:
            result: str | None = await service.translate(text or "", source or "", target or "")
            error: TranslationFailed | None = None
        except TranslationFailed as failure:
            result, error = None, failure
        async with sessions() as session, session.begin():
            report = await session.get(CaseReport, report_id)
            if report is None or report.translation_status != "pending":
                continue  # deleted meanwhile, or done by another process
            report.translation_attempts += 1
            if result is not None:
                report.translation, report.translation_status, report.translation_next_at = result, "done", None
                report.translation_engine = service.engine.key
                participant = await session.get_one(Person, report.participant_id)
                told = report.needs_action or report.kind == "milestone"  # the others wait for the digest
                for person in await responsible_coordinators(session, network, participant) if told else []:
                    if (person.locale or "de") != target:
                        continue

                    def render(t: Translator, report: CaseReport = report, participant: Person = participant) -> str:
                        return "\n".join([
                            t(N_("Report of {date} about {participant}: machine translation ({engine}) of the "
                                 "volunteer's report:"), date=t.date(report.created_at, "medium"),
                              participant=participant_label(t, participant), engine=ENGINE_LABELS.get(
                                  service.engine.key, service.engine.key)),
                            "", report.translation or "", "",
                            t(N_("The whole case: /case {number}"), number=participant.id)])
                    enqueue(session, await messages_for(session, person, render), now)
                arrived += 1
            elif error is not None and error.retry and report.translation_attempts < MAX_ATTEMPTS:
                report.translation_next_at = now + min(FIRST_RETRY * 2 ** report.translation_attempts,
                                                       LONGEST_WAIT)
            else:
                report.translation_status, report.translation_next_at = "failed", None
                log.warning("translation: gave up on report %s into %s (%s)", report_id, target, error)
    return arrived
