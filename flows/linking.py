"""`/link`: one person on Telegram and Matrix (or two phones) is one person in Lotse.

`/link` gives a short single-use code (15 minutes; only its hash is stored). Sent from the other messenger as
`/link CODE` (or `!link CODE` in Element, or `/start CODE`), it joins that chat to the same person: the older
record keeps everything of both (`bot.services.person_merge`), and both chats hear it in the person's language. After
that, messages go to one chat only (`bot.core.reach`): the one chosen with the button here, else the one used last.

A participant imported from an organisation's list has no chat: a responsible coordinator writes
`/invitelink NUMBER` and passes the longer code on (14 days); `/start CODE` from the person's new chat attaches
that chat to the imported record, and onboarding (language, privacy consent) continues as for anyone new.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import Action, may
from bot.core.i18n import DEFAULT_LOCALE, N_, Translator
from bot.core.messages import Choice, Outgoing, button_key
from bot.core.reach import chats_in_order
from bot.services.person_merge import MergeError, merge
from bot.services.routing import is_responsible
from flows.engine import Turn
from flows.registry import Command, register, register_button, start_flow
from storage.models import AuditEntry, Conversation, Handle, LinkCode, Person, Profile

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
VALID = timedelta(minutes=15)
TRIES = 5
"""Wrong codes a chat may send in `VALID` before Lotse stops looking codes up for it (guessing is pointless)."""
INVITE_LENGTH = 8
"""An invite code for an imported record lives 14 days, so it is longer than a link code (32**8 to guess)."""
INVITE_VALID = timedelta(days=14)
TRANSPORT_NAMES = {"telegram": "Telegram", "matrix": "Matrix (Element)", "console": "Console"}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalised(text: str) -> str:
    """"abc-23x", "ABC 23X" and "ABC23X" are the same code."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def looks_like_link_code(text: str) -> bool:
    code = normalised(text)
    return len(code) in (CODE_LENGTH, INVITE_LENGTH) and all(ch in ALPHABET for ch in code)


def shown_code(code: str) -> str:
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


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
    imported = await turn.session.scalar(select(Handle.id).where(Handle.person_id == found.person_id)
                                         .limit(1)) is None
    if imported and turn.person.role != "participant":  # staff cannot take a participant's invite (nor burn it)
        turn.say(N_("This code does not work. It may be mistyped, expired (after 15 minutes) or already used. "
                    "In your other chat, write /link for a new code."))
        return
    found.used_at = turn.now
    if found.person_id == turn.person.id:
        turn.say(N_("This chat already belongs to you. Please send the code from your other messenger."))
        return
    here = (turn.handle.transport, turn.handle.chat_id)
    if imported:
        await _attach_to_imported(turn, found.person_id)
        return
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


async def _attach_to_imported(turn: Turn, imported_id: int) -> None:
    """`/start CODE` from /invitelink: this chat joins the record an organisation had entered (what it knew stays),
    then onboarding goes on as for anyone new (language, privacy consent)."""
    try:
        merged = await merge(turn.session, imported_id, turn.person.id, turn.now, reason="invite", decided_by=None)
    except MergeError:
        turn.say(N_("This code does not work. It may be mistyped, expired (after 15 minutes) or already used. "
                    "In your other chat, write /link for a new code."))
        return
    survivor = await turn.session.get_one(Person, merged.survivor_id)
    await turn.session.refresh(survivor)
    profile = await turn.session.get(Profile, survivor.id)
    entered_by = str((profile.answers if profile is not None else {}).get("imported_by") or "")
    organisation = turn.network.organisations.get(entered_by)
    turn.session.add(AuditEntry(at=turn.now, actor_id=survivor.id, subject_id=survivor.id,
                                action="person.invite_code_used",
                                details={"transport": turn.handle.transport, "merge": merged.merge_id}))
    absorbed_here = merged.absorbed_id == turn.person.id
    turn.person = survivor
    turn.say(N_("Welcome! This chat now belongs to your record in Lotse, which {organisation} had entered for "
                "you."), organisation=organisation.name if organisation is not None else entered_by or "–")
    if absorbed_here:
        # The dispatcher's conversation row is now the survivor's: this turn's flow state is written here.
        turn.state.clear()
        turn.state["flow"] = "onboarding"  # a new chat: the language is asked, even if the list had one
        start_flow(turn, "menu")
        await turn.session.execute(update(Conversation).where(Conversation.person_id == survivor.id)
                                   .values(state=dict(turn.state), updated_at=turn.now))
        turn.deleted = True
    else:
        start_flow(turn, "menu")


def may_invite(turn: Turn, person: Person, profile: Profile | None) -> bool:
    """Admins; a coordinator responsible for the record, or of an organisation that knows it (imported records
    have no consent yet, so `is_responsible` cannot see them)."""
    if person.role != "participant":
        return False
    if may(turn.person, Action.SEE_ALL):
        return True
    known_to = (profile.answers if profile is not None else {}).get("known_to") or []
    return may(turn.person, Action.BE_RESPONSIBLE) and bool(turn.person.organisation) and (
        turn.person.organisation in known_to)


