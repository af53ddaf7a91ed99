"""A fake chat client: sends text and clicks buttons the way a person would, and shows what they see."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.messages import Attachment, Delivery, Incoming, Outgoing
from bot.runtime.app import Lotse
from bot.runtime.transport import DeliveryError


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingTransport:
    """Delivers into memory: what each chat has been sent, with edits applied in place."""

    name: str = "test"
    sent: dict[str, list[Outgoing]] = field(default_factory=dict)
    by_platform_id: dict[str, tuple[str, int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    files: dict[str, bytes] = field(default_factory=dict)
    """What people sent on this platform, by reference: `download` serves it as the platform would."""
    received_files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    """The files each chat was sent, read at sending time (a relayed file's copy is gone right after)."""

    async def start(self, receive: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def download(self, reference: str) -> bytes:
        if reference not in self.files:
            raise DeliveryError(f"{self.name}: no file {reference}", permanent=True)
        return self.files[reference]

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if message.document_path is not None:
            self.received_files.setdefault(message.chat, []).append(
                (message.document_label or "", Path(message.document_path).read_bytes()))  # noqa: ASYNC240
        history = self.sent.setdefault(message.chat, [])
        if edit_platform_id is not None:
            chat, index = self.by_platform_id[edit_platform_id]
            self.sent[chat][index] = message
            return Delivery(platform_message_id=edit_platform_id)
        platform_id = str(next(self._ids))
        self.by_platform_id[platform_id] = (message.chat, len(history))
        history.append(message)
        return Delivery(platform_message_id=platform_id)


@dataclass
class Chat:
    """One person's phone. `send` and `click` return the messages that arrived in answer."""

    app: Lotse
    transport: RecordingTransport
    handle: str
    language_hint: str | None = None

    @property
    def history(self) -> list[Outgoing]:
        return self.transport.sent.get(self.handle, [])

    @property
    def last(self) -> Outgoing:
        return self.history[-1]

    @property
    def last_text(self) -> str:
        return shown(self.last)

    async def _deliver(self, incoming: Incoming) -> list[Outgoing]:
        before = len(self.history)
        await self.app.dispatcher.receive(incoming)
        await self.app.drain()
        return self.history[before:]

    def _event(self, **values: object) -> Incoming:
        return Incoming(transport=self.transport.name, event_id=uuid.uuid4().hex, handle=self.handle,
                        chat=self.handle, language_hint=self.language_hint,  # the name a platform shows
                        display_name=self.handle.title(), **values)  # type: ignore[arg-type]

    async def send(self, text: str) -> list[Outgoing]:
        return await self._deliver(self._event(text=text))

    async def send_unreadable(self) -> list[Outgoing]:
        return await self._deliver(self._event(undecodable=True))

    async def send_file(self, kind: str = "photo", size: int = 1000, data: bytes | None = None,
                        name: str | None = None, text: str | None = None, lost: bool = False) -> list[Outgoing]:
        """`lost`: the platform no longer has the file when Lotse asks for it."""
        attachment = self._upload(kind, size, data, name)
        if lost:
            del self.transport.files[attachment.reference]
        return await self._deliver(self._event(attachment=attachment, text=text))

    def _upload(self, kind: str, size: int, data: bytes | None, name: str | None) -> Attachment:
        """Puts the file on the platform, as the phone's upload does, and returns the reference it arrives with."""
        reference = f"file-{uuid.uuid4().hex[:8]}"
        self.transport.files[reference] = data if data is not None else b"\x89PNG" + bytes(min(size, 64))
        return Attachment(kind=kind, reference=reference, size=size, file_name=name)  # type: ignore[arg-type]

    @staticmethod
    def _buttons_of(message: Outgoing) -> list[tuple[str, str]]:
        """The buttons a phone shows: the choices, and "Done" under a multiple choice."""
        shown = [(choice.key, choice.label) for choice in message.choices]
        if message.done_key and message.done_label:
            shown.append((message.done_key, message.done_label))
        return shown

    def buttons(self) -> list[str]:
        for message in reversed(self.history):
            if message.choices:
                return [label for _, label in self._buttons_of(message)]
        return []

    def button_key(self, label: str) -> str:
        for message in reversed(self.history):
            for key, shown in self._buttons_of(message):
                if shown == label:
                    return key
        raise AssertionError(f"no button {label!r}; the last buttons were {self.buttons()}")

    async def click(self, label: str) -> list[Outgoing]:
        from bot.core.i18n import LANGUAGES

        more = next((shown for shown in self.buttons() if shown.startswith("🌐")), None)
        if more is not None and label in LANGUAGES.values() and label not in self.buttons():
            await self.click(more)  # a language on the picker's next page: turn the page first, as a person does
        return await self._deliver(self._event(choice=self.button_key(label)))

    async def reply(self, message: Outgoing, text: str | None, event_id: str | None = None,
                    file: bytes | None = None) -> list[Outgoing]:
        """Answers with the platform's reply feature, quoting `message` (one this phone received)."""
        index = next(i for i, shown in enumerate(self.history) if shown is message)
        platform_id = next(pid for pid, (chat, at) in self.transport.by_platform_id.items()
                           if chat == self.handle and at == index)
        attachment = self._upload("document", len(file), file, "answer.pdf") if file is not None else None
        event = self._event(text=text, reply_to=platform_id, attachment=attachment)
        if event_id is not None:
            event = replace(event, event_id=event_id)
        return await self._deliver(event)

    async def press_raw(self, data: str) -> list[Outgoing]:
        """Sends callback data as a forged or stale button would."""
        return await self._deliver(self._event(choice=data))


def shown(message: Outgoing) -> str:
    """What the person sees: the text, and a line for a file sent along."""
    if message.document_label is None:
        return message.text
    return f"{message.text}\n[file: {message.document_label}]" if message.text else f"[file: {message.document_label}]"


def texts(messages: list[Outgoing]) -> str:
    return "\n---\n".join(shown(message) for message in messages)
