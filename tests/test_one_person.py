"""One person, one record (issue 15): linked chats, one message in one chat, duplicates found and merged (and
unmerged), participant lists imported, and the privacy rights over every chat."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.i18n import Translator
from bot.core.messages import Delivery, Outgoing
from bot.jobs.imports import import_participants
from bot.runtime.app import Lotse
from bot.runtime.transport import DeliveryError
from bot.services.person_merge import PERSON_KEYS, person_keys, unhandled_keys
from bot.services.reminders import appointment_key, deliver_due, plan
from storage.models import (
    Appointment,
    AuditEntry,
    Base,
    Handle,
    LinkCode,
    OutboxEntry,
    Person,
    PersonMerge,
    Profile,
    Reminder,
)
from tests import test_relay_across_transports as relay
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.matrix_people import MatrixPerson
from tests.synapse_server import SynapseServer
from tests.telegram_standin import BotApiStandIn
from tests.test_intake import ANSWERS
from tests.test_matrix import LotseOnMatrix, ask, coordinator_over_matrix
from tests.test_matrix import person as matrix_person
from tests.test_questions import coordinator, participant
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


async def count_people(app: Lotse) -> int:
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
    code = code_in(offer.text)
    assert offer.rtl and offer.text == ar(
        "Your code for linking: {code}\n\nWithin 15 minutes, write this to Lotse from your other messenger "
        "(Telegram or Matrix): /link {code}\nIn Element you can also write: !link {code}\n\nAfterwards Lotse "
        "knows both chats as one person: your answers, questions and appointments are kept together.", code=code)
    before = await count_people(app)
    desk = Chat(app, element, "amal-desk")
    await desk.send(f"!link {code}")
    done = ar("Done: this chat and your chat on {other} now belong together. Lotse knows you as one person, and "
              "sends each message only once, to the chat you used last. Write /link to choose another chat.",
              other="Matrix (Element)")
    assert amal.last.text == done
    assert desk.last.text == ar("Done: this chat and your chat on {other} now belong together. Lotse knows you as "
                                "one person, and sends each message only once, to the chat you used last. Write "
                                "/link to choose another chat.", other="test")
    assert await count_people(app) == before  # the new chat made no second record that stayed
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
    assert unhandled_keys() == [], "add the new foreign key to bot.services.person_merge.PERSON_KEYS"
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
        rows = (await session.scalars(select(OutboxEntry).where(OutboxEntry.chat == "amal")
                                      .order_by(OutboxEntry.id))).all()
        assert rows[-1].status == "failed" and "other chat" in (rows[-1].last_error or "")


# ---------------------------------------------------------------------------------------------------------------
# 3. Duplicates: one notice, "Same person" merges, undo restores exactly, "Different people" is remembered

SKIPPED_IN_DUMP = {"inbox", "outbox", "audit_log", "person_merges", "duplicate_suggestions"}


async def dump(app: Lotse, without: set[int] = frozenset()) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (but the logs, and the conversations of the staff who click), comparable."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with app.sessions() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIPPED_IN_DUMP:
                continue
            rows = (await session.execute(select(table))).mappings().all()
            found[table.name] = sorted(
                (dict(row) for row in rows
                 if not (table.name == "conversations" and row["person_id"] in without)),
                key=repr)
    return found


async def anna_id(app: Lotse) -> int:
    async with app.sessions() as session:
        return (await session.scalars(select(Handle.person_id).where(Handle.platform_id == "anna"))).one()


async def test_the_same_phone_twice_is_one_notice_and_same_person_merges_and_undo_restores_exactly(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    await participant(chat, "amal")
    before_second = len(anna.history)
    await participant(chat, "amal-at-the-jobcenter")  # the same phone number in the intake
    notices = [m for m in anna.history[before_second:] if m.text.startswith("Possibly the same person twice")]
    assert len(notices) == 1
    notice = notices[0]
    assert "(the same phone number)" in notice.text and notice.text.count("+4915123456789") == 2
    assert [c.label for c in notice.choices] == ["Same person", "Different people"]
    listing = await anna.send("/duplicates")
    assert listing[0].text == "Possible duplicates waiting for a decision: 1"
    before = await dump(app, {await anna_id(app)})
    [done, *_] = await anna.click("Same person")
    assert done.text.startswith("Done: no. ") and "undo this within 14 days" in done.text
    async with app.sessions() as session:
        assert len((await session.scalars(select(Profile))).all()) == 1
        assert len(set((await session.scalars(select(Handle.person_id).where(
            Handle.platform_id.startswith("amal")))).all())) == 1
    [undone, *_] = await anna.click("Undo")
    assert undone.text.startswith("Undone: no. ")
    assert await dump(app, {await anna_id(app)}) == before
    async with app.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.startswith("person.")))).all()
        assert list(actions) == ["person.merged", "person.unmerged"]
    [nothing, *_] = await anna.send("/duplicates")  # undone means different people: not asked again
    assert nothing.text == "No possible duplicates are waiting for you."


async def test_different_people_is_remembered_and_only_responsible_coordinators_hear_of_it(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    far = await coordinator(app, chat, "far", districts=["wilhelmshaven"])
    await participant(chat, "amal")
    await participant(chat, "amal-again")
    assert not [m for m in far.history if m.text.startswith("Possibly the same person")]
    [answer, *_] = await anna.click("Different people")
    assert answer.text == "Noted: two different people. Lotse will not ask about these two again."
    [again, *_] = await anna.click("Same person")  # the same notice's other button, pressed later
    assert again.text == "Someone already decided about these two records."
    [nothing, *_] = await far.send("/duplicates")
    assert nothing.text == "No possible duplicates are waiting for you."


# ---------------------------------------------------------------------------------------------------------------
# 4. Importing an organisation's participant list

PLANTED = [  # (as the Jobcenter wrote it, as the chamber's list has it): five scripts
    ("Mohammed Al-Hassan", "محمد الحسن"), ("Khalid Omar", "خالد عمر"), ("Mariam Yusuf", "مريم يوسف"),
    ("Ahmad Haddad", "أحمد حداد"),
    ("Reza Ahmadi", "رضا احمدی"), ("Zahra Mohammadi", "زهرا محمدی"), ("Hamid Sultani", "حمید سلطانی"),
    ("Fatima Hussaini", "فاطمه حسینی"),
    ("Yonas Tesfaye", "ዮናስ ተስፋየ"), ("Semhar Gebremedhin", "ሰምሃር ገብረመድህን"), ("Tesfay Kidane", "ተስፋይ ኪዳነ"),
    ("Senait Berhane", "ሰናይት በርሀነ"),
    ("Olena Kovalenko", "Олена Коваленко"), ("Dmytro Shevchenko", "Дмитро Шевченко"),
    ("Natalia Ivanova", "Наталья Иванова"), ("Andrii Melnyk", "Андрій Мельник"),
    ("Mohamad Alkhatib", "Muhammad Al-Khatib"), ("Abdullah Noori", "Abdulla Nouri"),
    ("Yohannes Gebre", "Johannes Gebre"), ("Oleksandr Bondarenko", "Aleksandr Bondarenko"),
]
FIRST_NAMES = ["Ahmad", "Ali", "Omar", "Hassan", "Youssef", "Ibrahim", "Samir", "Karim", "Nour", "Layla", "Aisha",
               "Huda", "Rania", "Salma", "Farid", "Jawad", "Nadia", "Parisa", "Shirin", "Mehdi", "Sina", "Habib",
               "Gul", "Wahid", "Shabnam", "Bilal", "Tariq", "Amanuel", "Dawit", "Filmon", "Helen", "Ruth", "Saba",
               "Selam", "Mulu", "Iryna", "Oksana", "Serhii", "Yulia", "Taras", "Kateryna", "Bohdan", "Mustafa",
               "Emre", "Elif", "Zeynep", "Abdi", "Hodan", "Farah", "Jamal"]
LAST_NAMES = ["Saleh", "Nasser", "Mansour", "Darwish", "Khoury", "Haidari", "Rahimi", "Azizi", "Jafari", "Amiri",
              "Popal", "Stanekzai", "Habte", "Tekle", "Mehari", "Woldu", "Ghebre", "Kovalchuk", "Tkachenko",
              "Kravchenko", "Boyko", "Lysenko", "Marchenko", "Yilmaz", "Kaya", "Demir", "Aydin", "Warsame",
              "Farah", "Hussein", "Abdi", "Osman", "Barzani", "Rashid", "Qasim", "Naderi", "Sharifi", "Karimi",
              "Zaher", "Baraki"]
HEADER = "Name;Telefon;Landkreis;Sprache;Ziele;Deutsch;Geburtsjahr\n"


def participant_lists(seed: int = 15) -> tuple[str, str, dict[int, str]]:
    """The Jobcenter's list (the planted originals and 30 others) and the chamber's 200 lines, of which 20 are the
    same people written in another script; returns both files and, per chamber line, the original's name."""
    import random

    chance = random.Random(seed)
    districts = ["ammerland", "cloppenburg", "friesland", "landkreis_oldenburg", "vechta", "wesermarsch",
                 "delmenhorst", "stadt_oldenburg", "wilhelmshaven"]
    taken = {latin for latin, _ in PLANTED}
    names: list[str] = []
    while len(names) < 210:
        name = f"{chance.choice(FIRST_NAMES)} {chance.choice(LAST_NAMES)}"
        if name not in taken:
            taken.add(name)
            names.append(name)

    def line(name: str, district: str, year: int, language: str = "ar") -> str:
        return f"{name};;{district};{language};Ausbildung;A2;{year}\n"

    jobcenter = HEADER
    planted: list[tuple[str, str, int]] = []
    for latin, _ in PLANTED:
        district, year = chance.choice(districts), chance.randint(1975, 2004)
        planted.append((latin, district, year))
        jobcenter += line(latin, district, year)
    for name in names[:30]:
        jobcenter += line(name, chance.choice(districts), chance.randint(1970, 2005))
    rows = [line(name, chance.choice(districts), chance.randint(1970, 2005)) for name in names[30:]]
    spots = sorted(chance.sample(range(200), 20))
    expected: dict[int, str] = {}
    for spot, (_latin, district, year), (_, written) in zip(spots, planted, PLANTED, strict=True):
        rows.insert(spot, line(written, district, year + chance.choice((-1, 0, 0, 1))))
    for index, row in enumerate(rows):
        for (latin, _district, _year), (_, written) in zip(planted, PLANTED, strict=True):
            if row.startswith(f"{written};"):
                expected[index + 2] = latin  # line numbers count the header
    return jobcenter, HEADER + "".join(rows[:200]), expected


