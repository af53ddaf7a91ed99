"""Which message a typed number or label answers, when Lotse has sent more than one message with choices.

Telegram shows buttons; Matrix and the console show numbered lists that people answer by typing "2" or the option's
words (and some Telegram users type too). Choices come in two sorts: the current question of the conversation (keys
"seq:key", read by the flow engine) and notices Lotse sends on its own: an appointment, a reminder, a pairing to agree
to, a question for coordinators (keys "@prefix:payload", see `flows.registry.BUTTON_ACTIONS`).

A typed answer belongs to the newest message with choices that the person has not answered yet and that has an
option for it; a reply to a message (Matrix, Telegram) answers that message. When two such messages arrived since
the person last wrote and both could be meant (both have an option 2, and they are not the same question sent
twice), Lotse asks once which one. The main menu never competes: it is where people rest, not a question.

The outbox is the truth about what was sent; which notices are still open is kept in the conversation state
(`state["choices"]`), so it survives a restart like every other part of a conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from bot.core.i18n import N_
from bot.core.messages import Choice
from bot.core.text import clean_text
from flows.engine import Step, Turn, accepts, looks_like_number, names_option, pick_option, prompt_text
from storage.models import Handle, OutboxEntry

STATE = "choices"
OPEN_FOR = timedelta(days=7)
"""A notice nobody answered within a week is no longer what a typed number means."""
MAX_OPEN = 10
MAX_TYPED = 200
"""Longer text is no option's label: it is not looked up at all."""
WHICH = "which"
"""The button prefix of the question "which message is your answer for?"."""
EXCERPT = 48


def offers_own_choices(turn: Turn, new_only: bool = False) -> bool:
    """Whether this turn already sent the person a message with choices (/ticket 1's "Take it", the list of open
    questions): the menu must not follow it, or the next number would open a menu entry instead. `new_only`: an
    earlier message edited in place (a notice saying "handed over") does not count, it is not the newest."""
    return any(message.choices and message.chat == turn.incoming.chat and not (new_only and message.edit_of)
               for message in turn.outgoing)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message with buttons of its own, as the person's chat shows it now (its latest edit)."""

    row: int
    """The outbox row of this version; newer rows are newer messages."""
    text: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a typed answer turned out to be: a notice's button (`key`), the current question's answer typed
    earlier (`text`), or nothing to do because Lotse asked which message was meant (`asked`)."""

    key: str | None = None
    text: str | None = None
    asked: bool = False


def _notice_keys(payload: dict[str, Any]) -> list[str]:
    """The keys of a message whose every button lives outside the conversation's current question."""
    keys = [str(choice.get("key", "")) for choice in payload.get("choices") or ()]
    return keys if keys and all(key.startswith("@") for key in keys) else []


async def _chats(turn: Turn) -> Any:
    """A filter for the outbox rows of every chat of this person (one person, many handles)."""
    found = (await turn.session.execute(
        select(Handle.transport, Handle.chat_id).where(Handle.person_id == turn.person.id))).all()
    pairs = {(str(transport), str(chat)) for transport, chat in found} | {(turn.handle.transport, turn.handle.chat_id)}
    return or_(*(and_(OutboxEntry.transport == transport, OutboxEntry.chat == chat) for transport, chat in pairs))


async def _first_mark(turn: Turn) -> int:
    """Where a conversation that never looked starts: at its current question (older notices are behind it);
    someone who never had a question is new, or staff a notice may already be waiting for."""
    prompt = turn.state.get("prompt_outbox")
    if prompt:
        return int(prompt)
    if turn.person.created_at is not None and turn.person.created_at >= turn.now:
        return int(await turn.session.scalar(select(func.max(OutboxEntry.id))) or 0)
    return 0


async def refresh(turn: Turn) -> int:
    """Takes in the messages that reached the person since the last look; returns the newest outbox row that
    had reached them when they last wrote (what came after it is new to them)."""
    track: dict[str, Any] = turn.state.setdefault(STATE, {})
    before = track.get("scanned")
    if not isinstance(before, int):
        before = await _first_mark(turn)
    rows = (await turn.session.execute(
        select(OutboxEntry.id, OutboxEntry.payload, OutboxEntry.created_at)
        .where(OutboxEntry.id > before, await _chats(turn)).order_by(OutboxEntry.id))).all()
    entries: list[dict[str, Any]] = [entry for entry in track.get("open", []) if isinstance(entry, dict)]
    newest = before
    for row_id, payload, created_at in rows:
        newest = max(newest, row_id)
        edit_of = payload.get("edit_of")
        screen = int(edit_of) if edit_of else row_id
        keys = _notice_keys(payload)
        if keys or edit_of:  # an edit replaces the message on screen: new buttons, or none any more
            entries = [entry for entry in entries if entry.get("screen") != screen]
        if keys:
            entries.append({"row": row_id, "screen": screen, "keys": keys, "at": created_at.isoformat()})
    horizon = turn.now - OPEN_FOR
    entries = [entry for entry in entries if datetime.fromisoformat(entry["at"]) >= horizon
               and not (_is_which(entry) and entry["row"] <= before)][-MAX_OPEN:]
    if not any(_is_which(entry) for entry in entries):
        track.pop("which", None)  # "which message did you mean?" is for the message right after it only
    track.update(scanned=newest, open=entries)
    return before


