"""Stored before acknowledged, one transaction per step, delivered and marked: crashes lose nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from bot.core.config import load_settings
from bot.core.messages import Delivery, Incoming, Outgoing
from bot.runtime.app import Lotse
from bot.runtime.transport import DeliveryError
from storage.models import Handle, InboxEntry, OutboxEntry
from tests.chat import Chat, FakeClock, RecordingTransport


def event(event_id: str, text: str, handle: str = "amal") -> Incoming:
    return Incoming(transport="test", event_id=event_id, handle=handle, chat=handle, text=text)


async def reopen(database_url: str, clock: FakeClock, tmp_path: Path) -> tuple[Lotse, RecordingTransport]:
    app = await Lotse.open(load_settings(data_dir=tmp_path), database_url=database_url, clock=clock)
    transport = RecordingTransport()
    app.add_transport(transport)
    return app, transport


async def test_a_redelivered_event_is_answered_once(app: Lotse, transport: RecordingTransport) -> None:
    assert await app.dispatcher.receive(event("update-1", "hello"))
    assert not await app.dispatcher.receive(event("update-1", "hello"))
    await app.drain()
    assert len(transport.sent["amal"]) == 1


async def test_crash_after_storing_before_handling(app: Lotse, database_url: str, clock: FakeClock,
                                                   tmp_path: Path) -> None:
    await app.dispatcher.receive(event("e1", "hello"))
    await app.close()  # the process dies here: stored, acknowledged, not yet handled
    restarted, transport = await reopen(database_url, clock, tmp_path)
    try:
        await restarted.drain()
        assert len(transport.sent["amal"]) == 1 and len(transport.sent["amal"][0].choices) == 8
        await restarted.drain()
        assert len(transport.sent["amal"]) == 1  # and never twice
    finally:
        await restarted.close()


async def test_crash_after_handling_before_sending(app: Lotse, database_url: str, clock: FakeClock,
                                                   tmp_path: Path) -> None:
    await app.dispatcher.receive(event("e1", "hello"))
    await app.dispatcher.process_pending()  # state and outbox committed, nothing sent yet
    await app.close()
    restarted, transport = await reopen(database_url, clock, tmp_path)
    try:
        await restarted.drain()
        assert [len(m.choices) for m in transport.sent["amal"]] == [8]
        async with restarted.sessions() as session:
            assert await session.scalar(select(func.count()).where(InboxEntry.processed_at.is_(None))) == 0
            statuses = (await session.scalars(select(OutboxEntry.status))).all()
        assert statuses == ["sent"]
    finally:
        await restarted.close()


class FlakyTransport(RecordingTransport):
    """Fails the way platforms do: first a rate limit, then a network error, then it works."""

    failures: list[Exception]

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if self.failures:
            raise self.failures.pop(0)
        return await super().send(message, edit_platform_id)


async def test_rate_limits_and_errors_are_retried_in_order(app: Lotse, clock: FakeClock) -> None:
    flaky = FlakyTransport(name="test")
    flaky.failures = [DeliveryError("429", retry_after=3), ConnectionError("reset")]
    app.add_transport(flaky)
    await app.dispatcher.receive(event("e1", "hello"))
    await app.dispatcher.receive(event("e2", "2"))
    await app.drain()
    assert flaky.sent == {}  # the first message waits; the second must not overtake it
    clock.advance(seconds=1)
    await app.drain()
    assert flaky.sent == {}  # still waiting out retry_after, and still holding the chat's order
    clock.advance(seconds=2)
    await app.drain()
    assert flaky.sent == {}
    clock.advance(seconds=5)
    await app.drain()
    # the languages, then the short notice: yes, no, the full notice
    assert [len(m.choices) for m in flaky.sent["amal"]] == [8, 3]


async def test_a_blocked_chat_is_given_up_without_blocking_others(app: Lotse) -> None:
    flaky = FlakyTransport(name="test")
    flaky.failures = [DeliveryError("403 blocked by the user", permanent=True)]
    app.add_transport(flaky)
    await app.dispatcher.receive(event("e1", "hello", handle="blocked"))
    await app.dispatcher.receive(event("e2", "hello", handle="yonas"))
    await app.drain()
    assert list(flaky.sent) == ["yonas"]
    async with app.sessions() as session:
        failed = (await session.scalars(select(OutboxEntry).where(OutboxEntry.status == "failed"))).one()
    assert failed.chat == "blocked" and "403" in (failed.last_error or "")


async def test_a_person_who_blocked_the_bot_gets_nothing_until_they_write_again(app: Lotse) -> None:
    flaky = FlakyTransport(name="test")
    flaky.failures = [DeliveryError("403 Forbidden: bot was blocked by the user", unreachable=True)]
    app.add_transport(flaky)
    await app.dispatcher.receive(event("e1", "hello"))
    await app.drain()
    async with app.sessions() as session:
        handle = (await session.scalars(select(Handle))).one()
    assert handle.active is False
    app.dispatcher.outbox_ready.clear()
    async with app.sessions() as session, session.begin():  # e.g. a reminder written while they are gone
        session.add(OutboxEntry(transport="test", chat="amal", payload=Outgoing("test", "amal", "later").to_json()))
    await app.drain()
    assert flaky.sent == {}
    async with app.sessions() as session:
        held = (await session.scalars(select(OutboxEntry).where(OutboxEntry.chat == "amal"))).all()
    assert [row.status for row in held] == ["failed", "failed"]
    assert held[1].last_error == "not sent: the person blocked the bot (handle inactive)"
    await app.dispatcher.receive(event("e2", "hello again"))
    await app.drain()
    hint, picker = flaky.sent["amal"]  # they are back at the language question they left
    assert "Please answer with a number from 1 to 8." in hint.text.splitlines() and len(picker.choices) == 8
    async with app.sessions() as session:
        assert (await session.scalars(select(Handle.active))).one() is True


async def test_a_sticker_or_location_gets_a_short_answer_in_the_persons_language(app: Lotse) -> None:
    transport = app.transports["test"]
    await app.dispatcher.receive(event("e1", "hi"))
    await app.drain()
    await app.dispatcher.receive(Incoming(transport="test", event_id="e2", handle="amal", chat="amal",
                                          unsupported="sticker", language_hint="uk"))
    await app.drain()
    answer, again = transport.sent["amal"][1:]  # type: ignore[attr-defined]
    assert answer.text == ("Я можу читати текст, фото, документи та голосові повідомлення. "
                           "Будь ласка, надішліть щось із цього.")
    assert len(again.choices) == 8


async def test_many_people_at_once_each_get_their_own_answers(app: Lotse, chat: Callable[..., Chat]) -> None:
    people = [chat(f"p{i}") for i in range(20)]
    for index, person in enumerate(people):
        await app.dispatcher.receive(event(f"a{index}", "hi", handle=person.handle))
    await app.drain()
    for index, person in enumerate(people):
        await app.dispatcher.receive(event(f"b{index}", str(index % 7 + 1), handle=person.handle))
    await app.drain()
    for person in people:
        assert len(person.history) == 2
        assert person.history[1].choices and person.history[1].selection == "single"
