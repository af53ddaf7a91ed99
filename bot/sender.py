"""Delivers the outbox through each transport, in order per chat, and marks what was delivered.

Delivery is at-least-once: a crash after the platform accepted a message but before the row is marked sent
repeats that one message on restart. Platforms offer no way to make a send idempotent, so this is the least
that can go wrong: a repeated line, never a lost one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import Clock, system_clock
from bot.messages import Attachment, Delivery, Outgoing
from bot.transports.base import DeliveryError, Transport
from storage.database import compact_after_erasure
from storage.models import OutboxEntry
from storage.repositories import inactive_chats, mark_unreachable, pending_outbox, platform_message_id

log = logging.getLogger("lotse.sender")

MAX_ATTEMPTS = 8


@dataclass
class OutboxSender:
    sessions: async_sessionmaker[AsyncSession]
    transports: dict[str, Transport]
    clock: Clock = system_clock

    async def deliver_pending(self, transport_name: str, limit: int = 200) -> int:
        """Sends what is due for one transport; returns how many were delivered."""
        transport = self.transports[transport_name]
        delivered = 0
        blocked: set[str] = set()
        async with self.sessions() as session:
            now = self.clock()
            rows = await pending_outbox(session, transport_name, limit)
            unreachable = await inactive_chats(session, transport_name) if rows else set()
            for row in rows:
                if row.chat in blocked:
                    continue
                if row.not_before is not None and row.not_before > now:
                    blocked.add(row.chat)  # waiting out a retry: nothing later to this chat may overtake it
                    continue
                if row.chat in unreachable:
                    self._hold(row)
                    await session.commit()
                    continue
                outcome = await self._deliver(session, transport, row)
                if outcome == "platform down":
                    break  # every other row would fail the same way; the transport's backoff decides when to retry
                if outcome == "sent":
                    delivered += 1
                else:
                    blocked.add(row.chat)  # keep this chat's order: later messages wait for this one
        return delivered

    async def _deliver(self, session: AsyncSession, transport: Transport,
                       row: OutboxEntry) -> Literal["sent", "failed", "platform down"]:
        message = Outgoing.from_json(row.payload)
        edit_target = await platform_message_id(session, message.edit_of) if message.edit_of else None
        now = self.clock()
        row.attempts += 1
        try:
            if message.relayed is not None:
                delivery = await self._send_relayed(transport, message, edit_target)
            else:
                delivery = await transport.send(message, edit_target)
        except DeliveryError as error:
            if error.unavailable:
                row.attempts -= 1
                row.last_error = f"{type(error).__name__}: {error}"[:2000]
                row.not_before = now + timedelta(seconds=error.retry_after or 1.0)
                await session.commit()
                return "platform down"
            self._failed(row, now, error, error.retry_after, error.permanent)
            if error.unreachable:
                await mark_unreachable(session, row.transport, row.chat)
                log.warning("%s chat %s blocked the bot: its handle is inactive until they write again",
                            row.transport, row.chat)
            await session.commit()
            return "failed"
        except Exception as error:  # a transport bug or network fault: retry with backoff
            self._failed(row, now, error, None, False)
            await session.commit()
            return "failed"
        row.status = "sent"
        row.sent_at = now
        row.platform_message_id = delivery.platform_message_id
        row.last_error = None
        if message.erase_after_delivery:
            self._erase(row, message)
        await session.commit()
        if message.erase_after_delivery:
            await compact_after_erasure(self.sessions)
        return "sent"

    async def _send_relayed(self, transport: Transport, message: Outgoing, edit_target: str | None) -> Delivery:
        """Fetches a file from the platform it was sent on and uploads it to this one.

        The bytes live in a private temporary directory only for the upload: Lotse keeps the platform's
        reference, never its own copy of a participant's letter."""
        assert message.relayed is not None
        source = self.transports.get(message.relayed_from or "")
        if source is None:
            raise DeliveryError(f"relay: the file came through {message.relayed_from}, which is not running now "
                                f"(configure it to pass the file on)", permanent=True)
        data = await source.download(message.relayed.reference)
        name = Path(message.relayed.file_name or "").name or f"{message.relayed.kind}{_suffix(message.relayed)}"
        with tempfile.TemporaryDirectory(prefix="lotse-relay-") as folder:
            path = Path(folder) / name
            path.write_bytes(data)
            return await transport.send(replace(message, document_path=str(path), document_name=name,
                                                relayed=None), edit_target)

    @staticmethod
    def _erase(row: OutboxEntry, message: Outgoing) -> None:
        """Delivered to someone whose data is gone (or a copy of it): keep that it was sent, nothing else."""
        row.chat = ""
        row.payload = {"erased": True}
        row.platform_message_id = None
        row.last_error = None
        if message.document_path:
            with contextlib.suppress(OSError):
                os.unlink(message.document_path)

    @staticmethod
    def _hold(row: OutboxEntry) -> None:
        """Kept with its reason, never silently dropped: the operator sees it, nothing is sent to a blocked chat."""
        row.status = "failed"
        row.last_error = "not sent: the person blocked the bot (handle inactive)"

    def _failed(self, row: OutboxEntry, now: datetime, error: Exception, retry_after: float | None,
                permanent: bool) -> None:
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            if row.payload.get("erase_after_delivery"):
                self._erase(row, Outgoing.from_json(row.payload))
            log.warning("outbox %s to %s:%s given up after %s attempts: %s",
                        row.id, row.transport, row.chat, row.attempts, row.last_error)
            return
        delay = retry_after if retry_after is not None else min(2 ** row.attempts, 300)
        row.not_before = now + timedelta(seconds=delay)
        log.info("outbox %s: retry in %.1fs (%s)", row.id, delay, row.last_error)




def _suffix(attachment: Attachment) -> str:
    """A file name ending the receiving app can open; platforms send photos and voice without a name."""
    by_type = {"image/jpeg": ".jpg", "image/png": ".png", "audio/ogg": ".ogg", "application/pdf": ".pdf",
               "audio/mpeg": ".mp3", "video/mp4": ".mp4"}
    by_kind = {"photo": ".jpg", "voice": ".ogg", "video": ".mp4"}
    return by_type.get(attachment.mime_type or "", by_kind.get(attachment.kind, ""))