async def test_two_hundred_lines_with_twenty_planted_duplicates_in_five_scripts(
        app: Lotse, clock: FakeClock, tmp_path: Path) -> None:
    jobcenter, chamber, expected = participant_lists()
    (tmp_path / "jobcenter.csv").write_text(jobcenter, encoding="utf-8")
    (tmp_path / "ihk.csv").write_text(chamber, encoding="utf-8")
    first = await import_participants(app.sessions, tmp_path / "jobcenter.csv", clock(), app.network, "jobcenter")
    assert not first.rejected and len(first.created) == 50
    async with app.sessions() as session:
        names = {p.id: p.display_name for p in (await session.scalars(select(Person))).all()}
    dry = await import_participants(app.sessions, tmp_path / "ihk.csv", clock(), app.network, "ihk", dry_run=True)
    assert await count_people(app) == 50  # the dry run wrote nothing
    report = await import_participants(app.sessions, tmp_path / "ihk.csv", clock(), app.network, "ihk")
    assert dry.linked == report.linked  # the dry run said what then happened (new numbers aside)
    assert [(line, other) for line, _, other, _ in dry.suggested] == [
        (line, other) for line, _, other, _ in report.suggested]
    matched = {line: names.get(number) for line, number, _ in report.linked}
    matched.update({line: names.get(other) for line, _, other, _ in report.suggested})
    found = sum(1 for line, original in expected.items() if matched.get(line) == original)
    false = sum(1 for line, original in matched.items() if expected.get(line) != original)
    assert len(expected) == 20
    assert found >= 18, (found, report.lines(tmp_path / "ihk.csv"))
    assert false <= 3, (false, report.lines(tmp_path / "ihk.csv"))
    assert await count_people(app) == 50 + len(report.created) and len(report.created) + len(report.linked) == 200


