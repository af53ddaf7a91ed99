"""Coordinators understand every question: machine translation of questions and answers (docs/translation.md).

A participant's message goes to staff with the original first and, where the staff member does not read its
language, a machine translation below it. Staff read their own language and English (the network's working
languages; the notice asks them to answer in German or English), so a question in English or in their own language
is never sent to an engine. A coordinator's typed answer reaches the participant in their language with the
original below. Each translation is stored with its message (`MessageTranslation`) and deleted with it.

Nothing waits on the engine for long: a conversation gives it `IN_TURN_SECONDS`; a failure, a timeout or a 429
lets the original go out with a one-line note, and `retry_translations` (a background loop) sends the translation
as a follow-up message when it arrives. With no engine configured, nothing leaves the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import N_, Translator
from bot.language_detection import detect
from bot.translation import IN_TURN_SECONDS, TranslationFailed, active
from flows.intake import language_name
from flows.notify import enqueue, messages_for, translator_for
from storage.models import MessageTranslation, Person, Ticket, TicketMessage, TicketNotice

log = logging.getLogger("lotse.mediation")

STAFF_ALSO_READ = frozenset({"en"})
"""Besides their own language, staff are taken to read English (documented in docs/translation.md)."""
ENGINE_LABELS = {"libretranslate": "LibreTranslate", "deepl": "DeepL"}
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def staff_reads(staff_locale: str, language: str) -> bool:
    return language == staff_locale or language in STAFF_ALSO_READ


def written_in(text: str | None, chosen: str) -> str:
    """The language the text is written in when that is clear (bot.language_detection), else the chosen one."""
    return detect(text or "") or chosen


def _label(row: MessageTranslation) -> str:
    return ENGINE_LABELS.get(row.engine, row.engine)


def _translation_of(message: TicketMessage, target: str) -> MessageTranslation | None:
    if "translations" in inspect(message).unloaded:
        return None  # not loaded with this message: the original alone, never a lazy query from sync code
    return next((row for row in message.translations if row.target == target), None)


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
    have = {row.target for row in message.translations}
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
                              readers: Iterable[Person | None], now: datetime) -> None:
    """Before a participant's message is rendered for `readers` (None: a room, which reads German)."""
    targets = [(reader.locale or "de") if reader is not None else "de" for reader in readers]
    source = written_in(message.text, source)
    await translate_message(session, message, source, [t for t in targets if not staff_reads(t, source)], now)


def for_staff(t: Translator, message: TicketMessage, chosen: str) -> str:
    """A participant's text as a staff member sees it: the original (and the language it is written in, when that
    is not the one they chose), then the machine translation or a note that it follows."""
    text = message.text or ""
    if not text:
        return text
    source = written_in(text, chosen)
    if source != chosen:
        text = "\n".join([text, t(N_("(written in {language})"), language=language_name(t, source))])
    if staff_reads(t.locale, source):
        return text
    found = _translation_of(message, t.locale)
    if found is None or found.status == "failed":
        return text
    if found.status == "pending":
        return "\n\n".join([text, t(N_("Machine translation is not available right now; it follows in a separate "
                                       "message."))])
    return "\n\n".join([text, t(N_("Machine translation ({engine}):"), engine=_label(found)) + "\n" +
                        (found.text or "")])


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


# ---------------------------------------------------------------------------------------------------------------
# In the background: translations that were late


async def _recipients(session: AsyncSession, ticket: Ticket, message: TicketMessage,
                      target: str) -> list[Person]:
    if message.direction == "out":
        participant = await session.get(Person, ticket.participant_id)
        return [participant] if participant is not None and (participant.locale or "en") == target else []
    if ticket.claimed_by_id:
        ids: list[int] = [ticket.claimed_by_id]
    else:
        found = (await session.scalars(select(TicketNotice.person_id).where(
            TicketNotice.ticket_id == ticket.id, TicketNotice.person_id.is_not(None)).distinct())).all()
        ids = [person_id for person_id in found if person_id is not None]
    people = [await session.get(Person, person_id) for person_id in ids]
    return [person for person in people if person is not None and (person.locale or "de") == target]


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


async def retry_translations(sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int = 20) -> int:
    """Asks the engine again for late translations (never inside a transaction); each one that arrives is stored
    and sent as a follow-up message. Returns how many arrived."""
    service = active()
    if service is None:
        return 0
    async with sessions() as session:
        due = (await session.execute(
            select(MessageTranslation.id, TicketMessage.text, MessageTranslation.source, MessageTranslation.target)
            .join(TicketMessage, TicketMessage.id == MessageTranslation.message_id)
            .where(MessageTranslation.status == "pending", MessageTranslation.next_attempt_at <= now)
            .order_by(MessageTranslation.next_attempt_at).limit(limit))).all()
    if due and service.supported is None:
        await service.load_languages()  # the engine was not reachable at startup
    arrived = 0
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
