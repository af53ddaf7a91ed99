"""What a newcomer found playing the demo, as conversations: each test failed before its fix.

A coordinator invited for one district is offered only that district in /find and counts only their own
participants in "Progress toward the goal"; the example network sends each topic to who decides it; "years at
school" says that a number is the answer and how to skip; the intake's "Question N of M" keeps its total;
/back in a picker says plainly that there is nothing to go back to; English staff dates name the month; example
dates in prompts are computed from today; the question card names each line of the profile.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.i18n import FSI, LANGUAGES, PDI, Translator
from bot.core.messages import Incoming
from bot.core.network import load_network
from bot.core.schedule import Schedule
from bot.jobs.digest import write_digest
from bot.runtime.app import Lotse
from bot.services.routing import matching_rules
from flows.moments import parse_moment
from storage.models import Handle, Profile
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent
from tests.test_questions import coordinator
from tests.test_responsibility import admin, participant

SCHOOL_PROMPT = ("How many years did you go to school? Write the number of years, for example 9. Every number is an "
                 "answer: 1 means one year.")


async def _profile(app: Lotse, handle: str) -> Profile:
    async with app.sessions() as session:
        person_id = (await session.scalars(select(Handle.person_id).where(Handle.platform_id == handle))).one()
        return await session.get_one(Profile, person_id)


# ---------------------------------------------------------------------------------------------------------------
# 1. /find offers a scoped coordinator only their districts, and finds only their participants


async def test_find_offers_a_coordinator_invited_for_one_district_only_that_district(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    await participant(chat, "amal", "العربية", "stadt_oldenburg", "work")
    await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "work")
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    await jobcenter.send("/find")
    [districts] = await jobcenter.click("Any")
    assert districts.text.startswith("Which district?")
    assert jobcenter.buttons() == ["Any", "Oldenburg (city)"]  # not Landkreis Oldenburg, which the Jobcenter covers
    [refused, again] = await jobcenter.send("Ammerland")
    assert again.text.startswith("Which district?") and refused.text != again.text  # out of scope: asked again
    for _ in range(4):
        await jobcenter.click("Any")
    result = jobcenter.last.text  # the results are the last message: their numbers open the cases
    assert "Amal (no. " in result and "Yonas" not in result  # the results stay scoped as well
    chamber = await coordinator(app, chat, "anke", organisation="ihk", districts=["ammerland"])  # IHK: everywhere
    await chamber.send("/find")
    await chamber.click("Any")
    assert chamber.buttons() == ["Any", "Ammerland (district)"]
    await jobcenter.send("/broadcast")  # the same answer wherever districts are offered
    await jobcenter.click("A district")
    assert jobcenter.buttons() == ["Oldenburg (city)"]


# ---------------------------------------------------------------------------------------------------------------
# 2. "Progress toward the goal" counts only one's own participants, and says so


def _stats(messages: list[object]) -> str:
    found = [m.text for m in messages if "Progress toward the goal" in m.text  # type: ignore[attr-defined]
             or "Fortschritt zum Ziel" in m.text]  # type: ignore[attr-defined]
    assert found, texts(messages)  # type: ignore[arg-type]
    return found[0]


async def test_progress_counts_only_the_participants_a_scoped_coordinator_is_responsible_for(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    await participant(chat, "amal", "العربية", "stadt_oldenburg", "work")
    await participant(chat, "yonas", "ትግርኛ", "landkreis_oldenburg", "work")
    await participant(chat, "olena", "Українська", "ammerland", "language_course")
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    own = _stats(await jobcenter.send("/stats"))
    assert own.splitlines()[0] == "Your participants (Oldenburg (city))"
    assert "All: 0 of 1 placed" in own and "of 3 placed" not in own and "of 2 placed" not in own
    await jobcenter.send("/menu")
    [by_menu, *_] = await jobcenter.click("Progress toward the goal")
    assert by_menu.text == own
    german = await coordinator(app, chat, "petra2", organisation="ihk", locale="de")  # the chamber, everywhere
    heading = _stats(await german.send("/stats")).splitlines()[0]
    assert heading == Translator("de")("Your participants ({scope})", scope="Oldenburgische IHK")
    boss = await admin(app, transport)
    everyone = _stats(await boss.send("/stats"))
    assert everyone.splitlines()[0] == "All participants in the network" and "All: 0 of 3 placed" in everyone


# ---------------------------------------------------------------------------------------------------------------
# 3. The example network sends each topic to who decides it

CITY_AND_COUNTY = ("stadt_oldenburg", "landkreis_oldenburg")
SCHOOL_AREA = ("stadt_oldenburg", "ammerland")


def expected_organisations(topic: str, district: str | None) -> list[str]:
    """The example network's routing, written out: topic x district -> organisations."""
    if topic in ("apprenticeship", "internship", "recognition"):
        return ["hwk", "ihk"]  # the chambers (recognition: IHK FOSA and the Handwerkskammer)
    if topic == "letters":  # the Jobcenter's own letters and money, where it is the Jobcenter
        return ["jobcenter"] if district in CITY_AND_COUNTY else ["proconnect"]
    if topic == "work":
        return ["jobcenter"] if district in CITY_AND_COUNTY else ["agentur"]
    if topic == "agency_letters":
        return ["agentur"]
    if topic == "language_course":
        return ["bbs_wechloy"] if district in SCHOOL_AREA else ["proconnect"]
    if topic == "other":
        return ["proconnect"]
    raise AssertionError(f"topic {topic} of the example network has no expected route here")