async def test_a_list_with_bad_lines_is_refused_whole_with_line_numbers(
        app: Lotse, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(HEADER + "Amal Haddad;0151 23456789;Stadt Oldenburg;Arabisch;Ausbildung;A2;1990\n"
                    "Olena K.;12345;Delmenhorst;uk;;B1;1985\n"
                    "Yonas T.;;Atlantis;ti;;A1;1999\n"
                    "Layla S.;;Vechta;ar;Zirkus;A1;1999\n"
                    ";;Vechta;ar;;A1;1999\n", encoding="utf-8")
    report = await import_participants(app.sessions, path, clock(), app.network, "jobcenter")
    assert report.lines(path) == [
        f"{path} (UTF-8): 4 line(s) need a correction; nothing was imported:",
        "  line 3: not a valid phone number '12345' (write +49 151 23456789)",
        "  line 4: unknown district 'Atlantis'",
        "  line 5: unknown goal 'Zirkus'",
        "  line 6: the name is missing or longer than 200 characters"]
    assert await count_people(app) == 0


async def test_an_imported_line_with_a_known_phone_is_linked_and_the_participant_keeps_one_record(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path) -> None:
    await participant(chat, "amal")  # phone +4915123456789 from the intake
    path = tmp_path / "list.xlsx"
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Telefon", "Landkreis", "Geburtsjahr"])
    sheet.append(["Amal Haddad", "+49 151 23456789", "Stadt Oldenburg", 1990])
    sheet.append(["Ruth Habte", "", "Vechta", 1999])
    sheet.append(["Yusuf Haddad", "0151 23456789", "Stadt Oldenburg", 1968])  # her father, on her phone
    book.save(path)
    report = await import_participants(app.sessions, path, clock(), app.network, "jobcenter")
    assert [(line, why) for line, _, why in report.linked] == [(2, "same phone")]
    assert [line for line, _ in report.created] == [3, 4]
    assert [(line, why) for line, _, _, why in report.suggested] == [(4, "same phone")]  # asked, not merged
    async with app.sessions() as session:
        profile = (await session.scalars(select(Profile).join(Person, Person.id == Profile.person_id).where(
            Profile.phone == "+4915123456789", Person.display_name == "Amal"))).one()
        assert profile.answers["known_to"] == ["jobcenter"] and profile.answers["birth_year"] == 1990


# ---------------------------------------------------------------------------------------------------------------
# 5. Privacy: every chat in /mydata, /delete and `lotse forget` remove all of them


async def test_my_data_lists_both_chats_and_delete_removes_both(app: Lotse, chat: Callable[..., Chat]) -> None:
    element = second_phone(app)
    amal = await newcomer(app, chat, "amal")
    desk = Chat(app, element, "amal-desk")
    await link(amal, desk)
    readable, *_ = await desk.send("/mydata")
    assert "Your chats with Lotse: test (amal), Matrix (Element) (amal-desk)." in readable.text
    assert "joined two records about you" not in readable.text  # linking was their own doing
    await desk.send("/delete")
    [goodbye] = await desk.click("Yes")
    assert goodbye.text.startswith("Everything Lotse stored about you is deleted.")
    async with app.sessions() as session:
        assert (await session.scalars(select(Handle))).all() == []
        assert (await session.scalars(select(Person))).all() == []
    assert await amal.send("hello")  # the phone starts afresh: a new person, asked for a language
    assert "Please choose your language." in amal.last.text


async def test_forget_removes_every_chat_and_the_merge_is_in_the_audit_log(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    from bot.services.privacy import erase, find_subject

    element = second_phone(app)
    amal = await newcomer(app, chat, "amal")
    await link(amal, Chat(app, element, "amal-desk"))
    async with app.sessions() as session, session.begin():
        [person] = await find_subject(session, person_id=None, transport="matrix", platform_id="amal-desk",
                                      phone=None)
        assert [a for a in (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.subject_id == person.id))).all() if a.startswith("person.")] == ["person.merged"]
        await erase(session, person, clock(), "request", app.network)
    async with app.sessions() as session:
        assert (await session.scalars(select(Handle))).all() == []


