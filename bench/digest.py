"""Times the Montagsrunde digest, the case view, the funnel and a broadcast's fan-out for N participants (SQLite).

The data set: N consented participants spread over the nine districts and every stage, one question each for a
third of them, a volunteer per 20 participants with a pairing and two reports for each pairing, a stage change
for every fifth participant, an appointment in the coming week for every tenth (its reminder sent, every other
one answered "I can't come"), all within the digest's week.
Prints the time to build one coordinator's digest (their districts) and the whole network's, one case view
(median of 50), the funnel, and a broadcast's fan-out to one district, and peak RSS.
Usage: python bench/digest.py [N ...]   (default: 1000 5000)
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.access import covered_districts
from bot.core.config import load_settings
from bot.core.i18n import Translator
from bot.core.schedule import Schedule
from bot.jobs.digest import build_digest, render_text
from bot.runtime.app import Lotse
from bot.services.progress import count_funnel
from bot.services.stages import STAGE_RANK
from flows.broadcasts import fan_out, segment_members
from flows.cases import case_text
from storage.models import (
    Appointment,
    Attendance,
    CaseReport,
    Handle,
    Pairing,
    Person,
    Profile,
    Reminder,
    StageChange,
    Ticket,
)

MONDAY = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
STAGES = list(STAGE_RANK)


async def seed(app: Lotse, participants: int) -> tuple[Person, list[int]]:
    districts = list(app.network.districts)
    week = MONDAY - timedelta(days=7)
    ids: list[int] = []
    async with app.sessions() as session, session.begin():
        coordinator = Person(role="coordinator", organisation="bbs_wechloy", locale="de", display_name="Bench")
        session.add(coordinator)
        volunteers = []
        for number in range(max(1, participants // 20)):
            volunteer = Person(role="volunteer", display_name=f"V{number}", locale="de", privacy_version="2026-11")
            session.add(volunteer)
            volunteers.append(volunteer)
        await session.flush()
        for number in range(participants):
            moment = week + timedelta(minutes=number % 10_000)
            person = Person(role="participant", display_name=f"P{number}", locale="ar", created_at=moment,
                            district=districts[number % len(districts)], privacy_version="2026-11")
            session.add(person)
            await session.flush()
            ids.append(person.id)
            session.add(Handle(person_id=person.id, transport="console", platform_id=f"p{number}",
                               chat_id=f"p{number}"))
            session.add(Profile(person_id=person.id, stage=STAGES[number % len(STAGES)],
                                answers={"goals": ["apprenticeship", "language_course"], "district": person.district,
                                         "german": "a2", "availability": ["mon_morning"]}, completed_at=moment))
            if number % 3 == 0:
                session.add(Ticket(participant_id=person.id, topic="apprenticeship", district=person.district,
                                   organisations=["ihk"], status="open", created_at=moment,
                                   due_at=moment + timedelta(days=1)))
            if number % 5 == 0:
                session.add(StageChange(participant_id=person.id, actor_id=coordinator.id, from_stage="matching",
                                        to_stage="internship", reason="bench", at=moment))
            if number % 10 == 0:  # an appointment this week, its reminder sent last week, every other one declined
                appointment = Appointment(participant_id=person.id, kind="jobcenter", place="Jobcenter Oldenburg",
                                          starts_at=MONDAY + timedelta(days=1, minutes=number % 600),
                                          status="scheduled", created_at=moment)
                session.add(appointment)
                await session.flush()
                session.add(Reminder(participant_id=person.id, appointment_id=appointment.id,
                                     event_key=f"a:{appointment.id}", event_starts_at=appointment.starts_at,
                                     kind="evening_before", due_at=moment, status="sent", sent_at=moment))
                if number % 20 == 0:
                    session.add(Attendance(participant_id=person.id, event_key=f"a:{appointment.id}", answer="no",
                                           reason="ill", answered_at=moment))
            if number % 20 == 0:
                volunteer = volunteers[number // 20]
                session.add(Pairing(volunteer_id=volunteer.id, participant_id=person.id, status="active",
                                    coordinator_id=coordinator.id, created_at=moment, decided_at=moment))
                for kind in ("needs_help", "attended"):
                    session.add(CaseReport(participant_id=person.id, volunteer_id=volunteer.id, kind=kind,
                                           text="bench report", needs_action=kind == "needs_help", created_at=moment))
    return coordinator, ids


async def run(participants: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        app = await Lotse.open(load_settings(data_dir=Path(directory)))
        try:
            seeding = time.perf_counter()
            coordinator, ids = await seed(app, participants)
            admin = Person(role="admin")
            seeded = time.perf_counter() - seeding
            t = Translator("de")
            moment = Schedule().moment(MONDAY)
            async with app.sessions() as session:
                began = time.perf_counter()
                own = await build_digest(session, t, app.network, covered_districts(app.network, coordinator), moment)
                text = render_text(t, moment, own)
                own_s = time.perf_counter() - began
                began = time.perf_counter()
                everything = await build_digest(session, t, app.network, None, moment)
                all_s = time.perf_counter() - began
                cases = []
                for person_id in ids[:: max(1, len(ids) // 50)][:50]:
                    person = await session.get_one(Person, person_id)
                    began = time.perf_counter()
                    await case_text(session, t, app.network, person, MONDAY)
                    cases.append(time.perf_counter() - began)
                began = time.perf_counter()
                await count_funnel(session, app.network)
                funnel_s = time.perf_counter() - began
                began = time.perf_counter()
                members = await segment_members(session, app.network, coordinator,
                                                {"kind": "district", "value": "stadt_oldenburg"})
                segment_s = time.perf_counter() - began
            async with app.sessions() as session, session.begin():
                began = time.perf_counter()
                everyone = await segment_members(session, app.network, admin, {"kind": "language", "value": "ar"})
                rows = await fan_out(session, everyone, lambda t: t("How are you?"), MONDAY)
                fan_out_s = time.perf_counter() - began
        finally:
            await app.close()
    return {
        "participants": participants,
        "seed_s": seeded,
        "digest_own_ms": own_s * 1000,
        "digest_lines": sum(len(s.lines) for s in own),
        "digest_chars": len(text),
        "digest_all_ms": all_s * 1000,
        "digest_all_lines": sum(len(s.lines) for s in everything),
        "case_p50_ms": statistics.median(cases) * 1000,
        "case_max_ms": max(cases) * 1000,
        "funnel_ms": funnel_s * 1000,
        "segment_ms": segment_s * 1000,
        "segment_size": len(members),
        "fan_out_s": fan_out_s,
        "fan_out_rows": len(rows),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 5000]
    print("| N | digest (own districts) ms | lines | chars | digest (all) ms | lines | case view p50 ms | max ms "
          "| funnel ms | segment ms | segment size | broadcast to all: s | outbox rows | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        r = asyncio.run(run(size))
        print(f"| {size:,} | {r['digest_own_ms']:.0f} | {r['digest_lines']:.0f} | {r['digest_chars']:.0f} "
              f"| {r['digest_all_ms']:.0f} | {r['digest_all_lines']:.0f} | {r['case_p50_ms']:.1f} "
              f"| {r['case_max_ms']:.1f} | {r['funnel_ms']:.0f} | {r['segment_ms']:.0f} | {r['segment_size']:.0f} "
              f"| {r['fan_out_s']:.2f} | {r['fan_out_rows']:.0f} | {r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