def _is_which(entry: dict[str, Any]) -> bool:
    return any(str(key).startswith(f"@{WHICH}:") for key in entry.get("keys", ()))


def close(turn: Turn, key: str) -> None:
    """A button was answered: every open message offering it is answered (its copies on other chats too)."""
    track = turn.state.get(STATE)
    if isinstance(track, dict):
        track["open"] = [entry for entry in track.get("open", []) if key not in entry.get("keys", ())]


async def _open_here(turn: Turn) -> list[Notice]:
    """The open notices of the chat the person writes in, newest first."""
    track = turn.state.get(STATE) or {}
    ids = [int(entry["row"]) for entry in track.get("open", [])]
    if not ids:
        return []
    rows = (await turn.session.execute(
        select(OutboxEntry.id, OutboxEntry.payload).where(
            OutboxEntry.id.in_(ids), OutboxEntry.transport == turn.handle.transport,
            OutboxEntry.chat == turn.handle.chat_id).order_by(OutboxEntry.id.desc()))).all()
    return [_notice(row_id, payload) for row_id, payload in rows if _notice_keys(payload)]


def _notice(row_id: int, payload: dict[str, Any]) -> Notice:
    return Notice(row_id, str(payload.get("text") or ""),
                  tuple(Choice(str(c["key"]), str(c["label"])) for c in payload.get("choices") or ()))


async def _replied(turn: Turn, reply_to: str) -> Notice | None:
    """The message a platform reply points at, as it reads now (edits keep the platform's message id)."""
    chat = turn.incoming.chat if turn.incoming.in_group else turn.handle.chat_id
    found = (await turn.session.execute(
        select(OutboxEntry.id, OutboxEntry.payload).where(
            OutboxEntry.transport == turn.incoming.transport, OutboxEntry.chat == chat,
            OutboxEntry.platform_message_id == reply_to).order_by(OutboxEntry.id.desc()).limit(1))).first()
    if found is None or not _notice_keys(found[1]):
        return None
    return _notice(found[0], found[1])


async def replied_choice(turn: Turn) -> str | None:
    """The button a reply names ("1" in reply to a notice, also in a coordinators' room); None when the reply
    names none of its options (then it is a message of its own, e.g. the answer to a question)."""
    text = clean_text(turn.incoming.text or "")
    if turn.incoming.reply_to is None or not text or len(text) > MAX_TYPED:
        return None
    target = await _replied(turn, turn.incoming.reply_to)
    choice = pick_option(text, target.choices) if target is not None else None
    return choice.key if choice is not None else None