# ---------------------------------------------------------------------------------------------------------------
# 6. On the real stand-ins: Telegram (the Bot API stand-in) and Matrix (a real Synapse) in one Lotse

# The Telegram and Matrix tests' fixtures, shared.
standin, telegram, synapse, people, both = relay.standin, relay.telegram, relay.synapse, relay.people, relay.both


async def _remind(lotse: LotseOnMatrix, kind: str) -> None:
    """What the reminder loop does when the scheduler wakes it at the reminder's time."""
    assert lotse.app is not None
    async with lotse.app.sessions() as session:
        due = await session.scalar(select(Reminder.due_at).where(Reminder.kind == kind))
    assert due is not None
    await deliver_due(lotse.app.sessions, due)
    lotse.app.dispatcher.outbox_ready.set()


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(300):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"waited in vain for {what}")


@pytest.mark.slow
async def test_linked_on_telegram_and_matrix_one_reminder_in_the_last_used_chat_and_matrix_after_a_403(
        both: tuple[LotseOnMatrix, str, list[MatrixPerson]], standin: BotApiStandIn, synapse: SynapseServer,
        people: list[MatrixPerson], tmp_path: Path) -> None:
    lotse, _group, _coordinators = both
    assert lotse.app is not None
    amal = 921
    for text in ["/start", "English", "1", *ANSWERS, "1", "2"]:
        await relay.telegram_says(standin, amal, text)
    [offer, *_] = await relay.telegram_says(standin, amal, "/link")
    element = await matrix_person(synapse, people, tmp_path, "amal")
    room = await element.open_direct_chat(lotse.user_id, encrypted=True)
    [done] = await ask(element, room, f"!link {code_in(str(offer['text']))}")
    assert done.body.startswith("Done: this chat and your chat on Telegram now belong together.")
    await _until(lambda: str(standin.sent_to(amal)[-1].get("text", "")).startswith(
        "Done: this chat and your chat on Matrix (Element) now belong together."), "Telegram to hear it too")
    async with lotse.app.sessions() as session, session.begin():
        [person_id] = set((await session.scalars(select(Handle.person_id))).all()) - set(
            (await session.scalars(select(Person.id).where(Person.role != "participant"))).all())
        participant = await session.get_one(Person, person_id)
        now = datetime.now(UTC)
        starts = (now + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
        appointment = Appointment(participant_id=person_id, kind="jobcenter", starts_at=starts,
                                  place="Jobcenter Oldenburg, Stau 70", created_at=now)
        session.add(appointment)
        await session.flush()
        assert await plan(session, participant, appointment_key(appointment.id), starts, now, new_event=True) == 2
    on_telegram, on_matrix = len(standin.sent_to(amal)), len(element.in_room(room))
    await _remind(lotse, "evening_before")  # Element was used last
    await element.until(lambda: any(s.body.startswith("Reminder: ") for s in element.in_room(room)[on_matrix:]),
                        what="the reminder on Matrix")
    await asyncio.sleep(0.5)
    assert len(standin.sent_to(amal)) == on_telegram  # one reminder, not two
    await relay.telegram_says(standin, amal, "/appointments")  # now Telegram is the chat used last
    standin.blocked.add(amal)  # and then they block the bot there
    on_matrix = len(element.in_room(room))
    await _remind(lotse, "two_hours_before")
    await element.until(lambda: any(s.body.startswith("Reminder: ") for s in element.in_room(room)[on_matrix:]),
                        what="the reminder on Matrix after Telegram's 403")
    async with lotse.app.sessions() as session:
        telegram_handle = (await session.scalars(select(Handle).where(Handle.transport == "telegram"))).one()
        assert not telegram_handle.active


@pytest.mark.slow
async def test_a_coordinator_on_matrix_and_telegram_has_one_inbox(
        both: tuple[LotseOnMatrix, str, list[MatrixPerson]], standin: BotApiStandIn) -> None:
    lotse, _group, (ben, vera) = both
    assert lotse.app is not None
    ben_room = await coordinator_over_matrix(lotse, ben)
    await coordinator_over_matrix(lotse, vera)
    [offer, *_] = await ask(ben, ben_room, "!link")
    ben_phone = 931
    [done, *_] = await relay.telegram_says(standin, ben_phone, f"/start {code_in(offer.body)}")
    assert str(done["text"]).startswith("Done: this chat and your chat on Matrix (Element) now belong together.")
    async with lotse.app.sessions() as session:
        coordinators = (await session.scalars(select(Person).where(Person.role == "coordinator"))).all()
        assert len(coordinators) == 2  # ben (two chats) and vera
    amal = 932
    topic = lotse.app.network.topics["apprenticeship"].name["en"]
    for text in ["/start", "English", "1", *ANSWERS, "1", "2", "/menu", "Ask a question", topic]:
        await relay.telegram_says(standin, amal, text)
    before_matrix = len(ben.in_room(ben_room))
    await relay.telegram_says(standin, amal, "When does the Ausbildung start?", count=2)
    await _until(lambda: any(str(m.get("text", "")).startswith("Question no. 1")
                             for m in standin.sent_to(ben_phone)), "the notice in ben's last-used chat")
    await asyncio.sleep(1.0)
    assert not [s for s in ben.in_room(ben_room)[before_matrix:] if s.body.startswith("Question no. 1")]
    notice = next(m for m in standin.sent_to(ben_phone) if str(m.get("text", "")).startswith("Question no. 1"))
    await relay.telegram_says(standin, ben_phone, "Im August. Kommen Sie gern vorbei.",
                              reply_to=int(notice["message_id"]))
    await _until(lambda: str(standin.sent_to(amal)[-1].get("text", "")).endswith(
        "Im August. Kommen Sie gern vorbei."), "the answer")


async def test_imported_records_wait_for_the_inactivity_limit_and_old_merges_can_no_longer_be_undone(
        app: Lotse, clock: FakeClock, tmp_path: Path) -> None:
    from bot.jobs.retention import RetentionPolicy, apply_retention
    from bot.services.person_merge import MergeError, merge, undo

    path = tmp_path / "list.csv"
    path.write_text(HEADER + "Ruth Habte;;Vechta;ti;;A1;1999\nSaba Tekle;;Vechta;ti;;A1;1998\n", encoding="utf-8")
    report = await import_participants(app.sessions, path, clock(), app.network, "jobcenter")
    (_, ruth), (_, saba) = report.created
    async with app.sessions() as session, session.begin():
        merged = await merge(session, ruth, saba, clock(), reason="duplicate")
    clock.advance(days=40)  # no chat, so no consent to wait for: kept like every record the network works with
    await apply_retention(app.sessions, app.network, RetentionPolicy(), clock())
    assert await count_people(app) == 1
    async with app.sessions() as session, session.begin():
        try:
            await undo(session, merged.merge_id, clock())
        except MergeError as error:
            assert "14 days" in str(error)
        else:
            raise AssertionError("a merge older than 14 days was undone")
        assert (await session.get_one(PersonMerge, merged.merge_id)).snapshot == {}  # nothing of two records kept
    clock.advance(days=366)
    await apply_retention(app.sessions, app.network, RetentionPolicy(), clock())
    assert await count_people(app) == 0


# ---------------------------------------------------------------------------------------------------------------
# An imported participant without a chat: /invitelink, then /start CODE from their own chat

INVITE_CODE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")


async def test_an_imported_participant_gets_an_invite_code_and_their_new_chat_joins_the_record(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, tmp_path: Path) -> None:
    anna = await coordinator(app, chat, "anna", organisation="jobcenter")
    far = await coordinator(app, chat, "far", organisation="ihk", districts=["wilhelmshaven"])
    path = tmp_path / "list.csv"
    path.write_text("Name;Telefon;Landkreis;Geburtsjahr\nRuth Habte;+49 151 99887766;Vechta;1999\n", encoding="utf-8")
    report = await import_participants(app.sessions, path, clock(), app.network, "jobcenter")
    [(_, ruth_id)] = report.created
    ask_again = ("Please write /invitelink and the number of a participant you are responsible for, as shown in "
                 "/case or /duplicates. Example: /invitelink 12")
    for bad in [f"/invitelink {ruth_id}", "/invitelink", "/invitelink 99999999999999", "/invitelink 🙂",
                "/invitelink ²"]:
        [refused, *_] = await far.send(bad)  # not the organisation that knows her, and nonsense
        assert refused.text == ask_again
    [issued, passed_on, *_] = await anna.send(f"/invitelink {ruth_id}")
    assert issued.text.startswith(f"Invite code for no. {ruth_id} (Ruth Habte), valid until ")
    found = INVITE_CODE.search(passed_on.text)
    assert found is not None
    code = found.group(0)
    assert passed_on.text == f"Write /start {code} to Lotse on Telegram or Matrix (in Element: !start {code})."
    [not_staff, *_] = await far.send(f"/start {code}")  # a coordinator cannot take (or use up) her code
    assert not_staff.text.startswith("This code does not work.")
    before = await count_people(app)
    ruth = chat("ruth")
    answers = await ruth.send(f"/start {code}")
    assert answers[0].text == ("Welcome! This chat now belongs to your record in Lotse, which "
                               f"{app.network.organisations['jobcenter'].name} had entered for you.")
    await ruth.click("English")  # onboarding goes on as for anyone new: the language, then the consent
    await ruth.send("1")
    [menu, *_] = await ruth.send("/menu")
    assert "Datenschutz" not in menu.text and menu.choices
    assert await count_people(app) == before  # the chat joined the imported record: no second record
    async with app.sessions() as session:
        handle = (await session.scalars(select(Handle).where(Handle.platform_id == "ruth"))).one()
        assert handle.person_id == ruth_id
        person = await session.get_one(Person, ruth_id)
        assert person.privacy_version is not None and person.display_name == "Ruth Habte"
        profile = await session.get_one(Profile, ruth_id)
        assert profile.phone == "+4915199887766" and profile.answers["known_to"] == ["jobcenter"]
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.startswith("person.invite")))).all()
        assert sorted(actions) == ["person.invite_code_issued", "person.invite_code_used"]
        codes = (await session.scalars(select(LinkCode).where(LinkCode.person_id == ruth_id))).all()
        assert all(c.code_hash != code for c in codes) and all(c.used_at is not None for c in codes)
    [again, *_] = await anna.send(f"/invitelink {ruth_id}")  # she has a chat now
    assert again.text == f"No. {ruth_id} already has a chat with Lotse. An invite code is only for a record " \
        "without a chat."
    other = chat("someone-else")
    [used, *_] = await other.send(f"/start {code}")  # single use
    assert used.text.startswith("This code does not work.")


