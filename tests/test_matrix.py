"""The Matrix transport as people meet it: a real Synapse on loopback, matrix-nio on both sides, encrypted chats."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.config import load_settings
from bot.core.i18n import Translator
from bot.core.messages import Choice, Outgoing
from bot.runtime.app import Lotse
from bot.transports.matrix import MatrixTransport, render, strip_reply_fallback, to_incoming
from storage.models import InboxEntry, MatrixSyncState, OutboxEntry
from tests.matrix_people import MatrixPerson, Seen
from tests.synapse_server import SynapseServer

_names = itertools.count(1)
FA = Translator("fa")


@pytest.fixture(scope="session")
def synapse() -> Iterator[SynapseServer]:
    server = SynapseServer.start()
    try:
        yield server
    finally:
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_names)}"


RUNNING: list[LotseOnMatrix] = []


@dataclass
class LotseOnMatrix:
    """Lotse with the Matrix transport in this process: `start` and `stop` as often as a test needs."""

    synapse: SynapseServer
    folder: Path
    bot: str
    network_file: Path | None = None
    app: Lotse | None = None
    transport: MatrixTransport | None = None
    group_rooms: list[str] = field(default_factory=list)
    timeline_limit: int = 100
    _stop: asyncio.Event | None = None
    _workers: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return f"@{self.bot}:localhost"

    def transport_for(self) -> MatrixTransport:
        return MatrixTransport(self.synapse.url, self.user_id, self.folder / "matrix", password="secret-password",
                               group_rooms=self.group_rooms, sync_timeout_ms=2000, retry_delay=0.2,
                               max_retry_delay=1.0, timeline_limit=self.timeline_limit)

    async def start(self) -> LotseOnMatrix:
        self.synapse.register(self.bot)
        settings = load_settings(data_dir=self.folder, network_file=self.network_file)
        self.app = await Lotse.open(settings, database_url=f"sqlite+aiosqlite:///{self.folder / 'lotse.sqlite3'}")
        self.transport = self.transport_for()
        self.app.add_transport(self.transport)
        await self.transport.start(self.app.dispatcher.receive, self.app.dispatcher.receive_batch)
        self._stop = asyncio.Event()
        self._workers = asyncio.create_task(self.app.run_workers(self._stop))
        await asyncio.wait_for(self.transport.ready.wait(), 30)
        RUNNING.append(self)
        return self

    async def quiet(self) -> bool:
        """Nothing stored waits to be handled, nothing written waits to be sent."""
        if self.app is None:
            return True
        async with self.app.sessions() as session:
            inbox = await session.scalar(select(func.count()).where(InboxEntry.processed_at.is_(None)))
            outbox = await session.scalar(select(func.count()).where(OutboxEntry.status == "pending"))
        return inbox == 0 and outbox == 0

    async def sent_to(self, room: str) -> set[str]:
        """The event ids of what Lotse sent into this room (an edit keeps its message's id)."""
        if self.app is None:
            return set()
        async with self.app.sessions() as session:
            ids = await session.scalars(select(OutboxEntry.platform_message_id).where(
                OutboxEntry.chat == room, OutboxEntry.status == "sent"))
            return {i for i in ids.all() if i is not None}

    async def stop(self) -> None:
        if self in RUNNING:
            RUNNING.remove(self)
        if self._stop is not None and self._workers is not None:
            self._stop.set()
            await asyncio.wait_for(self._workers, 30)
        if self.app is not None:
            await self.app.close()
        self.app = self.transport = None

    async def inbox(self) -> list[InboxEntry]:
        assert self.app is not None
        async with self.app.sessions() as session:
            return list((await session.scalars(select(InboxEntry).order_by(InboxEntry.id))).all())

    async def outbox(self) -> list[OutboxEntry]:
        assert self.app is not None
        async with self.app.sessions() as session:
            return list((await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))).all())


