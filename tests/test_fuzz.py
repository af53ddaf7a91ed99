"""Property-based fuzzing (Hypothesis): arbitrary text, commands, choices, callback payloads and files, as every role.

For each generated case a fresh person of the drawn role sends up to six events. The properties:
- no exception escapes (no inbox row records an error, nothing is left pending);
- every event is answered, and every answer is a non-empty message in one of Lotse's languages;
- no state belongs to the wrong person: a bystander participant's conversation, profile and (for non-staff)
  question stay exactly as they were, profiles exist only for participants, every row of a person-owned table
  points to an existing person.
`FUZZ_CASES` sets the number of cases (the suite runs 80; `LOTSE_FUZZ_CASES=1000` for a long run).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.core import access
from bot.core.config import load_settings
from bot.core.i18n import LANGUAGES
from bot.core.messages import Attachment, Delivery, Incoming, Outgoing
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from flows.registry import COMMANDS, FEATURE_COMMANDS
from storage.models import Base, Conversation, Handle, InboxEntry, Person, Profile, Ticket, TicketMessage
from tests.chat import FakeClock, RecordingTransport

FUZZ_CASES = int(os.environ.get("LOTSE_FUZZ_CASES", "80"))
ROLES = ("newcomer", "participant", "volunteer", "coordinator", "admin")


class CountingTransport(RecordingTransport):
    """Counts every delivery per chat, edits included (a toggled button is an answer too)."""

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: dict[str, list[Outgoing]] = {}

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        self.deliveries.setdefault(message.chat, []).append(message)
        return await super().send(message, edit_platform_id)


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    app: Lotse
    transport: CountingTransport
    clock: FakeClock
    bystander: int
    bystander_state: dict[str, Any]

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


async def _send(app: Lotse, handle: str, **values: Any) -> None:
    await app.dispatcher.receive(Incoming(transport="test", event_id=uuid.uuid4().hex, handle=handle, chat=handle,
                                          display_name=handle.title(), **values))
    await app.drain()


async def _bystander_state(app: Lotse, person_id: int) -> dict[str, Any]:
    async with app.sessions() as session:
        conversation = await session.get(Conversation, person_id)
        profile = await session.get(Profile, person_id)
        tickets = (await session.execute(select(Ticket.id, Ticket.status, Ticket.claimed_by_id)
                                         .where(Ticket.participant_id == person_id))).all()
        messages = await session.scalar(select(func.count()).select_from(TicketMessage))
    return {"conversation": conversation.state if conversation else None,
            "profile": profile.answers if profile else None, "tickets": [tuple(t) for t in tickets],
            "messages": messages}


async def _open_world(tmp_path: Path, transport: CountingTransport, clock: FakeClock) -> tuple[Lotse, int]:
    app = await Lotse.open(load_settings(data_dir=tmp_path), clock=clock)
    app.dispatcher.limiter = InboundLimiter(per_minute=100_000)
    app.add_transport(transport)
    for text in ("hello", "2", "1", "8", *["-"] * 3):  # amal: English, consent, a district; the rest skipped
        await _send(app, "amal", text=text)
    async with app.sessions() as session:
        amal = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "amal"))).one()
    await _send(app, "amal", text="/ask")
    await _send(app, "amal", text="2")
    await _send(app, "amal", text="Where can I find a Sprachkurs near Oldenburg?")
    return app, amal


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    loop = asyncio.new_event_loop()
    transport, clock = CountingTransport(), FakeClock()
    app, amal = loop.run_until_complete(_open_world(tmp_path, transport, clock))
    state = loop.run_until_complete(_bystander_state(app, amal))
    try:
        yield World(loop, app, transport, clock, amal, state)
    finally:
        loop.run_until_complete(app.close())
        loop.close()


_numbers = itertools.count(1)
COMMAND_NAMES = sorted({*COMMANDS, *FEATURE_COMMANDS})
texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", " ", "1", "2", "0", "-1", "99999999999", "yes", "No", "Skip", "-", "1, 3", "\u202e1",
                     "'; DROP TABLE persons; --", "🙂" * 5, "نعم", "24.11.2026 10:30", "31.02.2027", "0151 23456789"]),
    st.integers(min_value=-3, max_value=40).map(str),
)
commands = st.builds(lambda name, bang, argument: f"{'!' if bang else '/'}{name} {argument}".strip(),
                     st.sampled_from(COMMAND_NAMES), st.booleans(),
                     st.one_of(st.just(""), st.integers(0, 5).map(str), st.text(max_size=40)))
choices = st.one_of(
    st.text(max_size=80),
    st.builds(lambda seq, key: f"{seq}:{key}", st.integers(-1, 40), st.sampled_from(
        ["yes", "no", "__skip__", "__done__", "de", "en", "ar", "language", "privacy", "copy", "delete", "withdraw",
         "menu", "ask", "apprenticeship", "stadt_oldenburg", "phone", "x" * 70])),
    st.builds(lambda prefix, payload: f"@{prefix}:{payload}", st.sampled_from(["tk", "zz", ""]),
              st.sampled_from(["claim:1", "close:1", "handover:1", "template:1", "claim:999", "claim:x", ""])),
)
attachments = st.builds(
    Attachment, kind=st.sampled_from(["photo", "document", "voice", "video", "other"]),
    reference=st.text(min_size=1, max_size=60), mime_type=st.none() | st.text(max_size=30),
    file_name=st.none() | st.text(max_size=80), size=st.none() | st.integers(-5, 60_000_000))
events = st.one_of(
    texts.map(lambda text: {"text": text}),
    commands.map(lambda text: {"text": text}),
    choices.map(lambda choice: {"choice": choice}),
    st.tuples(attachments, st.none() | st.text(max_size=50)).map(lambda a: {"attachment": a[0], "text": a[1]}),
    st.just({"undecodable": True}),
    st.just({"unsupported": "sticker"}),
)


async def _person(app: Lotse, role: str, handle: str, locale: str) -> None:
    if role == "newcomer":
        return
    async with app.sessions() as session, session.begin():
        person = Person(role=role, locale=locale, display_name=handle.title(),
                        organisation="ihk" if role in ("coordinator", "admin") else None,
                        privacy_version=access.PRIVACY_VERSION, district="stadt_oldenburg")
        session.add(person)
        await session.flush()
        session.add(Handle(person_id=person.id, transport="test", platform_id=handle, chat_id=handle))


async def _invariants(world: World, role: str) -> None:
    app = world.app
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxEntry)
                                    .where(InboxEntry.error.is_not(None))) == 0, "an exception escaped"
        assert await session.scalar(select(func.count()).select_from(InboxEntry)
                                    .where(InboxEntry.processed_at.is_(None))) == 0
        assert await session.scalar(select(func.count()).select_from(Profile).join(
            Person, Person.id == Profile.person_id).where(Person.role != "participant")) == 0
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table.name == "persons" and fk.ondelete == "CASCADE":
                    orphans = await session.scalar(select(func.count()).select_from(table).where(
                        fk.parent.is_not(None), fk.parent.not_in(select(Person.id))))
                    assert orphans == 0, f"{table.name}.{fk.parent.name} points to nobody"
    now = await _bystander_state(app, world.bystander)
    before = world.bystander_state
    assert now["conversation"] == before["conversation"] and now["profile"] == before["profile"]
    if role not in ("coordinator", "admin"):  # staff may take, answer and close amal's question
        assert now["tickets"] == before["tickets"] and now["messages"] == before["messages"]
    world.bystander_state = now


@settings(max_examples=FUZZ_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(role=st.sampled_from(ROLES), locale=st.sampled_from(sorted(LANGUAGES)),
       sequence=st.lists(events, min_size=1, max_size=6))
def test_every_step_and_command_survives_anything_as_every_role(
        world: World, role: str, locale: str, sequence: list[dict[str, Any]]) -> None:
    handle = f"fuzz-{next(_numbers)}"
    world.run(_person(world.app, role, handle, locale))
    for event in sequence:
        before = len(world.transport.deliveries.get(handle, []))
        world.clock.advance(seconds=5)
        world.run(_send(world.app, handle, **event))
        answers = world.transport.deliveries.get(handle, [])[before:]
        assert answers, f"no answer to {event!r} as {role}"
        for answer in answers:
            assert answer.locale in LANGUAGES
            assert answer.text.strip() or answer.document_path, f"an empty message for {event!r}"
            assert "Traceback" not in answer.text
    world.run(_invariants(world, role))
