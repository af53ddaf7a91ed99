"""The console transport behind `lotse demo`: personas type lines, Lotse's answers print with their addressee.

Reading and printing only. `/as NAME` is the console's own way of saying which handle is typing, the
equivalent of picking up another phone; everything else becomes an `Incoming` event.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from bot.core.messages import Delivery, Incoming, Outgoing
from bot.runtime.transport import DeliveryError, Receive

NAME = "console"
PERSONA_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass
class ConsoleTransport:
    """Renders messages as text; numbered options stand in for buttons."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = NAME
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self, receive: Receive) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        self.out.write(render(message, edited=edit_platform_id is not None) + "\n")
        self.out.flush()
        return Delivery(platform_message_id=str(next(self._ids)))

    async def download(self, reference: str) -> bytes:
        raise DeliveryError("console: personas type text only; there is no file to fetch", permanent=True)


def render(message: Outgoing, edited: bool = False) -> str:
    header = f"── Lotse → {message.chat}{' (updated)' if edited else ''} ──"
    lines = [header, message.text]
    if message.document_label is not None:
        lines.append(f"[file: {message.document_label}]")
    for number, choice in enumerate(message.choices, start=1):
        mark = ""
        if message.selection == "multiple":
            mark = "[x] " if choice.key in message.selected else "[ ] "
        lines.append(f"  {number}. {mark}{choice.label}")
    return "\n".join(lines) + "\n"


@dataclass
class ConsoleSession:
    """Reads lines from stdin (a terminal or a script) and turns them into events for the current persona.

    `personas` maps each persona to its role; the demo keeps it current from the database after each line, so an
    invite code that makes a persona a coordinator shows in the listing and the prompt at once."""

    receive: Receive
    after_each: Callable[[], Awaitable[None]]
    personas: dict[str, str]
    current: str
    out: TextIO = field(default_factory=lambda: sys.stdout)
    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    on_switch: Callable[[str], Awaitable[None]] | None = None

    @property
    def interactive(self) -> bool:
        return self.stdin.isatty()

    def note(self, text: str) -> None:
        self.out.write(f"(demo) {text}\n")
        self.out.flush()

    def role(self, name: str) -> str:
        return self.personas.get(name, "participant")

    async def run(self) -> None:
        self.note(f"You are {self.current} ({self.role(self.current)}). "
                  f"Switch with /as NAME: {', '.join(self.personas)}. Leave with /quit or Ctrl-D.")
        while True:
            raw = await self._next_line()
            if raw is None:
                return
            if not await self.line(raw):
                return

    async def _next_line(self) -> bytes | None:
        """The next line, without its line break; None at the end of the input."""
        if self.interactive and self.stdin is sys.stdin.buffer:
            return self._typed(f"{self.current} ({self.role(self.current)})> ")
        raw = await asyncio.to_thread(self.stdin.readline)  # a script: line by line, exactly as written
        return raw.rstrip(b"\r\n") if raw else None

    def _typed(self, prompt: str) -> bytes | None:
        """One line from the terminal with line editing and history (the standard library's readline).

        Read in the event loop's own thread on purpose: the demo does nothing between two lines, and only the
        main thread receives Ctrl-C, which leaves the demo like Ctrl-D instead of waiting for Enter."""
        import readline  # noqa: F401  (importing it gives input() arrow keys, history and editing)

        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # readline looks at signals only when its wait is interrupted: a Ctrl-C that came just after the prompt was
        # drawn and before that wait began went unnoticed until the next key (seen on a busy machine). A tick
        # every half second interrupts the wait, so such a Ctrl-C still leaves at once.
        previous_alarm = signal.signal(signal.SIGALRM, lambda *_: None)
        signal.setitimer(signal.ITIMER_REAL, 0.5, 0.5)
        try:
            return input(prompt).encode("utf-8", errors="surrogateescape")
        except UnicodeDecodeError as error:  # the terminal sent bytes that are not UTF-8: Lotse says so
            return bytes(error.object)
        except (EOFError, KeyboardInterrupt):
            self.out.write("\n")
            return None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
            signal.signal(signal.SIGALRM, previous_alarm)
            signal.signal(signal.SIGINT, previous)

    async def line(self, raw: bytes) -> bool:
        """Handles one line; returns False when the person asked to leave."""
        try:
            text, undecodable = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            text, undecodable = "", True
        if not self.interactive and not undecodable:
            self.out.write(f"{self.current} › {text}\n")
        stripped = text.strip()
        if stripped in ("/quit", "/exit"):
            return False
        if stripped == "/as" or stripped.startswith("/as "):
            await self._switch(stripped[3:].strip().lower())
            return True
        event = Incoming(transport=NAME, event_id=uuid.uuid4().hex, handle=self.current, chat=self.current,
                         text=None if undecodable else text, undecodable=undecodable,
                         display_name=self.current)
        before = self.role(self.current)
        await self.receive(event)
        await self.after_each()
        if self.role(self.current) != before:  # an invite code made this persona staff
            role = self.role(self.current)
            self.note(f"{self.current} is now {'an' if role[:1] in 'aeiou' else 'a'} {role}.")
        return True

    async def _switch(self, name: str) -> None:
        if not name:
            self.note(f"Personas: {', '.join(f'{n} ({r})' for n, r in self.personas.items())}.")
            return
        if not PERSONA_NAME.match(name):
            self.note("A persona name is 1 to 32 small letters, digits, - or _, starting with a letter.")
            return
        if name not in self.personas:
            self.personas[name] = "participant"
            self.note(f"New persona {name}: a participant, unless an invite code (/start CODE) makes them staff.")
        self.current = name
        if self.on_switch is not None:
            await self.on_switch(name)
        self.note(f"You are now {name} ({self.role(name)}).")
