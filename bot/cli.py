"""The `lotse` command. Every operator-facing failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot.app import Lotse
from bot.config import Settings, SettingsError, load_settings
from bot.i18n import STAFF_LOCALES, CatalogMissing
from bot.network import NetworkError, load_network
from bot.transports.base import Transport
from bot.transports.console import ConsoleSession, ConsoleTransport
from storage.database import StorageError, create_engine, upgrade_database

OPERATOR_ERRORS: tuple[type[Exception], ...] = (SettingsError, NetworkError, StorageError, CatalogMissing)


def _logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request, with the bot token in its URL
    logging.getLogger("nio").setLevel(logging.ERROR)  # nio warns about every unverified device and key request
    logging.getLogger("peewee").setLevel(logging.WARNING)


def _persona_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-persona"


async def demo(settings: Settings) -> None:
    url = settings.database_url or f"sqlite+aiosqlite:///{settings.data_dir / 'demo.sqlite3'}"
    app = await Lotse.open(settings, database_url=url)
    try:
        console = ConsoleTransport()
        app.add_transport(console)
        await app.ensure_personas()
        await app.drain()  # whatever a crash left in the inbox or outbox is handled first
        personas: dict[str, str] = {p.name: p.role for p in app.network.personas}
        remembered = _persona_file(settings)
        current = remembered.read_text().strip() if remembered.is_file() else ""
        if current not in personas:
            current = next(iter(personas), "guest")
            personas.setdefault(current, "participant")

        async def remember(name: str) -> None:
            remembered.write_text(name)

        async def after_each() -> None:
            from bot.reminders import deliver_due  # the demo has no scheduler: due reminders go out with each line

            await deliver_due(app.sessions, app.dispatcher.clock())
            await app.drain()

        session = ConsoleSession(receive=app.dispatcher.receive, after_each=after_each, personas=personas,
                                 current=current, on_switch=remember)
        await session.run()
    finally:
        await app.close()


async def db_upgrade(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        applied = await upgrade_database(engine)
        logging.getLogger("lotse").info("database: at the latest schema (%d migration(s) applied)", len(applied))
    finally:
        await engine.dispose()


async def run(settings: Settings) -> None:
    if not (settings.telegram_token or settings.matrix_homeserver):
        raise SettingsError("no transport configured: set LOTSE_TELEGRAM_TOKEN or LOTSE_MATRIX_HOMESERVER "
                            "(or try the console with `lotse demo`)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    transports: list[Transport] = []
    try:  # credentials first: wrong ones stop Lotse before it touches the database
        if settings.telegram_token:
            telegram = await _connect_telegram(settings, stop)
            if telegram is None:
                return
            transports.append(telegram)
        if settings.matrix_homeserver:
            matrix = await _connect_matrix(settings, stop)
            if matrix is None:
                return
            transports.append(matrix)
    except BaseException:
        for transport in transports:
            await transport.stop()
        raise
    if stop.is_set():
        for transport in transports:
            await transport.stop()
        return
    app = await Lotse.open(settings)
    try:
        for transport in transports:
            app.add_transport(transport)
            if transport.name == "matrix":
                from bot.transports.matrix import MatrixTransport

                assert isinstance(transport, MatrixTransport)
                await transport.start(app.dispatcher.receive, app.dispatcher.receive_batch)
            else:
                await transport.start(app.dispatcher.receive)
        await app.run_workers(stop)  # also finishes whatever a crash left in the inbox and outbox
    finally:
        await app.close()


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


async def _connect_matrix(settings: Settings, stop: asyncio.Event) -> Transport | None:
    """Logs in (or restores the saved login); an unreachable homeserver is waited out with one line."""
    from bot.transports.matrix import MatrixLoginError, MatrixTransport

    if not settings.matrix_user_id:
        raise SettingsError("setting LOTSE_MATRIX_USER_ID: needed with LOTSE_MATRIX_HOMESERVER "
                            "(e.g. @lotse:example.org)")
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
    from bot.export import export_participants

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    path = output or Path(f"{what}.{file_format}")
    if path.parent and not path.parent.is_dir():
        raise SettingsError(f"--output: the folder {path.parent} does not exist")
    app = await Lotse.open(settings)
    try:
        count = await export_participants(app.sessions, app.network, path, file_format,  # type: ignore[arg-type]
                                          locale=language)
    finally:
        await app.close()
    print(f"exported {count} participant(s) to {path}")


async def invite(settings: Settings, role: str, organisation: str | None, topics: list[str], districts: list[str],
                 language: str, days: int) -> None:
    from flows.invites import create_invite, how_to_join

    app = await Lotse.open(settings)
    try:
        async with app.sessions() as session, session.begin():
            code, made = await create_invite(session, app.network, app.dispatcher.clock(), role, organisation, topics,
                                             districts, locale=language, days=days)
    finally:
        await app.close()
    print(f"invite for a {role}{' of ' + organisation if organisation else ''}, single use, "
          f"valid until {made.expires_at:%Y-%m-%d %H:%M} UTC")
    for line in how_to_join(code, settings.telegram_bot_username):
        print(line)


async def digest(settings: Settings, file_format: str, output: Path | None, language: str, day: str | None,
                 districts: list[str]) -> None:
    from datetime import date

    from bot.digest import Schedule, write_digest

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        raise SettingsError(f"--date: {day!r} is not a date like 2026-11-30") from None
    app = await Lotse.open(settings)
    try:
        unknown = [d for d in districts if d not in app.network.districts]
        if unknown:
            raise SettingsError(f"--districts: unknown district {unknown[0]!r} "
                                f"(known: {', '.join(app.network.districts)})")
        text = await write_digest(app.sessions, app.network, language, chosen or app.dispatcher.clock().date(),
                                  file_format, frozenset(districts) if districts else None,
                                  Schedule.parse(settings.digest_schedule))
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
    from bot.i18n import Translator
    from bot.progress import count_funnel, draw_chart, funnel_text

    if language not in STAFF_LOCALES:
        raise SettingsError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    if chart is not None and (chart.suffix.lower() != ".png" or (chart.parent and not chart.parent.is_dir())):
        raise SettingsError(f"--chart: {chart} must be a .png file in an existing folder")
    app = await Lotse.open(settings)
    try:
        async with app.sessions() as session:
            funnel = await count_funnel(session, app.network)
    finally:
        await app.close()
    t = Translator(language)
    print(funnel_text(t, app.network, funnel))
    if chart is not None:
        draw_chart(t, funnel, chart)
        print(f"chart written to {chart}")


async def import_file(settings: Settings, what: str, path: Path) -> int:
    """Appointments or courses from a CSV file; prints what was imported and each rejected line with its reason."""
    from bot.imports import import_appointments, import_courses

    app = await Lotse.open(settings)
    try:
        importer = import_appointments if what == "appointments" else import_courses
        report = await importer(app.sessions, path, app.dispatcher.clock())
    finally:
        await app.close()
    for line in report.lines(path):
        print(line)
    return 1 if report.rejected else 0


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
    commands.add_parser("demo", help="console chat on a local SQLite file with the example network")
    commands.add_parser("run", help="start every configured transport")
    database = commands.add_parser("db", help="database administration")
    database.add_argument("action", choices=["upgrade"])
    network = commands.add_parser("network", help="check a network file")
    network.add_argument("action", choices=["check"])
    network.add_argument("file", type=Path, nargs="?")
    catalogs = commands.add_parser("catalogs", help="developers: refresh messages.pot and merge it into every .po")
    catalogs.add_argument("action", choices=["update"])
    commands.add_parser("diagrams", help="developers: regenerate docs/flows/*.md from the flow declarations")
    inviting = commands.add_parser("invite", help="a single-use code that makes someone a coordinator or volunteer")
    inviting.add_argument("--role", required=True, choices=["coordinator", "volunteer"])
    inviting.add_argument("--organisation", help="organisation key from the network file")
    inviting.add_argument("--topics", default="all", help="comma-separated topic keys, or all")
    inviting.add_argument("--districts", default="all", help="comma-separated district keys, or all")
    inviting.add_argument("--language", default="de", help="the new person's language: de or en")
    inviting.add_argument("--days", type=int, default=7, help="days until the code expires (1-90)")
    exporting = commands.add_parser("export", help="export data for the network meeting (respects consent)")
    exporting.add_argument("what", choices=["participants"])
    exporting.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    exporting.add_argument("--output", type=Path, help="file to write (default: participants.xlsx or .csv)")
    exporting.add_argument("--language", default="de", help="language of headers and answers: de or en")
    digesting = commands.add_parser("digest", help="the Montagsrunde digest for the meeting's screen or printer")
    digesting.add_argument("--format", choices=["md", "html"], default="md")
    digesting.add_argument("--output", type=Path, help="file to write (default: print it)")
    digesting.add_argument("--language", default="de", help="de or en")
    digesting.add_argument("--date", help="a day of the wanted week, like 2026-11-30 (default: this week)")
    digesting.add_argument("--districts", default="", help="comma-separated district keys (default: all)")
    reporting = commands.add_parser("report", help="progress toward the 75 %% goal: the funnel per cohort")
    reporting.add_argument("--chart", type=Path, help="also draw the funnel into this PNG file")
    reporting.add_argument("--language", default="de", help="de or en")
    importing = commands.add_parser("import", help="appointments or language courses from a CSV file")
    importing.add_argument("what", choices=["appointments", "courses"])
    importing.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    from bot.imports import ImportRefused
    from flows.invites import InviteError

    errors: tuple[type[Exception], ...] = (*OPERATOR_ERRORS, InviteError, ImportRefused)
    try:
        settings = load_settings()
        _logging(settings.log_level)
        if args.command == "demo":
            asyncio.run(demo(settings))
        elif args.command == "run":
            asyncio.run(run(settings))
        elif args.command == "db":
            asyncio.run(db_upgrade(settings))
        elif args.command == "catalogs":
            from bot.catalogs import update

            update()
        elif args.command == "diagrams":
            from flows.diagrams import write_all
            from flows.features import FLOWS

            for path in write_all(FLOWS):
                print(path)
        elif args.command == "invite":
            asyncio.run(invite(settings, args.role, args.organisation, _names(args.topics), _names(args.districts),
                               args.language, args.days))
        elif args.command == "export":
            asyncio.run(export(settings, args.what, args.format, args.output, args.language))
        elif args.command == "digest":
            asyncio.run(digest(settings, args.format, args.output, args.language, args.date,
                               _names(args.districts)))
        elif args.command == "report":
            asyncio.run(report(settings, args.chart, args.language))
        elif args.command == "import":
            return asyncio.run(import_file(settings, args.what, args.file))
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
