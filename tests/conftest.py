"""Fixtures: a Lotse app per test on SQLite or on a real PostgreSQL, and chats that talk to it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from bot.core.config import load_settings
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from storage.database import create_engine, upgrade_database
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.postgres_server import PostgresServer, find_bindir

_databases = itertools.count(1)
T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`-n 2 --dist loadgroup`) every test that talks to Synapse runs on the same worker, so
    one Synapse starts, not one per worker; each worker has its own PostgreSQL server (a session fixture)."""
    for item in items:
        if "synapse" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("synapse"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if find_bindir() is None and not os.environ.get("CI"):
        pytest.skip("PostgreSQL binaries are not installed here (CI installs them)")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


async def fresh_postgres_database(server: PostgresServer, template: str | None = None) -> str:
    name = f"lotse_test_{next(_databases)}"
    connection = await asyncpg.connect(host="127.0.0.1", port=server.port, user="lotse", database="postgres")
    try:
        await connection.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    finally:
        await connection.close()
    return server.database_url(name)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


def _in_own_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to the end in a thread with its own event loop (fixtures may be set up inside one)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to the latest schema; each test gets a copy instead of running every migration."""
    path = tmp_path_factory.mktemp("template") / "lotse.sqlite3"
    _in_own_loop(lambda: _migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A PostgreSQL database migrated once; each test's database is created from it (CREATE DATABASE ... TEMPLATE)."""

    async def make() -> str:
        url = await fresh_postgres_database(postgres)
        await _migrate(url)
        return url.rsplit("/", 1)[1]

    return _in_own_loop(make)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the latest schema, on SQLite or on PostgreSQL (a copy of the migrated template)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "lotse.sqlite3")
        (tmp_path / "lotse.sqlite3").chmod(0o600)
        return f"sqlite+aiosqlite:///{tmp_path / 'lotse.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await fresh_postgres_database(server, template=request.getfixturevalue("postgres_template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, for the tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'blank.sqlite3'}"
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
