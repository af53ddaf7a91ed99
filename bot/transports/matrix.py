"""The Matrix transport: matrix-nio with end-to-end encryption, direct chats and coordinators' group rooms.

Edges only. Lotse runs its own sync loop instead of nio's `sync_forever`, because the sync position belongs to the
database: the events of one sync are stored in the inbox in the same transaction as that sync's `next_batch`
(`Dispatcher.receive_batch`). A crash before that commit makes the next start sync again from the old position (the
inbox drops events it already has by their event id); a crash after it finds everything in the inbox. On the very
first start (no position stored) the first sync only records where "now" is: history is never answered.

Encryption: nio's store (Olm account, Megolm sessions) lives in `store_dir` next to the access token and device id,
so after a restart the bot still reads and writes in encrypted rooms. Trust policy: the bot encrypts to every
device of the people in a room, verified or not (`ignore_unverified_devices=True`), and reads messages from
unverified devices. Participants cannot verify a bot's device in any way they would understand, and refusing
them would push them to unencrypted chats; the operator can still blacklist a device in the store. See
docs/matrix.md.

Sending: no automatic retries inside nio (`max_limit_exceeded=0`, `max_timeouts=0`). `M_LIMIT_EXCEEDED` becomes a
`DeliveryError` with the server's `retry_after_ms`, "not in this room" a permanent one (the person left), and an
unreachable homeserver "platform down", waited out with a backoff that the sync loop and the sender share and that
the operator reads about once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import math
import mimetypes
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode

from aiohttp import ClientConnectionError
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadError,
    ErrorResponse,
    InviteMemberEvent,
    JoinError,
    LoginError,
    MegolmEvent,
    RoomMemberEvent,
    RoomMessagesError,
    RoomSendError,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    UploadError,
    WhoamiError,
)
from nio.crypto import decrypt_attachment
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Attachment, AttachmentKind, Delivery, Incoming, Outgoing
from bot.runtime.transport import DeliveryError, Receive, ReceiveBatch
from storage.database import private_directory
from storage.models import MatrixSyncState

log = logging.getLogger("lotse.matrix")

NAME: Final = "matrix"
CREDENTIALS_FILE: Final = "credentials.json"
DEVICE_NAME: Final = "Lotse"
TIMELINE_LIMIT: Final = 100
"""Events per room in one sync; more (after a long pause) are fetched page by page down to the stored position."""
MAX_GAP_PAGES: Final = 50
MEDIA_KINDS: Final[dict[str, AttachmentKind]] = {"m.image": "photo", "m.file": "document", "m.audio": "other",
                                                 "m.video": "video"}
TEXT_TYPES: Final = ("m.text", "m.notice", "m.emote")
_REPLY_FALLBACK = re.compile(r"^<mx-reply>.*?</mx-reply>", re.DOTALL)



class MatrixLoginError(Exception):
    """The homeserver refused the credentials: `lotse run` stops with this one line."""


# -------------------------------------------------------------------------------------------------------------
# Rendering and parsing (pure functions, tested without a server)


def render(message: Outgoing) -> dict[str, Any]:
    """An `m.room.message` content: a plain body and an HTML body, choices as a numbered list.

    People answer by number, by label or (multiple choice) with several numbers; the engine reads all three."""
    lines = [message.text] if message.text else []
    items: list[str] = []
    for number, choice in enumerate(message.choices, start=1):
        mark = ""
        if message.selection == "multiple":
            mark = "☑ " if choice.key in message.selected else "☐ "
        lines.append(f"{number}. {mark}{choice.label}")
        items.append(f"<li>{html.escape(mark + choice.label)}</li>")
    body = "\n".join(lines) or "…"
    formatted = html.escape(message.text or "").replace("\n", "<br>")
    if items:
        formatted += "<ol>" + "".join(items) + "</ol>"
    if message.rtl:
        formatted = f'<div dir="rtl">{formatted}</div>'
    return {"msgtype": "m.text", "body": body, "format": "org.matrix.custom.html", "formatted_body": formatted}


def edit_content(message: Outgoing, original_event_id: str) -> dict[str, Any]:
    new = render(message)
    return {**new, "body": "* " + new["body"], "formatted_body": "* " + new["formatted_body"],
            "m.new_content": new, "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id}}


def strip_reply_fallback(body: str) -> str:
    """Removes the quoted lines ("> <@x:y> ...") clients put before a reply's own text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def attachment_reference(content: dict[str, Any]) -> str | None:
    """`mxc://server/id` for a plain file; for an encrypted one its key, iv and hash follow after `#`."""
    file = content.get("file")
    if isinstance(file, dict):
        url, key, iv, hashes = file.get("url"), file.get("key"), file.get("iv"), file.get("hashes")
        if not (isinstance(url, str) and isinstance(key, dict) and isinstance(iv, str) and isinstance(hashes, dict)):
            return None
        return url + "#" + urlencode({"k": key.get("k", ""), "iv": iv, "sha256": hashes.get("sha256", "")})
    url = content.get("url")
    return url if isinstance(url, str) and url.startswith("mxc://") else None


