"""Scale-out: throughput with 1, 2 and 4 worker processes on PostgreSQL, and the time a stand-by needs to take over.

Real processes on loopback, as an operator runs them: 2 webhook receivers (`lotse run --receive`) and N workers
(`lotse run --work`) on a throwaway PostgreSQL; the Bot API stand-in posts UPDATES updates from PEOPLE people
(onboarding, a question, the menu) to the receivers in turn, each chat's next update after its previous one was
taken, as Telegram does. Throughput: updates from the first post until every update is handled and every answer
sent. Takeover: the leader is killed with -9; the time until a stand-by logs that it leads, and until a new
person's first message is answered.

Usage: python bench/scale.py [UPDATES] [PEOPLE]   (default: 2000 500)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.pop(0)  # bench/ must not shadow the `telegram` package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from storage.database import create_engine
from storage.schema import upgrade_locked
from tests.lotse_processes import count, free_port, lotse_process
from tests.postgres_server import PostgresServer
from tests.telegram_standin import BotApiStandIn

os.environ.setdefault("PTB_TIMEDELTA", "true")
SCRIPT = ("/start", "hello", "/menu", "1")


async def fresh_database(server: PostgresServer, name: str) -> str:
    connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user="lotse", database="postgres")
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    url = server.database_url(name)
    engine = create_engine(url)
    try:
        await upgrade_locked(engine)
    finally:
        await engine.dispose()
    return url


def leaders(folder: Path, workers: int) -> list[str]:
    return [f"worker{n}" for n in range(workers)
            if "leads now" in (folder / f"worker{n}" / "stderr.log").read_text()]


async def wait(condition: object, within: float, every: float = 0.05) -> None:
    """Until `condition` holds; a database condition opens connections, so it is asked every 0.5 s, not more
    (a connection is a fork on the server: asking often would take the CPU the bench measures)."""
    deadline = time.monotonic() + within
    while True:
        done = condition() if callable(condition) else False
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(every)


async def run(server: PostgresServer, workers: int, updates: int, people: int, folder: Path,
              takeover: bool) -> tuple[float, float | None, float | None]:
    url = await fresh_database(server, f"scale_{workers}")
    standin = BotApiStandIn()
    await standin.start()
    ports = [free_port(), free_port()]
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        for n, port in enumerate(ports):
            processes[f"receiver{n}"] = await lotse_process("receive", url, standin, folder / f"receiver{n}",
                                                            free_port(), port)
        for n in range(workers):
            processes[f"worker{n}"] = await lotse_process("work", url, standin, folder / f"worker{n}", free_port())
        standin.webhook_targets = [f"http://127.0.0.1:{port}/hook" for port in ports]
        await wait(lambda: standin.webhook is not None and len(leaders(folder, workers)) == 1, 120)
        await asyncio.sleep(3)  # every process up (a stand-by's start costs CPU too)
        started = time.monotonic()
        chats = [100_000 + n for n in range(people)]
        for step in range(updates):
            person = chats[step % people]
            standin.user_sends(person, SCRIPT[(step // people) % len(SCRIPT)], language_code="de")

        async def all_done() -> bool:
            handled = await count(url, "SELECT count(*) FROM inbox WHERE processed_at IS NOT NULL")
            pending = await count(url, "SELECT count(*) FROM outbox WHERE status = 'pending'")
            return handled >= updates and pending == 0

        await wait(all_done, 1800, every=0.5)
        throughput = updates / (time.monotonic() - started)
        if not takeover:
            return throughput, None, None
        leader = leaders(folder, workers)[0]
        killed = time.monotonic()
        processes[leader].kill()
        await processes[leader].wait()
        await wait(lambda: any("leads now" in (folder / name / "stderr.log").read_text()
                               for name in processes if name.startswith("worker") and name != leader), 60)
        leads_after = time.monotonic() - killed
        newcomer = 999_999
        standin.user_sends(newcomer, "/start", language_code="de")
        await wait(lambda: bool(standin.sent_to(newcomer)), 60)
        answered_after = time.monotonic() - killed
        return throughput, leads_after, answered_after
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.terminate()
        for process in processes.values():
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
        await standin.stop()


async def main(updates: int, people: int) -> None:
    server = PostgresServer.start()
    try:
        print(f"{updates} updates from {people} people; 2 receivers; {os.cpu_count()} cores")
        for workers in (1, 2, 4):
            with tempfile.TemporaryDirectory(prefix="lotse-scale-") as folder:
                throughput, leads, answered = await run(server, workers, updates, people, Path(folder),
                                                        takeover=workers == 2)
            line = (f"{workers} worker(s): {throughput:.1f} updates/s (handled and answered; load average "
                    f"{os.getloadavg()[0]:.1f})")
            if leads is not None and answered is not None:
                line += f"; leader killed -9: a stand-by leads after {leads:.1f}s, a new message answered after " \
                        f"{answered:.1f}s"
            print(line, flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [2000, 500][len(arguments):])))
