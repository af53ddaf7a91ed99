"""The Telegram transport as people meet it, through python-telegram-bot against a Bot API stand-in on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from telegram import Update

from bot.core.i18n import LANGUAGES, Translator
from bot.core.messages import Choice, Incoming, Outgoing
from bot.runtime.app import Lotse
from bot.runtime.transport import DeliveryError, Receive
from bot.transports.console import render
from bot.transports.telegram import RateLimiter, TelegramTransport, split_text
from storage.models import InboxEntry, OutboxEntry
from tests.chat import FakeClock, shown
from tests.telegram_standin import BotApiStandIn, FloodControl, buttons

STALE = "This button belongs to an earlier question and no longer works."


def make_transport(standin: BotApiStandIn, **options: object) -> TelegramTransport:
    """Fast for tests: short long-polls, no per-chat pause (the limiter has its own test)."""
    values: dict[str, object] = {"poll_timeout": 2, "per_chat_interval": 0.0, "rate_per_second": 1000.0,
                                 "per_group_minute": 0, "retry_delay": 0.05}
    values.update(options)
    return TelegramTransport(standin.token, base_url=standin.base_url, **values)  # type: ignore[arg-type]


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    server = BotApiStandIn()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def telegram(app: Lotse, standin: BotApiStandIn) -> AsyncIterator[TelegramTransport]:
    transport = make_transport(standin)
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    try:
        yield transport
    finally:
        await transport.stop()


async def arrive(app: Lotse, standin: BotApiStandIn, *update_ids: int) -> None:
    """Until the transport stored and confirmed the updates; then Lotse answers them."""
    for update_id in update_ids:
        await standin.wait_confirmed(update_id)
    await app.drain()


async def inbox(app: Lotse) -> list[InboxEntry]:
    async with app.sessions() as session:
        return list((await session.scalars(select(InboxEntry).where(InboxEntry.transport == "telegram")
                                           .order_by(InboxEntry.id))).all())


async def outbox(app: Lotse, chat: int) -> list[OutboxEntry]:
    async with app.sessions() as session:
        return list((await session.scalars(select(OutboxEntry).where(OutboxEntry.chat == str(chat))
                                           .order_by(OutboxEntry.id))).all())


async def onboard_in_ukrainian(app: Lotse, standin: BotApiStandIn, olena: int) -> tuple[dict[str, Any], str]:
    await arrive(app, standin, standin.user_sends(olena, "/start", language_code="uk"))
    [picker] = standin.sent_to(olena)
    label, data = buttons(picker)[0]
    assert label == "Українська"
    await arrive(app, standin, standin.user_clicks(olena, int(picker["message_id"]), data, language_code="uk"))
    return picker, data


async def test_ukrainian_user_picks_language_and_gets_the_privacy_notice(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    olena = 501
    picker, _ = await onboard_in_ukrainian(app, standin, olena)
    uk = Translator("uk")
    notice = standin.sent_to(olena)[-1]
    assert [label for label, _ in buttons(notice)] == [uk("Yes"), uk("No"), uk("Read the full notice")]
    assert "reply_markup" not in standin.message(olena, int(picker["message_id"]))  # cannot be pressed again
    assert len(standin.answered_queries) == 1  # the spinner on the button stops
    [first, _] = await inbox(app)
    assert first.payload["language_hint"] == "uk" and first.payload["text"] == "/start"
    assert first.payload["display_name"] == f"User{olena}" and first.payload["handle"] == str(olena)


async def test_a_stale_language_button_changes_nothing(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    olena = 502
    picker, data = await onboard_in_ukrainian(app, standin, olena)
    before = [dict(message) for message in standin.sent_to(olena)]
    await arrive(app, standin, standin.user_clicks(olena, int(picker["message_id"]), data, language_code="uk"))
    after = standin.sent_to(olena)
    assert [message["text"] for message in after[len(before):]] == [Translator("uk")(STALE)]
    assert after[: len(before)] == before  # the notice keeps its Yes/No buttons, the picker stays without any
    assert len(standin.answered_queries) == 2


async def test_an_update_redelivered_after_a_crash_is_answered_once(app: Lotse, standin: BotApiStandIn) -> None:
    stored = asyncio.Event()

    async def store_then_hang(incoming: Incoming) -> bool:
        result = await app.dispatcher.receive(incoming)
        stored.set()
        await asyncio.Event().wait()  # the process dies here: stored, never confirmed
        return result

    crashing = make_transport(standin)
    app.add_transport(crashing)
    hanging: Receive = store_then_hang
    await crashing.start(hanging)
    amal = 503
    update_id = standin.user_sends(amal, "hello")
    await asyncio.wait_for(stored.wait(), 5)
    await crashing.stop()
    assert update_id not in standin.confirmed

    restarted = make_transport(standin)
    app.add_transport(restarted)
    await restarted.start(app.dispatcher.receive)
    try:
        await arrive(app, standin, update_id)
        assert standin.offer_counts[update_id] == 2  # Telegram really sent it twice
        assert len(await inbox(app)) == 1
        assert len(standin.sent_to(amal)) == 1  # one language picker, not two
    finally:
        await restarted.stop()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own __init__
async def test_flood_control_retries_after_telegrams_delay(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport, clock: FakeClock) -> None:
    amal = 504
    standin.fail_next("sendMessage", times=1, retry_after=7)
    await arrive(app, standin, standin.user_sends(amal, "hello"))
    assert standin.sent_to(amal) == []
    [row] = await outbox(app, amal)
    assert row.status == "pending" and row.not_before == clock.now + timedelta(seconds=7)
    clock.advance(seconds=5)
    await app.drain()
    assert standin.sent_to(amal) == []  # not before Telegram's delay
    clock.advance(seconds=3)
    await app.drain()
    assert len(standin.sent_to(amal)) == 1
    assert len(standin.calls_of("sendMessage")) == 2
    [row] = await outbox(app, amal)
    assert row.status == "sent" and row.platform_message_id == str(standin.sent_to(amal)[0]["message_id"])


async def test_a_blocked_user_fails_for_good_and_others_still_hear_back(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    blocked, yonas = 505, 506
    standin.blocked.add(blocked)
    await arrive(app, standin, standin.user_sends(blocked, "hello"), standin.user_sends(yonas, "hello"))
    [row] = await outbox(app, blocked)
    assert row.status == "failed" and row.attempts == 1 and "blocked" in (row.last_error or "")
    assert len(standin.sent_to(yonas)) == 1
    await app.drain()
    assert len(standin.calls_of("sendMessage")) == 2  # never retried


async def test_a_photo_arrives_as_an_attachment_and_long_texts_are_split(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    amal = 507
    update_id = standin.user_sends_photo(amal, caption="my certificate")
    await standin.wait_confirmed(update_id)
    [entry] = await inbox(app)
    attachment = entry.payload["attachment"]
    assert attachment["kind"] == "photo" and attachment["size"] == 180_000
    assert attachment["reference"].startswith("photo-1280-")  # the largest size
    assert entry.payload["text"] == "my certificate"
    assert len(await telegram.download(attachment["reference"])) == 180_000

    text = "\n".join(f"Line {number:03d}: " + "x" * 80 for number in range(50))
    assert len(text) == 4_549
    delivery = await telegram.send(Outgoing(transport="telegram", chat=str(amal), text=text,
                                            choices=(Choice("1:ok", "OK"),), selection="single"), None)
    first, second = standin.sent_to(amal)
    assert "reply_markup" not in first and buttons(second) == [("OK", "1:ok")]
    assert first["text"] + "\n" + second["text"] == text
    assert delivery.platform_message_id == str(second["message_id"])


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_long_text_interrupted_by_flood_control_is_not_repeated(
        standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    amal = 511
    text = "\n".join(f"Paragraph {number}: " + "y" * 100 for number in range(60))
    message = Outgoing(transport="telegram", chat=str(amal), text=text)
    standin.fail_next("sendMessage", times=1, retry_after=1, after=1)
    with pytest.raises(DeliveryError) as failed:
        await telegram.send(message, None)
    assert failed.value.retry_after == 1 and not failed.value.permanent
    assert len(standin.sent_to(amal)) == 1
    await telegram.send(message, None)  # the sender's retry
    first, second = standin.sent_to(amal)
    assert first["text"] + "\n" + second["text"] == text


async def test_an_update_is_confirmed_only_once_stored(app: Lotse, standin: BotApiStandIn) -> None:
    attempts = 0

    async def flaky(incoming: Incoming) -> bool:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database went away")
        return await app.dispatcher.receive(incoming)

    transport = make_transport(standin)
    app.add_transport(transport)
    await transport.start(flaky)
    try:
        update_id = standin.user_sends(512, "hello")
        await arrive(app, standin, update_id)
        assert standin.offer_counts[update_id] == 2 and attempts == 2
        assert len(await inbox(app)) == 1 and len(standin.sent_to(512)) == 1
    finally:
        await transport.stop()


def test_texts_split_at_line_breaks_and_count_utf16_units() -> None:
    assert split_text("short") == ["short"]
    emoji = "😀" * 3000  # 6000 UTF-16 units
    parts = split_text(emoji)
    assert "".join(parts) == emoji and all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in parts)


async def test_the_command_menu_is_set_in_every_language(standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    calls = standin.calls_of("setMyCommands")
    by_language = {call.get("language_code"): call["commands"] for call in calls}
    two_letter = [code for code in LANGUAGES if len(code) == 2]  # the only codes Telegram's API takes
    assert set(by_language) == {None, *two_letter}
    for code in two_letter:
        assert Translator(code)("Main menu") in [command["description"] for command in by_language[code]]
    assert [command["command"] for command in by_language[None]][:6] == ["start", "menu", "back", "cancel",
                                                                            "language", "help"]
    assert {"profile", "ask"} <= {command["command"] for command in by_language[None]}
    assert "inbox" not in {command["command"] for command in by_language[None]}  # staff commands stay hidden
    assert standin.calls_of("deleteWebhook")  # polling mode


async def test_callback_data_over_64_bytes_never_reaches_telegram(
        standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    amal = 508
    too_long, umlauts = "1:" + "x" * 63, "1:" + "ä" * 32  # 65 characters; 34 characters but 66 bytes
    await telegram.send(Outgoing(transport="telegram", chat=str(amal), text="Pick one",
                                 choices=(Choice(too_long, "Long"), Choice(umlauts, "Umlauts"), Choice("1:ok", "OK")),
                                 selection="single"), None)
    [message] = standin.sent_to(amal)
    assert buttons(message) == [("OK", "1:ok")]
    sent = repr(standin.calls)
    assert too_long not in sent and umlauts not in sent


async def test_multiple_selection_ticks_and_keeps_its_keyboard_until_done(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    amal = 509
    choices = (Choice("4:a", "German course"), Choice("4:b", "Internship"))
    question = Outgoing(transport="telegram", chat=str(amal), text="What interests you?", choices=choices,
                        selection="multiple", selected=("4:a",), done_label="Done", done_key="4:__done__")
    delivery = await telegram.send(question, None)
    assert delivery.platform_message_id is not None
    message_id = int(delivery.platform_message_id)
    [message] = standin.sent_to(amal)
    assert buttons(message) == [("✅ German course", "4:a"), ("Internship", "4:b"), ("Done", "4:__done__")]
    # an edit that changes nothing is no failure
    assert (await telegram.send(question, delivery.platform_message_id)).platform_message_id == str(message_id)

    await standin.wait_confirmed(standin.user_clicks(amal, message_id, "4:b"))
    assert buttons(standin.message(amal, message_id))  # a toggle keeps the keyboard
    await standin.wait_confirmed(standin.user_clicks(amal, message_id, "4:__done__"))
    assert "reply_markup" not in standin.message(amal, message_id)
    assert [entry.payload["choice"] for entry in await inbox(app)] == ["4:b", "4:__done__"]


async def test_a_restart_in_the_middle_of_a_multiple_choice_keeps_its_keyboard_until_done(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    """Whether a press keeps the keyboard is read from the pressed message, not from the process's memory."""
    amal = 510
    question = Outgoing(transport="telegram", chat=str(amal), text="What interests you?",
                        choices=(Choice("4:a", "German course"), Choice("4:b", "Internship")), selection="multiple",
                        done_label="Done", done_key="4:__done__")
    message_id = int((await telegram.send(question, None)).platform_message_id or 0)
    await telegram.stop()
    restarted = make_transport(standin)
    app.transports["telegram"] = restarted
    await restarted.start(app.dispatcher.receive)
    try:
        await standin.wait_confirmed(standin.user_clicks(amal, message_id, "4:a"))
        assert buttons(standin.message(amal, message_id)) == [("German course", "4:a"), ("Internship", "4:b"),
                                                              ("Done", "4:__done__")]
        await standin.wait_confirmed(standin.user_clicks(amal, message_id, "4:__done__"))
        assert "reply_markup" not in standin.message(amal, message_id)
    finally:
        await restarted.stop()
    assert [entry.payload["choice"] for entry in await inbox(app)] == ["4:a", "4:__done__"]


