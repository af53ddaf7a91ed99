"""Abuse and overload at the door: a per-person flood limit, size caps, and text made safe for staff screens.

The dispatcher asks `InboundLimiter` about every stored event before a flow sees it. A person who sends more
than `per_minute` messages within a minute gets one polite notice, then silence for `pause` (their messages are
marked handled and their text blanked), and the operator gets one log line at the start and one at the end.
The window is counted on the time each event was received, so a restart replaying the inbox counts the same.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from bot.core.messages import Attachment, Incoming

MAX_TEXT = 16_000
"""Characters of one inbound text kept (Telegram allows 4,096, Matrix far more); every step has its own limit."""
MAX_NAME = 200
MAX_FILE_NAME = 255
MAX_REFERENCE = 1_000

_UNSAFE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e"
                     "\u2066-\u2069\ufeff\ufff9-\ufffb]")
"""C0/C1 controls (not tab and line breaks), zero-width and direction marks, bidi embeddings, overrides and
isolates, interlinear annotations: what can make a coordinator's screen show something else than was sent."""


def neutralise(text: str) -> str:
    """Removes characters that reorder or hide text; keeps every visible character and line breaks."""
    return _UNSAFE.sub("", text)


def sanitised(incoming: Incoming) -> Incoming:
    """The event as it may be stored: capped in size, names and file names neutralised."""
    text = incoming.text[:MAX_TEXT] if incoming.text is not None else None
    name = neutralise(incoming.display_name).strip()[:MAX_NAME] or None if incoming.display_name else None
    attachment = incoming.attachment
    if attachment is not None:
        attachment = Attachment(kind=attachment.kind, reference=attachment.reference[:MAX_REFERENCE],
                                mime_type=(attachment.mime_type or "")[:100] or None,
                                file_name=neutralise(attachment.file_name or "")[:MAX_FILE_NAME] or None,
                                size=attachment.size if attachment.size is None or attachment.size >= 0 else None)
    return replace(incoming, text=text, display_name=name, attachment=attachment,
                   choice=incoming.choice[:200] if incoming.choice is not None else None,
                   language_hint=(incoming.language_hint or "")[:35] or None)


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"
    """The first message over the limit: answered with one notice."""
    DROP = "drop"


@dataclass
class InboundLimiter:
    per_minute: int = 30
    pause: timedelta = timedelta(minutes=5)
    _seen: dict[tuple[str, str], deque[datetime]] = field(default_factory=dict)
    _paused_until: dict[tuple[str, str], datetime] = field(default_factory=dict)
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)

    def check(self, key: tuple[str, str], at: datetime) -> Verdict:
        until = self._paused_until.get(key)
        if until is not None:
            if at < until:
                self.dropped[key] = self.dropped.get(key, 0) + 1
                return Verdict.DROP
            del self._paused_until[key]
        window = self._seen.setdefault(key, deque())
        while window and at - window[0] >= timedelta(minutes=1):
            window.popleft()
        window.append(at)
        if len(window) > self.per_minute:
            window.clear()
            self._paused_until[key] = at + self.pause
            self.dropped[key] = 0
            return Verdict.NOTIFY
        if len(self._seen) > 10_000:  # forget people who went quiet, so memory stays flat
            self._forget_quiet(at)
        return Verdict.ALLOW

    def ended_pause(self, key: tuple[str, str]) -> int | None:
        """After a pause: how many messages were dropped (once), so the operator hears how it ended."""
        if key in self._paused_until or key not in self.dropped:
            return None
        return self.dropped.pop(key)

    def _forget_quiet(self, at: datetime) -> None:
        quiet = [k for k, seen in self._seen.items() if not seen or at - seen[-1] >= timedelta(minutes=1)]
        for key in quiet:
            del self._seen[key]
