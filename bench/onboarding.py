"""Drives N simulated participants through onboarding in-process on the console transport, against SQLite.

Lotse runs as under `lotse run`: the supervised inbox worker (batches with a savepoint per event) and the lane
sender, here delivering to a console writing to memory. Participants' messages arrive in pages of `PAGE` (as a
Telegram getUpdates page or a Matrix sync brings them), each page stored in one transaction; every participant
writes three messages (first contact, English, yes to the privacy notice), each only after the previous one
was answered, as a person would. Printed: inbound messages per second (until the last answer was delivered),
p50/p99 from storing an event to its committed answer, peak RSS, the longest event-loop stall, and the CPU time
this process spent per message (the figure least disturbed by other work on a shared machine).

With `--rate R` the messages do not arrive as a burst but one by one, R a second (as webhook calls would): the
latencies are then a message's own time through the pipeline at that offered load, not queueing behind a
thousand others.

Usage: python bench/onboarding.py [--rate R] [N ...]   (default: 1000 10000)
"""

from __future__ import annotations

import asyncio
import io
import logging
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.config import load_settings
from bot.core.messages import Incoming
from bot.runtime.app import Lotse
from bot.transports.console import ConsoleTransport

SCRIPT = ("hello", "2", "1")  # first contact, English, yes: the menu
PAGE = 100


async def until(condition: Callable[[], bool]) -> None:
    """A person answers only after the answer arrived: polls the pipeline's own counters."""
    for _ in range(10_000_000):
        if condition():
            return
        await asyncio.sleep(0.001)


async def run(participants: int, rate: float | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(data_dir=Path(directory))
        app = await Lotse.open(settings)
        sink = io.StringIO()
        app.add_transport(ConsoleTransport(out=sink))
        latencies: list[float] = []
        app.dispatcher.latencies = latencies
        stop = asyncio.Event()
        workers = asyncio.create_task(app.run_workers(stop))
        started = time.perf_counter()
        cpu_started = time.process_time()
        try:
            for round_number, line in enumerate(SCRIPT, start=1):
                page_size = 1 if rate else PAGE
                paced_from = time.perf_counter()
                for first in range(0, participants, page_size):
                    page = [Incoming(transport="console", event_id=uuid.uuid4().hex, handle=f"p{number}",
                                     chat=f"p{number}", text=line)
                            for number in range(first, min(participants, first + page_size))]
                    if rate:  # the next message arrives at its moment, whatever the pipeline is doing
                        await asyncio.sleep(max(0.0, paced_from + first / rate - time.perf_counter()))
                    await app.dispatcher.receive_batch(page)
                    await asyncio.sleep(0)  # the network gives the loop to the workers between pages
                    if sink.tell() > 1_000_000:
                        sink.seek(0)
                        sink.truncate()
                expected = participants * round_number
                await until(lambda: len(latencies) >= expected)  # noqa: B023 (awaited within the round)
            await until(lambda: app.sender.sent_count >= participants * len(SCRIPT))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            stop.set()
            await workers
            worst = app.watchdog.worst
            await app.close()
    latencies.sort()
    return {
        "participants": participants,
        "messages": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stall_ms": worst * 1000,
        "cpu_ms": cpu * 1000 / len(latencies),
    }


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    arguments = sys.argv[1:]
    rate = None
    if "--rate" in arguments:
        at = arguments.index("--rate")
        rate = float(arguments[at + 1])
        del arguments[at:at + 2]
        print(f"messages arrive one by one, {rate:.0f} a second")
    sizes = [int(arg) for arg in arguments] or [1000, 10_000]
    print(f"{'N':>7} {'messages':>9} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MB':>12} {'stall ms':>9} "
          f"{'CPU ms/msg':>10}")
    for size in sizes:
        result = asyncio.run(run(size, rate))
        print(f"{result['participants']:>7.0f} {result['messages']:>9.0f} {result['per_second']:>8.0f} "
              f"{result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} {result['peak_rss_mb']:>12.0f} "
              f"{result['stall_ms']:>9.0f} {result['cpu_ms']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
