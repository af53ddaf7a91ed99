"""The participant's intake, /profile, the company consent and the coordinators' summary, as conversations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.core.i18n import FSI, PDI, Translator
from bot.runtime.app import Lotse
from storage.models import Consent, Handle, Person, Profile
from tests.chat import Chat, FakeClock, RecordingTransport, texts

# Typed answers for the whole intake, in the order asked (English numbers work in every language).
ANSWERS = [
    "8",                      # district: Stadt Oldenburg
    "2, 3",                   # goals: apprenticeship, internship
    "1, 13",                  # occupations: metal, something else
    "Bicycle repair",         # the other occupation
    "3",                      # German: A2
    "1 6",                    # other languages: Arabic, Tigrinya
    "1, 2, 3",                # Monday, Tuesday and Wednesday
    "1",                      # mornings
    "01.03.2027",             # earliest start
    "3",                      # driving licence: getting one now
    "1",                      # bus and train: yes
    "2",                      # contact: also by phone
    "0151 23456789",          # phone
    "9",                      # years at school
    "Welder in Aleppo, 3 years",
]
DAYS = ANSWERS.index("1, 2, 3")
"""The weekly times come in two short lists; the days are saved with the times of day, one answer later."""
START = DAYS + 2
PHONE = ANSWERS.index("0151 23456789")


async def consent(person: Chat, language: str) -> list[object]:
    await person.send("hello")
    await person.click(language)
    return await person.send("1")


async def staff(app: Lotse, transport: RecordingTransport, persona: str) -> Chat:
    """A coordinator persona from the network file, reachable on the test transport."""
    await app.ensure_personas()
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).where(Person.persona == persona))).one()
        session.add(Handle(person_id=person.id, transport=transport.name, platform_id=persona, chat_id=persona))
    return Chat(app, transport, persona)


async def profile_of(app: Lotse, handle: str) -> Profile:
    async with app.sessions() as session:
        person_id = (await session.scalars(select(Handle.person_id).where(
            Handle.platform_id == handle, Handle.transport == "test"))).one()
        return await session.get_one(Profile, person_id)


async def test_intake_in_english_with_progress_summary_and_company_consent(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    petra, tom = await staff(app, transport, "petra"), await staff(app, transport, "tom")
    amal = chat("amal")
    *_, first = await consent(amal, "English")
    assert first.text.startswith("Question 1 of 11\nWhere do you live?")
    seen = [first]
    for answer in ANSWERS:
        seen += await amal.send(answer)
    assert [m.text.split("\n")[0] for m in seen if m.text.startswith("Question")][:4] == [
        "Question 1 of 11", "Question 2 of 11", "Question 2 of 11, part 2", "Question 2 of 11, part 3"]
    summary = amal.last
    assert summary.text.startswith("Here is your profile:")
    for line in ("Where you live: Oldenburg (city)",
                 "Your goals: Apprenticeship (Ausbildung), Internship (Praktikum / Hospitation)",
                 "Work that interests you: Metal work (Metall), Something else",
                 "Other work: Bicycle repair", "German: A2", "Other languages: Arabic, Tigrinya",
                 "When you have time: Monday morning, Tuesday morning, Wednesday morning",
                 "Earliest start: 1 March 2027", "Driving licence (Führerschein): I am getting one now",
                 "Bus and train: Yes", "Contact: Also by phone", "Phone: +4915123456789", "Years at school: 9",
                 "Work experience: Welder in Aleppo, 3 years"):
        assert line in summary.text
    assert amal.buttons() == ["Yes, this is right", "Change an answer"]
    [companies] = await amal.click("Yes, this is right")
    assert "Partner companies" in companies.text and "(Praktikum)" in companies.text
    assert petra.history == [] and tom.history == []  # nothing goes out before the profile is confirmed
    done = await amal.click("No")
    assert "Your profile is complete" in texts(done)
    assert done[-1].text.startswith("What would you like to do?")
    profile = await profile_of(app, "amal")
    assert profile.completed_at is not None and profile.stage == "profile_complete"
    assert profile.share_with_companies is False and profile.phone == "+4915123456789"
    assert profile.german_level == "a2"
    # Petra (IHK, German) and Tom (pro:connect, English) are responsible for apprenticeships in Oldenburg.
    [to_petra] = petra.history
    assert to_petra.locale == "de" and to_petra.text.startswith("Neues Profil")
    assert "Arabisch" not in to_petra.text.split("\n")[0]  # amal writes in English
    [to_tom] = tom.history
    assert to_tom.text.startswith("New participant profile: ") and "Their language: English." in to_tom.text
    assert "Phone: +4915123456789" in to_tom.text
    async with app.sessions() as session:
        kinds = (await session.scalars(select(Consent.kind).order_by(Consent.id))).all()
    assert kinds == ["privacy", "companies"]


async def test_intake_in_arabic_isolates_values_and_reads_arabic_digits(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    ar = Translator("ar")
    amal = chat("amal", hint="ar")
    *_, first = await consent(amal, "العربية")
    assert first.rtl and first.text.startswith(ar("Question {number} of {total}", number=1, total=11))
    arabic_digits = ["٨", "٢، ٣", "١", "٣", "٢"]  # district, goals (Arabic comma), metal, A2, Persian
    for answer in arabic_digits:
        await amal.send(answer)
    await amal.send(ar("Skip"))  # no availability? not optional: asked again
    assert amal.last.text.startswith(ar("Question {number} of {total}", number=5, total=11))
    for answer in ["1", "1", ar("As soon as possible"), "2", ar("No"), "1", "-", "-"]:
        await amal.send(answer)
    summary = amal.last.text
    assert f"{FSI}A2{PDI}" in summary
    goals = app.network.topics  # the Arabic comma between answers, as an Arabic reader writes it
    assert f'{goals["apprenticeship"].name["ar"]}، {goals["internship"].name["ar"]}' in summary
    assert ar("As soon as possible") in summary and ar("(no answer)") in summary
    assert amal.last.rtl


async def test_intake_in_ukrainian_with_buttons_and_toggles(app: Lotse, chat: Callable[..., Chat]) -> None:
    uk = Translator("uk")
    olena = chat("olena", hint="uk-UA")
    await consent(olena, "Українська")
    await olena.click(app.network.districts["ammerland"].name["uk"])
    goals = app.network.topics
    await olena.click(goals["language_course"].name["uk"])
    await olena.click(goals["work"].name["uk"])
    toggled = olena.last
    assert toggled.selection == "multiple" and len(toggled.selected) == 2
    await olena.click(goals["work"].name["uk"])  # changed her mind
    assert len(olena.last.selected) == 1
    await olena.click(uk("Done"))
    # only a language course: no question about kinds of work, so German comes third of eleven
    assert olena.last.text.startswith(uk("Question {number} of {total}", number=3, total=11))
    assert uk("How good is your German? If you have a certificate, choose its level.") in olena.last.text
    profile = await profile_of(app, "olena")
    assert profile.answers["goals"] == ["language_course"]


async def test_someone_who_wants_only_a_language_course_is_not_asked_about_work_until_work_is_a_goal(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: "Which kinds of work interest you?" came after choosing only a language course."""
    samir = chat("samir")
    await consent(samir, "English")
    await samir.send("8")
    *_, german = await samir.send("1")  # a language course only
    assert german.text.startswith("Question 3 of 11\nHow good is your German?")
    for answer in ["3", "Skip", "1, 2", "1", "As soon as possible", "2", "1", "1", "9", "Skip"]:
        await samir.send(answer)
    summary = samir.last
    assert summary.text.startswith("Here is your profile:") and "Work that interests you" not in summary.text
    await samir.click("Change an answer")
    await samir.click("Your goals")
    [kinds] = await samir.send("1, 4")  # work as well
    assert "Which kinds of work interest you?" in kinds.text
    [summary] = await samir.send("1")
    assert "Work that interests you: Metal work (Metall)" in summary.text