async def test_webhook_checks_the_secret_and_stores_before_answering(app: Lotse, standin: BotApiStandIn) -> None:
    transport = make_transport(standin, webhook_url="https://lotse.example/telegram/hook", webhook_port=0)
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    try:
        assert standin.webhook is not None and standin.webhook["url"] == "https://lotse.example/telegram/hook"
        assert standin.webhook["secret_token"] == transport.webhook_secret
        update = {"update_id": 42, "message": {"message_id": 1, "date": 0, "text": "hello",
                                                "chat": {"id": 510, "type": "private"},
                                                "from": {"id": 510, "is_bot": False, "first_name": "Amal"}}}
        url = f"http://127.0.0.1:{transport.bound_port}/telegram/hook"
        async with aiohttp.ClientSession() as client:
            async with client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as answer:
                assert answer.status == 403
            assert await inbox(app) == []
            for _ in range(2):  # Telegram repeats an update it thinks was lost
                async with client.post(url, json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": transport.webhook_secret}) as ok:
                    assert ok.status == 200
        [entry] = await inbox(app)
        assert entry.event_id == "42" and entry.payload["text"] == "hello"
        await app.drain()
        assert len(standin.sent_to(510)) == 1
    finally:
        await transport.stop()


async def test_rate_limits_a_short_burst_then_one_per_second_per_chat_and_thirty_per_second_overall() -> None:
    now = 0.0
    waited: list[float] = []

    async def sleep(delay: float) -> None:
        waited.append(delay)

    limiter = RateLimiter(per_second=30.0, per_chat_interval=1.0, monotonic=lambda: now, sleep=sleep)
    delays = [await limiter.wait("amal") for _ in range(5)]
    assert delays == pytest.approx([0.0, 1 / 30, 2 / 30, 1.0, 2.0])  # three at once, then one a second
    limiter = RateLimiter(per_second=30.0, per_chat_interval=1.0, monotonic=lambda: now, sleep=sleep)
    delays = [await limiter.wait(f"chat{number}") for number in range(61)]
    assert delays[30] == pytest.approx(1.0) and delays[60] == pytest.approx(2.0)  # 30 a second, no more


async def test_sends_woken_late_by_a_busy_loop_still_leave_at_most_thirty_in_any_second() -> None:
    """A stalled event loop wakes every waiting send at once; without counting real departures, 59 sends left in
    the same instant and Telegram answered 429 (`bench/lanes.py`)."""
    now = 0.0
    released = asyncio.Event()

    async def sleep(delay: float) -> None:
        nonlocal now
        if not released.is_set():
            await released.wait()  # the loop was busy: every waiting send wakes late, at the same moment
            return
        target = now + delay
        await asyncio.sleep(0)
        now = max(now, target)

    limiter = RateLimiter(per_second=30.0, per_chat_interval=1.0, monotonic=lambda: now, sleep=sleep)

    async def send(chat: str) -> float:
        await limiter.wait(chat)
        return now

    sends = [asyncio.create_task(send(f"chat{number}")) for number in range(60)]
    await asyncio.sleep(0)  # every send has its slot and sleeps
    now = 2.5
    released.set()
    left = sorted(await asyncio.gather(*sends))
    assert left.count(2.5) == 30  # as many as the second allows go at once
    assert all(left[index + 30] - left[index] >= 1.0 for index in range(len(left) - 30))


def _update(message: dict[str, object]) -> Update:
    base = {"message_id": 7, "date": 1_790_000_000, "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": False, "first_name": "Amal", "language_code": "ar"}}
    return Update.de_json({"update_id": 1001, "message": {**base, **message}}, None)