def test_every_topic_of_the_example_network_goes_to_the_organisation_that_decides_it() -> None:
    network = load_network()
    assert set(network.topics) == {"language_course", "apprenticeship", "internship", "work", "letters",
                                   "agency_letters", "recognition", "other"}
    for topic in network.topics:
        for district in [*network.districts, None]:
            found = sorted(rule.organisation for rule in matching_rules(network, topic, district))
            assert found == expected_organisations(topic, district), (topic, district)
    assert network.topics["letters"].name["en"] == "Letters or money from the Jobcenter (Bürgergeld)"
    for code in LANGUAGES:
        assert "Jobcenter" in network.topics["letters"].name[code]
        assert "Agentur für Arbeit" in network.topics["agency_letters"].name[code]


async def test_a_letter_from_the_jobcenter_reaches_the_jobcenter_coordinator_not_pro_connect(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    from tests.test_intake import staff

    tom = await staff(app, transport, "tom")  # pro:connect: the network's fallback
    jobcenter = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["stadt_oldenburg"])
    agency = await coordinator(app, chat, "agnes", organisation="agentur")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "language_course")
    seen_by_tom, seen_by_agency = len(tom.history), len(agency.history)
    await amal.send("/menu")
    await amal.send("1")  # ask a question
    await amal.click(app.network.topics["letters"].name["ar"])
    [thanks, *_] = await amal.send("وصلتني رسالة من الجوب سنتر ولا أفهمها")
    assert "Jobcenter Oldenburg" in thanks.text
    assert jobcenter.last.text.startswith("Question no. 1: Letters or money from the Jobcenter (Bürgergeld)")
    assert len(tom.history) == seen_by_tom and len(agency.history) == seen_by_agency
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["agency_letters"].name["ar"])
    await amal.send("رسالة من وكالة العمل")
    assert agency.last.text.startswith("Question no. 2: Letters from the employment agency (Agentur für Arbeit)")
    assert len(tom.history) == seen_by_tom


# ---------------------------------------------------------------------------------------------------------------
# 4. and 5. The intake: "years at school" says what a number means; the total never changes


def _heads(messages: list[object]) -> list[tuple[int, int]]:
    found = [re.match(r"Question (\d+) of (\d+)", m.text) for m in messages]  # type: ignore[attr-defined]
    return [(int(m.group(1)), int(m.group(2))) for m in found if m]


