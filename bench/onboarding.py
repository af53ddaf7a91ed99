"""Drives N simulated participants through onboarding in-process on the console transport, against SQLite.

Prints inbound messages per second, p50/p99 time from inbound event to committed outbox, and peak RSS.
Usage: python bench/onboarding.py [N ...]   (default: 100 10000)
"""

from __future__ import annotations

import asyncio
import io
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import Lotse
from bot.config import load_settings
from bot.messages import Incoming
from bot.transports.console import ConsoleTransport

SCRIPT = ("hello", "2", "1")  # first contact, English, yes: the menu


async def run(participants: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(data_dir=Path(directory))
        app = await Lotse.open(settings)
        sink = io.StringIO()
        app.add_transport(ConsoleTransport(out=sink))
        latencies: list[float] = []
        started = time.perf_counter()
        try:
            for line in SCRIPT:
                for number in range(participants):
                    handle = f"p{number}"
                    event = Incoming(transport="console", event_id=uuid.uuid4().hex, handle=handle,
                                     chat=handle, text=line)
                    begin = time.perf_counter()
                    await app.dispatcher.receive(event)
                    await app.dispatcher.process_pending()
                    latencies.append(time.perf_counter() - begin)
                    await app.sender.deliver_pending("console")
                    sink.seek(0)
                    sink.truncate()
            elapsed = time.perf_counter() - started
        finally:
            await app.close()
    latencies.sort()
    return {
        "participants": participants,
        "messages": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [100, 10_000]
    print(f"{'N':>7} {'messages':>9} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MB':>12}")
    for size in sizes:
        result = asyncio.run(run(size))
        print(f"{result['participants']:>7.0f} {result['messages']:>9.0f} {result['per_second']:>8.0f} "
              f"{result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} {result['peak_rss_mb']:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
