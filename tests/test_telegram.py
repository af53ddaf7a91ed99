"""The Telegram transport as people meet it, through python-telegram-bot against a Bot API stand-in on loopback."""

from __future__ import annotations

import asyncio
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

from bot.app import Lotse
from bot.i18n import LANGUAGES, Translator
from bot.messages import Choice, Incoming, Outgoing
from bot.transports.base import DeliveryError, Receive
from bot.transports.telegram import RateLimiter, TelegramTransport, split_text
from storage.models import InboxEntry, OutboxEntry
from tests.chat import FakeClock
from tests.telegram_standin import BotApiStandIn, buttons

STALE = "This button belongs to an earlier question and no longer works."


def make_transport(standin: BotApiStandIn, **options: object) -> TelegramTransport:
    """Fast for tests: short long-polls, no per-chat pause (the limiter has its own test)."""
    values: dict[str, object] = {"poll_timeout": 2, "per_chat_interval": 0.0, "rate_per_second": 1000.0,
                                 "retry_delay": 0.05}
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
    assert [label for label, _ in buttons(notice)] == [uk("Yes"), uk("No")]
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
    assert set(by_language) == {None, *LANGUAGES}
    for code in LANGUAGES:
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


async def test_onboarding_in_arabic_end_to_end_in_webhook_mode(app: Lotse, standin: BotApiStandIn) -> None:
    transport = make_transport(standin, webhook_url="https://lotse.example/telegram/hook", webhook_port=0)
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    standin.webhook_target = f"http://127.0.0.1:{transport.bound_port}/telegram/hook"
    ar, amal = Translator("ar"), 520
    try:
        await arrive(app, standin, standin.user_sends(amal, "مرحبا", language_code="ar"))
        [picker] = standin.sent_to(amal)
        assert buttons(picker)[0][0] == "العربية"
        assert picker["text"].splitlines()[0] == ar("Please choose your language.")
        await arrive(app, standin, standin.user_clicks(amal, int(picker["message_id"]), buttons(picker)[0][1]))
        notice = standin.sent_to(amal)[-1]
        assert "(Datenschutz)" in notice["text"] and "\u2068datenschutz@proconnect.example\u2069" in notice["text"]
        yes_label, yes_data = buttons(notice)[0]
        assert yes_label == ar("Yes")
        await arrive(app, standin, standin.user_clicks(amal, int(notice["message_id"]), yes_data))
        thanks, _intro, district = standin.sent_to(amal)[-3:]
        assert thanks["text"].startswith(ar("Thank you. Your consent was recorded on {date}.", date="@").split("@")[0])
        assert [label for label, _ in buttons(district)][-1] == app.network.districts["outside"].name["ar"]
        assert standin.calls_of("getUpdates") == []  # everything came through the webhook
        assert set(standin.webhook_answers) == {200}
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