def test_stickers_and_locations_become_unsupported_events_and_groups_are_ignored() -> None:
    from bot.transports.telegram import to_incoming

    sticker = to_incoming(_update({"sticker": {"file_id": "s", "file_unique_id": "u", "width": 1, "height": 1,
                                               "is_animated": False, "is_video": False, "type": "regular"}}))
    assert sticker is not None and sticker.unsupported == "sticker" and sticker.text is None
    location = to_incoming(_update({"location": {"latitude": 53.14, "longitude": 8.21}}))
    assert location is not None and location.unsupported == "location"
    text = to_incoming(_update({"text": "مرحبا"}))
    assert text is not None and text.unsupported is None and text.language_hint == "ar"
    assert to_incoming(_update({"text": "hi", "chat": {"id": -100, "type": "group", "title": "x"}})) is None


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize(("language", "greeting", "own_name"), [("ar", "مرحبا", "العربية"),
                                                                  ("uk", "Привіт", "Українська")])
async def test_onboarding_end_to_end(app: Lotse, standin: BotApiStandIn, mode: str, language: str, greeting: str,
                                     own_name: str) -> None:
    webhook = {"webhook_url": "https://lotse.example/telegram/hook", "webhook_port": 0} if mode == "webhook" else {}
    transport = make_transport(standin, **webhook)
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    if mode == "webhook":
        standin.webhook_target = f"http://127.0.0.1:{transport.bound_port}/telegram/hook"
    translate, person = Translator(language), 520
    try:
        await arrive(app, standin, standin.user_sends(person, greeting, language_code=language))
        [picker] = standin.sent_to(person)
        assert buttons(picker)[0][0] == own_name  # the phone's language is offered first
        assert picker["text"].splitlines()[0] == translate("Please choose your language.")
        await arrive(app, standin, standin.user_clicks(person, int(picker["message_id"]), buttons(picker)[0][1],
                                                       language_code=language))
        assert "reply_markup" not in standin.message(person, int(picker["message_id"]))
        short = standin.sent_to(person)[-1]
        assert "(Datenschutz)" in short["text"]
        full_label, full_data = buttons(short)[2]
        assert full_label == translate("Read the full notice")
        await arrive(app, standin, standin.user_clicks(person, int(short["message_id"]), full_data,
                                                       language_code=language))
        notice = standin.sent_to(person)[-1]
        address = "\u2068datenschutz@proconnect.example\u2069" if language == "ar" else "datenschutz@proconnect.example"
        assert "(Datenschutz)" in notice["text"] and address in notice["text"]  # isolated inside Arabic text
        yes_label, yes_data = buttons(notice)[0]
        assert yes_label == translate("Yes")
        await arrive(app, standin, standin.user_clicks(person, int(notice["message_id"]), yes_data,
                                                       language_code=language))
        thanks, _intro, district = standin.sent_to(person)[-3:]
        consent = translate("Thank you. Your consent was recorded on {date}.", date="@").split("@")[0]
        assert thanks["text"].startswith(consent)
        assert [label for label, _ in buttons(district)][-1] == app.network.districts["outside"].name[language]
        if mode == "webhook":
            assert standin.calls_of("getUpdates") == []  # everything came through the webhook
            assert set(standin.webhook_answers) == {200} and standin.webhook is not None
        else:
            assert standin.webhook is None and standin.calls_of("deleteWebhook")
        assert len(standin.answered_queries) == 3  # language, the full notice, yes
    finally:
        await transport.stop()


