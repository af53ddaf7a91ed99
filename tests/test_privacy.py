"""Privacy: deletion leaves no trace, a copy of one's data, consent versions, roles x commands, floods, retention."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core import access
from bot.core.config import RedactSecrets, load_settings
from bot.core.messages import Attachment, Delivery, Incoming, Outgoing
from bot.jobs.retention import RetentionPolicy, apply_retention
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from bot.services.privacy import TABLE_RULES
from flows import onboarding
from flows.registry import COMMANDS, FEATURE_COMMANDS
from storage.backup import backup, restore
from storage.database import private_directory
from storage.models import AnonymousCount, Base, Consent, Handle, InboxEntry, Person, Ticket, TicketMessage
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_questions import coordinator, participant
from tests.test_reminders import book, local, send_due


class CopyingTransport(RecordingTransport):
    """Also keeps the content of files sent, which the sender removes once delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if message.document_path:
            self.files[message.document_path] = Path(message.document_path).read_bytes()  # noqa: ASYNC240
        return await super().send(message, edit_platform_id)


@pytest.fixture
def transport() -> RecordingTransport:
    return CopyingTransport()


QUESTION = "Zaytouna bakery sent me a letter about my contract"
FOLLOW_UP = "The Zaytouna letter has a deadline"
TRACES = ["Amal", "+4915123456789", "Zaytouna", "Welder in Aleppo", "Bicycle repair"]


async def full_story(app: Lotse, chat: Callable[..., Chat]) -> tuple[Chat, Chat]:
    """Amal registers, asks, gets an answer; Anna (a coordinator) takes the question and opens her case."""
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send(QUESTION)
    await amal.send(FOLLOW_UP)
    await amal.send_file("photo")
    await anna.click("Take it")
    await anna.send("/reply 1 Hello Amal, please bring the Zaytouna letter on Monday")
    await anna.send("/ticket 1")
    await book(anna, "Amal", "25.11. 10:30", note="Bring the Zaytouna contract")
    clock: FakeClock = app.dispatcher.clock  # type: ignore[assignment]
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)  # the reminder the evening before
    await amal.click("I can't come")
    await amal.send("The Zaytouna manager wants me at work that day")
    return amal, anna


def _dump(rows: list[Any]) -> str:
    return json.dumps([list(row) for row in rows], default=str, ensure_ascii=False)


async def _every_row(app: Lotse) -> dict[str, str]:
    async with app.sessions() as session:
        return {table.name: _dump(list((await session.execute(select(table))).all()))
                for table in Base.metadata.sorted_tables}


def _found(text: str, traces: list[str]) -> list[str]:
    folded = text.casefold()
    escaped = json.dumps(text, ensure_ascii=True).casefold()
    return [t for t in traces if t.casefold() in folded or json.dumps(t)[1:-1].casefold() in escaped]


async def test_a_deleted_person_leaves_no_trace_in_any_table_or_file(
        app: Lotse, chat: Callable[..., Chat], transport: CopyingTransport, tmp_path: Path) -> None:
    amal, anna = await full_story(app, chat)
    await amal.send("/mydata")
    before = await _every_row(app)
    assert _found(" ".join(before.values()), TRACES) == TRACES  # the story really stored every trace
    confirm = await amal.send("/delete")
    assert "Delete everything now?" in confirm[-1].text
    [goodbye] = await amal.click("Yes")
    assert goodbye.text.startswith("Everything Lotse stored about you is deleted.")
    assert anna.last.text.startswith("Participant no. ")  # the coordinator who had the case is told, by number
    assert "Amal" not in anna.last.text
    after = await _every_row(app)
    for table, rows in after.items():
        assert _found(rows, TRACES) == [], f"{table} still names the person: {rows[:300]}"
        assert '"amal"' not in rows, f"{table} still holds the handle"
    async with app.sessions() as session:
        counts = dict((await session.execute(select(AnonymousCount.metric, AnonymousCount.count))).all())
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert counts["deleted.request"] == 1 and counts["deleted.role.participant"] == 1
    assert not any(os.path.exists(p) for p in transport.files)  # noqa: ASYNC240  (removed once delivered)
    if app.engine.dialect.name == "sqlite":
        await app.engine.dispose()  # closes the WAL into the file
        for file in tmp_path.rglob("*"):  # noqa: ASYNC240
            if file.is_file():
                raw = file.read_bytes()
                for trace in TRACES:
                    assert trace.encode() not in raw, f"{file.name} still holds {trace!r}"


