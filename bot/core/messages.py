"""The core message model every transport converts to and from.

Transports only translate native updates into `Incoming` and render `Outgoing`; everything that decides
lives behind the dispatcher. Both types serialise to plain JSON so that inbox and outbox rows can hold them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import PurePath
from typing import Any, Literal

Selection = Literal["none", "single", "multiple"]
AttachmentKind = Literal["photo", "document", "voice", "video", "other"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the person sent: kept as a platform reference, fetched only when a service needs the bytes."""

    kind: AttachmentKind
    reference: str
    mime_type: str | None = None
    file_name: str | None = None
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def attachment_record(attachment: Attachment | None, transport: str) -> dict[str, Any] | None:
    """What a stored message keeps of a file: the platform's reference and the platform it lives on (to relay it)."""
    return {**attachment.to_json(), "transport": transport} if attachment is not None else None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One inbound event, as stored in the inbox before anything else happens."""

    transport: str
    event_id: str
    handle: str
    chat: str
    text: str | None = None
    choice: str | None = None
    attachment: Attachment | None = None
    reply_to: str | None = None
    message_id: str | None = None
    language_hint: str | None = None
    display_name: str | None = None
    undecodable: bool = False
    unsupported: str | None = None
    """A kind of message Lotse cannot read (a sticker, a location...): it is answered, not ignored."""
    in_group: bool = False
    """Said in a group room (a coordinators' room): answers go there, but the person's own chat stays theirs."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incoming:
        values = dict(data)
        if values.get("attachment") is not None:
            values["attachment"] = Attachment(**values["attachment"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Choice:
    """One option; `key` travels back (callback data or matched label), `label` is shown."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send, or an edit of an earlier one (`edit_of` names the outbox id it replaces)."""

    transport: str
    chat: str
    text: str
    choices: tuple[Choice, ...] = ()
    selection: Selection = "none"
    selected: tuple[str, ...] = ()
    edit_of: int | None = None
    locale: str = "en"
    rtl: bool = False
    done_label: str | None = None
    done_key: str | None = None
    document_path: str | None = None
    """A local file sent along (an export, a form): the text becomes its caption where the platform allows."""
    document_name: str | None = None
    """The file name the person sees; the path's own name when None."""
    erase_after_delivery: bool = False
    """A goodbye after a deletion, or a copy of one's data: once delivered, the row keeps neither chat nor text,
    and the file at `document_path` is removed."""
    relayed: Attachment | None = None
    """A file someone sent on `relayed_from` (a transport name), passed on to this chat: the sender fetches its
    bytes from that transport just before sending, so a file crosses from Telegram to Matrix and back."""
    relayed_from: str | None = None

    @property
    def document_label(self) -> str | None:
        if self.document_path is None:
            return None
        return self.document_name or PurePath(self.document_path).name

    def to_json(self) -> dict[str, Any]:
        """What `asdict` gives, without its deep copies: this runs for every message sent."""
        values = {name: getattr(self, name) for name in _OUTGOING_FIELDS}
        values["choices"] = tuple({"key": choice.key, "label": choice.label} for choice in self.choices)
        values["selected"] = tuple(self.selected)
        if self.relayed is not None:
            values["relayed"] = self.relayed.to_json()
        return values

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outgoing:
        values = dict(data)
        values["choices"] = tuple(Choice(**c) for c in values.get("choices", ()))
        values["selected"] = tuple(values.get("selected", ()))
        if values.get("relayed") is not None:
            values["relayed"] = Attachment(**values["relayed"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a transport reports after sending: its platform message id, for later edits."""

    platform_message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_OUTGOING_FIELDS = tuple(item.name for item in fields(Outgoing))


def button_key(prefix: str, payload: str) -> str:
    """The choice key for a button outside the current question; Telegram allows 64 bytes of it."""
    key = f"@{prefix}:{payload}"
    if len(key.encode()) > 64:
        raise ValueError(f"button key {key!r} is longer than 64 bytes")
    return key
