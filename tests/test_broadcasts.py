"""Broadcasts: a segment, its count, a text per language or a template, delivery within Telegram's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.transports.telegram import RateLimiter
from storage.models import Broadcast, BroadcastDelivery, Handle, OutboxEntry, Person, Profile
from tests.chat import Chat
from tests.telegram_standin import BotApiStandIn, FloodControl
from tests.test_questions import coordinator
from tests.test_telegram import ManualTime, make_transport, standin

__all__ = ["standin"]  # the stand-in fixture, used here too

LANGUAGE_OF = {0: "de", 1: "ar", 2: "uk"}


async def people_on_telegram(app: Lotse, count: int, district: str = "stadt_oldenburg", first: int = 5000) -> list[int]:
    """Consented participants reachable on Telegram, in German, Arabic and Ukrainian by turns."""
    ids = []
    async with app.sessions() as session, session.begin():
        for number in range(count):
            person = Person(role="participant", display_name=f"P{number}", locale=LANGUAGE_OF[number % 3],
                            district=district, privacy_version="2026-11")
            session.add(person)
            await session.flush()
            session.add(Profile(person_id=person.id, answers={}, stage="profile_complete"))
            user = first + number
            session.add(Handle(person_id=person.id, transport="telegram", platform_id=str(user), chat_id=str(user)))
            ids.append(user)
    return ids


@pytest.fixture
async def limited_telegram(app: Lotse, standin: BotApiStandIn) -> AsyncIterator[ManualTime]:
    """The real transport with Telegram's limits (30/s, 1/s per chat) on a clock that sleeping moves."""
    time = ManualTime()
    standin.flood_control = FloodControl(clock=time)
    transport = make_transport(standin, limiter=RateLimiter(monotonic=time, sleep=time.sleep))
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    try:
        yield time
    finally:
        await transport.stop()


async def test_a_broadcast_in_three_languages_through_telegram_within_its_limits(
        app: Lotse, chat: Callable[..., Chat], standin: BotApiStandIn, limited_telegram: ManualTime) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    users = await people_on_telegram(app, 45)
    await people_on_telegram(app, 3, district="vechta", first=6000)  # another district: not in this segment
    standin.blocked.add(users[4])  # one person blocked the bot
    await petra.send("/broadcast")
    await petra.click("A district")
    [count] = await petra.click("Oldenburg (city)")
    assert count.text.startswith("45 participants are in this group.")
    assert "They read: Deutsch (15), العربية (15), Українська (15)" in count.text
    [ask] = await petra.click("Write it myself")
    assert ask.text.startswith("Please write the message in Deutsch (1 of 3).")
    await petra.send("Am Montag ist das Büro geschlossen.")
    await petra.send("المكتب مغلق يوم الاثنين.")
    [confirm] = await petra.send("У понеділок офіс зачинено.")
    assert "Send this to 45 participants now?" in confirm.text
    started = limited_telegram.now
    [sent, _menu] = await petra.click("Yes")
    assert sent.text.startswith("Broadcast no. 1 is on its way to 45 participants.")
    await app.drain()
    assert standin.rate_limited == []  # the limiter kept Telegram's limits: no 429 at all
    assert limited_telegram.now - started == pytest.approx(44 / 30)  # 45 messages, no more than 30 a second
    german, arabic, ukrainian = (standin.sent_to(users[n])[0]["text"] for n in (0, 1, 2))
    assert german == "Nachricht von pro:connect e.V.:\n\nAm Montag ist das Büro geschlossen."
    assert arabic.endswith("المكتب مغلق يوم الاثنين.") and ukrainian.endswith("У понеділок офіс зачинено.")
    assert standin.sent_to(users[4]) == []
    [report, _menu] = await petra.send("/broadcasts")
    assert "44 delivered, 1 blocked, 0 failed, 0 waiting" in report.text
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BroadcastDelivery)) == 45
        broadcast = (await session.scalars(select(Broadcast))).one()
    assert set(broadcast.texts) == {"de", "ar", "uk"} and broadcast.recipients == 45


async def test_a_template_broadcast_arrives_translated_and_no_means_nothing_is_sent(
        app: Lotse, chat: Callable[..., Chat], standin: BotApiStandIn, limited_telegram: ManualTime) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    users = await people_on_telegram(app, 3)
    await petra.send("/broadcast")
    await petra.click("A stage")
    await petra.click("Profile complete")
    await petra.click("Ready-made message")
    [confirm] = await petra.click("Job fair")
    assert confirm.text.startswith("There is a job fair soon")
    [nothing, _menu] = await petra.click("No")
    assert nothing.text == "Nothing was sent."
    await app.drain()
    assert all(standin.sent_to(user) == [] for user in users)
    await petra.send("/broadcast")
    await petra.click("A language")
    await petra.click("العربية")
    await petra.click("Ready-made message")
    await petra.click("Job fair")
    await petra.click("Yes")
    await app.drain()
    arabic = Translator("ar")("There is a job fair soon with companies that offer Ausbildung and Praktikum. "
                              "Write to us here if you want to go.")
    assert [m["text"] for m in standin.sent_to(users[1])] == [arabic]
    assert standin.sent_to(users[0]) == [] and standin.sent_to(users[2]) == []


async def test_a_broadcast_to_an_empty_segment_sends_nothing_and_asks_again(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    await petra.send("/broadcast")
    await petra.click("A district")
    [empty, again] = await petra.click("Wilhelmshaven (city)")
    assert empty.text == "Nobody is in this group, so nothing can be sent. Please choose another group."
    assert again.text.startswith("To whom? Choose the kind of group.")
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.transport == "telegram")) == 0


async def test_broadcast_texts_must_say_something_and_fit(app: Lotse, chat: Callable[..., Chat],
                                                          standin: BotApiStandIn,
                                                          limited_telegram: ManualTime) -> None:
    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    await people_on_telegram(app, 1)
    await petra.send("/broadcast")
    await petra.click("A district")
    await petra.click("Oldenburg (city)")
    await petra.click("Write it myself")
    [empty, _] = await petra.send("")
    assert empty.text == "Your message was empty. Please write your answer."
    [huge, _] = await petra.send("x" * 10_000)
    assert huge.text == "That is too long. Please write at most 1,500 characters."
    [signs, _] = await petra.send("🙂🙂🙂")
    assert signs.text == "Please write a few words, not only emoji or signs."
    [confirm] = await petra.send("Hallo <b>zusammen</b>; DROP TABLE persons; --")
    assert "Send this to 1 participant now?" in confirm.text


async def test_only_staff_broadcast(app: Lotse, chat: Callable[..., Chat]) -> None:
    from tests.test_questions import participant

    amal = await participant(chat, "amal")
    for command in ("/broadcast", "/broadcasts", "/pair amal", "/stage 1", "/stats", "/case 1"):
        [refused, _] = await amal.send(command)
        assert refused.text == "This is not available for you."
