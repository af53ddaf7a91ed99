"""A flow that uses every input kind, registered only in tests, to drive the engine through real turns."""

from __future__ import annotations

from typing import Any

from bot.core.messages import Choice, Outgoing
from flows.engine import END, Flow, InputKind, Next, Step, Turn
from storage.models import OutboxEntry

SEEN: list[dict[str, Any]] = []


async def _finish(turn: Turn, _value: Any) -> Next:
    SEEN.append(dict(turn.data))
    turn.send("saved: " + repr({k: v for k, v in turn.data.items() if not k.startswith("_")}))
    return END


def _colours(_turn: Turn) -> list[Choice]:
    return [Choice("red", "Rot"), Choice("green", "Grün"), Choice("blue", "Blau")]


async def _explode(turn: Turn, _value: Any) -> Next:
    """Writes to the database before it raises: what it wrote must be rolled back with its event."""
    turn.send("this message must never be sent")
    turn.person.display_name = "must never be kept"
    turn.session.add(OutboxEntry(transport=turn.handle.transport, chat=turn.handle.chat_id,
                                 payload=Outgoing(transport=turn.handle.transport, chat=turn.handle.chat_id,
                                                  text="this row must never be sent").to_json()))
    await turn.session.flush()
    raise RuntimeError("flow bug")


EVERY_KIND = Flow(
    name="every_kind",
    steps=(
        Step("note", "Write a note.", InputKind.TEXT, next="colours", max_length=200),
        Step("colours", "Which colours?", InputKind.MULTI, options=_colours, next="when"),
        Step("when", "When?", InputKind.DATETIME, next="photo"),
        Step("photo", "A photo, please.", InputKind.ATTACHMENT, next="sure", optional=True),
        Step("sure", "Sure?", InputKind.YES_NO, on_answer=_finish),
    ),
)

EXPLODING = Flow(name="exploding", steps=(Step("boom", "Say anything.", InputKind.TEXT, on_answer=_explode),))