@pytest.mark.parametrize(("goals", "answers"), [
    ("1", [a for a in ANSWERS if a not in ("1, 13", "Bicycle repair")]),  # language course only: no kinds of work
    ("2, 3", ANSWERS[2:]),  # apprenticeship and internship, "something else" too: two more questions
])
async def test_the_question_counter_keeps_its_total_through_a_whole_intake(
        chat: Callable[..., Chat], goals: str, answers: list[str]) -> None:
    amal = chat("amal")
    seen = list(await consent(amal, "English"))
    seen += await amal.send(ANSWERS[0])
    seen += await amal.send(goals)
    for answer in answers[1:] if goals == "1" else answers:
        seen += await amal.send(answer)
    heads = _heads(seen)
    assert {total for _, total in heads} == {11}  # before: "1 of 12", ..., then "3 of 11"
    numbers = [number for number, _ in heads]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 12))
    assert amal.last.text.startswith("Here is your profile:")


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_the_school_question_says_in_every_language_that_a_number_is_the_answer(code: str) -> None:
    text = Translator(code)(SCHOOL_PROMPT)
    assert text != SCHOOL_PROMPT or code == "en"
    assert "9" in text and "1" in text  # the example and what "1" means, in their words


async def test_years_at_school_one_is_one_year_and_the_skip_word_skips_in_arabic(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ar = Translator("ar")
    school = ANSWERS.index("9")
    for handle, typed, stored in (("amal", "1", 1), ("yonas", ar("Skip"), None)):
        person = chat(handle)
        await consent(person, "العربية")
        for answer in ANSWERS[:school]:
            await person.send(answer)
        prompt = person.last
        assert ar(SCHOOL_PROMPT) in prompt.text
        assert ar("To skip this question, write: {skip}", skip=ar("Skip")) in prompt.text
        assert not prompt.choices  # no "1. Skip" a number could be mistaken for
        await person.send(typed)
        assert (await _profile(app, handle)).answers.get("school") == stored


# ---------------------------------------------------------------------------------------------------------------
# 6. /back in a ready-made answer picker; 7. English staff dates; 9. the question card's labels


async def test_question_card_labels_back_in_the_picker_and_english_dates_with_the_month(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")  # IHK, English
    petra = await coordinator(app, chat, "petra2", locale="de")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("هل يمكنني أن أبدأ تدريبًا مهنيًا؟")
    card = ben.last.text
    assert "· Goals: Apprenticeship (Ausbildung)" in card and "· German: A2" in card
    assert "· Work of interest: Metal work (Metall), Something else" in card
    assert "· Ziele: Ausbildung" in petra.last.text and "· Deutsch: A2" in petra.last.text
    [inbox, *_] = await ben.send("/inbox")
    [line] = [choice.label for choice in inbox.choices]
    assert re.search(r"take it by 24 Nov 2026, \d\d:\d\d ", line), line  # not 24/11/2026
    assert not re.search(r"\d\d/\d\d/\d{4}", line)
    await ben.click("Take it")
    [picker] = await ben.click("Ready-made answer")
    options = picker.choices
    [plain, again] = await ben.send("/back")
    assert plain.text == "There is nothing to go back to here. Here are the options again."
    assert again.text == picker.text and [c.label for c in again.choices] == [c.label for c in options]


def test_english_dates_name_the_month_and_show_no_seconds() -> None:
    moment = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 14:00 in Oldenburg
    en = Translator("en")
    assert en.datetime(moment, "short") == "7 Dec 2026, 14:00"
    assert en.datetime(moment) == "7 Dec 2026, 14:00"
    assert en.date(moment, "short") == "7 Dec 2026"
    assert Translator("de").datetime(moment, "short") == "07.12.2026, 14:00"  # the year in full (finding 13)


# ---------------------------------------------------------------------------------------------------------------
# 8. Example dates in prompts are computed from today


@pytest.mark.parametrize(("today", "monday"), [
    (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), "30.11."),  # a Monday: the next one
    (datetime(2026, 12, 4, 9, 0, tzinfo=UTC), "07.12."),   # when the newcomer played: "24.11." was past
    (datetime(2026, 12, 22, 9, 0, tzinfo=UTC), "28.12."),  # over the year's end
    (datetime(2027, 3, 24, 9, 0, tzinfo=UTC), "05.04."),   # Easter Monday is no day to book: the Monday after
])
async def test_the_appointment_prompts_example_day_is_next_monday_and_can_be_typed(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock, today: datetime, monday: str) -> None:
    from tests.test_reminders import newcomer

    clock.now = today
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    [prompt] = await anna.click("Jobcenter")
    assert prompt.text == f"When? For example: Mon 14:00, {monday} 10:30 or tomorrow 9:00."
    for example in ("Mon 14:00", f"{monday} 10:30", "tomorrow 9:00", "Mo 14:00", "morgen 9 Uhr"):
        assert parse_moment(example, today, "Europe/Berlin") > today  # every example can be typed as it stands
    [where] = await anna.send(f"{monday} 10:30")
    assert where.text.startswith("Where?")
    petra = await coordinator(app, chat, "petra2", locale="de")
    await newcomer(app, chat, "yonas")
    await petra.send("/appointment")
    await petra.send("Yonas")
    [prompt] = await petra.click("Jobcenter")
    assert prompt.text == f"Wann? Zum Beispiel: Mo 14:00, {monday} 10:30 oder morgen 9 Uhr."


async def test_the_intake_start_example_is_in_the_future_in_arabic(chat: Callable[..., Chat],
                                                                   clock: FakeClock) -> None:
    clock.now = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)  # after the old fixed example, 01.03.2027
    amal = chat("amal")
    await consent(amal, "العربية")
    for answer in ANSWERS[:ANSWERS.index("01.03.2027")]:
        await amal.send(answer)
    ar = Translator("ar")
    assert ar("From when can you start? Write a date, for example {example}.", example="05.04.2027") \
        in amal.last.text
    [accepted] = await amal.send("05.04.2027")
    assert accepted.text.startswith(ar("Question {number} of {total}", number=7, total=11))


