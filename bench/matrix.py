"""Matrix round trip through a real Synapse on 127.0.0.1: a participant's client sends, and the time until Lotse's
answer arrives back at that client is measured, encrypted and not.

For comparison a bare matrix-nio echo bot (its own sync loop, answers every message at once, no database) runs on
the same Synapse in the same run, measured the same way; the ratio Lotse / echo is the cost of Lotse itself (inbox
and outbox in SQLite, the dispatcher, the flows, the sender). Lotse answers each message with the language picker
(the person never chooses), so every round does the same work.

Usage: python bench/matrix.py [ROUNDS]   (default: 60 per kind, after 5 warm-up rounds)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from nio import AsyncClient, AsyncClientConfig, RoomMessageText

from tests.matrix_people import MatrixPerson
from tests.synapse_server import SynapseServer
from tests.test_matrix import LotseOnMatrix

WARM_UP = 5


async def echo_bot(server: SynapseServer, name: str, store: Path, stop: asyncio.Event) -> None:
    """The least a bot can do: sync, decrypt, answer. Keys handled as nio's sync_forever would."""
    server.register(name)
    store.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    client = AsyncClient(server.url, f"@{name}:localhost", store_path=str(store),
                         config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False))
    await client.login("secret-password")
    await client.sync(timeout=0, full_state=True)
    try:
        while not stop.is_set():
            response = await client.sync(timeout=2000)
            rooms = getattr(response, "rooms", None)
            if rooms is None:
                continue
            await client.send_to_device_messages()
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            for room_id in rooms.invite:
                await client.join(room_id)
            for room_id, info in rooms.join.items():
                for event in info.timeline.events:
                    if isinstance(event, RoomMessageText) and event.sender != client.user_id:
                        await client.room_send(room_id, "m.room.message", {"msgtype": "m.text",
                                                                           "body": "echo: " + event.body},
                                               ignore_unverified_devices=True)
    finally:
        await client.close()


async def rounds(person: MatrixPerson, room: str, count: int) -> list[float]:
    latencies: list[float] = []
    for number in range(count + WARM_UP):
        before = len(person.in_room(room))
        started = time.perf_counter()
        await person.say(room, f"hello {number}")
        await person.until(lambda: len(person.in_room(room)) > before, what="the answer")  # noqa: B023
        answer = person.in_room(room)[before]
        if number >= WARM_UP:
            latencies.append(person.arrival_times[answer.event_id] - started)
        await asyncio.sleep(0.3)  # any second message of the same answer arrives before the next round
    return latencies


def describe(name: str, values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    print(f"{name:<28} n={len(values):>3}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  "
          f"max {ordered[-1] * 1000:6.1f} ms")
    return p50, p95


async def main(count: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    server = SynapseServer.start()
    folder = Path(tempfile.mkdtemp(prefix="lotse-bench-matrix-"))
    stop = asyncio.Event()
    echo = asyncio.create_task(echo_bot(server, "echo", folder / "echo", stop))
    lotse = LotseOnMatrix(server, folder / "lotse", "lotse")
    await lotse.start()
    results: dict[str, tuple[float, float]] = {}
    people: list[MatrixPerson] = []
    try:
        for encrypted in (True, False):
            kind = "encrypted" if encrypted else "unencrypted"
            for bot, user in (("lotse", lotse.user_id), ("echo", "@echo:localhost")):
                person = MatrixPerson(server, f"p{bot}{kind}", folder / f"client-{bot}-{kind}")
                people.append(person)
                await person.login()
                room = await person.open_direct_chat(user, encrypted=encrypted)
                results[f"{bot} {kind}"] = describe(f"{bot} ({kind})", await rounds(person, room, count))
        for kind in ("encrypted", "unencrypted"):
            lotse_p50, lotse_p95 = results[f"lotse {kind}"]
            echo_p50, echo_p95 = results[f"echo {kind}"]
            print(f"ratio Lotse / echo bot, {kind:<11}: p50 {lotse_p50 / echo_p50:4.2f}x  "
                  f"p95 {lotse_p95 / echo_p95:4.2f}x")
    finally:
        for person in people:
            await person.close()
        await lotse.stop()
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(echo, 10)
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