async def test_settings_lets_a_person_with_two_chats_choose_where_lotse_writes(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    element = second_phone(app)
    amal = await newcomer(app, chat, "amal")
    [alone, *_] = await amal.send("/settings")  # one chat: nothing to choose
    assert "Which chat should Lotse write to?" not in [c.label for c in alone.choices]
    await amal.send("/cancel")
    desk = Chat(app, element, "amal-desk")
    await link(amal, desk)
    [settings, *_] = await desk.send("/settings")
    assert settings.choices[-1].label == "Which chat should Lotse write to?"
    [which, *_] = await desk.click("Which chat should Lotse write to?")
    assert which.text.startswith("Which chat should Lotse write to?\n\nYour chats with Lotse: test, Matrix (Element).")
    assert [c.label for c in which.choices] == ["test", "Send my messages to this chat"]
    [chosen, *_] = await desk.click("test")
    assert chosen.text == "From now on, Lotse sends your messages to your chat on test."
    async with app.sessions() as session:
        preferred = (await session.scalars(select(Handle.platform_id).where(Handle.preferred))).all()
        assert list(preferred) == ["amal"]
    [again, *_] = await desk.click("test")  # pressed twice: still the same choice, nothing breaks
    assert again.text == "From now on, Lotse sends your messages to your chat on test."


async def test_the_participant_hears_of_same_person_and_of_its_undo_in_their_language(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna")
    amal = await participant(chat, "amal", language="العربية")
    at_the_jobcenter = await participant(chat, "amal-at-the-jobcenter")  # the same phone, written later
    ar, en = Translator("ar"), Translator("en")
    joined = ("Good to know: Lotse had two records for you. A coordinator has joined them into one, with everything "
              "of both. Nothing else changes for you.")
    separated = "A correction: Lotse had joined two records as yours by mistake. They are separate again, as before."
    told_before = len(amal.history)
    await anna.click("Same person")
    # The older record (Arabic) stays; its messages now go to the chat used last, once, in Arabic.
    assert at_the_jobcenter.last.text == ar(joined) and at_the_jobcenter.last.rtl
    assert len(amal.history) == told_before
    await anna.click("Undo")
    assert amal.last.text == ar(separated)
    assert at_the_jobcenter.last.text == en(separated)
