"""The `lotse` command. Every operator-facing failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.core.config import Settings, SettingsError, install_secret_filter, load_settings
from bot.core.i18n import STAFF_LOCALES, CatalogMissing
from bot.core.messages import Incoming
from bot.core.network import NetworkError, load_network
from bot.runtime.app import Lotse
from bot.runtime.health import HealthServer, listen_address
from bot.runtime.transport import Transport
from bot.transports.console import NAME as CONSOLE
from bot.transports.console import PERSONA_NAME, ConsoleSession, ConsoleTransport
from storage.database import StorageError, create_engine
from storage.models import Handle, Person
from storage.schema import upgrade_locked

OPERATOR_ERRORS: tuple[type[Exception], ...] = (SettingsError, NetworkError, StorageError, CatalogMissing)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _logging(level: str, log_file: Path | None = None) -> None:
    """Log lines go to stderr; for the demo to `log_file`, with only errors on stderr, apart from the chat."""
    if log_file is None:
        logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT)
    else:
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(logging.Formatter(LOG_FORMAT))
        on_screen = logging.StreamHandler(sys.stderr)
        on_screen.setLevel(logging.ERROR)
        on_screen.setFormatter(logging.Formatter("!! lotse error (%(name)s): %(message)s"))
        logging.basicConfig(level=level, handlers=[to_file, on_screen])
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request, with the bot token in its URL
    logging.getLogger("nio").setLevel(logging.ERROR)  # nio warns about every unverified device and key request
    logging.getLogger("peewee").setLevel(logging.WARNING)


def _persona_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-persona"


def demo_log_file(settings: Settings) -> Path:
    """The demo's log (owner-only: log lines may name people), so that the chat on the terminal stays readable."""
    path = settings.data_dir / "demo.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
    except OSError as error:
        raise SettingsError(f"setting LOTSE_DATA_DIR: cannot write the demo's log {path}: {error.strerror}") from None
    return path


def demo_database_url(settings: Settings) -> str:
    """The database `lotse demo` uses, and the other tools with `--demo`."""
    return settings.database_url or f"sqlite+aiosqlite:///{settings.data_dir / 'demo.sqlite3'}"


def describe_database(url: str) -> str:
    """A SQLite file's path, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def announce_database(settings: Settings) -> None:
    """One line on stderr naming the database a tool uses; a hint at `--demo` when only the demo has data."""
    url = settings.resolved_database_url
    line = f"lotse: using the database {describe_database(url)}"
    if settings.database_url is None:
        default = settings.data_dir / "lotse.sqlite3"
        demo_file = settings.data_dir / "demo.sqlite3"
        if demo_file.exists() and not _has_people(default):
            state = "has nobody in it yet" if default.exists() else "does not exist yet"
            line += f", which {state}; the demo's database {demo_file} does: add --demo to use it"
    print(line, file=sys.stderr, flush=True)


def _has_people(path: Path) -> bool:
    """Whether a SQLite file holds anyone (read-only; a missing file, table or unreadable file holds nobody)."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as connection:
            return bool(connection.execute("SELECT EXISTS (SELECT 1 FROM persons)").fetchone()[0])
    except sqlite3.Error:
        return False


async def _open(settings: Settings) -> Lotse:
    announce_database(settings)
    return await Lotse.open(settings, upgrade=False)  # only `db upgrade` and `run` migrate


async def console_personas(app: Lotse) -> dict[str, str]:
    """Every persona with its role, from the database (the truth across restarts).

    Someone who first typed under a new name (`/as jobc`) gets that name as their persona here, so that
    after `/start CODE` and a restart they are still there, as the coordinator they became."""
    async with app.sessions() as session, session.begin():
        taken = set((await session.scalars(select(Person.persona).where(Person.persona.is_not(None)))).all())
        unnamed = (await session.execute(
            select(Person, Handle.platform_id).join(Handle, Handle.person_id == Person.id)
            .where(Handle.transport == CONSOLE, Person.persona.is_(None)))).all()
        for person, name in unnamed:
            if name not in taken and PERSONA_NAME.match(name):
                person.persona = name
                taken.add(name)
        await session.flush()
        rows = (await session.execute(select(Person.persona, Person.role).where(Person.persona.is_not(None))
                                      .order_by(Person.id))).all()
    return {str(name): role for name, role in rows}


