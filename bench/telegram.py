"""Telegram transport benchmark against the Bot API stand-in on 127.0.0.1, through real python-telegram-bot calls.

(a) Inbound update -> reply latency: Lotse (polling, SQLite, the real dispatcher, sender and rate limiter) and a bare
    python-telegram-bot echo bot (Application + MessageHandler, manual lifecycle) against the same stand-in in the
    same run. Each update comes from a new person (Lotse answers with its language picker); updates are injected at
    20 a second, below Telegram's 30/s, so the rate limiter paces nothing and the figure is Lotse's own work.
(b) 1,000 messages to 1,000 different chats written straight into the outbox (as `bot.core.notify.enqueue` does),
    delivered by the outbox sender while the stand-in enforces Telegram's limits: 429 answers and total time against
    the 30 messages/s floor (999 gaps of 1/30 s = 33.3 s).

The stand-in runs in the same event loop as the bot it serves, for Lotse and the echo bot alike.
Usage: python bench/telegram.py [LATENCY_UPDATES] [BULK_MESSAGES]   (default: 300 1000)
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on the path and this file would shadow the `telegram` package: the project
# takes its place.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.core.config import load_settings
from bot.core.messages import Incoming, Outgoing
from bot.core.notify import enqueue
from bot.runtime.app import Lotse
from bot.transports.telegram import TelegramTransport
from tests.telegram_standin import BotApiStandIn, FloodControl

os.environ.setdefault("PTB_TIMEDELTA", "true")  # python-telegram-bot 22: no deprecation noise, as `lotse` sets it

INJECT_INTERVAL = 0.05


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(standin: BotApiStandIn, updates: int, first_user: int) -> list[float]:
    """Injects one text per new user, waits for the first reply to it; returns the latencies in seconds."""
    replied: dict[int, asyncio.Event] = {}
    arrived: dict[int, float] = {}

    def on_sent(message: dict[str, object]) -> None:
        chat = message["chat"]
        assert isinstance(chat, dict)
        chat_id = int(chat["id"])
        if chat_id in replied and chat_id not in arrived:
            arrived[chat_id] = time.perf_counter()
            replied[chat_id].set()

    standin.on_sent = on_sent
    latencies: list[float] = []
    for number in range(updates):
        user = first_user + number
        replied[user] = asyncio.Event()
        next_due = time.perf_counter() + INJECT_INTERVAL
        injected = time.perf_counter()
        standin.user_sends(user, "hello", language_code="de")
        await asyncio.wait_for(replied[user].wait(), 30)
        latencies.append(arrived[user] - injected)
        await asyncio.sleep(max(0.0, next_due - time.perf_counter()))
    standin.on_sent = None
    return latencies


async def lotse_latency(standin: BotApiStandIn, directory: Path, updates: int) -> list[float]:
    app = await Lotse.open(load_settings(data_dir=directory / "latency"))
    transport = TelegramTransport(standin.token, base_url=standin.base_url)  # Telegram's real limits
    app.add_transport(transport)
    stop = asyncio.Event()
    storing: list[float] = []

    async def receive(incoming: Incoming) -> bool:
        started = time.perf_counter()
        try:
            return await app.dispatcher.receive(incoming)
        finally:
            storing.append(time.perf_counter() - started)

    await transport.start(receive)
    workers = asyncio.create_task(app.run_workers(stop))
    try:
        await measure(standin, 10, 1_000_000)  # warm-up: connections, catalogs, first queries
        storing.clear()
        app.dispatcher.latencies = []
        latencies = await measure(standin, updates, 2_000_000)
        print(f"  of which Lotse stores the update (inbox commit) p50 {percentile(storing, 0.5) * 1000:.1f} ms, "
              f"handles it (flow + outbox commit) p50 {percentile(app.dispatcher.latencies, 0.5) * 1000:.1f} ms")
        return latencies
    finally:
        stop.set()
        app.dispatcher.wakeup.set()
        app.dispatcher.outbox_ready.set()
        await workers
        await app.close()


async def echo_latency(standin: BotApiStandIn, updates: int) -> list[float]:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None and update.effective_message.text is not None:
            await update.effective_message.reply_text(update.effective_message.text)

    application = (Application.builder().token(standin.token).base_url(standin.base_url)
                   .base_file_url(standin.base_file_url).build())
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=25)
        try:
            await measure(standin, 10, 3_000_000)
            return await measure(standin, updates, 4_000_000)
        finally:
            await application.updater.stop()
            await application.stop()


async def bulk(standin: BotApiStandIn, directory: Path, messages: int) -> tuple[float, int, int]:
    """Returns (seconds, 429 answers, messages delivered)."""
    app = await Lotse.open(load_settings(data_dir=directory / "bulk"))
    transport = TelegramTransport(standin.token, base_url=standin.base_url)  # Telegram's real limits
    app.add_transport(transport)
    await transport.start(app.dispatcher.receive)
    try:
        async with app.sessions() as session, session.begin():
            enqueue(session, [Outgoing(transport="telegram", chat=str(5_000_000 + number),
                                       text=f"Reminder: your appointment (Termin) tomorrow, number {number}.")
                              for number in range(messages)], app.sender.clock())
        standin.flood_control = FloodControl()
        started = time.perf_counter()
        delivered = 0
        while sent := await app.sender.deliver_pending("telegram"):
            delivered += sent
        elapsed = time.perf_counter() - started
        return elapsed, len(standin.rate_limited), delivered
    finally:
        standin.flood_control = None
        await app.close()


async def main(updates: int, messages: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    standin = BotApiStandIn()
    await standin.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            lotse = await lotse_latency(standin, Path(directory), updates)
            echo = await echo_latency(standin, updates)
            for name, values in (("Lotse", lotse), ("PTB echo bot", echo)):
                print(f"{name:13s} update -> reply over {len(values)} updates: "
                      f"p50 {percentile(values, 0.5) * 1000:6.1f} ms   p99 {percentile(values, 0.99) * 1000:6.1f} ms"
                      f"   mean {statistics.fmean(values) * 1000:6.1f} ms")
            ratio = percentile(lotse, 0.5) / percentile(echo, 0.5)
            print(f"Lotse p50 / echo p50 = {ratio:.2f} (aim: within 1.5x)")
            elapsed, refused, delivered = await bulk(standin, Path(directory), messages)
            floor = (messages - 1) / 30
            print(f"{delivered} messages to {messages} chats: {elapsed:.1f} s, {delivered / elapsed:.1f} msg/s, "
                  f"429 answers: {refused}; floor at 30 msg/s {floor:.1f} s, "
                  f"{(elapsed / floor - 1) * 100:+.1f}% (aim: within 10%)")
    finally:
        await standin.stop()


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:]]
    asyncio.run(main(*(arguments + [300, 1000][len(arguments):])))
