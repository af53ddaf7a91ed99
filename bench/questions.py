"""Question relay benchmark: a participant and a coordinator on Telegram (the Bot API stand-in on 127.0.0.1), with
Lotse's real dispatcher, flows, routing, outbox sender and Telegram's limits, on SQLite.

(a) question -> notification: from the participant's question arriving at the Bot API until the coordinator's
    notification leaves Lotse (the stand-in records the sendMessage);
(b) reply -> answer: from the coordinator's reply to that notification until the participant's answer leaves Lotse.
Each round closes the question, so the next one is new. Steps are spaced (1.2 s; 3.6 s before the reply, after the
participant had four messages) so that Telegram's per-chat limit (a burst of 3, then 1 message a second) does not
pace the figure: it measures Lotse's own work.

Usage: python bench/questions.py [ROUNDS]   (default 20)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.pop(0)  # bench/telegram.py would shadow the `telegram` package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.config import load_settings
from bot.runtime.app import Lotse
from bot.transports.telegram import TelegramTransport
from flows.invites import create_invite
from tests.telegram_standin import JSON, BotApiStandIn
from tests.test_intake import ANSWERS

os.environ.setdefault("PTB_TIMEDELTA", "true")
PARTICIPANT, COORDINATOR = 810_001, 820_001
PAUSE = 1.2


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Watch:
    """Waits for the next message the bot sends to one chat that matches a test."""

    def __init__(self, standin: BotApiStandIn) -> None:
        self.waiting: list[tuple[int, Callable[[str], bool], asyncio.Future[tuple[float, JSON]]]] = []
        standin.on_sent = self._sent

    def _sent(self, message: JSON) -> None:
        chat = int(message["chat"]["id"])  # type: ignore[index]
        text = str(message.get("text") or message.get("caption") or "")
        for entry in list(self.waiting):
            if entry[0] == chat and entry[1](text) and not entry[2].done():
                entry[2].set_result((time.perf_counter(), message))
                self.waiting.remove(entry)

    def expect(self, chat: int, test: Callable[[str], bool]) -> asyncio.Future[tuple[float, JSON]]:
        future: asyncio.Future[tuple[float, JSON]] = asyncio.get_running_loop().create_future()
        self.waiting.append((chat, test, future))
        return future


async def say(standin: BotApiStandIn, watch: Watch, chat: int, text: str, reply_to: int | None = None) -> None:
    """Sends one line and waits until Lotse has answered it (any message to that chat)."""
    answered = watch.expect(chat, lambda _text: True)
    standin.user_sends(chat, text, reply_to=reply_to)
    await asyncio.wait_for(answered, 30)


async def main(rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    standin = BotApiStandIn()
    await standin.start()
    watch = Watch(standin)
    with tempfile.TemporaryDirectory() as directory:
        app = await Lotse.open(load_settings(data_dir=Path(directory)))
        transport = TelegramTransport(standin.token, base_url=standin.base_url)  # Telegram's real limits
        app.add_transport(transport)
        stop = asyncio.Event()
        await transport.start(app.dispatcher.receive)
        workers = asyncio.create_task(app.run_workers(stop))
        try:
            async with app.sessions() as session, session.begin():
                code, _ = await create_invite(session, app.network, app.dispatcher.clock(), "coordinator", "ihk",
                                              ["all"], ["all"], locale="en", days=1)
            await say(standin, watch, COORDINATOR, f"/start {code}")
            for text in ["/start", "English", "1", *ANSWERS, "1", "2"]:
                await say(standin, watch, PARTICIPANT, text)
                await asyncio.sleep(PAUSE)
            to_coordinator: list[float] = []
            to_participant: list[float] = []
            for number in range(1, rounds + 1):
                for text in ["/menu", "1", "Apprenticeship (Ausbildung)"]:
                    await say(standin, watch, PARTICIPANT, text)
                await asyncio.sleep(PAUSE)
                notice = watch.expect(COORDINATOR, lambda text, n=number: text.startswith(f"Question no. {n}:"))
                asked = time.perf_counter()
                standin.user_sends(PARTICIPANT, f"Where do I apply for an apprenticeship? ({number})")
                arrived, message = await asyncio.wait_for(notice, 30)
                to_coordinator.append(arrived - asked)
                await asyncio.sleep(3 * PAUSE)  # the participant just had four messages: let the burst refill
                answer = watch.expect(PARTICIPANT, lambda text: text.endswith("at the chamber's office."))
                replied = time.perf_counter()
                standin.user_sends(COORDINATOR, "You apply at the chamber's office.",
                                   reply_to=int(message["message_id"]))  # type: ignore[call-overload]
                arrived, _ = await asyncio.wait_for(answer, 30)
                to_participant.append(arrived - replied)
                await asyncio.sleep(PAUSE)
                await say(standin, watch, COORDINATOR, f"/close {number}")
            for name, values in (("question -> coordinator", to_coordinator),
                                 ("reply -> participant", to_participant)):
                print(f"{name:24s} over {len(values)} rounds: p50 {percentile(values, 0.5) * 1000:6.1f} ms   "
                      f"p95 {percentile(values, 0.95) * 1000:6.1f} ms")
        finally:
            stop.set()
            app.dispatcher.wakeup.set()
            app.dispatcher.outbox_ready.set()
            await workers
            await transport.stop()
            await app.close()
            await standin.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
