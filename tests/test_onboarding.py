"""Onboarding as a person meets it: language, privacy notice, consent, menu; and the ways out."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from bot.core.access import PRIVACY_VERSION
from bot.core.config import load_settings
from bot.core.i18n import LANGUAGES, Translator
from bot.runtime.app import Lotse
from storage.models import Consent, Handle, InboxEntry, Person
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_intake import staff

FSI, PDI = "\u2068", "\u2069"


async def count(app: Lotse, model: type) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


FIRST_PAGE = list(LANGUAGES)[:7]


async def test_first_contact_offers_every_language_under_its_own_name(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    [picker] = await amal.send("hello")
    assert [choice.label for choice in picker.choices] == [*(LANGUAGES[c] for c in FIRST_PAGE), "🌐 More languages"]
    for code in FIRST_PAGE:  # the question itself is asked in every language of the page
        assert Translator(code)("Please choose your language.") in picker.text
    for code in list(LANGUAGES)[7:]:  # and the others are named, so that their readers press "More languages"
        assert LANGUAGES[code] in picker.text
    [more] = await amal.click("🌐 More languages")
    assert [choice.label for choice in more.choices] == [*(LANGUAGES[c] for c in list(LANGUAGES)[7:]),
                                                         "🌐 More languages"]
    for code in list(LANGUAGES)[7:]:
        assert Translator(code)("Please choose your language.") in more.text


async def test_platform_hint_puts_that_language_first(chat: Callable[..., Chat]) -> None:
    olena = chat("olena", hint="uk-UA")
    [picker] = await olena.send("/start")
    assert picker.choices[0].label == "Українська"
    assert picker.text.splitlines()[0] == Translator("uk")("Please choose your language.")


async def test_consent_yes_records_version_and_goes_on_to_the_profile(app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    [short] = await amal.click("English")
    assert short.text.startswith("Privacy (Datenschutz), in short:") and len(short.text) < 500
    assert [c.label for c in short.choices] == ["Yes", "No", "Read the full notice"]
    [notice] = await amal.click("Read the full notice")
    assert "pro:connect e.V., Oldenburg" in notice.text
    assert "12 months after your last message" in notice.text
    assert "datenschutz@proconnect.example" in notice.text
    assert notice.text.rstrip().endswith("Write the number of your answer.")
    assert [c.label for c in notice.choices] == ["Yes", "No"]
    thanks, intro, first_question = await amal.click("Yes")
    assert thanks.text == "Thank you. Your consent was recorded on 23 November 2026."
    assert intro.text.startswith("Now a few questions about you")
    assert first_question.text.startswith("Question 1 of 11\nWhere do you live?")
    [menu] = await amal.send("/menu")
    assert [c.label for c in menu.choices] == ["Ask a question", "Talk to a person", "Your profile",
                                               "What work suits me? (Potenzialcheck)", "My appointments",
                                               "Reminders", "Change language",
                                               "About your data", "Help"]
    async with app.sessions() as session:
        consent = (await session.scalars(select(Consent))).one()
        person = await session.get_one(Person, consent.person_id)
    assert (consent.kind, consent.version, consent.given) == ("privacy", PRIVACY_VERSION, True)
    assert person.locale == "en" and person.privacy_version == PRIVACY_VERSION


async def test_answers_by_number_or_by_label_ignoring_case_and_accents(chat: Callable[..., Chat]) -> None:
    yonas = chat("yonas")
    await yonas.send("hello")
    [notice] = await yonas.send("  turkce ")
    assert notice.locale == "tr"
    await yonas.send("/language")
    changed, notice = await yonas.send("ENGLISH")
    assert changed.text == "From now on I will write to you in English." and notice.locale == "en"
    await yonas.send("/language")
    changed, notice = await yonas.send("١")  # Arabic-Indic digit one: Deutsch
    assert notice.locale == "de"
    [*_, menu] = await yonas.send("JA")
    assert menu.locale == "de"


async def test_declining_keeps_nothing_and_start_begins_again(app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("Mein Name ist Amal, ich wohne in Oldenburg")
    await amal.click("Deutsch")
    [goodbye] = await amal.send("2")
    assert "/start" in goodbye.text and not goodbye.choices
    assert await count(app, Person) == 0
    assert await count(app, Handle) == 0
    assert await count(app, Consent) == 0
    async with app.sessions() as session:
        payloads = (await session.scalars(select(InboxEntry.payload))).all()
    assert payloads and all(payload == {"redacted": True} for payload in payloads)
    [picker] = await amal.send("/start")
    assert len(picker.choices) == 8


async def test_language_can_change_mid_question_and_the_question_returns(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("English")
    await amal.send("/language")
    confirmation, notice = await amal.click("العربية")
    assert confirmation.rtl and notice.rtl and notice.locale == "ar"
    assert f"{FSI}العربية{PDI}" in confirmation.text
    assert "(Datenschutz)" in notice.text  # the same step again, now in Arabic
    assert [c.label for c in notice.choices] == [Translator("ar")(label)
                                                 for label in ("Yes", "No", "Read the full notice")]


async def test_back_help_and_unknown_commands_keep_the_current_question(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    first = await amal.send("/back")
    assert first[0].text == "There is nothing to go back to here. Here are the options again."
    assert len(first[1].choices) == 8
    await amal.click("English")
    [picker] = await amal.send("/back")
    assert len(picker.choices) == 8
    await amal.click("English")
    help_text, again = await amal.send("/help")
    assert "/language – change the language" in help_text.text
    assert [c.label for c in again.choices] == ["Yes", "No", "Read the full notice"]
    unknown, again = await amal.send("/teleport now")
    assert unknown.text == "I do not know the command /teleport. Write /help to see what I understand."
    assert [c.label for c in again.choices] == ["Yes", "No", "Read the full notice"]
    blocked, again = await amal.send("/menu")
    assert blocked.text == "First, please answer the privacy question."  # the language is chosen already
    assert [c.label for c in again.choices] == ["Yes", "No", "Read the full notice"]


async def test_matrix_style_bang_commands_work_too(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("English")
    await amal.click("Yes")
    [picker] = await amal.send("!language")
    assert len(picker.choices) == 8


async def test_stale_and_forged_buttons_change_nothing(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    old_english = amal.button_key("English")
    await amal.click("English")
    [notice] = await amal.press_raw(old_english)
    assert notice.text == "This button belongs to an earlier question and no longer works."
    [notice] = await amal.press_raw("99999:yes")
    assert notice.text == "This button belongs to an earlier question and no longer works."
    [notice] = await amal.press_raw("x" * 64)
    assert notice.text == "This button belongs to an earlier question and no longer works."
    thanks, *_ = await amal.click("Yes")  # the real question still waits
    assert thanks.text.startswith("Thank you.")


async def test_buttons_of_one_person_cannot_answer_for_another(chat: Callable[..., Chat]) -> None:
    amal, yonas = chat("amal"), chat("yonas")
    await amal.send("hi")
    await yonas.send("hi")
    await amal.click("English")
    amal_yes = amal.button_key("Yes")
    [reply] = await yonas.press_raw(amal_yes)  # yonas is still at the language question
    assert reply.text == "This button belongs to an earlier question and no longer works."


async def test_idle_conversation_returns_to_the_menu_with_one_line(chat: Callable[..., Chat], clock: FakeClock) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("English")
    await amal.click("Yes")
    await amal.send("/menu")
    await amal.send("/language")
    clock.advance(minutes=31)
    welcome, menu = await amal.send("2")
    assert welcome.text == "Welcome back! It has been a while, so we start again from the menu."
    assert menu.text.startswith("What would you like to do?")


async def test_about_your_data_shows_notice_and_consent_date(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("Deutsch")
    await amal.send("1")
    await amal.send("/menu")
    [notice] = await amal.click(Translator("de")("About your data"))  # the notice, its date, the rights as buttons
    assert "datenschutz@proconnect.example" in notice.text
    assert "23. November 2026" in notice.text
    assert [c.label for c in notice.choices] == ["Eine Kopie meiner Daten", "Meine Daten löschen",
                                                 "Meine Einwilligung widerrufen",
                                                 "Weiteren Chat verknüpfen (Telegram, Matrix)", "Hauptmenü"]


async def test_arabic_isolates_left_to_right_values(chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("العربية")
    [notice] = await amal.click(Translator("ar")("Read the full notice"))
    assert notice.rtl
    assert f"{FSI}datenschutz@proconnect.example{PDI}" in notice.text
    assert f"{FSI}١٢{PDI}" in notice.text or f"{FSI}12{PDI}" in notice.text
    thanks, *_ = await amal.click(Translator("ar")("Yes"))
    assert FSI in thanks.text and PDI in thanks.text


async def test_a_restart_resumes_the_conversation_at_its_step(
    app: Lotse, chat: Callable[..., Chat], database_url: str, clock: FakeClock, tmp_path: object
) -> None:
    amal = chat("amal")
    await amal.send("hi")
    await amal.click("🌐 More languages")  # Tigrinya is on the second page
    await amal.click("ትግርኛ")
    await app.close()
    transport = RecordingTransport()
    restarted = await Lotse.open(load_settings(data_dir=tmp_path), database_url=database_url, clock=clock)
    restarted.add_transport(transport)
    try:
        again = Chat(restarted, transport, "amal")
        replies = await again.send("1")  # "yes" to the privacy question asked before the restart
        assert replies[0].locale == "ti"
        thanks_in_tigrinya = Translator("ti")("Thank you. Your consent was recorded on {date}.", date="@")
        assert replies[0].text.startswith(thanks_in_tigrinya.split("@")[0])
        assert len(replies[-1].choices) == 10  # the profile's first question: the ten districts
    finally:
        await restarted.close()


async def test_staff_need_no_consent_flow(app: Lotse, chat: Callable[..., Chat]) -> None:
    await app.ensure_personas()
    tom = Chat(app, app.transports["test"], "tom")  # type: ignore[arg-type]
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).where(Person.persona == "tom"))).one()
        session.add(Handle(person_id=person.id, transport="test", platform_id="tom", chat_id="tom"))
    [menu] = await tom.send("hello")
    assert menu.locale == "en" and menu.text.startswith("What would you like to do?")
    assert "first" not in texts([menu]).lower()


async def test_nothing_personal_is_kept_before_consent(app: Lotse, transport: RecordingTransport) -> None:
    from bot.core.messages import Incoming

    await app.dispatcher.receive(Incoming(transport="test", event_id="e1", handle="4711", chat="4711",
                                          text="hello", display_name="Amal Hassan", language_hint="ar"))
    await app.drain()
    async with app.sessions() as session:
        person = (await session.scalars(select(Person))).one()
    assert (person.display_name, person.locale, person.privacy_version) == (None, None, None)
    assert transport.sent["4711"][0].choices[0].label == "العربية"


# ---------------------------------------------------------------------------------------------------------------
# Before a language is chosen; the notice on a phone


async def test_before_a_language_is_chosen_the_lines_come_in_several_languages(chat: Callable[..., Chat]) -> None:
    """Someone whose platform says Ukrainian, who has chosen nothing yet, reads the footer and the refusal in
    Ukrainian first, then German, English and the network's main languages (Pashto and Turkish too): short
    lines, each once, not one English."""
    uk = Translator("uk")
    olena = chat("olena", hint="uk-UA")
    [picker] = await olena.send("привіт")
    footer = picker.text.split("\n\n")[-1].splitlines()
    assert footer[0] == uk("Write the number of your answer.")
    assert footer[1:3] == [Translator("de")("Write the number of your answer."), "Write the number of your answer."]
    for code in ("ar", "fa", "ps", "tr"):
        assert Translator(code)("Write the number of your answer.") in footer
    assert len(footer) <= 7 and len(set(footer)) == len(footer)
    blocked, again = await olena.send("/menu")
    lines = blocked.text.splitlines()
    assert lines[0] == uk("First, please choose your language and answer the privacy question.")
    assert "First, please choose your language and answer the privacy question." in lines and len(lines) <= 7
    assert again.choices[0].label == "Українська" and len(again.choices) <= 8  # a page, the hint first
    await olena.click("Українська")
    blocked, _again = await olena.send("/menu")  # the language is known now: one line, in it, about the notice
    assert blocked.text == uk("First, please answer the privacy question.")


async def test_a_language_typed_by_a_name_is_understood_and_a_wrong_answer_is_refused_in_several_languages(
        chat: Callable[..., Chat]) -> None:
    """A play-tester typed "سۆرانی" (Sorani's own word, on the picker's second page) and got an English-only
    "Please answer with a number from 1 to 8." Now the refusal comes in the first-contact languages, and a
    language's own name, a word of it, or its English or German name chooses it."""
    shwan = chat("shwan")
    await shwan.send("سڵاو")
    refusal, again = await shwan.send("xyz")
    lines = refusal.text.splitlines()
    for code in ("de", "en", "ar", "fa", "ps", "tr"):
        assert Translator(code)("Please answer with a number from 1 to {count}.", count=8) in lines
    assert len(lines) <= 7 and again.choices[0].label == "Deutsch"
    [notice] = await shwan.send("سۆرانی")
    assert notice.locale == "ckb" and notice.rtl
    assert notice.choices[0].label == Translator("ckb")("Yes")
    for typed, locale in (("Kurdî", "ku"), ("Farsi", "fa"), ("Arabisch", "ar"), ("dari", "fa_AF"),
                          ("SOMALI", "so"), ("Tigrinya", "ti"), ("پشتو", "ps"), ("پختو", "ps"), ("ትግሪኛ", "ti")):
        person = chat(f"p-{typed}")
        await person.send("hello")
        [notice] = await person.send(typed)
        assert notice.locale == locale, typed
    unclear = chat("unclear")
    await unclear.send("hello")
    refusal, again = await unclear.send("Kurdish")  # Kurmanji or Sorani? The list, with both, answers that
    assert "Please answer with a number from 1 to 8." in refusal.text.splitlines()
    assert "کوردی سۆرانی" in again.text and "Kurdî (Kurmancî)" in again.text