# ---------------------------------------------------------------------------------------------------------------
# 12. A date the parser cannot read: the hint's example is computed from today, as the prompt's is


async def test_a_date_and_time_it_cannot_read_gets_an_example_from_today_not_a_fixed_one(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # when the newcomer played: "24.11.2026" was past
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("هل يمكنني أن أبدأ تدريبًا مهنيًا؟")
    await ben.click("Take it")
    await ben.click("Ready-made answer")
    await ben.click("Invite to a place and time")
    [prompt] = await ben.send("Jobcenter Oldenburg, Stau 70")
    assert prompt.text == "Which day and time? For example 07.12.2026 10:30."
    for typed in ("next week", "07.12.2026 half past ten", "🗓️"):
        [hint, again] = await ben.send(typed)
        # read as a booking's time (issue of the play-test): its examples are computed from today too
        assert hint.text == "Please write the day and the time, for example: Mon 14:00, 07.12. 10:30 or tomorrow 9:00."
        assert again.text == prompt.text
    await ben.send("07.12.2026 10:30")  # the example, typed as it stands, is accepted
    assert "10:30" in amal.last.text


async def test_a_start_date_it_cannot_read_gets_the_prompts_example_in_arabic(
        chat: Callable[..., Chat], clock: FakeClock) -> None:
    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # a Friday
    amal = chat("amal")
    await consent(amal, "العربية")
    for answer in ANSWERS[:ANSWERS.index("01.03.2027")]:
        await amal.send(answer)
    ar = Translator("ar")
    example = ar("From when can you start? Write a date, for example {example}.", example="07.12.2026")
    assert example in amal.last.text
    [hint, again] = await amal.send("الأسبوع القادم")
    assert hint.text == ar("Please write a date like {example}.", example="07.12.2026")  # before: today, 04.12.
    assert example in again.text


async def test_an_english_coordinators_hint_for_an_unreadable_moment_uses_the_prompts_english_words(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    from tests.test_reminders import newcomer

    clock.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    anna = await coordinator(app, chat, "anna")
    await newcomer(app, chat, "amal")
    await anna.send("/appointment")
    await anna.send("Amal")
    [prompt] = await anna.click("Jobcenter")
    assert prompt.text == "When? For example: Mon 14:00, 07.12. 10:30 or tomorrow 9:00."
    [hint, _again] = await anna.send("soon")
    assert hint.text == "Please write the day and the time, for example: Mon 14:00, 07.12. 10:30 or tomorrow 9:00."
    [hint, _again] = await anna.send("14:00")
    assert hint.text == ("Which day? Please write the day too, for example: Mon 14:00, 07.12. 10:30 or "
                         "tomorrow 9:00.")  # before: "Mo 14:00, ... or morgen 9 Uhr" under an English prompt
    [hint, _again] = await anna.send("12.12.")
    assert hint.text == "At what time? Please write the time too, for example: 12.12. 10:30."  # their day, not 07.12.


# ---------------------------------------------------------------------------------------------------------------
# 13. Short dates show the year in full, in the order each language writes it


@pytest.mark.parametrize(("code", "short"), [
    ("de", "07.12.2026"), ("uk", "07.12.2026"), ("ru", "07.12.2026"), ("ku", "07.12.2026"), ("tr", "7.12.2026"),
    ("fr", "07/12/2026"), ("so", "07/12/2026"), ("ar", "7\u200f/12\u200f/2026"), ("fa", "2026/12/7"),
    ("fa_AF", "2026/12/7"), ("ps", "2026/12/7"), ("ckb", "2026-12-07"),
    ("en", "7 Dec 2026"), ("ti", "ታሕ 7፣ 2026"),  # an all-number date would be ambiguous: the month by name
])
def test_short_dates_show_four_digit_years_in_each_languages_own_order(code: str, short: str) -> None:
    t = Translator(code)
    moment = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 14:00 in Oldenburg
    assert t.date(moment, "short") == short
    assert t.datetime(moment, "short").startswith(short)
    assert not re.search(r":00:00|14:00:00", t.datetime(moment)) and "2026" in t.datetime(moment)  # no seconds


async def test_a_german_coordinator_reads_four_digit_years_in_the_inbox(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    petra = await coordinator(app, chat, "petra2", locale="de")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("سؤال")
    [inbox, *_] = await petra.send("/inbox")
    [line] = [choice.label for choice in inbox.choices]
    assert re.search(r"\b24\.11\.2026, \d\d:\d\d\b", line), line  # before: 24.11.26


# ---------------------------------------------------------------------------------------------------------------
# 14. A volunteer whose district the network file gives (the demo's Jana) is not asked it again


async def test_the_demo_volunteer_jana_is_not_asked_the_district_the_network_file_gives(
        app: Lotse, transport: RecordingTransport) -> None:
    from tests.test_intake import staff

    de = Translator("de")
    jana = await staff(app, transport, "jana")  # persona: volunteer, district = "stadt_oldenburg"
    await jana.send("Hallo")
    _thanks, intro, languages = await jana.send("1")  # consents
    assert intro.text == de("Thank you for helping! Four short questions about what you can offer, so that "
                            "coordinators can find the right person for you.")
    assert languages.text.startswith(de("Which languages do you speak? Choose all that fit."))
    [mediate] = await jana.send("1, 2")  # German and Arabic
    [offers] = await jana.send(de("No"))
    assert offers.text.startswith(de("What can you offer? Choose all that fit."))  # not "Where do you live?"
    await jana.send("2")
    await jana.send("1")
    [saved, _menu] = await jana.send("1")
    district = app.network.districts["stadt_oldenburg"].name["de"]
    assert de("District: {district}", district=district) in saved.text
    assert "Sprachmittler" in mediate.text
    await jana.send("/offer")  # later she may move: then she is asked, and can change it
    [where] = await jana.send("1")  # German only
    assert where.text.startswith(de("Where do you live? Choose your district (Landkreis) or city."))


# ---------------------------------------------------------------------------------------------------------------
# 15. Staff who gave no name are shown by role and organisation, never by their handle


@dataclass
class PlatformNamed(Chat):
    """A phone whose platform sends `shown_name` as the person's name: None (no name at all), or what the demo
    (the persona, "jobc") or a Matrix client (the Matrix ID) sends for someone who set none."""

    shown_name: str | None = None

    def _event(self, **values: object) -> Incoming:
        return replace(super()._event(**values), display_name=self.shown_name)


async def joined(app: Lotse, transport: RecordingTransport, handle: str, shown_name: str | None, role: str,
                 organisation: str | None, **scope: list[str]) -> PlatformNamed:
    from tests.test_questions import invite

    code = await invite(app, role=role, organisation=organisation, locale="en", **scope)  # type: ignore[arg-type]
    person = PlatformNamed(app, transport, handle, shown_name=shown_name)
    await person.send(f"/start {code}")
    return person


async def test_staff_without_a_name_are_shown_by_role_and_organisation_never_by_their_handle(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock) -> None:
    ar = Translator("ar")
    jobc = await joined(app, transport, "jobc", None, "coordinator", "jobcenter", districts=["stadt_oldenburg"])
    anke = await joined(app, transport, "@anke:matrix.example", "@anke:matrix.example", "coordinator", "jobcenter",
                        districts=["stadt_oldenburg"])
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "work")
    unnamed = "Coordinator, Jobcenter Oldenburg"
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["work"].name["ar"])
    await amal.send("أبحث عن عمل")
    await jobc.click("Take it")
    jobc_id = await _person_id(app, "jobc")
    assert anke.last.text.endswith(f"Taken by {unnamed} (no. {jobc_id}).")  # before: "no name given (no. 1)"
    [taken] = await anke.press_raw("@tk:claim:1")  # her button, pressed before her copy was updated
    assert taken.text == f"{unnamed} (no. {jobc_id}) has already taken this question."
    [shown, *_] = await anke.send("/ticket 1")
    assert f"Taken by {unnamed} (no. {jobc_id})." in shown.text
    await jobc.send("Bitte kommen Sie am Montag ins Jobcenter.")
    assert "jobc" not in amal.last.text and "Jobcenter Oldenburg" in amal.last.text

    # a volunteer who gave no name (their Matrix ID only), paired by the Jobcenter coordinator who gave none either
    lena = await joined(app, transport, "@lena:matrix.example", "@lena:matrix.example", "volunteer", "proconnect")
    for answer in ("1", "1, 2", "No", "8", "2, 4", "1, 2", "1"):
        await lena.send(answer)
    lena_id = await _person_id(app, "@lena:matrix.example")
    volunteer = "Volunteer, pro:connect e.V."
    [suggestions] = await jobc.send("/pair Amal")
    assert f"{volunteer} (no. {lena_id})" in suggestions.text or \
        any(label.startswith(f"{volunteer} (no. {lena_id})") for label in jobc.buttons())
    await jobc.click(jobc.buttons()[0])
    asked = amal.last.text
    in_arabic = ar("{role}, {organisation}", role=ar("Volunteer"), organisation="pro:connect e.V.")
    assert in_arabic in asked and "@lena" not in asked and "Volunteer" not in asked  # in her language
    [agreed, *_] = await amal.click(ar("Yes, I agree"))
    assert agreed.text == ar("Thank you. {volunteer} will accompany you. The network will tell you how you meet.",
                             volunteer=in_arabic)  # before: "–"
    await lena.send("/report")
    await lena.click(lena.buttons()[0])
    await lena.click("Attended a course or appointment")
    await lena.send("She was at the Jobcenter on time")
    [case, *_] = await jobc.send("/case Amal")
    assert f"{volunteer} (no. {lena_id}), since " in case.text
    assert f" · {volunteer} (no. {lena_id}) · Attended a course or appointment" in case.text
    digest = await write_digest(app.sessions, app.network, "en", date(2026, 11, 30), "markdown", None, Schedule())
    assert f"({volunteer} (no. {lena_id}), " in digest
    for seen in (case.text, digest, *(m.text for m in anke.history), *(m.text for m in amal.history)):
        assert "@anke" not in seen and "@lena" not in seen and "no name given" not in seen


async def _person_id(app: Lotse, handle: str) -> int:
    async with app.sessions() as session:
        return (await session.scalars(select(Handle.person_id).where(Handle.platform_id == handle))).one()


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_a_staff_member_without_a_name_reads_as_role_and_organisation_in_every_language(code: str) -> None:
    from flows.intake import staff_name
    from storage.models import Person

    t = Translator(code)
    network = load_network()
    for handle_name in (None, "", "jobc", "@jobc:matrix.example"):
        person = Person(id=9, role="coordinator", organisation="jobcenter", display_name=handle_name, persona="jobc")
        name = staff_name(t, network, person)
        assert t("Coordinator") in name and "Jobcenter Oldenburg" in name and "jobc" not in name
    named = Person(id=9, role="coordinator", organisation="jobcenter", display_name="Petra Schulte", persona="jobc")
    assert staff_name(t, network, named) == "Petra Schulte"


# ---------------------------------------------------------------------------------------------------------------
# 16. `lotse invite --demo` shows the code, not the migrations (they go to the demo's log, as the demo's own do)


@pytest.mark.slow
def test_an_invite_for_the_demo_shows_the_code_and_logs_to_the_demos_log(tmp_path: Path) -> None:
    from tests.test_demo_cli import lotse

    made = lotse(["invite", "--demo", "--role", "coordinator", "--organisation", "jobcenter", "--districts",
                  "landkreis_oldenburg"], tmp_path)
    assert made.returncode == 0, made.stderr.decode()
    assert made.stdout.decode().splitlines()[1].startswith("code: ")
    assert made.stderr.decode().splitlines() == [f"lotse: using the database {tmp_path / 'demo.sqlite3'}"]
    assert "applying migration 0001" in (tmp_path / "demo.log").read_text()  # before: on the terminal


# ---------------------------------------------------------------------------------------------------------------
# 17. A Pashto reader's list of appointments keeps the date in one piece (isolated in right-to-left text)


async def test_a_pashto_participants_appointment_list_isolates_the_date(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from tests.test_reminders import book, newcomer

    anna = await coordinator(app, chat, "anna")
    gul = await newcomer(app, chat, "gul", language="پښتو")
    await book(anna, "Gul", "25.11. 10:30")
    [listing, *_] = await gul.send("/appointments")
    ps = Translator("ps")
    when = ps.when(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
    assert f"{FSI}{when}{PDI} – " in listing.text  # before: the bare date, its Latin commas and digits reordered


# ---------------------------------------------------------------------------------------------------------------
# 18. One free time reads as one item in a list: no comma inside "Monday morning" (ps, ku, ru, uk had one), and a
#     German card says "Landkreis/Stadt", since Stadt Oldenburg is a city, not a Landkreis


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_a_free_time_has_no_comma_of_its_own(language: str) -> None:
    from flows.intake import DAY_PARTS

    t = Translator(language)
    for _, label in DAY_PARTS:
        text = t(label, day="X")
        assert "," not in text and "،" not in text, (language, text)


def test_a_german_card_names_a_city_or_a_landkreis_alike() -> None:
    t = Translator("de")
    assert t("District: {district}", district="Stadt Oldenburg") == "Landkreis/Stadt: Stadt Oldenburg"


# ---------------------------------------------------------------------------------------------------------------
# 19. A question handed over reaches its new coordinator whole: what the participant added since asking comes too


async def test_a_handed_over_question_brings_the_participants_later_messages(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="ihk")
    amal = await participant(chat, "amal", "English", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["en"])  # the IHK's
    await amal.send("Where can I apply for an apprenticeship?")
    await amal.send("I also got a letter from the Jobcenter about it.")  # at the menu: joins the open question
    ben = await coordinator(app, chat, "ben", organisation="jobcenter")
    await anna.click("Take it")
    [handover] = await anna.click("Hand over")
    letters = next(choice.label for choice in handover.choices if "Jobcenter" in choice.label)
    before = len(ben.history)
    await anna.click(letters)
    seen = texts(ben.history[before:])
    assert "Where can I apply for an apprenticeship?" in seen
    assert "I also got a letter from the Jobcenter about it." in seen  # before: only in /ticket


# ---------------------------------------------------------------------------------------------------------------
# 20. /mydata names the consent to a volunteer as what it is (it read "Privacy notice: Yes" a second time), and a
#     Pashto reader's appointment line keeps its date in one piece


async def test_mydata_names_the_consent_to_a_volunteer_and_isolates_dates(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from tests.test_reminders import book, newcomer
    from tests.test_volunteers import pair, volunteer

    petra = await coordinator(app, chat, "petra", organisation="proconnect")
    jana = await volunteer(app, chat)
    amal = await participant(chat, "amal", "English", "stadt_oldenburg", "apprenticeship")
    await pair(petra, jana, amal)
    readable, *_ = await amal.send("/mydata")
    consents = readable.text.split("Your consents:")[1].split("\n\n")[0]
    assert consents.count("Privacy notice (Datenschutz): Yes") == 1
    assert "Accompaniment by a volunteer: Yes" in consents
    gul = await newcomer(app, chat, "gul", language="پښتو")
    await book(petra, "Gul", "25.11. 10:30")
    listing, *_ = await gul.send("/mydata")
    ps = Translator("ps")
    when = ps.when(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))  # as in the appointment notices (play-test findings)
    assert f"{FSI}{when}{PDI}: " in listing.text


# ---------------------------------------------------------------------------------------------------------------
# 21. A question gives a coordinator the case only while it is open: after closing it, a coordinator scoped to
#     other topics no longer sees the person (they did, with the whole profile)


async def test_a_closed_question_no_longer_opens_the_case_to_its_coordinator(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    jobc = await coordinator(app, chat, "jobc", organisation="jobcenter", districts=["landkreis_oldenburg"])
    samira = await participant(chat, "samira", "English", "landkreis_oldenburg", "language_course")
    await samira.send("/menu")
    await samira.send("1")
    await samira.click(app.network.topics["letters"].name["en"])
    await samira.send("I got a letter from the Jobcenter and do not understand it.")
    [case, *_] = await jobc.send("/case samira")
    assert not case.text.startswith("Nobody with this name")  # her open question makes her his case
    await jobc.click("Take it")
    await jobc.click("Close")
    [gone, *_] = await jobc.send("/case samira")
    assert gone.text.startswith("Nobody with this name or number is among your cases.")


# ---------------------------------------------------------------------------------------------------------------
# 22. "Take it" while a search is still open: the next message is the answer, not a wrong number for the search


async def test_taking_a_question_while_a_search_is_open_makes_the_next_message_the_answer(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    anna = await coordinator(app, chat, "anna", organisation="ihk")
    amal = await participant(chat, "amal", "English", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["en"])
    await amal.send("Where can I apply for an apprenticeship?")
    [search] = await anna.send("/find")  # left open at its first question
    assert search.choices
    await anna.click("Take it")
    await anna.send("Please come to the IHK on Monday at 10:00.")
    assert "Please come to the IHK on Monday at 10:00." in amal.last.text  # before: "Please answer with a number"


# ---------------------------------------------------------------------------------------------------------------
# 23. /language in the middle of the first language question answers it: on to the privacy notice in that language
#     (it went back to the question's second page, and the next number switched to Kurmanji)


async def test_language_command_during_the_first_language_question_goes_on_to_the_notice(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    from storage.models import Conversation, Person

    layla = chat("layla")
    await layla.send("سلام")
    await layla.click("🌐 More languages")
    await layla.send("/language")
    replies = await layla.click("دری")
    assert replies[0].text.startswith(Translator("fa_AF")("From now on I will write to you in {language}.",
                                                          language="دری"))
    notice = replies[-1]
    assert notice.locale == "fa_AF" and "Datenschutz" in notice.text
    assert not any("🌐" in choice.label for choice in notice.choices)
    async with app.sessions() as session:
        person = (await session.scalars(select(Person).where(Person.locale.is_not(None)))).one()
        state = (await session.scalars(select(Conversation).where(Conversation.person_id == person.id))).one()
    assert person.locale == "fa_AF" and state.state.get("step") == "privacy"


# ---------------------------------------------------------------------------------------------------------------
# 24. Closing a question tells the participant in their language (it was silent; their next words were refused)


async def test_a_closed_question_is_told_to_the_participant_in_their_language(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", "العربية", "stadt_oldenburg", "apprenticeship")
    await amal.send("/menu")
    await amal.send("1")
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("هل يمكنني أن أبدأ تدريبًا مهنيًا؟")
    await ben.click("Take it")
    before = len(amal.history)
    await ben.send("/close 1")
    [told] = amal.history[before:]
    assert told.locale == "ar"
    assert told.text == Translator("ar")("Your question no. {number} is closed. If you need more help, write /menu "
                                         "and ask again.", number=1)