async def test_the_copy_of_ones_data_is_readable_and_complete_and_only_ones_own(
        app: Lotse, chat: Callable[..., Chat], transport: CopyingTransport) -> None:
    amal, _anna = await full_story(app, chat)
    yonas = await participant(chat, "yonas")
    readable, document, *_menu = await amal.send("/mydata")
    assert "Name: Amal" in readable.text and QUESTION in readable.text
    assert "Oldenburgische IHK (coordinator) opened your question on " in readable.text  # who looked at it
    assert "Phone: +4915123456789" in readable.text
    assert document.document_name == "lotse-my-data.json"
    copy = json.loads(transport.files[document.document_path or ""])
    tables = set(copy["data"])
    assert {"persons", "handles", "profiles", "consents", "tickets", "ticket_messages", "audit_log", "inbox",
            "outbox", "conversations", "appointments", "reminders", "attendance"} <= tables
    assert "Your appointments (Termine):" in readable.text
    assert "ticket_notices" not in tables  # staff chat addresses are not the participant's data
    [me] = copy["data"]["persons"]
    assert {row["person_id"] for row in copy["data"]["profiles"]} == {me["id"]}
    everything = json.dumps(copy, ensure_ascii=False)
    assert "Yonas" not in everything and "code_hash" not in everything
    assert "Hello Amal, please bring the Zaytouna letter" in everything  # the answer is part of her question
    _, yonas_file, *_menu = await yonas.send("/mydata")
    assert "Zaytouna" not in transport.files[yonas_file.document_path or ""].decode()


def test_every_table_has_a_privacy_rule_and_every_link_to_a_person_says_what_deletion_does() -> None:
    missing = set(Base.metadata.tables) - set(TABLE_RULES)
    assert not missing, f"add a TableRule in bot/services/privacy.py for {sorted(missing)}"
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "persons":
                assert fk.ondelete in ("CASCADE", "SET NULL"), f"{table.name}.{fk.parent.name} needs ondelete"


# ---------------------------------------------------------------------------------------------------------------
# Roles x commands: every registered command as every role


async def _person(app: Lotse, handle: str, role: str) -> Chat:
    async with app.sessions() as session, session.begin():
        person = Person(role=role, locale="en", display_name=handle.title(), organisation="ihk",
                        privacy_version=access.privacy_version_for(role) if role in access.CONSENT_ROLES else None,
                        district="stadt_oldenburg")
        session.add(person)
        await session.flush()
        session.add(Handle(person_id=person.id, transport="test", platform_id=handle, chat_id=handle))
    return Chat(app, app.transports["test"], handle)  # type: ignore[arg-type]


ROLES = ("participant", "volunteer", "coordinator", "admin")
REFUSED = "This is not available for you."


async def test_every_command_as_every_role(app: Lotse, chat: Callable[..., Chat]) -> None:
    people = {role: await _person(app, f"{role}-x", role) for role in ROLES}
    names = sorted({*COMMANDS, *FEATURE_COMMANDS} - {"start"})
    for name in names:
        allowed = FEATURE_COMMANDS[name].roles if name in FEATURE_COMMANDS else frozenset(ROLES)
        for role, person in people.items():
            await person.send("/cancel")
            answer = texts(await person.send(f"/{name}"))
            assert (REFUSED in answer) == (role not in allowed), f"/{name} as {role}: {answer[:200]}"
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxEntry)
                                    .where(InboxEntry.error.is_not(None))) == 0


