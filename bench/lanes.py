"""Nobody waits behind bulk: a broadcast to many participants goes out under Telegram's limits while others write.

Lotse runs as `lotse run` does (supervised loops, the lane sender, real python-telegram-bot over HTTP) against the
Bot API stand-in with Telegram's flood control switched on (30 messages a second overall, per-chat and per-group
limits, 429 with `retry_after` when broken). A broadcast to N participants is written into the outbox at bulk
priority, as the broadcast flow writes it; meanwhile W new participants write at random moments during the
broadcast. Printed: the time from each writer's message to their first answer (p50/p95/p99), the broadcast's
total time against its 30 msg/s floor, the 429 answers, and the longest event-loop stall.

Usage: python bench/lanes.py [BROADCAST] [WRITERS]   (default: 1000 50)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.pop(0)  # bench/ must not shadow the `telegram` package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.config import load_settings
from bot.core.messages import Outgoing
from bot.runtime.app import Lotse
from bot.transports.telegram import TelegramTransport
from storage.models import BULK, OutboxEntry
from tests.telegram_standin import BotApiStandIn, FloodControl

os.environ.setdefault("PTB_TIMEDELTA", "true")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(broadcast: int, writers: int) -> None:
    standin = BotApiStandIn()
    await standin.start()
    first_reply: dict[int, float] = {}
    written: dict[int, float] = {}
    bulk_done: list[float] = []
    bulk_chats = {str(7_000_000 + number) for number in range(broadcast)}
    finished = asyncio.Event()

    def on_sent(message: dict[str, object]) -> None:
        chat = message["chat"]
        assert isinstance(chat, dict)
        chat_id = int(chat["id"])
        if chat_id in written and chat_id not in first_reply:
            first_reply[chat_id] = time.perf_counter()
        elif str(chat_id) in bulk_chats:
            bulk_done.append(time.perf_counter())
        if len(bulk_done) >= broadcast and len(first_reply) >= writers:
            finished.set()

    standin.on_sent = on_sent
    with tempfile.TemporaryDirectory() as directory:
        app = await Lotse.open(load_settings(data_dir=Path(directory)))
        transport = TelegramTransport(standin.token, base_url=standin.base_url)
        app.add_transport(transport)
        stop = asyncio.Event()
        await transport.start(app.dispatcher.receive, app.dispatcher.receive_batch)
        workers = asyncio.create_task(app.run_workers(stop))
        try:
            standin.flood_control = FloodControl()
            async with app.sessions() as session, session.begin():
                session.add_all(OutboxEntry(transport="telegram", chat=chat, priority=BULK, payload=Outgoing(
                    transport="telegram", chat=chat, text="Job fair (Jobmesse) on Saturday at the IHK: come and "
                    "meet companies that offer Ausbildung and Praktikum.").to_json()) for chat in sorted(bulk_chats))
            started = time.perf_counter()
            app.dispatcher.outbox_ready.set()
            floor = (broadcast - 1) / 30
            moments = sorted(random.uniform(0.5, floor * 0.9) for _ in range(writers))
            for number, moment in enumerate(moments):
                await asyncio.sleep(max(0.0, started + moment - time.perf_counter()))
                user = 9_000_000 + number
                written[user] = time.perf_counter()
                standin.user_sends(user, "hello", language_code="ar")
            deadline = time.perf_counter() + floor * 3 + 30
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), timeout=max(1.0, deadline - time.perf_counter()))
            waits = [first_reply[user] - written[user] for user in written if user in first_reply]
            elapsed = (max(bulk_done) if bulk_done else time.perf_counter()) - started
            print(f"broadcast to {broadcast} chats: {len(bulk_done)} delivered in {elapsed:.1f} s; floor at 30 msg/s "
                  f"{floor:.1f} s -> {elapsed / floor:.3f}x (aim <= 1.05x); 429 answers: {len(standin.rate_limited)}")
            if waits:
                print(f"{len(waits)} of {writers} writers answered during it: first answer p50 "
                      f"{percentile(waits, 0.5) * 1000:.0f} ms, p95 {percentile(waits, 0.95) * 1000:.0f} ms, "
                      f"p99 {percentile(waits, 0.99) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms "
                      f"(aim p95 < 1000, p99 < 2000)")
            print(f"largest event-loop stall: {app.watchdog.worst * 1000:.0f} ms (aim < 100)")
        finally:
            standin.flood_control = None
            stop.set()
            await workers
            await app.close()
            await standin.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    arguments = [int(value) for value in sys.argv[1:]]
    asyncio.run(run(*(arguments + [1000, 50][len(arguments):])))