async def demo(settings: Settings, log_file: Path) -> None:
    url = demo_database_url(settings)
    app = await Lotse.open(settings, database_url=url)
    try:
        console = ConsoleTransport()
        app.add_transport(console)
        await app.ensure_personas()
        await app.drain()  # whatever a crash left in the inbox or outbox is handled first
        personas = await console_personas(app)
        remembered = _persona_file(settings)
        current = remembered.read_text().strip() if remembered.is_file() else ""
        if current not in personas:
            current = next(iter(personas), "guest")
            personas.setdefault(current, "participant")

        async def remember(name: str) -> None:
            remembered.write_text(name)

        async def late_translations() -> None:
            """A translation the engine was too slow for: asked again with every line (the demo has no background
            loop), and printed as soon as it arrives."""
            from flows.mediation import retry_translations

            await retry_translations(app.sessions, app.dispatcher.clock(), early=True, network=app.network)

        async def after_each() -> None:
            from bot.services.reminders import (
                deliver_due,  # the demo has no scheduler: due reminders go out with each line
            )

            await deliver_due(app.sessions, app.dispatcher.clock())
            await late_translations()
            await app.drain()
            fresh = await console_personas(app)  # a new persona, a role an invite code gave, or one deleted
            for name in [name for name in personas if name not in fresh]:
                del personas[name]
            personas.update(fresh)

        session = ConsoleSession(receive=app.dispatcher.receive, after_each=after_each, personas=personas,
                                 current=current, on_switch=remember)
        session.note(f"Database: {describe_database(url)}. Log: {log_file} (errors are also shown here).")
        await session.run()
    finally:
        await app.close()


async def db_upgrade(settings: Settings) -> None:
    announce_database(settings)
    engine = create_engine(settings.resolved_database_url)
    try:
        applied = await upgrade_locked(engine)
        logging.getLogger("lotse").info("database: at the latest schema (%d migration(s) applied)", len(applied))
    finally:
        await engine.dispose()


