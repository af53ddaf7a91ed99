"""A second matrix-nio client that plays a participant or coordinator: creates a direct chat with Lotse (encrypted
or not), sends text, replies and files, and collects what Lotse writes back, decrypted, with edits applied."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomSendResponse,
    UploadResponse,
)

from tests.synapse_server import SynapseServer

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


@dataclass
class Seen:
    """One message Lotse sent, as the person's client shows it (edits applied)."""

    event_id: str
    room_id: str
    content: dict[str, Any]
    encrypted: bool

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def html(self) -> str:
        return str(self.content.get("formatted_body", ""))

    def options(self) -> list[str]:
        """The numbered options under the text ("1. Yes" -> "Yes")."""
        found = []
        for line in self.body.splitlines():
            number, dot, label = line.partition(". ")
            if dot and number.isdigit():
                found.append(label.removeprefix("☐ ").removeprefix("☑ "))
        return found


@dataclass
class MatrixPerson:
    server: SynapseServer
    name: str
    store: Path
    client: AsyncClient | None = None
    seen: list[Seen] = field(default_factory=list)
    edits: int = 0
    undecryptable: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _syncer: asyncio.Task[None] | None = None
    arrival_times: dict[str, float] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        return f"@{self.name}:localhost"

    async def login(self) -> MatrixPerson:
        self.server.register(self.name)
        self.store.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, max_timeouts=3)
        self.client = AsyncClient(self.server.url, self.user_id, store_path=str(self.store), config=config)
        response = await self.client.login("secret-password", device_name=f"{self.name}'s phone")
        assert isinstance(response, LoginResponse), response
        first = await self.client.sync(timeout=0, full_state=True)
        assert not isinstance(first, Exception)
        await self._keys()
        self._syncer = asyncio.create_task(self._sync_forever())
        return self

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
        if self.client is not None:
            await self.client.close()

    async def _keys(self) -> None:
        client = self.client
        assert client is not None
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _sync_forever(self) -> None:
        client = self.client
        assert client is not None
        while True:
            try:
                response = await client.sync(timeout=500)
            except Exception:  # Synapse restarting under the test: try again
                await asyncio.sleep(0.2)
                continue
            rooms = getattr(response, "rooms", None)
            if rooms is None:
                await asyncio.sleep(0.2)
                continue
            for room_id, info in rooms.join.items():
                for event in info.timeline.events:
                    if getattr(event, "sender", None) == self.user_id:
                        continue
                    if isinstance(event, MegolmEvent):
                        self.undecryptable += 1
                        continue
                    source = getattr(event, "source", {})
                    if source.get("type") != "m.room.message":
                        continue
                    self._take(room_id, source, encrypted=bool(getattr(event, "decrypted", False)))
            self.arrived.set()
            with contextlib.suppress(Exception):  # after reading: key upkeep must not delay what arrived
                await self._keys()

    def _take(self, room_id: str, source: dict[str, Any], encrypted: bool) -> None:
        content = source.get("content", {})
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace":
            self.edits += 1
            for seen in self.seen:
                if seen.event_id == relates.get("event_id"):
                    seen.content = content.get("m.new_content", content)
            return
        event_id = str(source.get("event_id"))
        self.arrival_times[event_id] = time.perf_counter()
        self.seen.append(Seen(event_id, room_id, content, encrypted))

    async def open_direct_chat(self, bot: str, encrypted: bool = True) -> str:
        client = self.client
        assert client is not None
        response = await client.room_create(is_direct=True, invite=[bot],
                                            initial_state=[ENCRYPTION] if encrypted else [])
        assert isinstance(response, RoomCreateResponse), response
        room_id = str(response.room_id)
        await self.until(lambda: self._joined(room_id, bot), what=f"{bot} to join")
        return room_id

    def _joined(self, room_id: str, user: str) -> bool:
        assert self.client is not None
        room = self.client.rooms.get(room_id)
        return room is not None and user in room.users and user not in room.invited_users

    async def until(self, condition: Any, within: float = 30.0, what: str = "it") -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: waited {within:.0f}s for {what}; saw {self.bodies()[-5:]}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.5)

    async def say(self, room_id: str, text: str, reply_to: str | None = None, html: str | None = None) -> str:
        client = self.client
        assert client is not None
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if html is not None:
            content.update(format="org.matrix.custom.html", formatted_body=html)
        if reply_to is not None:
            quoted = next((s.body for s in self.seen if s.event_id == reply_to), "")
            fallback = "\n".join(f"> {line}" for line in (f"<@lotse:localhost> {quoted}").splitlines())
            content["body"] = f"{fallback}\n\n{text}"
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send_content(room_id, content)

    async def send_content(self, room_id: str, content: dict[str, Any]) -> str:
        client = self.client
        assert client is not None
        response = await client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def send_file(self, room_id: str, data: bytes, name: str, mime: str, msgtype: str = "m.image",
                        encrypted: bool = True) -> str:
        client = self.client
        assert client is not None
        uploaded, keys = await client.upload(io.BytesIO(data), content_type=mime, filename=name, encrypt=encrypted,
                                             filesize=len(data))
        assert isinstance(uploaded, UploadResponse), uploaded
        content: dict[str, Any] = {"msgtype": msgtype, "body": name, "info": {"mimetype": mime, "size": len(data)}}
        if encrypted:
            content["file"] = {**keys, "url": uploaded.content_uri}
        else:
            content["url"] = uploaded.content_uri
        return await self.send_content(room_id, content)

    def in_room(self, room_id: str | None) -> list[Seen]:
        return [seen for seen in self.seen if room_id is None or seen.room_id == room_id]

    def bodies(self) -> list[str]:
        return [seen.body for seen in self.seen]
