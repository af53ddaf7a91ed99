"""The latency machine translation adds to a question's delivery to the coordinator.

A Ukrainian participant's messages reach a German coordinator through Lotse with a LibreTranslate stand-in that
takes `DELAY` seconds per translation (tests/translation_standins.py), on SQLite. Printed per delay: the first
message's time from sending to the coordinator's notice being delivered, and the median of the following ones.
The aim (issue 16): a question never waits for an engine slower than 2 s; after one timeout the engine is left out
of conversations for a minute, so the following messages do not wait at all and their translations follow.

Usage: python bench/translation.py [DELAY ...]   (default: no engine, then 0 0.5 1.5 5)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.config import load_settings
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_questions import coordinator, participant
from tests.translation_standins import LibreTranslateStandin

MESSAGES = 8


async def measure(delay: float | None) -> tuple[float, float]:
    """None: no engine (the baseline)."""
    standin = LibreTranslateStandin(delay=delay or 0.0)
    await standin.start()
    with tempfile.TemporaryDirectory() as folder:
        engine = {} if delay is None else {"translation_engine": "libretranslate", "translation_url": standin.url}
        settings = load_settings(data_dir=Path(folder), **engine)
        app = await Lotse.open(settings, clock=FakeClock())
        app.dispatcher.limiter = InboundLimiter(per_minute=100_000)
        transport = RecordingTransport()
        app.add_transport(transport)
        try:
            def chat(handle: str, hint: str | None = None) -> Chat:
                return Chat(app, transport, handle, language_hint=hint)

            await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
            olena = await participant(chat, "olena", language="Українська")
            await olena.send("/ask")
            await olena.send("1")
            times = []
            for number in range(MESSAGES):
                started = time.perf_counter()
                await olena.send(f"Питання номер {number}: коли починається курс?")
                times.append(time.perf_counter() - started)
        finally:
            await app.close()
            await standin.stop()
    return times[0], statistics.median(times[1:])


async def main(delays: list[float | None]) -> None:
    print("engine delay s | first message s | median of the next s")
    for delay in delays:
        first, rest = await measure(delay)
        shown = "no engine" if delay is None else f"{delay:.1f}"
        print(f"{shown:>14} | {first:15.2f} | {rest:20.2f}")


if __name__ == "__main__":
    asyncio.run(main([float(arg) for arg in sys.argv[1:]] or [None, 0, 0.5, 1.5, 5]))
