"""Privacy costs on SQLite: erasing one person, a copy of one's data, a retention run, the flood check.

Fills a database with N participants (handle, profile, a question with two messages, 10 inbound and 10 outbound
messages each) directly through the models, then times:
- `erase` of one participant (the trace scrub searches every text column of every table);
- `gather` (what `/mydata` collects) for one participant;
- one `apply_retention` run with nothing due, and one in which every participant's closed question expires;
- `InboundLimiter.check` per message.
Usage: python bench/privacy.py [N ...]   (default: 1000 10000)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.access import PRIVACY_VERSION
from bot.core.config import load_settings
from bot.jobs.retention import RetentionPolicy, apply_retention
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from bot.services.privacy import erase, gather
from storage.models import Conversation, Handle, InboxEntry, OutboxEntry, Person, Profile, Ticket, TicketMessage

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def fill(app: Lotse, participants: int) -> None:
    async with app.sessions() as session, session.begin():
        for number in range(participants):
            person = Person(role="participant", locale="ar", display_name=f"Person {number:06d}",
                            district="stadt_oldenburg", privacy_version=PRIVACY_VERSION, created_at=NOW)
            session.add(person)
            await session.flush()
            handle = f"tg{number:09d}"
            session.add_all([
                Handle(person_id=person.id, transport="telegram", platform_id=handle, chat_id=handle),
                Conversation(person_id=person.id, state={"flow": "menu", "step": "menu"}, updated_at=NOW),
                Profile(person_id=person.id, answers={"district": "stadt_oldenburg", "experience":
                                                      f"Worked as a baker for {number % 20} years in Aleppo"},
                        phone=f"+49151{number:08d}", completed_at=NOW),
            ])
            ticket = Ticket(participant_id=person.id, topic="apprenticeship", district="stadt_oldenburg",
                            organisations=["ihk"], status="closed", created_at=NOW, due_at=NOW, closed_at=NOW)
            session.add(ticket)
            await session.flush()
            session.add_all([
                TicketMessage(ticket_id=ticket.id, author_id=person.id, direction="in",
                              text=f"Question number {number} about my letter from the Jobcenter"),
                TicketMessage(ticket_id=ticket.id, direction="out", text="Please bring the letter on Monday."),
            ])
            for message in range(10):
                session.add(InboxEntry(transport="telegram", event_id=f"{number}-{message}", sender=handle,
                                       payload={"text": f"message {message} from {number}"}, received_at=NOW,
                                       processed_at=NOW))
                session.add(OutboxEntry(transport="telegram", chat=handle, status="sent", created_at=NOW,
                                        payload={"text": f"answer {message} to Person {number:06d}"}))


async def timed(work: object) -> float:
    started = time.perf_counter()
    await work  # type: ignore[misc]
    return (time.perf_counter() - started) * 1000


async def run(participants: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(data_dir=Path(directory))
        app = await Lotse.open(settings, clock=lambda: NOW)
        try:
            started = time.perf_counter()
            await fill(app, participants)
            filled = time.perf_counter() - started
            size = (Path(directory) / "lotse.sqlite3").stat().st_size / 1e6

            async def copy_one() -> None:
                async with app.sessions() as session:
                    person = await session.get_one(Person, participants // 2)
                    await gather(session, person)

            async def erase_one(person_id: int) -> None:
                async with app.sessions() as session, session.begin():
                    person = await session.get_one(Person, person_id)
                    await erase(session, person, NOW, "request", app.network)

            copies = [await timed(copy_one()) for _ in range(5)]
            erasures = [await timed(erase_one(person_id)) for person_id in range(1, 6)]
            policy = RetentionPolicy()
            nothing_due = await timed(apply_retention(app.sessions, app.network, policy, NOW))
            expired = await timed(apply_retention(app.sessions, app.network, policy, NOW + timedelta(days=91)))
        finally:
            await app.close()
    limiter = InboundLimiter()
    checks = 200_000
    started = time.perf_counter()
    for number in range(checks):
        limiter.check(("telegram", str(number % 5000)), NOW + timedelta(milliseconds=number))
    per_check_us = (time.perf_counter() - started) / checks * 1e6
    return {"participants": participants, "fill_s": filled, "db_mb": size,
            "copy_ms": statistics.median(copies), "erase_ms": statistics.median(erasures),
            "retention_nothing_due_ms": nothing_due, "retention_all_questions_ms": expired,
            "flood_check_us": per_check_us}


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 10000]
    print("| N | DB MB | /mydata gather ms | erase ms | retention, nothing due ms | retention, N questions ms "
          "| flood check µs |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        r = asyncio.run(run(size))
        print(f"| {size:,} | {r['db_mb']:.1f} | {r['copy_ms']:.1f} | {r['erase_ms']:.1f} | "
              f"{r['retention_nothing_due_ms']:.0f} | {r['retention_all_questions_ms']:.0f} | "
              f"{r['flood_check_us']:.2f} |")


if __name__ == "__main__":
    main()