def to_incoming(source: dict[str, Any], room_id: str, *, in_group: bool = False,
                display_name: str | None = None) -> Incoming | None:
    """One room event as Lotse's core model; None for event kinds that say nothing to Lotse (reactions, state)."""
    event_id = str(source.get("event_id", ""))
    sender = str(source.get("sender", ""))
    base = Incoming(transport=NAME, event_id=event_id, handle=sender, chat=room_id, message_id=event_id,
                    display_name=display_name, in_group=in_group)
    kind = source.get("type")
    content = source.get("content")
    if not isinstance(content, dict):
        return replace(base, undecodable=True)
    if kind == "m.sticker":
        return replace(base, unsupported="sticker")
    if kind != "m.room.message":
        return None
    relates = content.get("m.relates_to") if isinstance(content.get("m.relates_to"), dict) else {}
    assert isinstance(relates, dict)
    if relates.get("rel_type") == "m.replace":
        return replace(base, unsupported="edit")
    in_reply_to = relates.get("m.in_reply_to")
    reply_to = in_reply_to.get("event_id") if isinstance(in_reply_to, dict) else None
    reply_to = reply_to if isinstance(reply_to, str) else None
    msgtype = content.get("msgtype")
    body = content.get("body")
    if not isinstance(body, str):
        return replace(base, undecodable=True, reply_to=reply_to)
    if msgtype in TEXT_TYPES:
        text = strip_reply_fallback(body) if reply_to else body
        return replace(base, text=text, reply_to=reply_to)
    if msgtype in MEDIA_KINDS:
        reference = attachment_reference(content)
        if reference is None:
            return replace(base, undecodable=True, reply_to=reply_to)
        info = content.get("info") if isinstance(content.get("info"), dict) else {}
        assert isinstance(info, dict)
        kind_of: AttachmentKind = MEDIA_KINDS[str(msgtype)]
        if msgtype == "m.audio" and ("org.matrix.msc3245.voice" in content or "voice" in content):
            kind_of = "voice"
        file_name = content.get("filename") if isinstance(content.get("filename"), str) else body
        caption = body if isinstance(content.get("filename"), str) and body != content.get("filename") else None
        size = info.get("size") if isinstance(info.get("size"), int) else None
        mime = info.get("mimetype") if isinstance(info.get("mimetype"), str) else None
        attachment = Attachment(kind=kind_of, reference=reference, mime_type=mime,
                                file_name=Path(str(file_name)).name[:200] or None, size=size)
        return replace(base, text=caption, attachment=attachment, reply_to=reply_to)
    unsupported = {"m.location": "location"}.get(str(msgtype), "other")
    return replace(base, unsupported=unsupported, reply_to=reply_to)


# -------------------------------------------------------------------------------------------------------------
# Reachability


