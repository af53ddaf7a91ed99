"""One person, one record (issue 15): linked chats, one message in one chat, duplicates found and merged (and
unmerged), participant lists imported, and the privacy rights over every chat."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from bot.app import Lotse
from bot.i18n import Translator
from bot.messages import Delivery, Outgoing
from bot.person_merge import PERSON_KEYS, person_keys, unhandled_keys
from bot.transports.base import DeliveryError
from storage.models import AuditEntry, Base, Handle, OutboxEntry, Person, Profile, Reminder
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_questions import coordinator
from tests.test_reminders import book, local, newcomer, send_due

CODE = re.compile(r"[A-HJ-NP-Z2-9]{3}-[A-HJ-NP-Z2-9]{3}")


def code_in(text: str) -> str:
    found = CODE.search(text)
    assert found is not None, text
    return found.group(0)


def second_phone(app: Lotse, name: str = "matrix") -> RecordingTransport:
    """The same Lotse reached on a second platform (a recording stand-in; the real ones are tested below)."""
    other = RecordingTransport(name=name)
    app.add_transport(other)
    return other


async def people(app: Lotse) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Person)) or 0)


async def link(first: Chat, second: Chat) -> None:
    [offer, *_] = await first.send("/link")
    await second.send(f"!link {code_in(offer.text).lower()}")  # typed in lower case in Element: still fine


# ---------------------------------------------------------------------------------------------------------------
# 1. Linking chats


async def test_a_participant_links_element_to_telegram_and_both_chats_hear_it_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    element = second_phone(app)
    amal = await newcomer(app, chat, "amal", language="العربية")
    ar = Translator("ar")
    [offer, *_] = await amal.send("/link")
    assert offer.rtl and ar("Your code for linking: {code}\n\nWithin 15 minutes", code="@").split("@")[0][:20] \
        in offer.text
    before = await people(app)
    desk = Chat(app, element, "amal-desk")
    await desk.send(f"!link {code_in(offer.text)}")
    done = ar("Done: this chat and your chat on {other} now belong together. Lotse knows you as one person, and "
              "sends each message only once, to the chat you used last. Write /link to choose another chat.",
              other="Matrix (Element)")
    assert amal.last.text == done
    assert desk.last.text == ar("Done: this chat and your chat on {other} now belong together. Lotse knows you as "
                                "one person, and sends each message only once, to the chat you used last. Write "
                                "/link to choose another chat.", other="test")
    assert await people(app) == before  # the new chat made no second record that stayed
    async with app.sessions() as session:
        handles = (await session.scalars(select(Handle).order_by(Handle.id))).all()
        owners = {h.person_id for h in handles if h.platform_id in ("amal", "amal-desk")}
        assert len(owners) == 1
        [merged] = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "person.merged"))).all()
        assert merged.subject_id in owners
    menu = await desk.send("/menu")  # Element now talks to the same record: no new consent, Arabic
    assert menu and menu[-1].rtl and "Datenschutz" not in menu[-1].text


async def test_a_wrong_expired_or_reused_code_changes_nothing(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    element = second_phone(app)
    amal = await newcomer(app, chat, "amal")
    desk = Chat(app, element, "amal-desk")
    [offer, *_] = await amal.send("/link")
    code = code_in(offer.text)
    clock.advance(minutes=16)
    [refused, *_] = await desk.send(f"/link {code}")
    assert refused.text.startswith("This code does not work.")
    for bad in ["x" * 5000, "'; DROP TABLE persons; --", "🙂🙂🙂", "\u202eABC-DEF", "AAA-AAA"]:
        [answer, *_] = await desk.send(f"/link {bad}")
    assert "Too many wrong codes" in answer.text
    [still, *_] = await desk.send(f"/link {code}")
    assert "Too many wrong codes" in still.text
    async with app.sessions() as session:
        assert len(set((await session.scalars(select(Handle.person_id))).all())) == 2


async def test_the_older_record_wins_and_keeps_both_histories(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    element = second_phone(app)
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    await book(anna, "Amal", "25.11. 10:30")
    clock.advance(minutes=5)
    desk = Chat(app, element, "amal-desk")
    await desk.send("/start")
    await desk.click("English")
    await desk.send("1")
    [offer, *_] = await desk.send("/link")  # the code comes from the newer record this time
    await amal.send(f"/link {code_in(offer.text)}")
    async with app.sessions() as session:
        amal_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "amal"))).one()
        desk_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "amal-desk"))).one()
        reminders = (await session.scalars(select(Reminder))).all()
        assert amal_id == desk_id and {r.participant_id for r in reminders} == {amal_id}
        assert (await session.get_one(Profile, amal_id)).answers["goals"] == ["apprenticeship"]


def test_every_table_that_points_at_a_person_is_handled_by_the_merge() -> None:
    assert unhandled_keys() == [], "add the new foreign key to bot.person_merge.PERSON_KEYS"
    declared = {(table.name, column) for table, column in person_keys()}
    assert set(PERSON_KEYS) == declared, "PERSON_KEYS names a column that no longer points at persons"
    assert "link_codes" in Base.metadata.tables


# ---------------------------------------------------------------------------------------------------------------
# 2. Where messages go


async def test_one_reminder_in_the_chat_used_last_and_the_other_chat_after_a_block(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    element = second_phone(app)
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, chat, "amal")
    desk = Chat(app, element, "amal-desk")
    await link(amal, desk)
    await book(anna, "Amal", "25.11. 10:30")
    await desk.send("/appointments")  # Element was used last
    before_phone, before_desk = len(amal.history), len(desk.history)
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)
    assert len(amal.history) == before_phone
    assert len(desk.history) == before_desk + 1 and desk.last.text.startswith("Reminder: ")
    [offer, *_] = await amal.send("/link")
    assert "Your chats with Lotse: test, Matrix (Element)." in offer.text
    await amal.click("Send my messages to this chat")
    assert amal.last.text == "From now on, Lotse sends your messages to this chat."
    await desk.send("/appointments")  # the choice holds, even though Element was used last
    before_phone, before_desk = len(amal.history), len(desk.history)
    clock.now = local(2026, 11, 25, 8, 30)
    await send_due(app, clock)
    assert len(desk.history) == before_desk and amal.last.text.startswith("Reminder: ")
    assert len(amal.history) == before_phone + 1


@dataclass
class BlockablePhone(RecordingTransport):
    """A platform that answers 403 for chats whose person blocked the bot, as Telegram does."""

    blocked: set[str] = field(default_factory=set)

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        if message.chat in self.blocked:
            raise DeliveryError("Forbidden: bot was blocked by the user", unreachable=True)
        return await RecordingTransport.send(self, message, edit_platform_id)


async def test_after_a_403_the_reminder_comes_in_the_other_chat_once(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    phone = BlockablePhone(name="telegram")
    app.add_transport(phone)
    element = second_phone(app)
    anna = await coordinator(app, chat, "anna")
    amal = await newcomer(app, lambda handle: Chat(app, phone, handle), "amal")
    desk = Chat(app, element, "amal-desk")
    await link(desk, amal)  # the code from Element, sent from the phone: the phone was used last
    await book(anna, "Amal", "25.11. 10:30")
    phone.blocked.add("amal")
    before_phone, before_desk = len(amal.history), len(desk.history)
    clock.now = local(2026, 11, 24, 18, 0)
    await send_due(app, clock)
    await app.drain()
    assert len(amal.history) == before_phone
    assert len(desk.history) == before_desk + 1 and desk.last.text.startswith("Reminder: ")
    async with app.sessions() as session:
        handle = (await session.scalars(select(Handle).where(Handle.platform_id == "amal"))).one()
        assert not handle.active
        rows = (await session.scalars(select(OutboxEntry).where(OutboxEntry.chat == "amal"))).all()
        assert rows[-1].status == "failed" and "other chat" in (rows[-1].last_error or "")
