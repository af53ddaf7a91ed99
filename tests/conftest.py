"""Fixtures: a Lotse app per test on SQLite or on a real PostgreSQL, and chats that talk to it."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.abuse import InboundLimiter
from bot.app import Lotse
from bot.config import load_settings
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.postgres_server import PostgresServer, find_bindir

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if find_bindir() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL binaries are not installed here (CI installs them)")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


async def fresh_postgres_database(server: PostgresServer) -> str:
    name = f"lotse_test_{next(_databases)}"
    connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user="lotse", database="postgres")
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return server.database_url(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'lotse.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await fresh_postgres_database(server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'lotse.sqlite3'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def app(database_url: str, clock: FakeClock, transport: RecordingTransport,
              tmp_path: Path) -> AsyncIterator[Lotse]:
    settings = load_settings(data_dir=tmp_path, idle_minutes=30)
    lotse = await Lotse.open(settings, database_url=database_url, clock=clock)
    lotse.dispatcher.limiter = InboundLimiter(per_minute=100_000)  # scripted people type faster than anyone can
    lotse.add_transport(transport)
    try:
        yield lotse
    finally:
        await lotse.close()


@pytest.fixture
def chat(app: Lotse, transport: RecordingTransport) -> Callable[..., Chat]:
    """`chat("amal")` is amal's phone; `chat("olena", hint="uk-UA")` one whose platform says Ukrainian."""

    def make(handle: str, hint: str | None = None) -> Chat:
        return Chat(app, transport, handle, language_hint=hint)

    return make
