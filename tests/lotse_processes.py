"""Lotse processes on loopback for the scale-out simulation and bench: receivers and workers on one PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.telegram_standin import BotApiStandIn

REPOSITORY = Path(__file__).resolve().parent.parent
SECRET = "simulation-secret"
SENDS = ("sendMessage", "editMessageText", "sendDocument", "sendPhoto")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def lotse_process(role: str, url: str, standin: BotApiStandIn, folder: Path, health: int,
                        port: int | None = None, lease: float = 4.0) -> asyncio.subprocess.Process:
    """`lotse run --ROLE` with the stand-in as Telegram; its log in FOLDER/stderr.log."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOTSE_")}
    env.update(LOTSE_DATA_DIR=str(folder), LOTSE_DATABASE_URL=url, LOTSE_TELEGRAM_TOKEN=standin.token,
               LOTSE_TELEGRAM_BASE_URL=standin.base_url, LOTSE_TELEGRAM_WEBHOOK_URL="https://lotse.example/hook",
               LOTSE_TELEGRAM_WEBHOOK_SECRET=SECRET, LOTSE_LOG_LEVEL="INFO", LOTSE_INBOUND_PER_MINUTE="1000",
               LOTSE_OUTBOX_LEASE_SECONDS=str(lease), LOTSE_HEALTH_LISTEN=f"127.0.0.1:{health}")
    if port is not None:
        env["LOTSE_TELEGRAM_WEBHOOK_LISTEN"] = f"127.0.0.1:{port}"
    log = await asyncio.to_thread((folder / "stderr.log").open, "wb")
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", f"--{role}", cwd=REPOSITORY,
                                                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log)


async def count(url: str, query: str) -> int:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


async def until_async(condition: Callable[[], Coroutine[Any, Any, bool]], within: float, what: str,
                      every: float = 0.2) -> None:
    """Asks `condition` every `every` seconds (each ask may open a database connection: a fork on the server, so
    long waits ask less often) until it holds; fails after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(every)