class Reachability:
    """Whether the homeserver answers, shared by sync and send: one log line per outage, capped backoff."""

    def __init__(self, first_delay: float = 1.0, max_delay: float = 30.0) -> None:
        self.first_delay = first_delay
        self.max_delay = max(first_delay, max_delay)
        self.reachable = True
        self.failures = 0
        self.delay = first_delay
        self._retry_at = -math.inf

    def failed(self, error: BaseException | str) -> float:
        if self.reachable:
            self.reachable = False
            what = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            log.warning("matrix: homeserver unreachable (%s); retrying", what)
        self.failures += 1
        delay = self.delay
        self.delay = min(self.delay * 2, self.max_delay)
        self._retry_at = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        if not self.reachable:
            log.info("matrix: homeserver reachable again after %d failed attempt(s)", self.failures)
        self.reachable = True
        self.failures = 0
        self.delay = self.first_delay
        self._retry_at = -math.inf

    def wait_left(self) -> float:
        return 0.0 if self.reachable else max(0.0, self._retry_at - time.monotonic())


UNREACHABLE_ERRORS: Final = (ClientConnectionError, TimeoutError, asyncio.TimeoutError, OSError)


def is_server_fault(response: ErrorResponse) -> bool:
    """A 5xx or a proxy's error page: the server, not the request, is at fault."""
    code = str(response.status_code or "")
    return code.startswith("5") or code in ("", "None")


# -------------------------------------------------------------------------------------------------------------
# The transport


@dataclass(frozen=True)
class Credentials:
    user_id: str
    device_id: str
    access_token: str

    @classmethod
    def load(cls, folder: Path, user_id: str) -> Credentials | None:
        path = folder / CREDENTIALS_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            found = cls(str(data["user_id"]), str(data["device_id"]), str(data["access_token"]))
        except (ValueError, KeyError, TypeError):
            log.warning("matrix: %s is unreadable; logging in again", path)
            return None
        return found if found.user_id == user_id else None

    def save(self, folder: Path) -> None:
        private_directory(folder)  # the access token and the encryption keys: owner-only
        path = folder / CREDENTIALS_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"user_id": self.user_id, "device_id": self.device_id,
                                         "access_token": self.access_token}))
        os.chmod(temporary, 0o600)
        temporary.replace(path)