async def test_data_views_show_only_what_a_role_may_see(app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send(QUESTION)
    outsider = await coordinator(app, chat, "otto", organisation="hwk", districts=["wesermarsch"],
                                 topics=["recognition"])
    volunteer = await _person(app, "jana", "volunteer")
    yonas = await participant(chat, "yonas")
    for viewer, expected in ((outsider, "There is no question with this number for you."),
                             (volunteer, REFUSED), (yonas, REFUSED)):
        answer = texts(await viewer.send("/ticket 1"))
        assert expected in answer and QUESTION not in answer
    _, own, *_menu = await yonas.send("/mydata")
    assert own.document_path is not None
    async with app.sessions() as session:
        viewed = (await session.scalars(select(Person.display_name).join(
            Handle, Handle.person_id == Person.id).where(Handle.platform_id == "anna"))).one()
    assert viewed == "Anna"


# ---------------------------------------------------------------------------------------------------------------
# Consent versions and withdrawal


async def test_a_new_privacy_notice_asks_again_before_anything_new_is_stored(
        app: Lotse, chat: Callable[..., Chat], monkeypatch: pytest.MonkeyPatch) -> None:
    await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send(QUESTION)
    monkeypatch.setattr(access, "PRIVACY_VERSION", "2027-01")
    *_, notice = await amal.send("One more thing about the letter")  # would join her open question
    assert "Datenschutz" in notice.text and [c.label for c in notice.choices] == ["Yes", "No", "Read the full notice"]
    async with app.sessions() as session:
        thread = (await session.scalars(select(TicketMessage.text))).all()
    assert "One more thing about the letter" not in thread
    [refused, _again] = await amal.send("/profile")
    assert refused.text == "First, please answer the privacy question."
    thanks, *_ = await amal.click("Yes")
    assert thanks.text.startswith("Thank you. Your consent was recorded")
    async with app.sessions() as session:
        versions = (await session.scalars(select(Consent.version).where(Consent.kind == "privacy"))).all()
    assert versions[-1] == "2027-01"


async def test_withdrawing_consent_stops_processing_and_offers_deletion(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    amal = await participant(chat, "amal")
    await amal.send("/privacy")
    [withdraw] = await amal.click("Withdraw my consent")
    assert "30 days" in withdraw.text
    [now] = await amal.click("Yes")
    assert now.text.startswith("Shall Lotse delete all your data now?")
    said, notice = await amal.click("No")
    assert said.text.startswith("Your consent is withdrawn.") and "Datenschutz" in notice.text
    [refused, _] = await amal.send("/profile")
    assert refused.text == "First, please answer the privacy question."
    clock.advance(days=31)
    report = await apply_retention(app.sessions, app.network, RetentionPolicy(), clock())
    assert report.erased == 1
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0


# ---------------------------------------------------------------------------------------------------------------
# Floods and oversized input


async def test_a_flood_gets_one_notice_then_silence_and_is_logged(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    app.dispatcher.limiter = InboundLimiter(per_minute=30, pause=timedelta(minutes=5))
    amal = chat("amal")
    answered = [await amal.send(f"hello {n}") for n in range(40)]
    assert all(answered[n] for n in range(30))
    assert [m.text for m in answered[30]] == ["You are sending very many messages. Please wait a few minutes, "
                                              "then write again. Messages sent until then are not read."]
    assert all(not answered[n] for n in range(31, 40))
    flood_lines = [r for r in caplog.records if "not read for 5 minute" in r.getMessage()]
    assert len(flood_lines) == 1 and "amal" not in flood_lines[0].getMessage()
    async with app.sessions() as session:
        dropped = (await session.scalars(select(InboxEntry.payload).order_by(InboxEntry.id))).all()[30:]
    assert all(payload == {"redacted": True, "dropped": "flood"} for payload in dropped)
    clock.advance(minutes=6)
    assert await amal.send("hello again")
    assert any("9 message(s) were dropped" in r.getMessage() for r in caplog.records)


async def test_oversized_text_and_files_are_capped_and_answered(app: Lotse, chat: Callable[..., Chat]) -> None:
    await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    hint, *_ = await amal.send("x" * 1_000_000)
    assert hint.text  # answered, not crashed
    async with app.sessions() as session:
        stored = (await session.scalars(select(InboxEntry.payload).order_by(InboxEntry.id.desc()).limit(1))).one()
    assert len(stored["text"]) == 16_000
    await amal.send("/menu")
    await amal.click("Ask a question")
    await amal.click("Apprenticeship (Ausbildung)")
    hint, _ = await amal.send_file("document", size=50_000_000)
    assert hint.text == "This file is too big. Please send a file smaller than 20 MB, or a photo of the page."


async def test_direction_overrides_and_controls_never_reach_a_coordinators_screen(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    mallory = chat("mallory")
    for text in ("hi", "2", "1"):
        await app.dispatcher.receive(Incoming(transport="test", event_id=f"m-{text}", handle="mallory",
                                              chat="mallory", text=text,
                                              display_name="\u202eyrallam\u2066 Admin\u0007\u200b"))
        await app.drain()
    await mallory.send("/ask")
    await mallory.click("Apprenticeship (Ausbildung)")
    await app.dispatcher.receive(Incoming(
        transport="test", event_id="m-q", handle="mallory", chat="mallory",
        text="Please \u202eerehw ylppa\u202c I \u0000\u001b[31m", attachment=Attachment(
            kind="document", reference="ref", file_name="\u202egpj.exe", size=10)))
    await app.drain()
    shown = texts(anna.history)
    assert "Question no. 1" in shown
    for bad in ("\u202e", "\u202c", "\u2066", "\u0007", "\u0000", "\u001b", "\u200b"):
        assert bad not in shown


# ---------------------------------------------------------------------------------------------------------------
# Retention


async def test_retention_warns_a_month_before_and_deletes_only_the_silent(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    yonas = await participant(chat, "yonas")
    await amal.send("/ask")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send(QUESTION)
    await anna.click("Take it")
    await anna.send("/close 1")
    policy = RetentionPolicy()
    clock.advance(days=91)
    caplog.set_level(logging.INFO, logger="lotse.retention")
    report = await apply_retention(app.sessions, app.network, policy, clock())
    assert report.questions == 1 and report.messages > 0 and report.warned == 0
    assert any(r.getMessage().startswith("retention: 1 closed question(s)") for r in caplog.records)
    clock.advance(days=250)  # 11 months and more without a word
    report = await apply_retention(app.sessions, app.network, policy, clock())
    await app.drain()
    assert report.warned == 2 and report.erased == 0
    assert amal.last.text.startswith("You have not written to Lotse for a long time.")
    await yonas.send("/menu")  # yonas answers: his warning no longer counts
    clock.advance(days=31)
    report = await apply_retention(app.sessions, app.network, policy, clock())
    await app.drain()
    assert report.erased == 1
    assert anna.last.text.startswith("The data of participant no. ")  # she was sent amal's profile
    async with app.sessions() as session:
        left = (await session.scalars(select(Handle.platform_id).where(Handle.transport == "test"))).all()
    assert "amal" not in left and "yonas" in left


# ---------------------------------------------------------------------------------------------------------------
# Operator safety


async def test_backup_and_restore_bring_everything_back(app: Lotse, chat: Callable[..., Chat],
                                                        tmp_path: Path) -> None:
    amal, _anna = await full_story(app, chat)
    saved = await _every_row(app)
    url = app.engine.url.render_as_string(hide_password=False)
    target = tmp_path / "backups" / "lotse.backup"
    target.parent.mkdir()
    import asyncio

    line = await asyncio.to_thread(backup, url, target)
    assert "written to" in line and stat.S_IMODE(target.stat().st_mode) == 0o600
    await amal.send("/delete")
    await amal.click("Yes")
    assert await _every_row(app) != saved
    await app.engine.dispose()
    await asyncio.to_thread(restore, url, target)
    restored = await _every_row(app)
    assert restored == saved


def test_database_file_and_store_directories_are_owner_only(tmp_path: Path) -> None:
    import asyncio

    settings = load_settings(data_dir=tmp_path / "data")

    async def open_and_close() -> None:
        app = await Lotse.open(settings)
        await app.close()

    asyncio.run(open_and_close())
    database = tmp_path / "data" / "lotse.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    store = private_directory(tmp_path / "matrix-store")
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    os.chmod(database, 0o644)
    asyncio.run(open_and_close())
    assert stat.S_IMODE(database.stat().st_mode) == 0o600  # tightened again


def test_secrets_are_redacted_from_every_log_line_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    token = "123456789:AAFakeSecretTokenValue_0123456789"
    settings = load_settings(telegram_token=token, matrix_password="hunter2-matrix-pw",
                             matrix_access_token="syt_secret_access_token")
    from bot.core.config import secrets_of

    secret_filter = RedactSecrets(secrets_of(settings))
    logger = logging.getLogger("lotse.test.secrets")
    caplog.handler.addFilter(secret_filter)
    try:
        logger.error("calling https://api.telegram.org/bot%s/getMe with %s", token, "hunter2-matrix-pw")
        try:
            raise RuntimeError(f"failed with syt_secret_access_token and {token}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        caplog.handler.removeFilter(secret_filter)
    logged = caplog.text
    for secret in (token, token.split(":")[1], "hunter2-matrix-pw", "syt_secret_access_token"):
        assert secret not in logged
    assert "***" in logged


def test_the_privacy_notice_version_lives_with_the_catalogs_and_changes_with_the_text() -> None:
    import hashlib
    import tomllib
    from types import SimpleNamespace

    from bot.core.i18n import Translator
    from bot.core.network import load_network

    declared = tomllib.loads(access.PRIVACY_NOTICE_FILE.read_text(encoding="utf-8"))
    for role, section, version in (("participant", declared, access.PRIVACY_VERSION),
                                   ("volunteer", declared["volunteers"], access.VOLUNTEER_PRIVACY_VERSION)):
        notice_turn = SimpleNamespace(network=load_network(None), t=Translator("en"), person=SimpleNamespace(role=role))
        text = onboarding.privacy_notice(notice_turn)  # type: ignore[arg-type]
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        assert section["version"] == version
        assert fingerprint == section["fingerprint"], (
            f"the {role}s' privacy notice changed: set a new version in {access.PRIVACY_NOTICE_FILE.name} and "
            f"fingerprint = \"{fingerprint}\"")
    assert access.PRIVACY_VERSION != access.VOLUNTEER_PRIVACY_VERSION


# ---------------------------------------------------------------------------------------------------------------
# A full run with real settings: no secret in the logs or in what is sent


@pytest.mark.slow
async def test_a_full_run_logs_no_secret_and_exports_none(tmp_path: Path) -> None:
    import asyncio
    import sys

    from tests.telegram_standin import BotApiStandIn, buttons

    standin = BotApiStandIn()
    await standin.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    secrets = {"LOTSE_MATRIX_PASSWORD": "matrix-password-do-not-log", "LOTSE_MATRIX_ACCESS_TOKEN": "syt_do_not_log_42",
               "LOTSE_TELEGRAM_WEBHOOK_SECRET": "webhook-secret-do-not-log"}
    env.update(LOTSE_DATA_DIR=str(tmp_path), LOTSE_TELEGRAM_TOKEN=standin.token, LOTSE_LOG_LEVEL="DEBUG",
               LOTSE_TELEGRAM_BASE_URL=standin.base_url, **secrets)
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        user = 540
        standin.user_sends(user, "/start", language_code="en")
        await standin.wait_for(lambda: len(standin.sent_to(user)) >= 1, within=30, what="the language question")
        picker = standin.sent_to(user)[-1]
        english = next(data for label, data in buttons(picker) if label == "English")
        standin.user_clicks(user, int(picker["message_id"]), english)
        await standin.wait_for(lambda: len(standin.sent_to(user)) >= 2, within=30, what="the notice")
        notice = standin.sent_to(user)[-1]
        standin.user_clicks(user, int(notice["message_id"]), buttons(notice)[0][1])
        await standin.wait_for(lambda: len(standin.sent_to(user)) >= 4, within=30, what="the intake")
        standin.user_sends(user, "/mydata")
        await standin.wait_for(lambda: any("document" in m for m in standin.sent_to(user)), within=30,
                               what="the copy of the data")
        standin.user_sends(user, "/delete")
        await standin.wait_for(lambda: "Delete everything now?" in standin.sent_to(user)[-1].get("text", ""),
                               within=30, what="the deletion question")
        question = standin.sent_to(user)[-1]
        standin.user_clicks(user, int(question["message_id"]), buttons(question)[0][1])
        await standin.wait_for(lambda: standin.sent_to(user)[-1].get("text", "").startswith("Everything Lotse"),
                               within=30, what="the goodbye")
    finally:
        process.terminate()
        _out, err = await process.communicate()
        await standin.stop()
    logs = err.decode()
    assert "DEBUG" in logs and "person" in logs  # the run really logged at DEBUG
    forbidden = [standin.token, standin.token.split(":")[1], *secrets.values()]
    for secret in forbidden:
        assert secret not in logs, f"a secret is in the logs: {secret[:6]}..."
    sent = json.dumps([standin.sent_to(user)], default=str) + "".join(
        content.decode(errors="replace") for _, content in standin.files.values())
    for secret in forbidden:
        assert secret not in sent
    assert stat.S_IMODE((tmp_path / "lotse.sqlite3").stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------------------------------------
# The operator's commands


def test_lotse_forget_audit_backup_and_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.cli import main

    monkeypatch.setenv("LOTSE_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    async def story() -> None:
        app = await Lotse.open(load_settings(data_dir=tmp_path))
        app.add_transport(RecordingTransport())
        try:
            amal = await participant(lambda handle, hint=None: Chat(app, app.transports["test"], handle,  # type: ignore[arg-type]
                                                                     language_hint=hint), "amal")
            await amal.send("/mydata")
        finally:
            await app.close()

    asyncio.run(story())
    assert main(["backup", str(tmp_path / "before.backup")]) == 0
    assert main(["forget", "--phone", "+4915123456789"]) == 0
    assert "would delete person no. 1 (participant)" in capsys.readouterr().out
    assert main(["audit", "--person", "1"]) == 0
    audit = capsys.readouterr().out
    assert "consent.given" in audit and "data.copied" in audit
    assert main(["forget", "--person", "1", "--yes"]) == 0
    assert "deleted person no. 1 (participant)" in capsys.readouterr().out
    assert main(["forget", "--person", "1", "--yes"]) == 2
    assert "nobody matches" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "before.backup")]) == 2  # without --yes: refused with one line
    assert main(["restore", str(tmp_path / "before.backup"), "--yes"]) == 0
    capsys.readouterr()
    assert main(["audit", "--person", "1"]) == 0
    assert "consent.given" in capsys.readouterr().out  # back from the backup
    assert main(["restore", str(tmp_path / "nothing.backup"), "--yes"]) == 2
    assert capsys.readouterr().err.startswith("lotse: restore: no file")


async def test_saying_no_to_a_new_notice_erases_everything_and_tells_the_staff(
        app: Lotse, chat: Callable[..., Chat], monkeypatch: pytest.MonkeyPatch) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal")
    await amal.send("/ask")
    await amal.click("Apprenticeship (Ausbildung)")
    await amal.send(QUESTION)
    monkeypatch.setattr(access, "PRIVACY_VERSION", "2027-01")
    await amal.send("hello")
    [goodbye] = await amal.click("No")
    assert goodbye.text.startswith("That is fine. Lotse has not kept anything about you.")
    assert anna.last.text.startswith("Participant no. ")
    rows = await _every_row(app)
    assert _found(" ".join(rows.values()), ["Amal", QUESTION, "+4915123456789"]) == []


async def test_the_privacy_menu_gives_a_copy_and_deletes(app: Lotse, chat: Callable[..., Chat],
                                                         transport: CopyingTransport) -> None:
    amal = await participant(chat, "amal")
    await amal.send("/menu")
    [notice] = await amal.click("About your data")
    assert "You agreed on 23 November 2026." in notice.text
    readable, document, *_ = await amal.click("A copy of my data")
    assert readable.text.startswith("Here is everything Lotse stores about you, on 23 November 2026.")
    assert json.loads(transport.files[document.document_path or ""])["data"]["persons"][0]["display_name"] == "Amal"
    await amal.send("/privacy")
    [confirm] = await amal.click("Delete my data")
    assert "Delete everything now?" in confirm.text
    [kept, *_] = await amal.click("No")
    assert kept.text == "Nothing was deleted."
    await amal.send("/delete")
    await amal.click("Yes")
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