@pytest.fixture
async def lotse(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[LotseOnMatrix]:
    running = LotseOnMatrix(synapse, tmp_path, unique("lotse"))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def people(synapse: SynapseServer, tmp_path: Path) -> AsyncIterator[list[MatrixPerson]]:
    """`people.append(...)` is done by `person()`; every client is closed after the test."""
    made: list[MatrixPerson] = []
    try:
        yield made
    finally:
        for person in made:
            await person.close()


async def person(synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path, name: str) -> MatrixPerson:
    made = MatrixPerson(synapse, unique(name), tmp_path / f"client-{name}")
    people.append(made)
    return await made.login()


async def ask(who: MatrixPerson, room: str, text: str, count: int = 1, reply_to: str | None = None) -> list[Seen]:
    """Sends one message and waits for Lotse's `count` answers in that room."""
    before = len(who.in_room(room))
    await who.say(room, text, reply_to=reply_to)
    await who.until(lambda: len(who.in_room(room)) >= before + count, what=f"{count} answer(s) to {text!r}")
    await settle(who, room)  # a longer answer would show now
    return who.in_room(room)[before:]


async def all_quiet() -> None:
    """Until every running Lotse has handled everything stored and sent everything written."""
    for _ in range(600):  # a guard, not a measurement
        if all([await lotse.quiet() for lotse in RUNNING]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("Lotse did not become quiet within 30 seconds")


async def settle(who: MatrixPerson, room: str) -> None:
    """Until every running Lotse has handled what came and sent what it wrote, and `who`'s client has all of it
    that went into `room`: what a test sees then is everything, without waiting a fixed time."""
    await all_quiet()
    sent: set[str] = set()
    for lotse in RUNNING:
        sent |= await lotse.sent_to(room)
    await who.until(lambda: sent <= {seen.event_id for seen in who.seen}, what="everything Lotse sent there")


async def onboard(who: MatrixPerson, room: str, language: str = "فارسی") -> tuple[Seen, Seen, Seen]:
    """Greeting, language by its name, consent "1": returns (thanks, intro, first question)."""
    [picker] = await ask(who, room, "سلام")
    assert language in picker.options()
    [notice] = await ask(who, room, language)
    thanks, intro, question = await ask(who, room, "1", count=3)
    assert notice.options()[0] == Translator(LANGUAGE_CODES[language])("Yes")
    return thanks, intro, question


LANGUAGE_CODES = {"فارسی": "fa", "English": "en", "Deutsch": "de", "Українська": "uk"}


# -------------------------------------------------------------------------------------------------------------
# Without a server: rendering and parsing


def test_choices_are_a_numbered_list_in_plain_and_formatted_body_and_rtl_is_marked() -> None:
    message = Outgoing(transport="matrix", chat="!r:x", text="کدام؟\n<b>not bold</b>", rtl=True, locale="fa",
                       choices=(Choice("1:a", "بله"), Choice("1:b", "نه")), selection="multiple", selected=("1:b",))
    content = render(message)
    assert content["body"] == "کدام؟\n<b>not bold</b>\n1. ☐ بله\n2. ☑ نه"
    assert content["formatted_body"] == ('<div dir="rtl">کدام؟<br>&lt;b&gt;not bold&lt;/b&gt;'
                                         "<ol><li>☐ بله</li><li>☑ نه</li></ol></div>")


def test_replies_lose_their_fallback_edits_and_stickers_are_named_and_files_keep_their_keys() -> None:
    assert strip_reply_fallback("> <@lotse:x> Question 1\n> more\n\nMy answer\n> not a quote") == \
        "My answer\n> not a quote"
    base = {"event_id": "$e", "sender": "@amal:x", "type": "m.room.message"}
    reply = to_incoming({**base, "content": {"msgtype": "m.text", "body": "> <@lotse:x> Hi\n\nYes please",
                                             "m.relates_to": {"m.in_reply_to": {"event_id": "$bot"}}}}, "!r:x")
    assert reply is not None and (reply.text, reply.reply_to, reply.chat, reply.handle) == (
        "Yes please", "$bot", "!r:x", "@amal:x")
    edit = to_incoming({**base, "content": {"msgtype": "m.text", "body": "* fixed", "m.new_content": {},
                                            "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"}}}, "!r:x")
    assert edit is not None and edit.unsupported == "edit" and edit.text is None
    sticker = to_incoming({**base, "type": "m.sticker", "content": {"body": "cat", "url": "mxc://x/y"}}, "!r:x")
    assert sticker is not None and sticker.unsupported == "sticker"
    assert to_incoming({**base, "type": "m.reaction", "content": {}}, "!r:x") is None
    odd = to_incoming({**base, "content": {"msgtype": "m.text", "body": ["not", "text"]}}, "!r:x")
    assert odd is not None and odd.undecodable
    voice = to_incoming({**base, "content": {"msgtype": "m.audio", "body": "voice.ogg", "org.matrix.msc3245.voice": {},
                                             "info": {"mimetype": "audio/ogg", "size": 1234},
                                             "file": {"url": "mxc://x/v", "key": {"k": "KEY"}, "iv": "IV",
                                                      "hashes": {"sha256": "HASH"}}}}, "!r:x")
    assert voice is not None and voice.attachment is not None
    assert (voice.attachment.kind, voice.attachment.size, voice.attachment.mime_type) == ("voice", 1234, "audio/ogg")
    assert voice.attachment.reference == "mxc://x/v#k=KEY&iv=IV&sha256=HASH"
    where = to_incoming({**base, "content": {"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"}}, "!r:x")
    assert where is not None and where.unsupported == "location"


def test_matrix_settings_are_checked_with_one_line_each(tmp_path: Path) -> None:
    from bot.core.config import SettingsError

    with pytest.raises(SettingsError, match=r"^setting LOTSE_MATRIX_USER_ID: Value error, must be a full Matrix"):
        load_settings(matrix_user_id="lotse")
    with pytest.raises(SettingsError, match=r"^setting LOTSE_MATRIX_HOMESERVER: Value error, must be the"):
        load_settings(matrix_homeserver="matrix.example.org")
    settings = load_settings(data_dir=tmp_path, matrix_homeserver="https://matrix.example.org/",
                             matrix_user_id="@lotse:example.org", matrix_allowed_homeservers=" Example.org, ,a.b")
    assert settings.matrix_homeserver == "https://matrix.example.org"
    assert settings.matrix_allowed_servers == frozenset({"example.org", "a.b"})
    assert settings.resolved_matrix_store_dir == tmp_path / "matrix"


# -------------------------------------------------------------------------------------------------------------
# Through Synapse


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "unencrypted"])
async def test_onboarding_in_farsi_end_to_end(synapse: SynapseServer, lotse: LotseOnMatrix,
                                              people: list[MatrixPerson], tmp_path: Path, encrypted: bool) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id, encrypted=encrypted)
    [picker] = await ask(amal, room, "سلام")
    assert picker.encrypted is encrypted
    assert "فارسی" in picker.options() and "<ol>" in picker.html
    [notice] = await ask(amal, room, "فارسی")  # answered by the label
    assert notice.body.startswith(FA("Thank you for writing to us.").split(".")[0]) or "(Datenschutz)" in notice.body
    assert notice.options() == [FA("Yes"), FA("No"), FA("Read the full notice")]
    assert notice.html.startswith('<div dir="rtl">')
    thanks, _intro, question = await ask(amal, room, "۱", count=3)  # a Persian digit one: Yes
    consent = FA("Thank you. Your consent was recorded on {date}.", date="@").split("@")[0]
    assert thanks.body.startswith(consent)
    assert all(seen.encrypted is encrypted for seen in amal.seen)
    assert len(question.options()) > 5  # the districts, numbered
    inbox = await lotse.inbox()
    assert [entry.payload["chat"] for entry in inbox] == [room] * 3
    assert all(entry.processed_at is not None and entry.error is None for entry in inbox)