async def _upgrade_quietly(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_locked(engine)
    finally:
        await engine.dispose()


ROLES = ("all", "work", "receive")


async def run(settings: Settings, role: str = "all") -> None:
    """`lotse run`: everything in one process; `--work`: a worker (one leads, the others stand by);
    `--receive`: a Telegram webhook receiver that only stores updates (PostgreSQL only, any number)."""
    if not (settings.telegram_token or settings.matrix_homeserver):
        raise SettingsError("no transport configured: set LOTSE_TELEGRAM_TOKEN or LOTSE_MATRIX_HOMESERVER "
                            "(or try the console with `lotse demo`)")
    postgres = make_url(settings.resolved_database_url).get_backend_name() == "postgresql"
    if role != "all" and not postgres:
        raise SettingsError(f"lotse run --{role}: several processes share a PostgreSQL database (set "
                            "LOTSE_DATABASE_URL); with SQLite, run `lotse run` alone")
    if role == "receive" and not (settings.telegram_token and settings.telegram_webhook_url):
        raise SettingsError("lotse run --receive: receives Telegram's webhook; set LOTSE_TELEGRAM_TOKEN and "
                            "LOTSE_TELEGRAM_WEBHOOK_URL")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    transports: list[Transport] = []
    exclusive: list[Any] = []
    try:  # credentials first: wrong ones stop Lotse before it touches the database
        if settings.telegram_token:
            telegram = await _connect_telegram(settings, stop)
            if telegram is None:
                return
            transports.append(telegram)
        if settings.matrix_homeserver and role == "all":
            exclusive.append(await _matrix_store_lock(settings))
            matrix = await _connect_matrix(settings, stop)
            if matrix is None:
                return
            transports.append(matrix)
        elif settings.matrix_homeserver and role == "work" and not settings.matrix_user_id:
            raise SettingsError(MATRIX_USER_ID_MISSING)  # a worker logs in when it leads; settings are checked now
    except BaseException:
        for transport in transports:
            await transport.stop()
        for lock in exclusive:
            await lock.release()
        raise
    if stop.is_set():
        for transport in transports:
            await transport.stop()
        return
    app = await Lotse.open(settings)
    health = None
    listen = listen_address(settings.health_listen, postgres)
    try:
        if listen is not None:
            health = HealthServer(app.engine, app.sessions, app.metrics, role, lambda: app.leading,
                                  lambda: (app.watchdog.last, app.watchdog.worst), app.dispatcher.clock)
            await health.start(listen)
        if role == "receive":
            await _receive_only(app, transports, stop)
        else:
            await _work(app, transports, stop, receiving_here=role == "all", postgres=postgres,
                        exclusive=exclusive)
    finally:
        if health is not None:
            await health.stop()
        for lock in exclusive:
            await lock.release()
        await app.close()


async def _receive_only(app: Lotse, transports: list[Transport], stop: asyncio.Event) -> None:
    from bot.transports.telegram import TelegramTransport

    for transport in transports:
        assert isinstance(transport, TelegramTransport)
        app.transports[transport.name] = transport  # closed with the app; never sends
        await transport.start(app.store_only)
    logging.getLogger("lotse").info("receiver: storing Telegram updates for the workers")
    watchdog = asyncio.create_task(app.watchdog.run(stop), name="watchdog")
    await stop.wait()
    await watchdog


async def _work(app: Lotse, transports: list[Transport], stop: asyncio.Event, receiving_here: bool,
                postgres: bool, exclusive: list[Any]) -> None:
    """The worker: the leader handles, sends and schedules; a stand-by waits for the lock. Telegram polling
    and Matrix sync run only in the leader; a webhook (with plain `lotse run`) receives in every process."""
    from bot.runtime.leadership import Leadership, TermFence, lock_for
    from bot.transports.matrix import MatrixTransport
    from bot.transports.telegram import TelegramTransport

    url = app.engine.url.render_as_string(hide_password=False)
    fence = TermFence(app.engine, app.sessions) if postgres else None  # a stale leader's transactions fail
    leadership = Leadership(lock_for(url, app.settings.data_dir, on_inbox=app.dispatcher.wakeup.set), fence=fence)
    if postgres:
        app.sender.owner = leadership.name  # every row is claimed before it goes
        app.sender.lease = timedelta(seconds=app.settings.outbox_lease_seconds)
    if any(isinstance(transport, MatrixTransport) for transport in transports) and postgres:
        exclusive.append(await _matrix_database_lock(url))

    async def receive(incoming: Incoming) -> bool:
        return await (app.dispatcher.receive(incoming) if leadership.leading else app.store_only(incoming))

    webhook = False
    for transport in transports:
        app.add_transport(transport)
        if isinstance(transport, TelegramTransport):
            webhook = transport.mode == "webhook"
            await transport.start(receive, None, receiving=webhook and receiving_here)
    matrix_started = False

    async def lead(term: asyncio.Event) -> None:
        nonlocal matrix_started
        # --- leadership hook: a worker runs Matrix only while it leads (one device, one encryption store) ---
        matrix_locks: list[Any] = []
        if app.settings.matrix_homeserver and not receiving_here:
            taken = await _matrix_for_this_term(app.settings, url if postgres else None, term)
            if taken is None:
                return
            matrix, matrix_locks = taken
        try:
            if matrix_locks:
                app.add_transport(matrix)
                await matrix.start(app.dispatcher.receive, app.dispatcher.receive_batch)
            await _lead_term(term)
        finally:
            if matrix_locks:  # the term is over: the next leader's Matrix starts where this one's sync stopped
                with contextlib.suppress(Exception):
                    await matrix.stop()
                for lock in matrix_locks:
                    await lock.release()

    async def _lead_term(term: asyncio.Event) -> None:
        nonlocal matrix_started
        app.leading = True
        for transport in transports:
            if isinstance(transport, TelegramTransport) and not webhook:
                await transport.start_polling()
            elif isinstance(transport, MatrixTransport) and not matrix_started:
                await transport.start(app.dispatcher.receive, app.dispatcher.receive_batch)
                matrix_started = True
        try:
            await app.run_workers(term)  # also finishes whatever a crash left in the inbox and outbox
        finally:
            app.leading = False
            for transport in transports:
                if isinstance(transport, TelegramTransport):
                    await transport.stop_polling()

    await leadership.run(stop, lead)


async def _connect_telegram(settings: Settings, stop: asyncio.Event) -> Transport | None:
    from telegram.error import InvalidToken

    from bot.transports.telegram import TelegramTransport

    assert settings.telegram_token is not None
    webhook_host, webhook_port = settings.telegram_webhook_address
    telegram = TelegramTransport(settings.telegram_token, base_url=settings.telegram_base_url,
                                 webhook_url=settings.telegram_webhook_url,
                                 webhook_secret=settings.telegram_webhook_secret, webhook_host=webhook_host,
                                 webhook_port=webhook_port)
    try:
        if not await _unless_stopped(telegram.connect(), stop):
            await telegram.stop()
            return None
    except InvalidToken as error:
        await telegram.stop()
        raise SettingsError("setting LOTSE_TELEGRAM_TOKEN: Telegram does not accept this token") from error
    return telegram


MATRIX_LOCK = 0x4C6F_7473_0003
"""The advisory lock of the one process that runs the Matrix transport (PostgreSQL)."""


MATRIX_HANDOVER_SECONDS = 20.0
"""A new leader waits this long for the old one to give the Matrix store up (a stale leader stops its term within
its check plus its wind-down); a process that still holds it after that is another one: refused."""
MATRIX_USER_ID_MISSING = "setting LOTSE_MATRIX_USER_ID: needed with LOTSE_MATRIX_HOMESERVER (e.g. @lotse:example.org)"


async def _matrix_database_lock(url: str) -> Any:
    """On PostgreSQL, one process of the deployment runs Matrix: a second is refused with one line."""
    from bot.runtime.leadership import PostgresLock

    lock = PostgresLock(url, key=MATRIX_LOCK)
    if not await lock.try_acquire():
        await lock.release()
        raise SettingsError("matrix: another Lotse process already runs the Matrix transport on this database "
                            "(one device, one encryption store): configure Matrix on one process only")
    return lock


async def _matrix_for_this_term(settings: Settings, url: str | None,
                                term: asyncio.Event) -> tuple[Any, list[Any]] | None:
    """A worker that became the leader takes the Matrix store (and on PostgreSQL the deployment's Matrix lock),
    logs in or restores its login, and returns the transport to start; None when the term ended meanwhile.

    The old leader may still be giving them up: waited for up to MATRIX_HANDOVER_SECONDS, then refused with the
    one line that names the holder (the process ends; another worker takes over)."""
    deadline = asyncio.get_running_loop().time() + MATRIX_HANDOVER_SECONDS
    while True:
        locks: list[Any] = []
        try:
            locks.append(await _matrix_store_lock(settings))
            if url is not None:
                locks.append(await _matrix_database_lock(url))
            break
        except SettingsError:
            for lock in locks:
                await lock.release()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.wait([asyncio.ensure_future(term.wait())], timeout=0.5)
            if term.is_set():
                return None
    try:
        matrix = await _connect_matrix(settings, term)
    except BaseException:
        for lock in locks:
            await lock.release()
        raise
    if matrix is None:
        for lock in locks:
            await lock.release()
        return None
    logging.getLogger("lotse").info("matrix: this process runs the Matrix transport while it leads")
    return matrix, locks


async def _matrix_store_lock(settings: Settings) -> Any:
    """One process per Matrix store (one device, one encryption store): a second is refused with one line."""
    from bot.runtime.leadership import FileLock
    from storage.database import private_directory

    store = private_directory(settings.resolved_matrix_store_dir)
    lock = FileLock(store / "lotse.lock")
    if not await lock.try_acquire():
        holder = (store / "lotse.lock").read_text().strip() or "?"
        await lock.release()
        raise SettingsError(f"matrix: the store {store} is in use by another Lotse process (pid {holder}); "
                            "one process runs the Matrix transport")
    return lock


async def _connect_matrix(settings: Settings, stop: asyncio.Event) -> Transport | None:
    """Logs in (or restores the saved login); an unreachable homeserver is waited out with one line."""
    from bot.transports.matrix import MatrixLoginError, MatrixTransport

    if not settings.matrix_user_id:
        raise SettingsError(MATRIX_USER_ID_MISSING)
    network = load_network(settings.network_file)
    rooms = [rule.room.partition(":")[2] for rule in network.responsibilities
             if rule.room is not None and rule.room.startswith("matrix:")]
    matrix = MatrixTransport(settings.matrix_homeserver or "", settings.matrix_user_id,
                             settings.resolved_matrix_store_dir, password=settings.matrix_password,
                             access_token=settings.matrix_access_token, group_rooms=rooms,
                             allowed_servers=settings.matrix_allowed_servers)
    try:
        if not await _unless_stopped(matrix.connect(), stop):
            await matrix.stop()
            return None
    except MatrixLoginError as error:
        await matrix.stop()
        raise SettingsError(str(error)) from None
    return matrix


async def export(settings: Settings, what: str, file_format: str, output: Path | None, language: str) -> None:
    from bot.jobs.export import export_participants, export_places

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    path = output or Path(f"{what}.{file_format}")
    if path.parent and not path.parent.is_dir():
        raise SettingsError(f"--output: the folder {path.parent} does not exist")
    app = await _open(settings)
    try:
        exporter = export_places if what == "places" else export_participants
        count = await exporter(app.sessions, app.network, path, file_format,  # type: ignore[arg-type]
                               locale=language)
    finally:
        await app.close()
    print(f"exported {count} {'place' if what == 'places' else 'participant'}(s) to {path}")


async def invite(settings: Settings, role: str, organisation: str | None, topics: list[str], districts: list[str],
                 language: str, days: int, force: bool = False) -> None:
    from flows.invites import create_invite, how_to_join

    app = await _open(settings)
    try:
        async with app.sessions() as session, session.begin():
            code, made = await create_invite(session, app.network, app.dispatcher.clock(), role, organisation, topics,
                                             districts, locale=language, days=days, force=force)
    finally:
        await app.close()
    print(f"invite for a {role}{' of ' + organisation if organisation else ''}, single use, "
          f"valid until {made.expires_at:%Y-%m-%d %H:%M} UTC")
    for line in how_to_join(code, settings.telegram_bot_username):
        print(line)


async def digest(settings: Settings, file_format: str, output: Path | None, language: str, day: str | None,
                 districts: list[str]) -> None:
    from datetime import date

    from bot.core.schedule import Schedule
    from bot.jobs.digest import write_digest

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        raise SettingsError(f"--date: {day!r} is not a date like 2026-11-30") from None
    app = await _open(settings)
    try:
        unknown = [d for d in districts if d not in app.network.districts]
        if unknown:
            raise SettingsError(f"--districts: unknown district {unknown[0]!r} "
                                f"(known: {', '.join(app.network.districts)})")
        schedule = Schedule.parse(settings.digest_schedule)
        text = await write_digest(app.sessions, app.network, language,
                                  chosen or schedule.next_meeting(app.dispatcher.clock()), file_format,
                                  frozenset(districts) if districts else None, schedule)
    finally:
        await app.close()
    if output is None:
        sys.stdout.write(text)
        return
    if output.parent and not output.parent.is_dir():
        raise SettingsError(f"--output: the folder {output.parent} does not exist")
    await asyncio.to_thread(output.write_text, text, encoding="utf-8")
    print(f"digest written to {output}")


async def report(settings: Settings, chart: Path | None, language: str) -> None:
    from bot.core.i18n import Translator
    from bot.services.placement_reports import placement_counts, report_lines
    from bot.services.progress import count_funnel, draw_chart, funnel_text

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    if chart is not None and (chart.suffix.lower() != ".png" or (chart.parent and not chart.parent.is_dir())):
        raise SettingsError(f"--chart: {chart} must be a .png file in an existing folder")
    app = await _open(settings)
    try:
        async with app.sessions() as session:
            funnel = await count_funnel(session, app.network)
            t = Translator(language)
            placements = await report_lines(session, t, app.network)
            companies = await placement_counts(session, "company")
            districts = await placement_counts(session, "district")
    finally:
        await app.close()
    print(funnel_text(t, app.network, funnel))
    for line in placements:
        print(line)
    if chart is not None:
        draw_chart(t, funnel, chart, companies, app.network, districts)
        print(f"chart written to {chart}")


async def import_participants_file(settings: Settings, path: Path, organisation: str | None, dry_run: bool) -> int:
    """An organisation's participant list: matched against Lotse's people, bad lines refuse the whole file."""
    from bot.jobs.imports import (
        PARTICIPANT_COLUMNS,
        PARTICIPANT_REQUIRED,
        ImportRefused,
        import_participants,
        read_rows,
    )

    if not organisation:
        raise ImportRefused("import participants: name the organisation whose list this is: --organisation ORG")
    await asyncio.to_thread(read_rows, path, PARTICIPANT_COLUMNS, PARTICIPANT_REQUIRED)
    app = await _open(settings)
    try:
        report = await import_participants(app.sessions, path, app.dispatcher.clock(), app.network, organisation,
                                           dry_run=dry_run)
    finally:
        await app.close()
    for line in report.lines(path):
        print(line)
    return 1 if report.rejected else 0


async def import_file(settings: Settings, what: str, path: Path) -> int:
    """Appointments or courses from a CSV file; prints what was imported and each rejected line with its reason."""
    from bot.jobs.imports import (
        APPOINTMENT_COLUMNS,
        APPOINTMENT_REQUIRED,
        COURSE_COLUMNS,
        COURSE_REQUIRED,
        import_appointments,
        import_courses,
        read_rows,
    )
    from bot.jobs.placements import PLACE_COLUMNS, PLACE_REQUIRED, import_places

    if what == "appointments":  # a file that cannot be used is refused before the database is opened
        await asyncio.to_thread(read_rows, path, APPOINTMENT_COLUMNS, APPOINTMENT_REQUIRED)
    elif what == "places":
        await asyncio.to_thread(read_rows, path, PLACE_COLUMNS, PLACE_REQUIRED)
    else:
        await asyncio.to_thread(read_rows, path, COURSE_COLUMNS, COURSE_REQUIRED)
    app = await _open(settings)
    try:
        if what == "places":
            report = await import_places(app.sessions, path, app.dispatcher.clock(), app.network)
        else:
            importer = import_appointments if what == "appointments" else import_courses
            report = await importer(app.sessions, path, app.dispatcher.clock())
    finally:
        await app.close()
    for line in report.lines(path):
        print(line)
    return 1 if report.rejected else 0


# ---------------------------------------------------------------------------------------------------------------
# Privacy and operator safety: forget, audit, retention, backup, restore (docs/privacy.md)


async def forget(settings: Settings, person_id: int | None, telegram: str | None, matrix: str | None,
                 phone: str | None, confirmed: bool) -> None:
    """Carries out a deletion request received another way (letter, e-mail, in person), like `/delete`."""
    from bot.core.notify import enqueue
    from bot.services.privacy import erase, find_subject, release_partners, tell_staff_of_erasure
    from storage.database import compact_after_erasure

    transport, platform_id = ("telegram", telegram) if telegram else ("matrix", matrix) if matrix else (None, None)
    app = await _open(settings)
    try:
        async with app.sessions() as session, session.begin():
            found = await find_subject(session, person_id=person_id, transport=transport, platform_id=platform_id,
                                       phone=phone)
            if not found:
                raise SettingsError("forget: nobody matches; nothing was deleted")
            if len(found) > 1:
                raise SettingsError(f"forget: {len(found)} people match; name one with --person")
            person = found[0]
            if not confirmed:
                print(f"would delete person no. {person.id} ({person.role}); run again with --yes to delete")
                return
            now = app.dispatcher.clock()
            partners = await release_partners(session, person.id, now, "erased")  # company, volunteer
            erasure = await erase(session, person, now, "request", app.network)
            enqueue(session, await tell_staff_of_erasure(session, erasure.staff_to_tell, person.id, "request"), now)
            enqueue(session, partners, now)
        await compact_after_erasure(app.sessions)
    finally:
        await app.close()
    print(f"deleted person no. {erasure.person_id} ({erasure.role}); {erasure.blanked} value(s) naming them "
          f"blanked elsewhere; {len(erasure.staff_to_tell)} staff member(s) will be told by Lotse")


async def audit(settings: Settings, person_id: int | None, actor_id: int | None, days: int, limit: int) -> None:
    """Who did what with whose data: newest first, one line each."""
    from datetime import timedelta

    from sqlalchemy import or_, select

    from storage.models import AuditEntry, Person

    app = await _open(settings)
    try:
        async with app.sessions() as session:
            query = select(AuditEntry).where(AuditEntry.at >= app.dispatcher.clock() - timedelta(days=days))
            if person_id is not None:
                query = query.where(or_(AuditEntry.subject_id == person_id, AuditEntry.actor_id == person_id))
            if actor_id is not None:
                query = query.where(AuditEntry.actor_id == actor_id)
            entries = (await session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                             .limit(limit))).all()
            ids = {i for e in entries for i in (e.actor_id, e.subject_id) if i is not None}
            people = {p.id: p for p in (await session.scalars(select(Person).where(Person.id.in_(ids)))).all()}
    finally:
        await app.close()

    def who(person_id: int | None) -> str:
        if person_id is None:
            return "lotse"
        person = people.get(person_id)
        if person is None:
            return f"no. {person_id}"
        place = f" of {person.organisation}" if person.organisation else ""
        return f"no. {person_id} ({person.role}{place})"

    for entry in entries:
        subject = f" -> {who(entry.subject_id)}" if entry.subject_id is not None else ""
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""
        print(f"{entry.at:%Y-%m-%d %H:%M} UTC  {who(entry.actor_id)}{subject}  {entry.action}  {details}".rstrip())
    if not entries:
        print(f"no audit entries in the last {days} day(s) for this selection")


