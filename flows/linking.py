"""`/link`: one person on Telegram and Matrix (or two phones) is one person in Lotse.

`/link` gives a short single-use code (15 minutes; only its hash is stored). Sent from the other messenger as
`/link CODE` (or `!link CODE` in Element, or `/start CODE`), it joins that chat to the same person: the older
record keeps everything of both (`bot.person_merge`), and both chats hear it in the person's language. After
that, messages go to one chat only (`bot.reach`): the one chosen with the button here, else the one used last.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.i18n import DEFAULT_LOCALE, N_, Translator
from bot.messages import Choice, Outgoing
from bot.person_merge import MergeError, merge
from bot.reach import chats_in_order
from flows.conversation import Command, button_key, register, register_button
from flows.engine import Turn
from storage.models import AuditEntry, Handle, LinkCode, Person

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
VALID = timedelta(minutes=15)
TRIES = 5
"""Wrong codes a chat may send in `VALID` before Lotse stops looking codes up for it (guessing is pointless)."""
TRANSPORT_NAMES = {"telegram": "Telegram", "matrix": "Matrix (Element)", "console": "Console"}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalised(text: str) -> str:
    """"abc-23x", "ABC 23X" and "ABC23X" are the same code."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_link_code(text: str) -> bool:
    code = normalised(text)
    return len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code)


def shown_code(code: str) -> str:
    return f"{code[:3]}-{code[3:]}"


def chat_name(transport: str) -> str:
    return TRANSPORT_NAMES.get(transport, transport)


async def new_link_code(turn: Turn) -> str:
    """A fresh code for this person; their earlier unused codes stop working."""
    await turn.session.execute(update(LinkCode).where(LinkCode.person_id == turn.person.id,
                                                      LinkCode.used_at.is_(None)).values(used_at=turn.now))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    turn.session.add(LinkCode(person_id=turn.person.id, code_hash=code_hash(code), created_at=turn.now,
                              expires_at=turn.now + VALID))
    return code


async def chats_text(turn: Turn) -> tuple[str | None, bool]:
    """Which chats the person has and where messages go; whether this chat could be chosen."""
    handles = (await chats_in_order(turn.session, [turn.person.id])).get(turn.person.id, [])
    every = (await turn.session.scalars(select(Handle).where(Handle.person_id == turn.person.id)
                                        .order_by(Handle.id))).all()
    if len(every) < 2:
        return None, False
    names = ", ".join(chat_name(h.transport) for h in every)
    lines = [turn.t(N_("Your chats with Lotse: {chats}."), chats=names)]
    if handles:
        lines.append(turn.t(N_("Messages go to: {chat}."), chat=chat_name(handles[0].transport)))
    return "\n".join(lines), not turn.handle.preferred


async def open_link(turn: Turn, argument: str = "") -> None:
    """`/link` gives a code; `/link CODE` joins this chat to the person the code belongs to."""
    if argument.strip():
        await link_with_code(turn, argument)
        return
    code = await new_link_code(turn)
    lines = [turn.t(N_("Your code for linking: {code}\n\nWithin 15 minutes, write this to Lotse from your other "
                       "messenger (Telegram or Matrix): /link {code}\nIn Element you can also write: !link {code}\n"
                       "\nAfterwards Lotse knows both chats as one person: your answers, questions and "
                       "appointments are kept together."), code=shown_code(code))]
    listing, can_choose = await chats_text(turn)
    if listing:
        lines.append(listing)
    choices = [Choice(button_key("link", "here"), turn.t(N_("Send my messages to this chat")))] if can_choose else []
    turn.send("\n\n".join(lines), choices=choices, selection="single" if choices else "none")


def _recent_failures(turn: Turn) -> list[str]:
    since = turn.now - VALID
    tries: list[str] = [at for at in turn.state.get("link_failures", [])
                        if isinstance(at, str) and datetime.fromisoformat(at) > since]
    turn.state["link_failures"] = tries
    return tries


async def link_with_code(turn: Turn, text: str) -> None:
    code = normalised(text)
    tries = _recent_failures(turn)
    if len(tries) >= TRIES:
        turn.say(N_("Too many wrong codes. Please wait 15 minutes, then ask for a new code with /link in your "
                    "other chat."))
        return
    found = None
    if looks_like_link_code(code):
        found = (await turn.session.scalars(select(LinkCode).where(LinkCode.code_hash == code_hash(code)))).first()
    if found is None or found.used_at is not None or found.expires_at <= turn.now:
        tries.append(turn.now.isoformat())
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="link.refused", details={}))
        turn.say(N_("This code does not work. It may be mistyped, expired (after 15 minutes) or already used. "
                    "In your other chat, write /link for a new code."))
        return
    found.used_at = turn.now
    if found.person_id == turn.person.id:
        turn.say(N_("This chat already belongs to you. Please send the code from your other messenger."))
        return
    here = (turn.handle.transport, turn.handle.chat_id)
    try:
        merged = await merge(turn.session, found.person_id, turn.person.id, turn.now, reason="link",
                             decided_by=None)
    except MergeError:
        turn.say(N_("This code does not work. It may be mistyped, expired (after 15 minutes) or already used. "
                    "In your other chat, write /link for a new code."))
        return
    survivor = await turn.session.get(Person, merged.survivor_id)
    assert survivor is not None
    await turn.session.refresh(survivor)
    t = Translator(survivor.locale or turn.t.locale or DEFAULT_LOCALE, survivor.time_zone)
    handles = (await turn.session.scalars(select(Handle).where(Handle.person_id == survivor.id)
                                          .order_by(Handle.id))).all()
    for handle in handles:
        others = ", ".join(dict.fromkeys(chat_name(h.transport) for h in handles if h.id != handle.id))
        text_ = t(N_("Done: this chat and your chat on {other} now belong together. Lotse knows you as one "
                     "person, and sends each message only once, to the chat you used last. Write /link to "
                     "choose another chat."), other=others)
        turn.outgoing.append(Outgoing(transport=handle.transport, chat=handle.chat_id, text=text_,
                                      locale=t.locale, rtl=t.rtl))
    if merged.absorbed_id == turn.person.id:
        # This chat's own record is gone: nothing of this turn may be written to it any more.
        turn.person = survivor
        turn.deleted = True
    elif here not in {(h.transport, h.chat_id) for h in handles}:
        turn.deleted = True


async def _choose_this_chat(turn: Turn, payload: str) -> None:
    if payload != "here":
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    await turn.session.execute(update(Handle).where(Handle.person_id == turn.person.id).values(
        preferred=Handle.id == turn.handle.id))
    turn.say(N_("From now on, Lotse sends your messages to this chat."))



register(None, Command("link", N_("Link your other chat (Telegram, Matrix): one person, one record"),
                       action=open_link, needs_consent=False))
register_button("link", _choose_this_chat)
