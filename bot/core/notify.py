"""Messages to someone other than the person who wrote: a coordinator, a participant, a volunteer.

Each recipient reads in their own language and time zone, in the one chat `bot.core.reach` picks for them.
Callers add the returned messages to a `Turn` or write them to the outbox in their own transaction, so the
state change and the messages it causes commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import DEFAULT_LOCALE, Translator
from bot.core.messages import Attachment, Choice, Outgoing
from bot.core.reach import chat_for
from storage.models import OutboxEntry, Person

Render = Callable[[Translator], str]
RenderChoices = Callable[[Translator], Sequence[Choice]]


def translator_for(person: Person) -> Translator:
    return Translator(person.locale or DEFAULT_LOCALE, person.time_zone)


async def messages_for(session: AsyncSession, person: Person, render: Render,
                       choices: RenderChoices | None = None) -> list[Outgoing]:
    """One message to `person`'s chat (`bot.core.reach`), rendered in their language; empty if none can be reached."""
    found = (await chat_for(session, [person.id])).get(person.id)
    handles = [found] if found is not None else []
    t = translator_for(person)
    text = render(t)
    buttons = tuple(choices(t)) if choices else ()
    return [Outgoing(transport=handle.transport, chat=handle.chat_id, text=text, choices=buttons,
                     selection="single" if buttons else "none", locale=t.locale, rtl=t.rtl)
            for handle in handles]


def enqueue(session: AsyncSession, messages: Sequence[Outgoing], now: datetime) -> None:
    """Adds messages to the outbox in the caller's transaction (the sender delivers them after commit)."""
    session.add_all(OutboxEntry(transport=m.transport, chat=m.chat, payload=m.to_json(), created_at=now)
                    for m in messages)


def with_file(messages: Sequence[Outgoing], record: dict[str, Any] | None) -> list[Outgoing]:
    """The same messages carrying the file; the sender fetches it from its platform when each is sent."""
    if not record or not record.get("transport"):
        return list(messages)
    fields = {key: value for key, value in record.items() if key != "transport"}
    return [replace(m, relayed=Attachment(**fields), relayed_from=str(record["transport"])) for m in messages]