async def _lotse_run(standin: BotApiStandIn, data_dir: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env.update(LOTSE_DATA_DIR=str(data_dir), LOTSE_TELEGRAM_TOKEN=standin.token,
               LOTSE_TELEGRAM_BASE_URL=standin.base_url)
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", env=env, cwd=data_dir,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


@pytest.mark.slow
async def test_lotse_run_killed_after_get_updates_handles_the_update_exactly_once_after_restart(
        standin: BotApiStandIn, tmp_path: Path) -> None:
    first = await _lotse_run(standin, tmp_path)
    try:
        update_id = standin.user_sends(530, "hello", language_code="tr")
        await standin.wait_for(lambda: standin.offer_counts.get(update_id, 0) >= 1, within=30,
                               what="lotse run to fetch the update")
    finally:
        first.kill()  # SIGKILL: between getUpdates returning and the update being handled
        await first.wait()
    second = await _lotse_run(standin, tmp_path)
    try:
        await standin.wait_for(lambda: len(standin.sent_to(530)) >= 1, within=30, what="the answer after restart")
        await standin.wait_confirmed(update_id, within=30)
    finally:
        second.terminate()
        _out, err = await second.communicate()
    assert second.returncode == 0, err.decode()
    [picker] = standin.sent_to(530)
    assert buttons(picker)[0][0] == "Türkçe"
    with sqlite3.connect(tmp_path / "lotse.sqlite3") as database:
        inbox_rows = database.execute("SELECT count(*) FROM inbox WHERE event_id = ?", (str(update_id),)).fetchone()
        outbox_rows = database.execute("SELECT status FROM outbox").fetchall()
    assert inbox_rows == (1,) and outbox_rows == [("sent",)]


class ManualTime:
    """A monotonic clock the rate limiter and the stand-in share: sleeping moves it, nothing really waits."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay


async def _ignore(incoming: Incoming) -> bool:
    return True


async def test_group_chats_get_twenty_messages_a_minute_and_telegram_refuses_none(standin: BotApiStandIn) -> None:
    time = ManualTime()
    standin.flood_control = FloodControl(clock=time)
    limiter = RateLimiter(monotonic=time, sleep=time.sleep)  # Telegram's limits: 30/s, 1/s per chat, 20/min per group
    transport = make_transport(standin, limiter=limiter)
    await transport.start(_ignore)
    group, people = -100_123, [601, 602, 603]
    started = time.now
    try:
        for number in range(45):
            await transport.send(Outgoing(transport="telegram", chat=str(group), text=f"group {number}"), None)
            person = people[number % 3]
            await transport.send(Outgoing(transport="telegram", chat=str(person), text=f"person {number}"), None)
    finally:
        await transport.stop()
    assert standin.rate_limited == []
    assert [message["text"] for message in standin.sent_to(group)] == [f"group {n}" for n in range(45)]
    assert standin.sent_to(group)[0]["chat"]["type"] == "group"
    for index, person in enumerate(people):
        assert [m["text"] for m in standin.sent_to(person)] == [f"person {n}" for n in range(index, 45, 3)]
    # three at once, then one every 60/17 s: 45 group messages take 42 spaced slots, never more than 20 a minute
    assert time.now - started == pytest.approx(42 * 60 / 17, abs=0.5)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_the_stand_in_refuses_what_telegram_would(standin: BotApiStandIn) -> None:
    """Without Lotse's limiter the stand-in answers 429: the test above would notice a limiter that lets too much by."""
    time = ManualTime()
    transport = make_transport(standin)  # no pauses at all
    await transport.start(_ignore)
    try:
        standin.flood_control = FloodControl(clock=time)
        for number in range(3):  # a burst of three to one person is fine
            await transport.send(Outgoing(transport="telegram", chat="604", text=f"{number}"), None)
        with pytest.raises(DeliveryError) as too_fast:
            await transport.send(Outgoing(transport="telegram", chat="604", text="4th"), None)
        assert too_fast.value.retry_after == 1
        standin.flood_control = FloodControl(clock=time, chat_burst=1000)
        for number in range(20):
            await transport.send(Outgoing(transport="telegram", chat="-100200", text=f"{number}"), None)
            time.now += 0.1
        with pytest.raises(DeliveryError) as group_full:
            await transport.send(Outgoing(transport="telegram", chat="-100200", text="21st"), None)
        assert group_full.value.retry_after == 58  # the first of the twenty leaves the minute's window then
        standin.flood_control = FloodControl(clock=time, chat_burst=1000)
        for number in range(30):
            await transport.send(Outgoing(transport="telegram", chat=str(700 + number), text="hi"), None)
        with pytest.raises(DeliveryError):
            await transport.send(Outgoing(transport="telegram", chat="799", text="31st in a second"), None)
    finally:
        await transport.stop()
    assert [(method, chat) for method, chat, _ in standin.rate_limited] == [
        ("sendMessage", 604), ("sendMessage", -100200), ("sendMessage", 799)]


async def test_an_unreachable_bot_api_is_retried_with_backoff_and_logged_once_per_change(
        app: Lotse, standin: BotApiStandIn, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    transport = make_transport(standin, retry_delay=0.01, max_retry_delay=0.08, poll_timeout=1)
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    amal = 540
    try:
        first = standin.user_sends(amal, "hello")
        await standin.wait_confirmed(first)
        await standin.stop()  # Telegram goes away: polling fails, and so does the answer to "hello"
        await app.drain()
        [row] = await outbox(app, amal)
        assert row.status == "pending" and row.attempts == 0 and "unreachable" in (row.last_error or "").lower()
        await standin.wait_for(lambda: transport.api.failures >= 5, what="several failed attempts")
        assert transport.api.delay == 0.08  # doubled after each failure, then capped
        waiting = standin.user_sends(amal, "/help")  # sent while Lotse cannot reach Telegram
        await standin.start()
        await standin.wait_confirmed(waiting, within=10)
        assert transport.api.reachable
        clock.advance(seconds=1)  # the pending answer's retry is due
        await app.drain()
    finally:
        await transport.stop()
    rows = await outbox(app, amal)
    assert [row.status for row in rows] == ["sent"] * len(rows) and len(rows) >= 2
    assert rows[0].attempts == 1  # the outage cost the message none of its attempts
    assert [len(standin.sent_to(amal)), len(await inbox(app))] == [len(rows), 2]
    lines = [record.getMessage() for record in caplog.records if record.name == "lotse.telegram"]
    assert len([line for line in lines if "Bot API unreachable" in line and line.endswith("retrying")]) == 1
    assert len([line for line in lines if "Bot API reachable again" in line]) == 1
    assert not [record for record in caplog.records if record.name == "lotse.sender" and "retry" in record.message]


def _edited(update_kind: str, chat: dict[str, object]) -> dict[str, object]:
    return {update_kind: {"message_id": 90, "date": 1_790_000_000, "edit_date": 1_790_000_100, "text": "edited",
                          "chat": chat, "from": {"id": 550, "is_bot": False, "first_name": "Amal"}}}


async def test_edits_channel_posts_and_group_chatter_are_ignored_and_a_sticker_is_answered(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    private = {"id": 550, "type": "private", "first_name": "Amal"}
    ignored = [
        standin.queue_update(_edited("edited_message", private)),
        standin.queue_update({"channel_post": {"message_id": 91, "date": 1_790_000_000, "text": "news",
                                               "chat": {"id": -100_555, "type": "channel", "title": "News"}}}),
        standin.queue_update({"message": {"message_id": 92, "date": 1_790_000_000, "text": "/start",
                                          "chat": {"id": -100_556, "type": "supergroup", "title": "Café"},
                                          "from": {"id": 551, "is_bot": False, "first_name": "Stranger"}}}),
    ]
    sticker = standin.queue_update({"message": {
        "message_id": 93, "date": 1_790_000_000, "chat": private,
        "from": {"id": 550, "is_bot": False, "first_name": "Amal", "language_code": "ar"},
        "sticker": {"file_id": "s1", "file_unique_id": "s1", "width": 512, "height": 512, "is_animated": False,
                    "is_video": False, "type": "regular"}}})
    await arrive(app, standin, *ignored, sticker)
    assert [entry.event_id for entry in await inbox(app)] == [str(sticker)]
    assert standin.sent_to(-100_555) == [] and standin.sent_to(-100_556) == []
    answer = standin.sent_to(550)[0]  # then the language picker, as for anyone new
    assert Translator("ar")("I can read text, photos, documents and voice messages. Please send one of those.") in (
        answer["text"])


async def test_a_document_goes_out_with_its_text_as_caption_or_before_a_long_text(
        standin: BotApiStandIn, telegram: TelegramTransport, tmp_path: Path) -> None:
    export = tmp_path / "export-17.json"
    export.write_bytes(b'{"name": "Amal"}')
    amal = 560
    short = Outgoing(transport="telegram", chat=str(amal), text="Your data (Daten) as a file.",
                     document_path=str(export), document_name="my-data.json",
                     choices=(Choice("3:ok", "OK"),), selection="single")
    assert Outgoing.from_json(short.to_json()) == short
    assert Outgoing.from_json({"transport": "telegram", "chat": "1", "text": "stored before files existed"}) == (
        Outgoing(transport="telegram", chat="1", text="stored before files existed"))
    delivery = await telegram.send(short, None)
    [message] = standin.sent_to(amal)
    assert message["caption"] == short.text and message["document"]["file_name"] == "my-data.json"
    assert buttons(message) == [("OK", "3:ok")] and delivery.platform_message_id == str(message["message_id"])
    assert standin.files[message["document"]["file_id"]][1] == b'{"name": "Amal"}'

    long = Outgoing(transport="telegram", chat=str(amal), text="ع" * 1500, document_path=str(export),
                    choices=(Choice("3:ok", "OK"),), selection="single")
    await telegram.send(long, None)
    document, text = standin.sent_to(amal)[1:]
    assert "caption" not in document and document["document"]["file_name"] == "export-17.json"
    assert "reply_markup" not in document and text["text"] == long.text and buttons(text) == [("OK", "3:ok")]

    with pytest.raises(DeliveryError) as missing:
        await telegram.send(Outgoing(transport="telegram", chat=str(amal), text="x",
                                     document_path=str(tmp_path / "gone.json")), None)
    assert missing.value.permanent and len(standin.sent_to(amal)) == 3

    upload = standin.calls_of("sendDocument")[0]  # sent as a multipart upload, like a real file
    assert upload["document"]["content"] == b'{"name": "Amal"}'


async def test_the_stand_in_takes_photos_like_telegram(standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    sent = await telegram.bot.send_photo(chat_id=561, photo=b"\xff\xd8" + bytes(500), caption="a photo")
    [message] = standin.sent_to(561)
    assert message["caption"] == "a photo" and sent.photo[-1].file_size == 502
    assert len(await telegram.download(sent.photo[-1].file_id)) == 502


def test_recording_and_console_transports_show_a_sent_file() -> None:
    message = Outgoing(transport="console", chat="amal", text="Here is your data.", document_path="/tmp/x/a.json",
                       document_name="my-data.json")
    assert shown(message) == "Here is your data.\n[file: my-data.json]"
    assert "[file: my-data.json]" in render(message).splitlines()
    assert shown(Outgoing(transport="console", chat="amal", text="", document_path="/tmp/x/a.json")) == "[file: a.json]"


def _lotse_run_env(token: str, data_dir: Path, base_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env.update(LOTSE_DATA_DIR=str(data_dir), LOTSE_TELEGRAM_TOKEN=token)
    if base_url is not None:
        env["LOTSE_TELEGRAM_BASE_URL"] = base_url
    return env


@pytest.mark.slow
@pytest.mark.parametrize(("token", "says"), [("not-a-token", "LOTSE_TELEGRAM_TOKEN"),
                                             ("", "no transport configured"),
                                             ("123456:rejected-by-telegram", "does not accept this token")])
async def test_lotse_run_stops_with_one_line_on_a_bad_token(
        standin: BotApiStandIn, tmp_path: Path, token: str, says: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=_lotse_run_env(token, tmp_path, standin.base_url), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().splitlines()
    assert process.returncode != 0 and out == b""
    assert len(lines) == 1 and lines[0].startswith("lotse:") and says in lines[0], lines
    assert "rejected-by-telegram" not in lines[0]  # the secret part of a token is never printed


@pytest.mark.slow
async def test_lotse_run_waits_for_an_unreachable_bot_api_with_one_line_and_stops_cleanly(tmp_path: Path) -> None:
    closed = BotApiStandIn()
    await closed.start()
    await closed.stop()  # nothing listens on this port any more
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=_lotse_run_env(closed.token, tmp_path, closed.base_url),
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    first = await asyncio.wait_for(process.stderr.readline(), 60)
    assert b"telegram: Bot API unreachable" in first and first.rstrip().endswith(b"retrying")
    process.terminate()
    rest = await asyncio.wait_for(process.stderr.read(), 60)
    assert await process.wait() == 0
    assert b"Traceback" not in rest and b"unreachable" not in rest