async def resolve(turn: Turn, step: Step | None, resting: bool, before: int) -> Resolution | None:
    """Decides which message typed text answers; None when it is for the current question or is no choice at all.

    `step` is the current question (None when there is none), `resting` says it does not compete with a notice
    (the main menu, or a question left unanswered before a break), `before` is what `refresh` returned."""
    text = clean_text(turn.incoming.text or "")
    if not text and (turn.incoming.attachment is not None or turn.incoming.choice is not None):
        return None
    if len(text) > MAX_TYPED:
        return None
    if text and turn.incoming.reply_to is not None:
        target = await _replied(turn, turn.incoming.reply_to)
        if target is not None:  # a reply answers the message replied to, or is a message of its own
            choice = pick_option(text, target.choices)
            return Resolution(key=choice.key) if choice is not None else None
    notices = await _open_here(turn)
    if not notices:
        return None
    prompt_row = int(turn.state.get("prompt_outbox") or 0)
    newest = notices[0]
    if newest.row > prompt_row and _is_which({"keys": [choice.key for choice in newest.choices]}):
        # "Which message?" was just asked: an empty line or a number that is none of its options asks it again,
        # never passed on to an older message or the menu (a "3" there opened the profile and dropped the answer
        # it was about; an empty line dropped the question).
        if not text:
            return _ask_again(turn, newest, turn.t(N_("Your message was empty. Please write your answer.")))
        if looks_like_number(text) and pick_option(text, newest.choices) is None:
            return _ask_again(turn, newest, turn.t(N_("Please answer with a number from 1 to {count}."),
                                                   count=len(newest.choices)))
    if not text:
        return None
    if step is not None and not resting and prompt_row > newest.row and looks_like_number(text):
        # A number under the newest question is for that question; out of its range, the question says so and
        # asks again. It never falls through to an older message's buttons (a play-tester's "3" at "Is what you
        # wrote an answer? 1-2" pressed "Close" on an older notice and closed the participant's question).
        return None
    entries: list[tuple[int, Notice | None]] = [(notice.row, notice) for notice in notices]
    if step is not None:
        entries.append((prompt_row, None))
    entries.sort(key=lambda entry: entry[0], reverse=True)
    for _, notice in entries:
        if notice is None:
            if step is not None and accepts(turn, step):
                return None  # the current question is newer than every notice this could answer
            continue
        choice = pick_option(text, notice.choices)
        if choice is not None:
            break
    else:
        return None
    assert notice is not None and choice is not None
    rivals = [(other, picked) for other in notices if other.row > before and other is not notice
              and (picked := pick_option(text, other.choices)) is not None and picked.key != choice.key]
    current_rivals = (step is not None and not resting and prompt_row > before and prompt_row < notice.row
                      and names_option(turn, step))
    if not rivals and not current_rivals:
        return Resolution(key=choice.key)
    named = [(notice, choice), *rivals]
    heads = [_label(message.text, picked.label, first=True) for message, picked in named]
    if len(set(heads)) < len(heads):  # two bookings of one kind read alike: their second lines (the day) tell
        heads = [_label(message.text, picked.label, first=True, lines=2) for message, picked in named]
    options = [Choice(f"@{WHICH}:n{message.row}", head) for (message, _), head in zip(named, heads, strict=True)]
    if current_rivals and step is not None:
        options.append(Choice(f"@{WHICH}:q{turn.state.get('seq', 0)}",
                              _label(prompt_text(turn, step), _current_label(turn, step, text), first=False)))
    _ask(turn, text, options)
    return Resolution(asked=True)


def _current_label(turn: Turn, step: Step, text: str) -> str:
    from flows.engine import shown_options

    picked = pick_option(text, shown_options(turn, step))
    return picked.label if picked is not None else text


def _label(text: str, option: str, first: bool, lines: int = 1) -> str:
    """What the person recognises a message by: its first line (a notice's headline) or its last (a question);
    `lines`: that many first lines, when one does not tell two messages apart."""
    shown = [line.strip() for line in text.splitlines() if line.strip()]
    line = (" · ".join(shown[:lines]) if first else shown[-1]) if shown else ""
    if len(line) > EXCERPT * lines:
        line = line[:EXCERPT * lines - 1].rstrip() + "…"
    return f"{line} – {option}" if line else option


def _ask_again(turn: Turn, which: Notice, hint: str) -> Resolution:
    track = turn.state.get(STATE) or {}
    turn.send(hint)
    _ask(turn, str(track.get("which") or ""), list(which.choices))
    return Resolution(asked=True)


def _ask(turn: Turn, text: str, options: list[Choice]) -> None:
    track: dict[str, Any] = turn.state.setdefault(STATE, {})
    track["open"] = [entry for entry in track.get("open", []) if not _is_which(entry)]  # superseded
    track["which"] = text
    turn.send(turn.t(N_("Which message is your answer “{answer}” for?"), answer=text[:20]), options, "single")


async def which_chosen(turn: Turn, payload: str) -> Resolution | None:
    """The person said which message their earlier answer was for; None when that question is over."""
    track = turn.state.get(STATE)
    text = track.pop("which", None) if isinstance(track, dict) else None
    if not isinstance(text, str):
        return None
    if payload.startswith("q"):
        return Resolution(text=text) if payload[1:] == str(turn.state.get("seq", 0)) else None
    if not payload[1:].isdigit():
        return None
    found = (await turn.session.execute(
        select(OutboxEntry.id, OutboxEntry.payload).where(
            OutboxEntry.id == int(payload[1:]), OutboxEntry.transport == turn.handle.transport,
            OutboxEntry.chat == turn.handle.chat_id))).first()
    if found is None or not _notice_keys(found[1]):
        return None
    choice = pick_option(text, _notice(found[0], found[1]).choices)
    return Resolution(key=choice.key) if choice is not None else None