class MatrixTransport:
    """One Matrix account: direct chats with anyone who invites it, plus the network file's coordinators' rooms."""

    name: str = NAME

    def __init__(self, homeserver: str, user_id: str, store_dir: Path, *, password: str | None = None,
                 access_token: str | None = None, group_rooms: Iterable[str] = (),
                 allowed_servers: frozenset[str] | None = None, sync_timeout_ms: int = 30_000,
                 retry_delay: float = 1.0, max_retry_delay: float = 30.0, timeline_limit: int = TIMELINE_LIMIT) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.store_dir = store_dir
        self.password = password
        self.access_token = access_token
        self.group_rooms = frozenset(group_rooms)
        self.allowed_servers = allowed_servers
        self.sync_timeout_ms = sync_timeout_ms
        self.timeline_limit = timeline_limit
        self.sync_filter: dict[str, Any] = {"room": {"timeline": {"limit": timeline_limit}},
                                            "presence": {"types": []}, "account_data": {"types": []}}
        self.server = Reachability(retry_delay, max_retry_delay)
        self.client: AsyncClient | None = None
        self.ready = asyncio.Event()
        """Set once the first sync after start has rebuilt the rooms' state (needed to encrypt)."""
        self.synced = asyncio.Event()
        """Set after every stored sync (tests and the benchmark wait on it)."""
        self._receive: Receive | None = None
        self.max_in_flight = 4
        """Sends in flight at once (different rooms): Synapse limits a sender, not a room."""
        self._receive_batch: ReceiveBatch | None = None
        self._syncer: asyncio.Task[None] | None = None
        self._running = False
        self._left: set[str] = set()
        self._undecrypted: list[MegolmEvent] = []
        """Events that could not be decrypted: their session's key is asked for once they are stored."""

    # ---------------------------------------------------------------------------------------------------------
    # Lifecycle

    def _new_client(self, device_id: str | None) -> AsyncClient:
        private_directory(self.store_dir)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, max_limit_exceeded=0,
                                   max_timeouts=0, request_timeout=60)
        return AsyncClient(self.homeserver, self.user_id, device_id=device_id, store_path=str(self.store_dir),
                           config=config)

    async def connect(self) -> None:
        """Logs in (or restores the saved login) and checks it; waits out an unreachable homeserver with one line.

        Raises `MatrixLoginError` when the homeserver refuses the credentials."""
        while True:
            try:
                await self._connect_once()
                break
            except UNREACHABLE_ERRORS as error:
                if self.client is not None:
                    await self.client.close()
                    self.client = None
                await asyncio.sleep(self.server.failed(error))
        self.server.succeeded()

    async def _connect_once(self) -> None:
        saved = Credentials.load(self.store_dir, self.user_id)
        if self.access_token:
            client = self._new_client(None)
            client.access_token = self.access_token
            client.user_id = self.user_id
            who = await client.whoami()
            if isinstance(who, WhoamiError):
                await client.close()
                self._refused(who, "LOTSE_MATRIX_ACCESS_TOKEN")
            if who.user_id != self.user_id or not who.device_id:
                await client.close()
                raise MatrixLoginError(f"setting LOTSE_MATRIX_ACCESS_TOKEN: the token belongs to {who.user_id}, "
                                       f"not to {self.user_id} (or has no device)")
            client.restore_login(self.user_id, who.device_id, self.access_token)
            self.client = client
        elif saved is not None:
            client = self._new_client(saved.device_id)
            client.restore_login(saved.user_id, saved.device_id, saved.access_token)
            who = await client.whoami()
            if isinstance(who, WhoamiError) and not is_server_fault(who):
                await client.close()
                log.warning("matrix: the saved login was refused (%s); logging in with the password again",
                            who.message)
                (self.store_dir / CREDENTIALS_FILE).unlink(missing_ok=True)
                await self._login()
                return
            if isinstance(who, WhoamiError):
                await client.close()
                raise ClientConnectionError(f"{who.status_code} {who.message}")
            self.client = client
        else:
            await self._login()
        assert self.client is not None
        if self.client.should_upload_keys:
            await self._checked(self.client.keys_upload(), "upload encryption keys")

    async def _login(self) -> None:
        if not self.password:
            raise MatrixLoginError("setting LOTSE_MATRIX_PASSWORD: needed for the first login (or set "
                                   "LOTSE_MATRIX_ACCESS_TOKEN)")
        client = self._new_client(None)
        response = await client.login(self.password, device_name=DEVICE_NAME)
        if isinstance(response, LoginError):
            await client.close()
            self._refused(response, "LOTSE_MATRIX_PASSWORD")
        Credentials(self.user_id, response.device_id, response.access_token).save(self.store_dir)
        log.info("matrix: logged in as %s, device %s (saved in %s)", self.user_id, response.device_id,
                 self.store_dir)
        self.client = client

    @staticmethod
    def _refused(response: ErrorResponse, setting: str) -> None:
        if is_server_fault(response):
            raise ClientConnectionError(f"{response.status_code} {response.message}")
        raise MatrixLoginError(f"setting {setting}: the homeserver refused the login ({response.status_code}: "
                               f"{response.message})")

    async def start(self, receive: Receive, receive_batch: ReceiveBatch | None = None) -> None:
        """Starts syncing. Without `receive_batch` each event is stored alone and the position is kept in memory
        only (tests of the conversion); `lotse run` passes the dispatcher's batch store."""
        if self.client is None:
            await self.connect()
        self._receive = receive
        self._receive_batch = receive_batch
        self._running = True
        await self._join_group_rooms()
        self._syncer = asyncio.create_task(self._keep_syncing(), name="matrix-sync")
        log.info("matrix: started as %s (device %s)", self.user_id, self.client.device_id if self.client else "?")

    async def stop(self) -> None:
        self._running = False
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        self.ready.clear()

    async def _join_group_rooms(self) -> None:
        assert self.client is not None
        for room_id in sorted(self.group_rooms):
            try:
                response = await self.client.join(room_id)
            except UNREACHABLE_ERRORS as error:
                log.warning("matrix: could not join coordinators' room %s now (%s); an invite will be accepted",
                            room_id, error)
                continue
            if isinstance(response, JoinError):
                log.warning("matrix: cannot join coordinators' room %s (%s); invite %s to it", room_id,
                            response.message, self.user_id)

    # ---------------------------------------------------------------------------------------------------------
    # Inbound

    async def _load_position(self) -> str | None:
        if self._receive_batch is None:
            return None
        found: list[str | None] = [None]

        async def read(session: AsyncSession) -> None:
            row = await session.get(MatrixSyncState, self.user_id)
            found[0] = row.next_batch if row is not None else None

        await self._receive_batch([], read)
        return found[0]

    def _position_writer(self, next_batch: str) -> Callable[[AsyncSession], Awaitable[None]]:
        async def write(session: AsyncSession) -> None:
            row = await session.get(MatrixSyncState, self.user_id)
            if row is None:
                session.add(MatrixSyncState(account=self.user_id, next_batch=next_batch))
            else:
                row.next_batch = next_batch
                row.updated_at = datetime.now(UTC)

        return write

    async def _keep_syncing(self) -> None:
        """The sync loop, restarted from the stored position after anything unexpected (one line each time), so
        that a bug or a database hiccup never silently ends Matrix for everyone."""
        while self._running:
            try:
                await self._sync_loop()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.error("matrix: sync loop stopped (%s: %s); starting again from the stored position in %.0fs",
                          type(error).__name__, error, self.server.max_delay)
                log.debug("matrix: sync loop traceback", exc_info=True)
                await asyncio.sleep(self.server.max_delay)

    async def _sync_loop(self) -> None:
        since = await self._load_position()
        first_ever = since is None
        if first_ever:
            log.info("matrix: first start: earlier messages are not answered")
        full_state = True
        while self._running:
            client = self.client
            assert client is not None
            try:
                response = await client.sync(timeout=0 if full_state else self.sync_timeout_ms,
                                             sync_filter=self.sync_filter, since=since, full_state=full_state)
            except UNREACHABLE_ERRORS as error:
                await asyncio.sleep(self.server.failed(error))
                continue
            if isinstance(response, SyncError):
                if is_server_fault(response) or response.status_code in ("M_LIMIT_EXCEEDED",):
                    await asyncio.sleep(self.server.failed(f"{response.status_code} {response.message}"))
                else:
                    log.error("matrix: sync refused (%s: %s); retrying in %.0fs", response.status_code,
                              response.message, self.server.max_delay)
                    await asyncio.sleep(self.server.max_delay)
                continue
            self.server.succeeded()
            try:
                await self._invites(response)
                gaps = {} if first_ever or since is None else await self._gaps(response, since)
                incomings = [] if first_ever else self._events(response, gaps)
                await self._store(incomings, response.next_batch)
                await self._leave_abandoned(response)
            except UNREACHABLE_ERRORS as error:
                await asyncio.sleep(self.server.failed(error))
                continue
            except Exception as error:  # storing failed: the position stays, the same sync is repeated
                log.error("matrix: sync %s could not be stored (%s: %s); retrying", response.next_batch,
                          type(error).__name__, error)
                await asyncio.sleep(self.server.first_delay)
                continue
            since = response.next_batch
            first_ever = False
            full_state = False
            self.ready.set()
            self.synced.set()
            try:  # after storing: key upkeep must not delay the answer (sending queries keys itself when needed)
                await self._keys_after_sync()
                await self._request_missing_keys()
            except UNREACHABLE_ERRORS as error:
                await asyncio.sleep(self.server.failed(error))

    async def _keys_after_sync(self) -> None:
        """What nio's sync_forever does after each sync: to-device messages out, keys up, devices and sessions."""
        client = self.client
        assert client is not None
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await self._checked(client.keys_upload(), "upload encryption keys")
        if client.should_query_keys:
            await self._checked(client.keys_query(), "query device keys")
        if client.should_claim_keys:
            await self._checked(client.keys_claim(client.get_users_for_key_claiming()), "claim one-time keys")

    async def _request_missing_keys(self) -> None:
        """Asks the sender's devices for the keys of undecryptable messages, so the next message in that session
        (the person writes again, as Lotse asked them to) can be read."""
        client = self.client
        assert client is not None
        pending, self._undecrypted = self._undecrypted, []
        for event in pending:
            try:
                await client.request_room_key(event)
            except UNREACHABLE_ERRORS:
                raise
            except Exception as error:  # already requested, or nio cannot address the device: nothing to do
                log.debug("matrix: no key request for %s (%s)", event.event_id, error)

    @staticmethod
    async def _checked(call: Awaitable[Any], what: str) -> None:
        response = await call
        if isinstance(response, ErrorResponse):
            log.warning("matrix: could not %s (%s: %s)", what, response.status_code, response.message)

    async def _invites(self, response: SyncResponse) -> None:
        client = self.client
        assert client is not None
        for room_id, info in response.rooms.invite.items():
            invite = next((event for event in info.invite_state if isinstance(event, InviteMemberEvent)
                           and event.state_key == self.user_id and event.membership == "invite"), None)
            inviter = invite.sender if invite is not None else "someone"
            direct = bool(invite is not None and isinstance(invite.content, dict) and invite.content.get("is_direct"))
            server = inviter.partition(":")[2].lower()
            if room_id in self.group_rooms:
                log.info("matrix: joining coordinators' room %s (invited by %s)", room_id, inviter)
            elif not direct:
                log.warning("matrix: declined the invite of %s to room %s: not a direct chat, and not a "
                            "coordinators' room of the network file", inviter, room_id)
                await client.room_leave(room_id)
                continue
            elif self.allowed_servers is not None and server not in self.allowed_servers:
                log.warning("matrix: declined the invite of %s: homeserver %s is not in "
                            "LOTSE_MATRIX_ALLOWED_HOMESERVERS", inviter, server)
                await client.room_leave(room_id)
                continue
            joined = await client.join(room_id)
            if isinstance(joined, JoinError):
                log.warning("matrix: could not join %s (%s)", room_id, joined.message)

    def _serves(self, room_id: str) -> str | None:
        """"group", "direct" or None (a room Lotse is not meant to serve)."""
        if room_id in self.group_rooms:
            return "group"
        room = self.client.rooms.get(room_id) if self.client is not None else None
        if room is None:
            return None
        others = [user for user in room.users if user != self.user_id]
        return "direct" if len(others) <= 1 else None

    async def _gaps(self, response: SyncResponse, since: str) -> dict[str, list[Any]]:
        """Events a limited timeline left out (more arrived than one sync carries), oldest first, fetched back to
        the stored position: after a long pause nothing is skipped."""
        client = self.client
        assert client is not None
        gaps: dict[str, list[Any]] = {}
        for room_id, info in response.rooms.join.items():
            if not info.timeline.limited or not info.timeline.prev_batch:
                continue
            events: list[Any] = []
            token = info.timeline.prev_batch
            for _ in range(MAX_GAP_PAGES):
                page = await client.room_messages(room_id, start=token, end=since, limit=self.timeline_limit)
                if isinstance(page, RoomMessagesError):
                    log.warning("matrix: could not fetch the earlier events of room %s (%s: %s); some may be "
                                "missing", room_id, page.status_code, page.message)
                    break
                events.extend(page.chunk)
                if not page.chunk or not page.end or page.end == token:
                    break
                token = page.end
            else:
                log.warning("matrix: room %s had more than %d new events; only the latest were read", room_id,
                            MAX_GAP_PAGES * self.timeline_limit)
            if events:
                gaps[room_id] = list(reversed(events))
        return gaps

    def _events(self, response: SyncResponse, gaps: dict[str, list[Any]]) -> list[Incoming]:
        client = self.client
        assert client is not None
        incomings: list[Incoming] = []
        for room_id, info in response.rooms.join.items():
            kind = self._serves(room_id)
            room = client.rooms.get(room_id)
            for event in [*gaps.get(room_id, ()), *info.timeline.events]:
                sender = getattr(event, "sender", None)
                if sender == self.user_id or isinstance(event, RoomMemberEvent):
                    continue
                source = event.source if isinstance(getattr(event, "source", None), dict) else {}
                if kind is None:
                    if source.get("type") in ("m.room.message", "m.room.encrypted"):
                        log.warning("matrix: message from %s in room %s ignored: Lotse serves direct chats and "
                                    "the network file's coordinators' rooms only", sender, room_id)
                    continue
                name = room.user_name(sender) if room is not None and sender else None
                if isinstance(event, MegolmEvent):
                    self._undecrypted.append(event)
                    log.warning("matrix: could not decrypt event %s from %s in %s (session %s); asking them to "
                                "write again", event.event_id, sender, room_id, event.session_id)
                    if kind == "direct":
                        incomings.append(Incoming(transport=NAME, event_id=event.event_id, handle=str(sender),
                                                  chat=room_id, message_id=event.event_id, undecodable=True,
                                                  display_name=name))
                    continue
                try:
                    incoming = to_incoming(source, room_id, in_group=kind == "group", display_name=name)
                except Exception:  # a bug here must not hold back everyone's events behind this one
                    log.exception("matrix: event %s could not be converted; skipped", source.get("event_id"))
                    continue
                if incoming is None:
                    log.debug("matrix: event %s (%s) carries nothing Lotse reads", source.get("event_id"),
                              source.get("type"))
                    continue
                if kind == "group" and incoming.reply_to is None and not (incoming.text or "").startswith(("!", "/")):
                    continue  # coordinators talking among themselves
                incomings.append(incoming)
        return incomings

    async def _store(self, incomings: list[Incoming], next_batch: str) -> None:
        if self._receive_batch is not None:
            await self._receive_batch(incomings, self._position_writer(next_batch))
            return
        assert self._receive is not None
        for incoming in incomings:
            await self._receive(incoming)

    async def _leave_abandoned(self, response: SyncResponse) -> None:
        """A direct chat whose other person left is left too (and forgotten): nobody is there to read it."""
        client = self.client
        assert client is not None
        for room_id, info in response.rooms.join.items():
            if room_id in self.group_rooms or room_id in self._left:
                continue
            left = [event for event in info.timeline.events if isinstance(event, RoomMemberEvent)
                    and event.state_key != self.user_id and event.membership in ("leave", "ban")]
            room = client.rooms.get(room_id)
            if not left or room is None or any(user != self.user_id for user in room.users):
                continue
            log.info("matrix: %s left the direct chat %s; leaving it too", left[-1].state_key, room_id)
            self._left.add(room_id)
            await client.room_leave(room_id)
            await client.room_forget(room_id)

    # ---------------------------------------------------------------------------------------------------------
    # Outbound

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if not self.ready.is_set() or self.client is None:
            raise DeliveryError("matrix: not synced yet", retry_after=1.0, unavailable=True)
        client = self.client
        room = client.rooms.get(message.chat)
        if room is None:
            raise DeliveryError(f"matrix: Lotse is not in room {message.chat} (any more)", unreachable=True)
        if edit_platform_id is not None and message.document_path is None:
            await self._room_send(message.chat, edit_content(message, edit_platform_id))
            return Delivery(platform_message_id=edit_platform_id)
        last: str | None = None
        if message.document_path is not None:
            last = await self._send_file(message.chat, Path(message.document_path), message.document_label,
                                         room.encrypted)
            if not message.text and not message.choices:
                return Delivery(platform_message_id=last)
        last = await self._room_send(message.chat, render(message))
        return Delivery(platform_message_id=last)

    async def _room_send(self, room_id: str, content: dict[str, Any]) -> str:
        wait_left = self.server.wait_left()
        if wait_left > 0:
            raise DeliveryError("matrix: homeserver unreachable", retry_after=wait_left, unavailable=True)
        client = self.client
        assert client is not None
        try:
            response = await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        except UNREACHABLE_ERRORS as error:
            raise DeliveryError(f"matrix: {type(error).__name__}: {error}", retry_after=self.server.failed(error),
                                unavailable=True) from error
        if isinstance(response, RoomSendResponse):
            self.server.succeeded()
            return str(response.event_id)
        assert isinstance(response, RoomSendError | ErrorResponse)
        raise self._delivery_error(response)

    def _delivery_error(self, response: ErrorResponse) -> DeliveryError:
        code = str(response.status_code)
        text = f"matrix: {code}: {response.message}"
        if code == "M_LIMIT_EXCEEDED":
            self.server.succeeded()
            retry_after_ms = getattr(response, "retry_after_ms", None) or 1000
            return DeliveryError(text, retry_after=retry_after_ms / 1000, throttled=True)
        if is_server_fault(response):
            return DeliveryError(text, retry_after=self.server.failed(text), unavailable=True)
        self.server.succeeded()
        if code == "M_FORBIDDEN":  # not (or no longer) in the room: the person left or kicked Lotse
            return DeliveryError(text, unreachable=True)
        if code in ("M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON", "M_UNKNOWN_TOKEN"):
            return DeliveryError(text, permanent=code != "M_UNKNOWN_TOKEN")
        return DeliveryError(text)

    async def _send_file(self, room_id: str, path: Path, name: str | None, encrypted: bool) -> str:
        if not path.is_file():  # noqa: ASYNC240
            raise DeliveryError(f"matrix: the file to send is missing: {path}", permanent=True)
        client = self.client
        assert client is not None
        data = path.read_bytes()  # noqa: ASYNC240  (small files: exports and forms)
        mime = mimetypes.guess_type(name or path.name)[0] or "application/octet-stream"
        try:
            uploaded, keys = await client.upload(lambda *_: data, content_type=mime, filename=name or path.name,
                                                 encrypt=encrypted, filesize=len(data))
        except UNREACHABLE_ERRORS as error:
            raise DeliveryError(f"matrix: {type(error).__name__}: {error}", retry_after=self.server.failed(error),
                                unavailable=True) from error
        if isinstance(uploaded, UploadError):
            raise self._delivery_error(uploaded)
        msgtype = "m.image" if mime.startswith("image/") else "m.file"
        content: dict[str, Any] = {"msgtype": msgtype, "body": name or path.name, "filename": name or path.name,
                                   "info": {"mimetype": mime, "size": len(data)}}
        if encrypted and keys is not None:
            content["file"] = {**keys, "url": uploaded.content_uri}
        else:
            content["url"] = uploaded.content_uri
        return await self._room_send(room_id, content)

    # ---------------------------------------------------------------------------------------------------------
    # Files

    async def download(self, reference: str) -> bytes:
        """The bytes of a file a person sent, decrypted when it came encrypted."""
        if self.client is None:
            raise DeliveryError("matrix: not connected", retry_after=1.0, unavailable=True)
        url, _, secrets = reference.partition("#")
        try:
            response = await self.client.download(mxc=url)
        except UNREACHABLE_ERRORS as error:
            raise DeliveryError(f"matrix: {type(error).__name__}: {error}", retry_after=self.server.failed(error),
                                unavailable=True) from error
        if isinstance(response, DownloadError):
            raise DeliveryError(f"matrix: download of {url} failed ({response.status_code}: {response.message})",
                                permanent=str(response.status_code) in ("M_NOT_FOUND", "M_FORBIDDEN"))
        body = response.body
        data = body if isinstance(body, bytes) else Path(body).read_bytes()  # noqa: ASYNC240
        if not secrets:
            return data
        values = {key: found[0] for key, found in parse_qs(secrets).items()}
        try:
            return bytes(decrypt_attachment(data, values["k"], values["sha256"], values["iv"]))
        except Exception as error:
            raise DeliveryError(f"matrix: the file {url} could not be decrypted ({error})", permanent=True) from error
