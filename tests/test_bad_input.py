"""Bad input at every step: a short answer in the person's language, the options again, nothing lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from bot.core.i18n import Translator
from bot.core.text import clean_text
from bot.runtime.app import Lotse
from flows import registry
from flows.engine import Turn
from storage.models import Consent, Conversation, Handle, InboxEntry, OutboxEntry, Person
from tests.chat import Chat
from tests.flows_for_tests import EVERY_KIND, EXPLODING, SEEN

BAD_LINES = {
    "empty": "",
    "spaces": "   \t ",
    "huge": "x" * 10_000,
    "controls": "\x00\x01\x07\x1b[2J",
    "bidi override": "\u202etxet\u202c",
    "emoji": "🙂🙂🙂",
    "right-to-left": "نعم أريد",
    "injection": "'; DROP TABLE persons; --",
    "html": "<script>alert(1)</script>",
    "zero": "0",
    "too big": "11",
    "negative": "-1",
    "enormous number": "99999999999999999999",
    "fraction": "1.5",
}


@pytest.mark.parametrize("line", BAD_LINES.values(), ids=BAD_LINES.keys())
async def test_bad_answers_to_the_language_question(app: Lotse, chat: Callable[..., Chat], line: str) -> None:
    amal = chat("amal", hint="ar")
    await amal.send("hi")
    hint, picker = await amal.send(line)
    if len(line) > 1000:
        message, values = "That is too long. Please write at most {limit} characters.", {"limit": 1000}
    elif clean_text(line):
        message, values = "Please answer with a number from 1 to {count}.", {"count": 8}
    else:
        message, values = "Your message was empty. Please write your answer.", {}
    lines = hint.text.splitlines()  # no language is chosen yet: the platform's first, then the others
    assert lines[0] == Translator("ar")(message, **values)
    assert Translator("de")(message, **values) in lines and Translator("en")(message, **values) in lines
    assert hint.rtl and len(picker.choices) == 8  # seven languages and "More languages"
    [notice] = await amal.send("2")  # and the person can still go on: Arabic came first, so 2 is Deutsch
    assert notice.locale == "de"


@pytest.mark.parametrize("line", BAD_LINES.values(), ids=BAD_LINES.keys())
async def test_bad_answers_to_the_consent_question_store_nothing(app: Lotse, chat: Callable[..., Chat],
                                                                 line: str) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("English")
    hint, notice = await amal.send(line)
    assert hint.text in ("Please answer with a number from 1 to 3.",
                         "Your message was empty. Please write your answer.",
                         "That is too long. Please write at most 1,000 characters.")
    assert [c.label for c in notice.choices] == ["Yes", "No", "Read the full notice"]
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Consent)) == 0
        assert await session.scalar(select(func.count()).select_from(Person)) == 1
        assert await session.scalar(select(func.count()).select_from(InboxEntry)) == 3  # every line is kept


async def test_digits_wrapped_in_direction_marks_by_a_phone_keyboard_still_count(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    [notice] = await amal.send("\u200f2\u200f")
    assert notice.locale == "en"


async def test_unreadable_bytes_get_their_own_answer(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    hint, picker = await amal.send_unreadable()
    lines = hint.text.splitlines()  # no language chosen yet: in the first-contact languages, German first
    assert "I could not read that message. Please write it again." in lines and len(lines) <= 7
    assert lines[0] == Translator("de")("I could not read that message. Please write it again.")
    assert len(picker.choices) == 8


async def test_a_file_where_text_is_expected(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    hint, _picker = await amal.send_file()
    lines = hint.text.splitlines()
    assert "Please answer with text, not a file." in lines
    assert Translator("ar")("Please answer with text, not a file.") in lines


@pytest.fixture
def every_kind() -> Iterator[None]:
    registry.register(EVERY_KIND)
    registry.register(EXPLODING)
    SEEN.clear()
    yield
    registry.FLOWS.pop(EVERY_KIND.name)
    registry.FLOWS.pop(EXPLODING.name)


async def _consented(chat: Chat) -> None:
    await chat.send("hi")
    await chat.click("English")
    await chat.click("Yes")


async def _start(app: Lotse, handle: str, flow: str) -> None:
    """Puts a person into a test-only flow, as a menu entry would."""
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).join(Handle).where(Handle.platform_id == handle))).one()
        state = await session.get_one(Conversation, person.id)
        state.state = {"flow": flow, "step": EVERY_KIND.first.name if flow == "every_kind" else "boom",
                       "data": {}, "trail": [EVERY_KIND.first.name], "seq": 100}


async def test_free_text_keeps_what_people_write_and_refuses_what_is_not_text(
        app: Lotse, chat: Callable[..., Chat], every_kind: None) -> None:
    amal = chat("amal")
    await _consented(amal)
    await _start(app, "amal", "every_kind")
    for line, expected in [("", "Your message was empty. Please write your answer."),
                           ("\x00\x1b\u202e", "Your message was empty. Please write your answer."),
                           ("y" * 201, "That is too long. Please write at most 200 characters.")]:
        hint, _prompt = await amal.send(line)
        assert hint.text == expected
    [colours] = await amal.send("'; DROP TABLE persons; -- 🙂 سلام \u202eX")
    assert colours.selection == "multiple" and [c.label for c in colours.choices] == ["Rot", "Grün", "Blau"]
    hint, _ = await amal.send("1, 7")
    assert hint.text == "Please answer with one or more numbers from 1 to 3, like 1, 3."
    [when] = await amal.send("gruen, BLAU")
    assert when.text.startswith("When?")
    hint, _ = await amal.send("31.02.2027 10:00")
    assert hint.text == "There is no such date. Please check the day and the month."
    hint, _ = await amal.send("24.11.2026 25:00")
    assert hint.text == "There is no such time. Please use hours 0 to 23 and minutes 0 to 59."
    [photo] = await amal.send("24.11.2026 10:30")
    assert photo.choices[-1].label == "Skip"
    hint, _ = await amal.send_file(size=25_000_000)
    assert hint.text == "This file is too big. Please send a file smaller than 20 MB, or a photo of the page."
    hint, _ = await amal.send("here it is")
    assert hint.text == "Please send a photo or a file."
    [sure] = await amal.send_file(kind="document")
    assert sure.text.startswith("Sure?")
    await amal.send("/back")
    [sure] = await amal.click("Skip")
    assert sure.text.startswith("Sure?")
    saved, menu = await amal.click("Yes")
    assert saved.text.startswith("saved: ")
    assert SEEN[-1]["note"] == "'; DROP TABLE persons; -- 🙂 سلام X"
    assert SEEN[-1]["colours"] == ["green", "blue"]
    assert SEEN[-1]["when"] == "2026-11-24T09:30:00+00:00"
    assert SEEN[-1]["photo"] is None
    assert menu.text.startswith("What would you like to do?")


async def test_multiple_choice_buttons_toggle_in_place_then_done(
        app: Lotse, chat: Callable[..., Chat], every_kind: None) -> None:
    amal = chat("amal")
    await _consented(amal)
    await _start(app, "amal", "every_kind")
    [colours] = await amal.send("a note")
    asked = len(amal.history)
    hint = await amal.press_raw(colours.done_key or "")
    assert hint[0].text == "Please choose at least one option, then press Done."
    await amal.click("Rot")
    await amal.click("Blau")
    await amal.click("Rot")
    redrawn = amal.history[asked - 1 + 2]  # the question re-asked after the hint, edited in place since
    assert redrawn.selected == (amal.button_key("Blau"),)
    assert len(amal.history) == asked + 2  # toggles edited the message instead of sending new ones
    [when] = await amal.press_raw(colours.done_key or "")
    assert when.text.startswith("When?")


async def test_a_bug_in_a_flow_rolls_back_and_apologises(app: Lotse, chat: Callable[..., Chat],
                                                          every_kind: None) -> None:
    amal = chat("amal")
    await _consented(amal)
    await _start(app, "amal", "exploding")
    [sorry] = await amal.send("anything")
    assert sorry.text == "Sorry, something went wrong on our side. Please try again, or write /menu."
    async with app.sessions() as session:
        outbox = (await session.scalars(select(OutboxEntry.payload))).all()
        failed = (await session.scalars(select(InboxEntry).where(InboxEntry.error.is_not(None)))).one()
    assert not any("must never be sent" in row["text"] for row in outbox)
    assert failed.error == "RuntimeError: flow bug" and failed.processed_at is not None
    [menu] = await amal.send("/menu")  # the state was rolled back; the person is not stuck
    assert menu.text.startswith("What would you like to do?")


async def test_a_bug_in_one_flow_of_a_batch_leaves_the_others_answered_once(
        app: Lotse, chat: Callable[..., Chat], every_kind: None) -> None:
    """A batch runs without savepoints until a flow raises; then it is rolled back and run again with them."""
    amal, bilal, chen = chat("amal"), chat("bilal"), chat("chen")
    for person in (amal, bilal, chen):
        await _consented(person)
    await _start(app, "amal", "exploding")
    before = {person.handle: len(person.history) for person in (amal, bilal, chen)}
    await app.dispatcher.receive_batch([bilal._event(text="/menu"), amal._event(text="anything"),
                                        chen._event(text="/menu")])
    await app.drain()
    [bilal_menu] = bilal.history[before["bilal"]:]
    [sorry] = amal.history[before["amal"]:]
    [chen_menu] = chen.history[before["chen"]:]
    assert bilal_menu.text.startswith("What would you like to do?")
    assert chen_menu.text.startswith("What would you like to do?")
    assert sorry.text == "Sorry, something went wrong on our side. Please try again, or write /menu."
    async with app.sessions() as session:
        outbox = (await session.scalars(select(OutboxEntry.payload))).all()
        failed = (await session.scalars(select(InboxEntry).where(InboxEntry.error.is_not(None)))).all()
    assert not any("must never be sent" in row["text"] for row in outbox)
    assert [entry.error for entry in failed] == ["RuntimeError: flow bug"]
    async with app.sessions() as session:
        names = set((await session.scalars(select(Person.display_name))).all())
    assert "must never be kept" not in names


def test_turn_type_is_what_flows_receive() -> None:
    assert Turn.__dataclass_fields__["outgoing"].default_factory is list  # type: ignore[misc]