@pytest.mark.parametrize("zero", ["0", "٠", "۰"])  # Arabic-Indic and Persian zeros skip as the Latin one does
async def test_other_languages_leave_out_the_chosen_one_and_0_skips_them(chat: Callable[..., Chat], zero: str) -> None:
    """Found by a newcomer: the question offered Arabic to someone who reads Arabic, and said nothing of how to skip
    it by number; and a zero typed on an Arabic keyboard was refused."""
    ar = Translator("ar")
    amal = chat("amal")
    await consent(amal, "العربية")
    for answer in ["8", "2", "1"]:  # Oldenburg, apprenticeship, metal work
        await amal.send(answer)
    [languages] = await amal.send("3")  # German A2
    assert ar("Which other languages do you speak? Choose all that fit, or skip.") in languages.text
    labels = [choice.label for choice in languages.choices]
    assert labels[0] == "الفارسية" and "العربية" not in labels  # Persian first: Arabic, their own, is left out
    assert languages.text.rstrip().endswith(ar("To skip this question, write 0."))
    [days] = await amal.send(zero)
    assert ar("On which days do you have time for a course, an internship or work? Choose all that fit.") in days.text


async def test_profile_changes_one_answer_without_the_whole_flow(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    amal = chat("amal")
    await consent(amal, "English")
    for answer in ANSWERS:
        await amal.send(answer)
    await amal.click("Yes, this is right")
    await amal.click("Yes")
    notified = len(tom.history)
    [summary] = await amal.send("/profile")
    assert "German: A2" in summary.text and "Shown to partner companies: Yes" in summary.text
    [pick] = await amal.click("Change an answer")
    assert pick.text.startswith("Which answer do you want to change?")
    assert "German" in amal.buttons() and "Phone" in amal.buttons()
    [german] = await amal.click("German")
    assert german.text.startswith("Question 3 of 11")
    [summary] = await amal.click("B1")
    assert summary.text.startswith("Here is your profile:") and "German: B1" in summary.text
    await amal.click("Change an answer")
    await amal.click("Contact")
    [summary] = await amal.click("Only here in the chat")  # the phone number goes with it
    assert "Phone:" not in summary.text
    await amal.click("Change an answer")
    await amal.click("Shown to partner companies")
    [summary] = await amal.click("No")
    assert "Shown to partner companies: No" in summary.text
    saved = await amal.click("Yes, this is right")
    assert saved[0].text == "Your profile is saved."
    profile = await profile_of(app, "amal")
    assert (profile.german_level, profile.phone, profile.share_with_companies) == ("b1", None, False)
    assert len(tom.history) == notified  # changes do not send a new profile to the coordinators
    async with app.sessions() as session:
        answers = (await session.scalars(select(Consent.given).where(Consent.kind == "companies")
                                         .order_by(Consent.id))).all()
    assert answers == [True, False]  # both decisions are on record


async def test_optional_steps_can_be_skipped(app: Lotse, chat: Callable[..., Chat]) -> None:
    yonas = chat("yonas")
    await consent(yonas, "English")
    for answer in ["10", "4", "5", "7"]:  # outside the region, work, construction, I don't know
        await yonas.send(answer)
    [question] = await yonas.send("Skip")  # other languages
    assert question.text.startswith("Question 5 of 11")
    for answer in ["2", "2", "As soon as possible", "2", "2", "1"]:  # contact by chat only: no phone question
        await yonas.send(answer)
    school = yonas.last
    assert school.text.startswith("Question 10 of 11")
    # years at school are a number: no "1. Skip" that would read as one year (found by a newcomer)
    assert school.choices == () and school.text.rstrip().endswith("To skip this question, write: Skip")
    await yonas.send("Skip")
    [summary] = await yonas.click("Skip")
    assert "Years at school: (no answer)" in summary.text and "Work experience: (no answer)" in summary.text
    assert "Phone" not in summary.text and "Other work" not in summary.text


async def test_walking_away_for_a_week_keeps_every_answer(
        app: Lotse, chat: Callable[..., Chat], clock: FakeClock) -> None:
    amal = chat("amal")
    await consent(amal, "English")
    for answer in ANSWERS[:5]:
        await amal.send(answer)
    clock.advance(days=7)
    welcome, question = await amal.send("hello?")
    assert welcome.text == "Welcome back! Let us continue where you stopped."
    assert question.text.startswith("Question 4 of 11")
    await amal.send("/cancel")
    clock.advance(days=7)
    await amal.send("/menu")
    welcome, question = await amal.click("Your profile")
    assert welcome.text.startswith("Welcome back to your profile.")
    assert question.text.startswith("Question 4 of 11")
    [previous] = await amal.send("/back")  # back goes to the answers already given
    assert previous.text.startswith("Question 3 of 11")


LONG = "x" * 5000


@pytest.mark.parametrize(("step_answers", "bad", "expected"), [
    (ANSWERS[:-1], "", "Your message was empty. Please write your answer."),
    (ANSWERS[:-1], LONG, "That is too long. Please write at most 500 characters."),
    (ANSWERS[:-1], "🙂🙂🙂", "Please write a few words, not only emoji or signs."),
    (ANSWERS[:3], "🔧🔧", "Please write a few words, not only emoji or signs."),
    (ANSWERS[:PHONE], "abc", "This does not look like a phone number."),
    (ANSWERS[:PHONE], "0151", "This does not look like a phone number."),
    (ANSWERS[:PHONE], "+49 151 2345678912345", "This does not look like a phone number."),
    (ANSWERS[:PHONE], "'; DROP TABLE persons; --", "This does not look like a phone number."),
    (ANSWERS[:START], "01.01.2020", "This date is in the past. Please write a date from today on."),
    (ANSWERS[:START], "30.02.2027", "There is no such date. Please check the day and the month."),
    (ANSWERS[:START], "01.01.1900", "This date is in the past. Please write a date from today on."),
    (ANSWERS[:START], "01.01.2035", "Please choose a date within the next two years."),
    (ANSWERS[:START], "tomorrow-ish", "Please write a date like 30.11.2026."),  # the prompt's example: next Monday
    (ANSWERS[:0], "11", "Please answer with a number from 1 to 10."),
    (ANSWERS[:0], "0", "Please answer with a number from 1 to 10."),
    (ANSWERS[:1], "2, 9", "Please answer with one or more numbers from 1 to 5, like 1, 3."),
    (ANSWERS[:DAYS], "6", "Please answer with one or more numbers from 1 to 5, like 1, 3."),
    (ANSWERS[:DAYS + 1], "4", "Please answer with one or more numbers from 1 to 3, like 1, 3."),
    (ANSWERS[:PHONE + 1], "40", "Please write a number from 0 to 25, for example 9."),
    (ANSWERS[:PHONE + 1], "-3", "Please write a number from 0 to 25, for example 9."),
    (ANSWERS[:PHONE + 1], "\u202eevil", "Please write a number from 0 to 25, for example 9."),
])
async def test_bad_input_gets_a_short_answer_and_keeps_what_was_answered(
        app: Lotse, chat: Callable[..., Chat], step_answers: list[str], bad: str, expected: str) -> None:
    amal = chat("amal")
    await consent(amal, "English")
    for answer in step_answers:
        await amal.send(answer)
    asked = amal.last.text
    hint, again = await amal.send(bad)
    assert hint.text.startswith(expected)
    assert again.text == asked  # the same question again
    profile = await profile_of(app, "amal")
    given = len(step_answers) - (1 if len(step_answers) > DAYS else 0)  # days and times of day are one answer
    assert len([q for q in profile.answers if q != "occupation_other"]) >= given - 1


@pytest.mark.parametrize(("typed", "stored"), [
    ("0151 23456789", "+4915123456789"),
    ("+49 151 23456789", "+4915123456789"),
    ("0049 151 23456789", "+4915123456789"),
    ("0441/12345678", "+4944112345678"),
    ("+90 532 123 45 67", "+905321234567"),  # a Turkish mobile number is fine too
    ("٠١٥١٢٣٤٥٦٧٨٩", "+4915123456789"),  # Arabic-Indic digits
])
async def test_phone_numbers_in_every_shape_are_stored_in_e164(
        app: Lotse, chat: Callable[..., Chat], typed: str, stored: str) -> None:
    amal = chat("amal")
    await consent(amal, "English")
    for answer in ANSWERS[:PHONE]:
        await amal.send(answer)
    [question] = await amal.send(typed)
    assert question.text.startswith("Question 10 of 11")
    assert (await profile_of(app, "amal")).phone == stored


async def test_a_participant_who_comes_back_after_consent_again_is_not_asked_twice(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await consent(amal, "English")
    for answer in ANSWERS:
        await amal.send(answer)
    await amal.click("Yes, this is right")
    await amal.click("No")
    [menu] = await amal.send("/start")
    assert menu.text.startswith("What would you like to do?")
    assert amal.buttons()[:4] == ["Ask a question", "Talk to a person", "Your profile",
                                  "What work suits me? (Potenzialcheck)"]


async def test_staff_cannot_open_a_participant_profile(app: Lotse, transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    not_for_you, _menu = await tom.send("/profile")
    assert not_for_you.text == "This is not available for you."


async def test_weekly_times_come_as_two_short_lists_in_ukrainian(app: Lotse, chat: Callable[..., Chat]) -> None:
    """Days first (five), then the times of day (three): no list on a phone is longer than eight."""
    uk = Translator("uk")
    olena = chat("olena", hint="uk-UA")
    await consent(olena, "Українська")
    for answer in ANSWERS[:DAYS]:
        await olena.send(answer)
    days = olena.last
    assert days.text.startswith(uk("Question {number} of {total}", number=5, total=11))
    assert [c.label for c in days.choices] == ["понеділок", "вівторок", "середа", "четвер", "пʼятниця"]
    await olena.click("вівторок")
    await olena.click("четвер")
    [times] = await olena.click(uk("Done"))
    assert times.text.startswith(uk("Question {number} of {total}", number=5, total=11))
    assert [c.label for c in times.choices] == [uk("Mornings"), uk("Afternoons"), uk("Evenings")]
    [start] = await olena.send("1, 3")
    assert start.text.startswith(uk("Question {number} of {total}", number=6, total=11))
    profile = await profile_of(app, "olena")
    assert profile.answers["availability"] == ["tue_morning", "tue_evening", "thu_morning", "thu_evening"]
    [times_again] = await olena.send("/back")  # back to the times of day, then the days
    assert [c.label for c in times_again.choices] == [uk("Mornings"), uk("Afternoons"), uk("Evenings")]
    [days_again] = await olena.send("/back")
    assert len(days_again.choices) == 5
    every_list = [len(m.choices) for m in olena.history if m.text.startswith(uk("Question {number} of {total}",
                                                                               number=5, total=11))]
    assert max(every_list) <= 8


async def test_staff_read_a_new_profile_in_staff_wording_and_european_dates(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """Tom (pro:connect, English) gets Amal's new profile: "Goals", not "Your goals"; 1 March 2027, not March 1."""
    tom = await staff(app, transport, "tom")
    amal = chat("amal", hint="ar")
    await consent(amal, "العربية")
    for answer in ANSWERS:
        await amal.send(answer)
    await amal.send("1")
    await amal.send("2")
    [to_tom] = tom.history
    for line in ("District: Oldenburg (city)", "Goals: Apprenticeship (Ausbildung), Internship",
                 "Work of interest: Metal work (Metall), Something else", "Earliest start: 1 March 2027",
                 "Available times: Monday morning, Tuesday morning, Wednesday morning"):
        assert line in to_tom.text
    for participant_wording in ("Your goals", "Work that interests you", "Where you live", "When you have time"):
        assert participant_wording not in to_tom.text


async def test_back_to_a_multiple_choice_shows_the_ticks_given(chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: after answering the goals with "1, 4", /back showed every box empty."""
    samir = chat("samir")
    await consent(samir, "English")
    await samir.send("8")
    await samir.send("1, 4")  # a language course and work
    [goals] = await samir.send("/back")
    assert goals.text.startswith("Question 2 of ")
    assert len(goals.selected) == 2
    [kinds] = await samir.click("Done")  # kept as they were
    assert "Which kinds of work interest you?" in kinds.text