async def test_a_reply_carries_its_reply_to_and_multiple_choice_takes_2_4(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    yonas = await person(synapse, people, tmp_path, "yonas")
    room = await yonas.open_direct_chat(lotse.user_id)
    await onboard(yonas, room, "English")
    [goals] = await ask(yonas, room, "8")  # Stadt Oldenburg
    assert goals.body.startswith("Question 2 of 11") and "☐" in goals.body
    answered = await ask(yonas, room, "2, 4", reply_to=goals.event_id)
    assert answered[-1].body.startswith("Question 2 of 11")
    entry = (await lotse.inbox())[-1]
    assert entry.payload["reply_to"] == goals.event_id and entry.payload["text"] == "2, 4"
    assert entry.payload["message_id"] == entry.event_id
    assert lotse.app is not None
    async with lotse.app.sessions() as session:
        from storage.models import Profile

        profile = (await session.scalars(select(Profile))).one()
    assert len(profile.answers["goals"]) == 2


async def test_an_encrypted_photo_arrives_as_an_attachment_and_is_decrypted_on_demand(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    olena = await person(synapse, people, tmp_path, "olena")
    room = await olena.open_direct_chat(lotse.user_id)
    await ask(olena, room, "hello")
    letter = b"\xff\xd8\xff JPEG: the Jobcenter's letter" * 100
    await olena.send_file(room, letter, "letter.jpg", "image/jpeg")
    await olena.until(lambda: len(olena.in_room(room)) >= 2, what="an answer to the photo")
    entry = (await lotse.inbox())[-1]
    attachment = entry.payload["attachment"]
    assert attachment["kind"] == "photo" and attachment["file_name"] == "letter.jpg"
    assert attachment["reference"].startswith("mxc://localhost/") and "#k=" in attachment["reference"]
    assert lotse.transport is not None
    assert await lotse.transport.download(attachment["reference"]) == letter


async def test_a_restart_keeps_encryption_and_neither_replays_nor_skips(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id)
    [picker] = await ask(amal, room, "سلام")
    await lotse.stop()
    before = len(amal.in_room(room))
    await amal.say(room, "فارسی")  # sent while Lotse is down
    await lotse.start()  # same store, same database: the same device, the saved sync position
    await amal.until(lambda: len(amal.in_room(room)) >= before + 1, what="the answer after the restart")
    await settle(amal, room)  # a replayed or skipped message would show now
    [notice] = amal.in_room(room)[before:]
    assert notice.encrypted and notice.options() == [FA("Yes"), FA("No"), FA("Read the full notice")]
    inbox = await lotse.inbox()
    assert [entry.payload["text"] for entry in inbox] == ["سلام", "فارسی"]
    assert [row.status for row in await lotse.outbox()] == ["sent", "sent"]
    assert amal.undecryptable == 0 and picker.encrypted


async def test_more_messages_while_down_than_one_sync_carries_are_all_read_in_order(
        synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path) -> None:
    running = LotseOnMatrix(synapse, tmp_path / "lotse", unique("lotse"), timeline_limit=3)
    await running.start()
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(running.user_id)
    await ask(amal, room, "hello")
    await running.stop()
    for number in range(1, 9):  # 8 messages: the first sync after the restart carries only the last 3
        await amal.say(room, f"message {number}")
    await running.start()
    try:
        await amal.until(lambda: len(amal.in_room(room)) >= 9, what="answers to all eight")
        texts = [entry.payload["text"] for entry in await running.inbox()]
        assert texts == ["hello", *(f"message {number}" for number in range(1, 9))]
    finally:
        await running.stop()


async def test_the_first_start_does_not_answer_history(synapse: SynapseServer, people: list[MatrixPerson],
                                                       tmp_path: Path) -> None:
    from nio import AsyncClient

    bot = unique("lotse")
    synapse.register(bot)
    amal = await person(synapse, people, tmp_path, "amal")
    early = AsyncClient(synapse.url, f"@{bot}:localhost")  # the operator tried the account with Element first
    await early.login("secret-password")
    room = (await amal.client.room_create(is_direct=True, invite=[f"@{bot}:localhost"])).room_id  # type: ignore
    await early.join(room)
    await amal.until(lambda: amal._joined(room, f"@{bot}:localhost"), what="the early client to join")
    await amal.say(room, "hello, anybody there?")
    await early.close()
    running = LotseOnMatrix(synapse, tmp_path / "lotse", bot)
    await running.start()
    try:
        [picker] = await ask(amal, room, "hello again")  # had Lotse answered the history, it would show first
        assert "English" in picker.options() and amal.in_room(room) == [picker]
        assert [entry.payload["text"] for entry in await running.inbox()] == ["hello again"]
        assert running.app is not None
        async with running.app.sessions() as session:
            assert (await session.get(MatrixSyncState, running.user_id)) is not None
    finally:
        await running.stop()


async def test_synapse_restarted_under_a_running_bot_is_reconnected_to(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id)
    await ask(amal, room, "hi")
    with caplog.at_level(logging.INFO, logger="lotse.matrix"):
        synapse.halt()
        await amal.until(lambda: any("homeserver unreachable" in r.getMessage() for r in caplog.records),
                         what="Lotse to notice the homeserver is gone")
        synapse.launch()
        [notice] = await ask(amal, room, "English")
    assert notice.options() == ["Yes", "No", "Read the full notice"]
    down = [r for r in caplog.records if "homeserver unreachable" in r.getMessage()]
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(down) == 1 and len(back) == 1, [r.getMessage() for r in caplog.records]


# -------------------------------------------------------------------------------------------------------------
# lotse run in a subprocess


def run_env(synapse: SynapseServer, folder: Path, bot: str, password: str = "secret-password",
            homeserver: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env.update(LOTSE_DATA_DIR=str(folder), LOTSE_MATRIX_HOMESERVER=homeserver or synapse.url,
               LOTSE_MATRIX_USER_ID=f"@{bot}:localhost", LOTSE_MATRIX_PASSWORD=password)
    return env


def settled_file(database: Path, who: MatrixPerson, room: str) -> bool:
    """`settle` for a Lotse in another process: its database shows nothing left to handle or to send, and `who`
    has everything it sent into `room`."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        waiting = connection.execute("SELECT (SELECT count(*) FROM inbox WHERE processed_at IS NULL) + "
                                     "(SELECT count(*) FROM outbox WHERE status = 'pending')").fetchone()[0]
        sent = {row[0] for row in connection.execute(
            "SELECT platform_message_id FROM outbox WHERE chat = ? AND status = 'sent'", (room,)) if row[0]}
    return waiting == 0 and sent <= {seen.event_id for seen in who.seen}


async def lotse_run(env: dict[str, str], folder: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", env=env, cwd=folder,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


@pytest.mark.slow
async def test_lotse_run_killed_mid_flow_goes_on_at_its_step_and_answers_what_came_meanwhile(
        synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path) -> None:
    bot = unique("lotse")
    synapse.register(bot)
    folder = tmp_path / "lotse"
    folder.mkdir()
    env = run_env(synapse, folder, bot)
    amal = await person(synapse, people, tmp_path, "amal")
    first = await lotse_run(env, folder)
    try:
        room = await amal.open_direct_chat(f"@{bot}:localhost")
        await ask(amal, room, "سلام")
        await ask(amal, room, "فارسی")
    finally:
        first.kill()  # SIGKILL in the middle of onboarding
        await first.wait()
    before = len(amal.in_room(room))
    await amal.say(room, "1")  # consent, sent while Lotse is dead
    second = await lotse_run(env, folder)
    try:
        await amal.until(lambda: len(amal.in_room(room)) >= before + 3, what="the answers after the restart")
        await amal.until(lambda: settled_file(folder / "lotse.sqlite3", amal, room), what="that Lotse is done")
    finally:
        second.terminate()
        _out, err = await second.communicate()
    assert second.returncode == 0, err.decode()[-3000:]
    thanks, _intro, question = amal.in_room(room)[before:]
    assert thanks.body.startswith(FA("Thank you. Your consent was recorded on {date}.", date="@").split("@")[0])
    assert question.encrypted and len(question.options()) > 5
    bodies = [seen.body for seen in amal.in_room(room)]
    assert len(bodies) == len(set(bodies)) == 5  # picker, notice, thanks, intro, question: none twice
    with sqlite3.connect(folder / "lotse.sqlite3") as database:
        texts = [json.loads(row[0])["text"] for row in database.execute("SELECT payload FROM inbox ORDER BY id")]
        statuses = database.execute("SELECT status FROM outbox").fetchall()
    assert texts == ["سلام", "فارسی", "1"] and statuses == [("sent",)] * 5


@pytest.mark.slow
async def test_lotse_run_stops_with_one_line_on_a_wrong_password(synapse: SynapseServer, tmp_path: Path) -> None:
    bot = unique("lotse")
    synapse.register(bot)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=run_env(synapse, tmp_path, bot, password="wrong"), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().splitlines()
    assert process.returncode == 2 and out == b""
    assert len(lines) == 1 and lines[0].startswith("lotse: setting LOTSE_MATRIX_PASSWORD"), lines
    assert "wrong" not in lines[0]


@pytest.mark.slow
async def test_lotse_run_waits_for_a_homeserver_that_is_down_with_one_line(synapse: SynapseServer,
                                                                          tmp_path: Path) -> None:
    from tests.synapse_server import free_port

    env = run_env(synapse, tmp_path, "nobody", homeserver=f"http://127.0.0.1:{free_port()}")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    first = await asyncio.wait_for(process.stderr.readline(), 60)
    assert b"matrix: homeserver unreachable" in first and first.rstrip().endswith(b"retrying"), first
    await asyncio.sleep(3)  # several more attempts, no more lines
    process.terminate()
    rest = await asyncio.wait_for(process.stderr.read(), 60)
    assert await process.wait() == 0
    assert b"Traceback" not in rest and b"unreachable" not in rest, rest



# -------------------------------------------------------------------------------------------------------------
# Questions: a participant asks on Matrix, a coordinator answers by a Matrix reply (in the DM and in a group room)


async def coordinator_over_matrix(lotse: LotseOnMatrix, who: MatrixPerson) -> str:
    from flows.invites import create_invite

    assert lotse.app is not None
    async with lotse.app.sessions() as session, session.begin():
        code, _ = await create_invite(session, lotse.app.network, lotse.app.dispatcher.clock(), "coordinator", "ihk",
                                      ["all"], ["all"], locale="en", days=7)
    room = await who.open_direct_chat(lotse.user_id, encrypted=True)
    welcome, *_ = await ask(who, room, f"!start {code}", count=2)  # Element users write ! instead of /
    assert welcome.body.startswith("Welcome! You are now a coordinator for Oldenburgische IHK.")
    return room


async def participant_over_matrix(lotse: LotseOnMatrix, who: MatrixPerson) -> str:
    from tests.test_intake import ANSWERS

    room = await who.open_direct_chat(lotse.user_id, encrypted=True)
    await ask(who, room, "hello")
    await ask(who, room, "English")
    await ask(who, room, "1", count=3)
    for answer in ANSWERS:
        await ask(who, room, answer)
    await ask(who, room, "1")
    await ask(who, room, "2")
    return room


@pytest.mark.slow
async def test_a_question_asked_on_matrix_is_answered_by_a_matrix_reply_in_the_dm_and_in_the_group_room(
        synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path) -> None:
    ben = await person(synapse, people, tmp_path, "ben")
    bot = unique("lotse")
    synapse.register(bot)
    assert ben.client is not None
    group = (await ben.client.room_create(name="IHK coordinators", invite=[f"@{bot}:localhost"])).room_id
    network = Path(__file__).parents[1] / "bot" / "example_network.toml"
    rule = 'organisation = "ihk"\ntopics = ["apprenticeship", "internship", "recognition"]\ndistricts = ["all"]\n'
    text = network.read_text().replace(rule, f'{rule}room = "matrix:{group}"\n', 1)
    assert group in text
    (tmp_path / "network.toml").write_text(text)
    lotse = LotseOnMatrix(synapse, tmp_path / "lotse", bot, network_file=tmp_path / "network.toml",
                          group_rooms=[group])
    await lotse.start()
    try:
        await ben.until(lambda: ben._joined(group, lotse.user_id), what="Lotse to join the coordinators' room")
        direct = await coordinator_over_matrix(lotse, ben)
        amal = await person(synapse, people, tmp_path, "amal")
        room = await participant_over_matrix(lotse, amal)
        await ask(amal, room, "/menu")
        await ask(amal, room, "Ask a question")
        await ask(amal, room, "Apprenticeship (Ausbildung)")
        thanks, *_ = await ask(amal, room, "Where do I apply for an Ausbildung as a welder?")
        assert "Oldenburgische IHK" in thanks.body
        await ben.until(lambda: len(ben.in_room(group)) >= 1 and any(
            s.body.startswith("Question no. 1") for s in ben.in_room(direct)), what="both notices")
        [in_group] = ben.in_room(group)
        personal = next(s for s in ben.in_room(direct) if s.body.startswith("Question no. 1"))
        assert "welder" in in_group.body and personal.options() == ["Take it", "Hand over"]
        before = len(amal.in_room(room))
        mark = len(ben.in_room(direct))
        await ben.say(direct, "Please come to our office on Monday.", reply_to=personal.event_id)
        await ben.until(lambda: any(s.body == "Sent to the participant (question no. 1)."
                                    for s in ben.in_room(direct)[mark:]), what="the confirmation")
        await amal.until(lambda: len(amal.in_room(room)) > before, what="the coordinator's answer")
        assert amal.in_room(room)[-1].body.endswith("Please come to our office on Monday.")
        before = len(amal.in_room(room))
        mark = len(ben.in_room(direct))
        await ben.say(group, "And bring your passport.", reply_to=in_group.event_id)
        await ben.until(lambda: any(s.body == "Sent to the participant (question no. 1)."  # privately, not to all
                                    for s in ben.in_room(direct)[mark:]), what="the confirmation")
        await amal.until(lambda: len(amal.in_room(room)) > before, what="the answer from the group room")
        assert amal.in_room(room)[-1].body.endswith("And bring your passport.")
        chatter = len(ben.in_room(group))
        await ben.say(group, "Coffee at 3?")  # coordinators talking among themselves: not for Lotse
        await ask(ben, direct, "/help")  # written after the chatter: once answered, Lotse has read the chatter too
        await settle(ben, group)
        assert len(ben.in_room(group)) == chatter
        await ben.until(lambda: ben.edits >= 2, what="the notices to be edited")
        assert ben.edits >= 2  # the reply claimed the question: both notices were edited in place (m.replace)
        assert ben.in_room(group)[0].body.endswith(f"Übernommen von {ben.user_id.split(':')[0][1:]} (Nr. 1).")
        inbox = await lotse.inbox()
        group_entries = [e for e in inbox if e.payload["chat"] == group]
        assert [e.payload["in_group"] for e in group_entries] == [True]
        assert lotse.app is not None
        async with lotse.app.sessions() as session:
            from storage.models import Handle

            handle = (await session.scalars(select(Handle).where(Handle.platform_id == ben.user_id))).one()
        assert handle.chat_id == direct  # writing in the group room did not move ben's own chat there
    finally:
        await lotse.stop()


# -------------------------------------------------------------------------------------------------------------
# Limits and bad input


def admin_token(synapse: SynapseServer) -> str:
    import urllib.request

    name = unique("admin")
    synapse.register(name, admin=True)
    body = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": name},
                       "password": "secret-password"}).encode()
    request = urllib.request.Request(f"{synapse.url}/_matrix/client/v3/login", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def limit_messages(synapse: SynapseServer, user_id: str, per_second: int, burst: int) -> None:
    import urllib.request

    body = json.dumps({"messages_per_second": per_second, "burst_count": burst}).encode()
    request = urllib.request.Request(f"{synapse.url}/_synapse/admin/v1/users/{user_id}/override_ratelimit",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {admin_token(synapse)}"})
    with urllib.request.urlopen(request, timeout=10):
        pass


async def test_m_limit_exceeded_is_waited_out_for_the_time_synapse_names_and_order_is_kept(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id)
    await ask(amal, room, "hello")
    await ask(amal, room, "English")
    limit_messages(synapse, lotse.user_id, per_second=1, burst=1)
    with caplog.at_level(logging.INFO, logger="lotse.sender"):
        thanks, intro, question = await ask(amal, room, "1", count=3)
    assert thanks.body.startswith("Thank you. Your consent was recorded")
    assert intro.body.startswith("Now a few questions about you") and question.body.startswith("Question 1 of 11")
    pauses = [r.getMessage() for r in caplog.records if "M_LIMIT_EXCEEDED" in r.getMessage()]
    assert pauses and all("this transport pauses for" in line for line in pauses), pauses
    rows = await lotse.outbox()
    assert all(row.status == "sent" for row in rows)  # a pause is the server's limit, not the message's failure


async def test_an_edit_is_not_an_answer_and_the_person_is_told_to_send_a_new_message(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id)
    await ask(amal, room, "hello")
    sent = await amal.say(room, "Deutsch")
    await amal.until(lambda: len(amal.in_room(room)) >= 2, what="the notice")
    before = len(amal.in_room(room))
    assert amal.client is not None
    await amal.send_content(room, {"msgtype": "m.text", "body": "* English",
                                   "m.new_content": {"msgtype": "m.text", "body": "English"},
                                   "m.relates_to": {"rel_type": "m.replace", "event_id": sent}})
    await amal.until(lambda: len(amal.in_room(room)) >= before + 2, what="the answer to the edit")
    told, again = amal.in_room(room)[before:before + 2]
    de = Translator("de")
    assert told.body == de("I do not read changes to a message I already have. Please send your correction as a "
                           "new message.")
    assert again.options() == [de("Yes"), de("No"), de("Read the full notice")]  # the question again, still in German


async def test_strangers_group_invites_unserved_rooms_garbage_and_huge_html_are_handled(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    mallory = await person(synapse, people, tmp_path, "mallory")
    amal = await person(synapse, people, tmp_path, "amal")
    assert mallory.client is not None and amal.client is not None
    with caplog.at_level(logging.INFO, logger="lotse.matrix"):
        group = (await mallory.client.room_create(name="Crypto deals", invite=[lotse.user_id])).room_id
        await mallory.until(lambda: any("declined the invite" in r.getMessage() for r in caplog.records),
                            what="the invite to be declined")
        crowded = await mallory.open_direct_chat(lotse.user_id, encrypted=False)
        await mallory.client.room_invite(crowded, amal.user_id)
        await amal.client.join(crowded)
        assert lotse.transport is not None and lotse.transport.client is not None
        seen_by_lotse = lotse.transport.client.rooms
        await mallory.until(lambda: crowded in seen_by_lotse and amal.user_id in seen_by_lotse[crowded].users,
                            what="Lotse to see the third person in the room")
        await mallory.say(crowded, "hello from a room with three people")
        room = await amal.open_direct_chat(lotse.user_id, encrypted=True)
        await amal.send_content(room, {"msgtype": "m.weird", "body": "what is this"})
        await amal.client.room_send(room, "org.example.custom", {"x": 1}, ignore_unverified_devices=True)
        huge = "<b>" + "A very long message. " * 450 + "</b><script>alert(1)</script>"
        await amal.send_content(room, {"msgtype": "m.text", "body": huge.replace("<b>", ""), "format":
                                       "org.matrix.custom.html", "formatted_body": huge})
        await amal.until(lambda: len(amal.in_room(room)) >= 2, what="answers to the odd messages")
        await settle(amal, room)
        await settle(mallory, crowded)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"declined the invite of {mallory.user_id} to room {group}" in m for m in messages), messages
    assert any("ignored: Lotse serves direct chats" in m and crowded in m for m in messages), messages
    assert mallory.in_room(crowded) == [] and mallory.in_room(group) == []
    unsupported, picker = amal.in_room(room)[:2]
    assert unsupported.body.startswith("I can read text, photos, documents and voice messages.")
    assert len(picker.options()) == 8  # then the language question again
    inbox = await lotse.inbox()
    assert all(entry.error is None for entry in inbox) and all(e.payload["chat"] == room for e in inbox)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


async def test_an_undecryptable_message_is_answered_and_logged(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id, encrypted=True)
    await ask(amal, room, "hello")
    await ask(amal, room, "English")
    assert amal.client is not None
    garbage = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAcH6a7", "device_id": "NOPE",
               "sender_key": "c2VuZGVyIGtleSB0aGF0IGRvZXMgbm90IGV4aXN0", "session_id": "bm8gc3VjaCBzZXNzaW9u"}
    with caplog.at_level(logging.WARNING, logger="lotse.matrix"):
        before = len(amal.in_room(room))
        from nio import Api, RoomSendResponse

        method, path, data = Api.room_send(amal.client.access_token, room, "m.room.encrypted", garbage, "garbage-1")
        sent = await amal.client._send(RoomSendResponse, method, path, data, response_data=(room,))
        assert isinstance(sent, RoomSendResponse), sent  # as it is, not encrypted again by the client
        await amal.until(lambda: len(amal.in_room(room)) > before, what="an answer to the unreadable message")
    assert amal.in_room(room)[before].body.startswith("I could not read that message. Please write it again.")
    assert any("could not decrypt event" in r.getMessage() for r in caplog.records)


async def test_a_direct_chat_the_person_left_is_left_and_later_messages_fail_visibly(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id, encrypted=False)
    await ask(amal, room, "hello")
    assert amal.client is not None and lotse.transport is not None and lotse.app is not None
    await amal.client.room_leave(room)
    transport = lotse.transport
    await amal.until(lambda: room not in transport.client.rooms if transport.client else False,  # type: ignore
                     what="Lotse to leave the abandoned chat")
    with pytest.raises(Exception) as refused:
        await transport.send(Outgoing(transport="matrix", chat=room, text="still there?"), None)
    assert getattr(refused.value, "unreachable", False)


async def test_invites_from_homeservers_not_on_the_allow_list_are_declined(
        synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bot = unique("lotse")
    running = LotseOnMatrix(synapse, tmp_path / "lotse", bot)
    running.transport_for = lambda: MatrixTransport(  # type: ignore[method-assign]
        synapse.url, f"@{bot}:localhost", tmp_path / "lotse" / "matrix", password="secret-password",
        allowed_servers=frozenset({"example.org"}), sync_timeout_ms=2000, retry_delay=0.2)
    await running.start()
    try:
        amal = await person(synapse, people, tmp_path, "amal")
        assert amal.client is not None
        with caplog.at_level(logging.INFO, logger="lotse.matrix"):
            await amal.client.room_create(is_direct=True, invite=[running.user_id])
            await amal.until(lambda: any("not in LOTSE_MATRIX_ALLOWED_HOMESERVERS" in r.getMessage()
                                         for r in caplog.records), what="the invite to be declined")
    finally:
        await running.stop()


async def test_a_document_goes_out_encrypted_and_the_person_can_open_it(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    from nio.crypto import decrypt_attachment

    olena = await person(synapse, people, tmp_path, "olena")
    room = await olena.open_direct_chat(lotse.user_id, encrypted=True)
    await ask(olena, room, "hello")
    form = tmp_path / "Antrag.pdf"
    form.write_bytes(b"%PDF-1.7 the form to fill in")
    assert lotse.transport is not None and olena.client is not None
    before = len(olena.in_room(room))
    await lotse.transport.send(Outgoing(transport="matrix", chat=room, text="Please fill this in.",
                                        document_path=str(form), document_name="Antrag Jobcenter.pdf"), None)
    await olena.until(lambda: len(olena.in_room(room)) >= before + 2, what="the file and its text")
    file, text = olena.in_room(room)[before:before + 2]
    assert file.encrypted and file.content["msgtype"] == "m.file" and file.body == "Antrag Jobcenter.pdf"
    assert "url" not in file.content  # only inside the encrypted `file` object, with its key
    downloaded = await olena.client.download(mxc=file.content["file"]["url"])
    secret = file.content["file"]
    plain = decrypt_attachment(downloaded.body, secret["key"]["k"], secret["hashes"]["sha256"], secret["iv"])
    assert plain == b"%PDF-1.7 the form to fill in" and text.body == "Please fill this in."


async def test_an_access_token_from_the_settings_is_used_instead_of_a_password(
        synapse: SynapseServer, people: list[MatrixPerson], tmp_path: Path) -> None:
    import urllib.request

    bot = unique("lotse")
    synapse.register(bot)
    body = json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": bot},
                       "password": "secret-password", "initial_device_display_name": "Lotse"}).encode()
    request = urllib.request.Request(f"{synapse.url}/_matrix/client/v3/login", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: ASYNC210
        login = json.loads(response.read())
    running = LotseOnMatrix(synapse, tmp_path / "lotse", bot)
    running.transport_for = lambda: MatrixTransport(  # type: ignore[method-assign]
        synapse.url, f"@{bot}:localhost", tmp_path / "lotse" / "matrix", access_token=login["access_token"],
        sync_timeout_ms=2000, retry_delay=0.2)
    await running.start()
    try:
        assert running.transport is not None and running.transport.client is not None
        assert running.transport.client.device_id == login["device_id"]
        amal = await person(synapse, people, tmp_path, "amal")
        room = await amal.open_direct_chat(running.user_id, encrypted=True)
        [picker] = await ask(amal, room, "salam")
        assert picker.encrypted and "English" in picker.options()
        assert not (tmp_path / "lotse" / "matrix" / "credentials.json").exists()  # the token stays in the settings
    finally:
        await running.stop()


async def test_numbers_on_matrix_answer_the_notice_they_follow_not_the_menu(
        synapse: SynapseServer, lotse: LotseOnMatrix, people: list[MatrixPerson], tmp_path: Path) -> None:
    """Issue 20, finding 1: a coordinator takes a question by typing its notice's number; a Farsi-speaking
    participant answers the appointment notice with a Persian digit. Before, both numbers went to the menu."""
    from storage.models import Handle, Ticket
    from tests.test_intake import ANSWERS

    ben = await person(synapse, people, tmp_path, "ben")
    direct = await coordinator_over_matrix(lotse, ben)
    amal = await person(synapse, people, tmp_path, "amal")
    room = await amal.open_direct_chat(lotse.user_id)
    await onboard(amal, room)
    for answer in [*ANSWERS, "1", "2"]:
        await ask(amal, room, answer)
    await ask(amal, room, "1")  # Ask a question
    await ask(amal, room, "2")  # Apprenticeship (Ausbildung)
    await ask(amal, room, "کجا برای آموزش حرفه‌ای جوشکاری درخواست بدهم؟")
    await ben.until(lambda: any(s.body.startswith("Question no. 1") for s in ben.in_room(direct)), what="the notice")
    notice = next(s for s in ben.in_room(direct) if s.body.startswith("Question no. 1"))
    assert notice.options() == ["Take it", "Hand over"]
    await ben.say(direct, "1")
    await ben.until(lambda: any(s.body.startswith("You took question no. 1.") for s in ben.in_room(direct)),
                    what="the question taken")
    assert lotse.app is not None
    async with lotse.app.sessions() as session:
        assert (await session.scalars(select(Ticket.status))).one() == "claimed"
        number = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == amal.user_id))).one()
    for answer in ["/appointment", str(number), "Jobcenter", "Mo 10:30", "Jobcenter Oldenburg, Stau 70", "-"]:
        await ask(ben, direct, answer)
    mark = len(amal.in_room(room))
    await ask(ben, direct, "yes")
    await amal.until(lambda: len(amal.in_room(room)) > mark, what="the appointment notice")
    booked = amal.in_room(room)[-1]
    assert booked.options() == [FA("I'll be there"), FA("I can't come")]
    [thanks] = await ask(amal, room, "۱")  # a Persian digit one
    assert thanks.body.startswith(FA("Thank you! See you on {when}.", when="@").split("@")[0])