async def test_the_notice_comes_short_and_the_full_one_is_a_tap_away_in_ukrainian(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    uk = Translator("uk")
    olena = chat("olena", hint="uk-UA")
    await olena.send("привіт")
    [short] = await olena.click("Українська")
    assert short.locale == "uk" and len(short.text) < 600 and "(Datenschutz)" in short.text
    assert "datenschutz@proconnect.example" not in short.text
    assert [c.label for c in short.choices] == [uk("Yes"), uk("No"), uk("Read the full notice")]
    [full] = await olena.send("3")
    assert "datenschutz@proconnect.example" in full.text and len(full.text) > len(short.text)
    assert [c.label for c in full.choices] == [uk("Yes"), uk("No")]
    thanks, *_ = await olena.click(uk("Yes"))
    assert thanks.text.startswith(uk("Thank you. Your consent was recorded on {date}.", date="")[:20])
    async with app.sessions() as session:
        consent = (await session.scalars(select(Consent))).one()
    assert consent.version == PRIVACY_VERSION  # the full notice's version, though only the summary was shown


async def test_consenting_from_the_short_notice_records_the_full_notices_version(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    amal = chat("amal", hint="ar")
    await amal.send("مرحبا")
    await amal.click("العربية")
    thanks, *_ = await amal.send("1")
    assert thanks.rtl and FSI in thanks.text
    async with app.sessions() as session:
        person = (await session.scalars(select(Person))).one()
    assert person.privacy_version == PRIVACY_VERSION


async def test_a_volunteer_whose_language_is_known_is_asked_only_for_the_privacy_answer(
        app: Lotse, transport: RecordingTransport) -> None:
    """Found by a newcomer: Jana, a volunteer the network set up in German, was told to choose her language first."""
    jana = await staff(app, transport, "jana")
    blocked, notice = await jana.send("/menu")
    assert blocked.text == Translator("de")("First, please answer the privacy question.")
    assert blocked.text == "Bitte beantworten Sie zuerst die Frage zum Datenschutz."
    assert [c.label for c in notice.choices] == ["Ja", "Nein", "Ganzen Hinweis lesen"]


async def test_an_unusable_answer_to_the_full_notice_asks_again_without_sending_the_notice_again(
        chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: after "Read the full notice", every mistyped answer brought the whole notice (about
    1,900 characters) again."""
    amal = chat("amal")
    await amal.send("hello")
    await amal.click("English")
    [full] = await amal.click("Read the full notice")
    assert len(full.text) > 1000
    for typed in ("7", "   ", "🙂"):
        hint, again = await amal.send(typed)
        assert len(hint.text) < 120  # a short line saying what went wrong
        assert again.text.startswith("Do you agree that Lotse stores your data for this purpose?\n")
        assert len(again.text) < 200
        assert [c.label for c in again.choices] == ["Yes", "No"]
    thanks, *_ = await amal.send("1")
    assert thanks.text.startswith("Thank you. Your consent was recorded")
