"""The contract between a transport and the rest of Lotse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.messages import Delivery, Incoming, Outgoing

Receive = Callable[[Incoming], Awaitable[bool]]
"""Stores an inbound event; returns False for a duplicate. A transport acknowledges only after it returns."""
ReceiveBatch = Callable[[Sequence[Incoming], Callable[[AsyncSession], Awaitable[None]] | None], Awaitable[int]]
"""Stores several events (and the transport's position, e.g. a Matrix sync token) in one transaction."""


class DeliveryError(Exception):
    """A send failed. `retry_after` (seconds) asks the sender to wait; `permanent` means never retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False,
                 unreachable: bool = False, unavailable: bool = False, throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent or unreachable
        self.unreachable = unreachable
        """The person blocked the bot or left: stop sending to this chat until they write again."""
        self.unavailable = unavailable or throttled
        self.throttled = throttled
        """The platform limits the bot as a whole (Matrix's M_LIMIT_EXCEEDED is per sender, not per room): the
        transport pauses for `retry_after`, other transports and nothing else are affected, no attempt counted."""
        """The platform itself cannot be reached: not this message's fault, so it costs the message no attempt,
        and nothing else is tried on this transport until `retry_after` has passed. The transport logs the outage."""


class Transport(Protocol):
    """Edges only: converts native updates to `Incoming` and `Outgoing` to native calls. Never decides."""

    name: str

    async def start(self, receive: Receive) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        """Send (or, with `edit_platform_id`, edit) one message; raise `DeliveryError` on failure."""
        ...

    async def download(self, reference: str) -> bytes:
        """The bytes of a file a person sent here (an `Attachment.reference`); raise `DeliveryError` on failure."""
        ...