async def retention_now(settings: Settings) -> None:
    from bot.jobs.retention import RetentionPolicy, apply_retention

    app = await _open(settings)
    try:
        report = await apply_retention(app.sessions, app.network, RetentionPolicy.from_settings(settings, app.network),
                                       app.dispatcher.clock())
    finally:
        await app.close()
    print(report.line())


async def backup_or_restore(settings: Settings, action: str, path: Path, confirmed: bool) -> None:
    from storage.backup import backup, restore

    url = settings.resolved_database_url
    if action == "backup":
        announce_database(settings)
        print(await asyncio.to_thread(backup, url, path))
        return
    if not confirmed:
        raise SettingsError(f"restore: this replaces everything in the database {describe_database(url)}; "
                            "stop Lotse, then add --yes")
    print(await asyncio.to_thread(restore, url, path))
    announce_database(settings)  # after the restore, so that a refused file stays one line
    await _upgrade_quietly(url)  # a backup from an older Lotse is brought to the current schema


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Runs `work` until it is done (True, or its exception) or `stop` is set first (False: cancelled)."""
    working = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not working.done():
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
        return False
    working.result()
    return True


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PTB_TIMEDELTA", "true")  # python-telegram-bot 22: timedeltas, no deprecation noise
    parser = argparse.ArgumentParser(prog="lotse", description="Lotse: the integration network's chat assistant")
    commands = parser.add_subparsers(dest="command", required=True)
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--demo", action="store_true", dest="use_demo",
                       help="use the demo's database (the one `lotse demo` uses) instead of lotse.sqlite3")
    tool = functools.partial(commands.add_parser, parents=[which])  # a command that uses the database
    commands.add_parser("demo", help="console chat on a local SQLite file with the example network")
    running = commands.add_parser("run", help="start every configured transport")
    role = running.add_mutually_exclusive_group()
    role.add_argument("--work", action="store_const", const="work", dest="role",
                      help="a worker on PostgreSQL: one leads (handles, sends, schedules), the others stand by")
    role.add_argument("--receive", action="store_const", const="receive", dest="role",
                      help="a Telegram webhook receiver on PostgreSQL: stores updates and answers 200")
    database = tool("db", help="database administration")
    database.add_argument("action", choices=["upgrade"])
    network = commands.add_parser("network", help="check a network file")
    network.add_argument("action", choices=["check"])
    network.add_argument("file", type=Path, nargs="?")
    catalogs = commands.add_parser("catalogs", help="catalogs: update, native-speaker review sheets, review status")
    from bot.catalogs import add_arguments as catalog_arguments

    catalog_arguments(catalogs)
    commands.add_parser("diagrams", help="developers: regenerate docs/flows/*.md from the flow declarations")
    inviting = tool("invite", help="a single-use code that makes someone a coordinator, volunteer or company contact")
    inviting.add_argument("--role", required=True, choices=["coordinator", "volunteer", "company"])
    inviting.add_argument("--organisation", help="organisation key from the network file")
    inviting.add_argument("--topics", default="all", help="comma-separated topic keys, or all")
    inviting.add_argument("--districts", default="all", help="comma-separated district keys, or all")
    inviting.add_argument("--language", default="de", help="the new person's language: de or en")
    inviting.add_argument("--days", type=int, default=7, help="days until the code expires (1-90)")
    inviting.add_argument("--force", action="store_true",
                          help="invite even for districts the organisation does not cover")
    exporting = tool("export", help="export data for the network meeting (respects consent)")
    exporting.add_argument("what", choices=["participants", "places"])
    exporting.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    exporting.add_argument("--output", type=Path, help="file to write (default: WHAT.xlsx or .csv)")
    exporting.add_argument("--language", default="de", help="language of headers and answers: de or en")
    digesting = tool("digest", help="the Montagsrunde digest for the meeting's screen or printer")
    digesting.add_argument("--format", choices=["md", "html"], default="md")
    digesting.add_argument("--output", type=Path, help="file to write (default: print it)")
    digesting.add_argument("--language", default="de", help="de or en")
    digesting.add_argument("--date", help="a day of the wanted week, like 2026-11-30 "
                           "(default: the coming Montagsrunde; today if it is today)")
    digesting.add_argument("--districts", default="", help="comma-separated district keys (default: all)")
    reporting = tool("report", help="progress toward the 75 %% goal: the funnel per cohort; places, proposals, "
                     "matches, starts, contracts and drop-out warnings per company, district and cohort")
    reporting.add_argument("--chart", type=Path, help="also draw the funnel into this PNG file")
    reporting.add_argument("--language", default="de", help="de or en")
    importing = tool("import", help="appointments, language courses, places or participants from a CSV file")
    importing.add_argument("what", choices=["appointments", "courses", "places", "participants"])
    importing.add_argument("file", type=Path, help="CSV (participants: also XLSX)")
    importing.add_argument("--organisation", help="participants: the organisation whose list this is")
    importing.add_argument("--dry-run", action="store_true", help="participants: only print what would happen")
    forgetting = tool("forget", help="delete everything about one person (a request received "
                                                    "another way); staff who had the case are told")
    who = forgetting.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", type=int, help="the person's number (as staff see it: no. 12)")
    who.add_argument("--telegram", help="the Telegram user id")
    who.add_argument("--matrix", help="the Matrix user id, e.g. @amal:example.org")
    who.add_argument("--phone", help="the phone number from the profile, in E.164 (+4915123456789)")
    forgetting.add_argument("--yes", action="store_true", help="really delete (without it: only say who matches)")
    auditing = tool("audit", help="show the audit log: who looked at or changed whose data")
    auditing.add_argument("--person", type=int, help="entries about or by this person number")
    auditing.add_argument("--actor", type=int, help="entries by this staff member's number")
    auditing.add_argument("--days", type=int, default=30, help="how far back (default 30)")
    auditing.add_argument("--limit", type=int, default=500, help="at most this many lines (default 500)")
    tool("retention", help="apply the retention limits now (Lotse also does it daily)")
    backing = tool("backup", help="write a backup of the database to FILE (owner-only)")
    backing.add_argument("file", type=Path)
    restoring = tool("restore", help="replace the database with the backup in FILE")
    restoring.add_argument("file", type=Path)
    restoring.add_argument("--yes", action="store_true", help="really replace (stop Lotse first)")
    args = parser.parse_args(argv)
    from bot.jobs.imports import ImportRefused
    from flows.invites import InviteError

    errors: tuple[type[Exception], ...] = (*OPERATOR_ERRORS, InviteError, ImportRefused)
    try:
        settings = load_settings()
        # The demo, and a tool run on the demo's database (`lotse invite --demo`), log to the demo's log: a newcomer
        # making an invite sees the code, not twenty lines of migrations.
        log_file = demo_log_file(settings) if args.command == "demo" or getattr(args, "use_demo", False) else None
        _logging(settings.log_level, log_file)
        install_secret_filter(settings)
        if getattr(args, "use_demo", False):
            settings = settings.model_copy(update={"database_url": demo_database_url(settings)})
        if args.command == "demo":
            assert log_file is not None
            asyncio.run(demo(settings, log_file))
        elif args.command == "run":
            asyncio.run(run(settings, args.role or "all"))
        elif args.command == "db":
            asyncio.run(db_upgrade(settings))
        elif args.command == "catalogs":
            from bot.catalogs import run as run_catalogs

            run_catalogs(args)
        elif args.command == "diagrams":
            from flows.diagrams import write_all
            from flows.features import FLOWS

            for path in write_all(FLOWS):
                print(path)
        elif args.command == "invite":
            asyncio.run(invite(settings, args.role, args.organisation, _names(args.topics), _names(args.districts),
                               args.language, args.days, args.force))
        elif args.command == "export":
            asyncio.run(export(settings, args.what, args.format, args.output, args.language))
        elif args.command == "digest":
            asyncio.run(digest(settings, args.format, args.output, args.language, args.date,
                               _names(args.districts)))
        elif args.command == "report":
            asyncio.run(report(settings, args.chart, args.language))
        elif args.command == "import" and args.what == "participants":
            return asyncio.run(import_participants_file(settings, args.file, args.organisation, args.dry_run))
        elif args.command == "import":
            return asyncio.run(import_file(settings, args.what, args.file))
        elif args.command == "forget":
            asyncio.run(forget(settings, args.person, args.telegram, args.matrix, args.phone, args.yes))
        elif args.command == "audit":
            asyncio.run(audit(settings, args.person, args.actor, args.days, args.limit))
        elif args.command == "retention":
            asyncio.run(retention_now(settings))
        elif args.command in ("backup", "restore"):
            asyncio.run(backup_or_restore(settings, args.command, args.file, getattr(args, "yes", False)))
        elif args.command == "network":
            loaded = load_network(args.file or settings.network_file)
            print(f"network {loaded.name!r}: {len(loaded.districts)} districts, {len(loaded.topics)} topics, "
                  f"{len(loaded.organisations)} organisations, {len(loaded.responsibilities)} rules: valid")
    except errors as error:
        print(f"lotse: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