async def _record(session: AsyncSession, number: str) -> tuple[Person | None, Profile | None]:
    digits = number.strip().lstrip("#").removeprefix("no.").strip()
    if not digits.isdecimal() or len(digits) > 9:
        return None, None
    person = await session.get(Person, int(digits))
    return person, (await session.get(Profile, person.id) if person is not None else None)


async def invite_link(turn: Turn, argument: str = "") -> None:
    """`/invitelink NUMBER`: a 14-day code for a participant imported without a chat, and the text to pass on."""
    person, profile = await _record(turn.session, argument)
    allowed = person is not None and (may_invite(turn, person, profile)
                                      or (may(turn.person, Action.BE_RESPONSIBLE)
                                          and await is_responsible(turn.session, turn.network, turn.person, person)))
    if person is None or not allowed:
        turn.say(N_("Please write /invitelink and the number of a participant you are responsible for, as shown "
                    "in /case or /duplicates. Example: /invitelink 12"))
        return
    if await turn.session.scalar(select(Handle.id).where(Handle.person_id == person.id).limit(1)) is not None:
        turn.say(N_("No. {number} already has a chat with Lotse. An invite code is only for a record without a "
                    "chat."), number=person.id)
        return
    await turn.session.execute(update(LinkCode).where(LinkCode.person_id == person.id,
                                                      LinkCode.used_at.is_(None)).values(used_at=turn.now))
    code = "".join(secrets.choice(ALPHABET) for _ in range(INVITE_LENGTH))
    expires = turn.now + INVITE_VALID
    turn.session.add(LinkCode(person_id=person.id, code_hash=code_hash(code), created_at=turn.now,
                              expires_at=expires))
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=person.id,
                                action="person.invite_code_issued", details={"expires": expires.isoformat()}))
    shown = shown_code(code)
    turn.say(N_("Invite code for no. {number} ({name}), valid until {date}. Only one code works at a time. "
                "Please pass on the next message to them."), number=person.id, name=person.display_name or "–",
             date=turn.t.date(expires))
    theirs = Translator(person.locale or turn.t.locale, person.time_zone)
    turn.outgoing.append(Outgoing(transport=turn.handle.transport, chat=turn.handle.chat_id,
                                  text=theirs(PASS_ON, code=shown), locale=theirs.locale, rtl=theirs.rtl))


PASS_ON = N_("Write /start {code} to Lotse on Telegram or Matrix (in Element: !start {code}).")


WHICH_CHAT = N_("Which chat should Lotse write to?")


async def has_several_chats(session: AsyncSession, person_id: int) -> bool:
    """Whether `/settings` offers the choice of chat (one chat: nothing to choose)."""
    count = len((await session.scalars(select(Handle.id).where(Handle.person_id == person_id).limit(2))).all())
    return count > 1


async def choose_chat(turn: Turn) -> None:
    """From `/settings`: one button per chat; the same choice as the button under `/link`."""
    every = (await turn.session.scalars(select(Handle).where(Handle.person_id == turn.person.id)
                                        .order_by(Handle.id))).all()
    listing, _ = await chats_text(turn)
    choices = [Choice(button_key("link", "here"), turn.t(N_("Send my messages to this chat")))
               if handle.id == turn.handle.id else
               Choice(button_key("link", f"to:{handle.id}"), chat_name(handle.transport)) for handle in every]
    turn.send("\n\n".join([turn.t(WHICH_CHAT), *([listing] if listing else [])]), choices=choices,
              selection="single")


async def _choose_this_chat(turn: Turn, payload: str) -> None:
    chosen: Handle | None = turn.handle
    if payload.startswith("to:") and payload[3:].isdecimal() and len(payload) < 16:
        other = await turn.session.get(Handle, int(payload[3:]))
        chosen = other if other is not None and other.person_id == turn.person.id else None
    elif payload != "here":
        chosen = None
    if chosen is None:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    await turn.session.execute(update(Handle).where(Handle.person_id == turn.person.id).values(
        preferred=Handle.id == chosen.id))
    if chosen.id == turn.handle.id:
        turn.say(N_("From now on, Lotse sends your messages to this chat."))
    else:
        turn.say(N_("From now on, Lotse sends your messages to your chat on {chat}."),
                 chat=chat_name(chosen.transport))



register(None, Command("link", N_("Link your other chat (Telegram, Matrix): one person, one record"),
                       action=open_link, needs_consent=False))
register(None, Command("invitelink", N_("Invite code for an imported participant without a chat: /invitelink "
                                         "NUMBER"), action=invite_link, roles=frozenset({"coordinator", "admin"})))
register_button("link", _choose_this_chat)
