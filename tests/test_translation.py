"""Machine translation: a Ukrainian or Arabic question reaches a German coordinator with a translation below it,
the answer goes back in the participant's language; failures never hold up or lose a message; engine off means
nothing leaves the server. Against LibreTranslate and DeepL stand-ins that answer like the documented APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core import access, translation
from bot.core.config import SettingsError, load_settings
from bot.core.i18n import Translator
from bot.core.language_detection import detect
from bot.core.network import load_network
from bot.runtime.abuse import InboundLimiter
from bot.runtime.app import Lotse
from bot.services.privacy import erase
from flows.mediation import retry_translations
from storage.models import Consent, MessageTranslation, Person
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_questions import coordinator, participant
from tests.translation_standins import DeepLStandin, LibreTranslateStandin, Standin

DE = Translator("de")
UK = Translator("uk")
AR = Translator("ar")
QUESTION_UK = "Коли починається наступний інтеграційний курс в Ольденбурзі?"
QUESTION_AR = "متى تبدأ دورة الاندماج القادمة في أولدنبورغ؟"


@pytest.fixture
def engine_name() -> str:
    return "libretranslate"


@pytest.fixture
async def standin(engine_name: str) -> AsyncIterator[Standin]:
    server: Standin = DeepLStandin() if engine_name == "deepl" else LibreTranslateStandin()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def app(database_url: str, clock: FakeClock, transport: RecordingTransport, tmp_path: Path,
              standin: Standin, engine_name: str) -> AsyncIterator[Lotse]:
    """Like the suite's app, with the engine `engine_name` ("off": the stand-in runs but is not configured)."""
    engine = {} if engine_name == "off" else {
        "translation_engine": engine_name, "translation_url": standin.url, "translation_timeout": 5,
        "translation_key": standin.api_key, "translation_external_ok": engine_name == "deepl"}
    settings = load_settings(data_dir=tmp_path, idle_minutes=30, **engine)
    lotse = await Lotse.open(settings, database_url=database_url, clock=clock)
    lotse.dispatcher.limiter = InboundLimiter(per_minute=100_000)
    lotse.add_transport(transport)
    try:
        yield lotse
    finally:
        await lotse.close()


async def ask(person: Chat, app: Lotse, locale: str, text: str) -> list[object]:
    t = Translator(locale)
    await person.send("/menu")
    await person.click(t("Ask a question"))
    await person.click(app.network.topics["language_course"].name[locale])
    return await person.send(text)  # type: ignore[return-value]


def marked(t: Translator, engine: str) -> str:
    return t("Machine translation ({engine}):", engine=engine)


async def stored(app: Lotse) -> list[MessageTranslation]:
    async with app.sessions() as session:
        return list((await session.scalars(select(MessageTranslation).order_by(MessageTranslation.id))).all())


# ---------------------------------------------------------------------------------------------------------------
# Shown and stored


@pytest.mark.parametrize(("engine_name", "label", "tag"), [("libretranslate", "LibreTranslate", "[de]"),
                                                             ("deepl", "DeepL", "[de]")])
async def test_a_ukrainian_question_reaches_a_german_coordinator_with_a_translation_and_the_answer_goes_back(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, label: str, tag: str) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    notice = next(m for m in anna.history if QUESTION_UK in m.text)
    original, below = notice.text.split(marked(DE, label))
    assert QUESTION_UK in original  # the original first, the translation below it
    assert below.strip().startswith(f"{tag} {QUESTION_UK}")
    [row] = await stored(app)
    assert (row.source, row.target, row.engine, row.status) == ("uk", "de", engine_name_of(label), "done")
    assert row.text == f"{tag} {QUESTION_UK}" and row.translated_at is not None
    await anna.click(DE("Take it"))
    await anna.send("/reply 1 Der nächste Kurs beginnt am 12. Januar.")
    answer = olena.history[-1]
    translated, original_answer = answer.text.split(UK("Machine translation ({engine}). The original:",
                                                       engine=label))
    assert "Der nächste Kurs beginnt am 12. Januar." in translated and translated.index("[uk") > 0
    assert original_answer.strip() == "Der nächste Kurs beginnt am 12. Januar."
    rows = await stored(app)
    assert [(r.source, r.target) for r in rows] == [("uk", "de"), ("de", "uk")]


def engine_name_of(label: str) -> str:
    return {"LibreTranslate": "libretranslate", "DeepL": "deepl"}[label]


@pytest.mark.parametrize("engine_name", ["deepl"])
async def test_arabic_follow_ups_are_translated_for_the_coordinator_who_took_the_question(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    amal = await participant(chat, "amal", language="العربية")
    await ask(amal, app, "ar", QUESTION_AR)
    await anna.click(DE("Take it"))
    [added, _menu] = await amal.send("شكرا! هل أحتاج إلى موعد؟")
    assert added.text == AR("Added to your question no. {number}.", number=1)
    more = anna.history[-1]
    assert more.text.index("شكرا! هل أحتاج إلى موعد؟") < more.text.index(marked(DE, "DeepL"))
    assert "[de] شكرا! هل أحتاج إلى موعد؟" in more.text
    body = standin.translations_asked[-1]
    assert (body["source_lang"], body["target_lang"], body["text"]) == ("AR", "DE", ["شكرا! هل أحتاج إلى موعد؟"])
    shown = (await anna.send("/ticket 1"))[0]
    assert "[de] شكرا! هل أحتاج إلى موعد؟" in shown.text


async def test_staff_who_read_the_language_get_no_translation_and_nothing_is_sent(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    ben = await coordinator(app, chat, "ben", organisation="proconnect", locale="en")
    amal = await participant(chat, "amal", language="English")
    await ask(amal, app, "en", "When does the next course start?")
    assert "When does the next course start?" in ben.history[-1].text
    assert marked(Translator("en"), "LibreTranslate") not in texts(ben.history)
    await ben.send("/reply 1 On 12 January.")
    assert amal.history[-1].text.endswith("On 12 January.")
    assert standin.translations_asked == [] and await stored(app) == []


async def test_a_language_the_engine_does_not_know_is_not_sent_to_it(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    yonas = await participant(chat, "yonas", language="ትግርኛ")
    await ask(yonas, app, "ti", "መዓስ እዩ ዝጅምር?")
    assert "መዓስ እዩ ዝጅምር?" in anna.history[-1].text
    assert standin.translations_asked == [] and await stored(app) == []


@pytest.mark.parametrize("engine_name", ["off"])
async def test_with_the_engine_off_nothing_leaves_the_server(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    await anna.send("/reply 1 Am 12. Januar.")
    assert QUESTION_UK in texts(anna.history) and olena.history[-1].text.endswith("Am 12. Januar.")
    assert standin.requests == [] and await stored(app) == []
    assert translation.active() is None


# ---------------------------------------------------------------------------------------------------------------
# Failures: the message goes out at once, the translation follows


@pytest.mark.parametrize(("engine_name", "status"), [
    ("libretranslate", 429), ("libretranslate", 500), ("libretranslate", 403),
    ("deepl", 429), ("deepl", 456), ("deepl", 503), ("deepl", 403)])
async def test_an_engine_error_lets_the_question_through_and_the_translation_follows(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock, status: int) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    standin.fail(status)
    _thanks, *_ = await ask(olena, app, "uk", QUESTION_UK)
    notice = anna.history[-1]
    assert QUESTION_UK in notice.text and DE("Machine translation is not available right now; it follows in a "
                                             "separate message.") in notice.text
    [row] = await stored(app)
    assert row.status == "pending" and row.text is None
    assert await retry_translations(app.sessions, clock()) == 0  # not yet due
    clock.advance(minutes=1)
    assert await retry_translations(app.sessions, clock()) == 1
    await app.drain()
    late = anna.history[-1]
    assert late.text.startswith(DE("Question no. {number}: machine translation ({engine}) of the participant's "
                                   "message:", number=1, engine=standin_label(standin)))
    assert late.text.endswith(f"[de] {QUESTION_UK}")
    [row] = await stored(app)
    assert row.status == "done" and row.attempts == 2


def standin_label(standin: Standin) -> str:
    return "DeepL" if isinstance(standin, DeepLStandin) else "LibreTranslate"


async def test_a_bad_request_is_not_retried_and_the_original_stands(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    standin.fail(400)
    await ask(olena, app, "uk", QUESTION_UK)
    assert anna.history[-1].text.rstrip().endswith(QUESTION_UK)
    [row] = await stored(app)
    assert row.status == "failed"
    clock.advance(hours=2)
    assert await retry_translations(app.sessions, clock()) == 0


async def test_a_slow_engine_does_not_hold_up_the_question(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    standin.hold()  # answers nothing until released: longer than the 2 seconds a question may wait
    thanks, *_ = await ask(olena, app, "uk", QUESTION_UK)
    assert thanks.text == UK("Thank you. Your question has the number {number}. It went to {organisation}. They "  # type: ignore[attr-defined]
                             "usually answer within one working day (Monday to Friday). The answer comes here, "
                             "in this chat.", number=1, organisation="pro:connect e.V.")
    assert QUESTION_UK in anna.history[-1].text
    # The engine is paused after the failure: the next message does not wait at all
    await olena.send("І ще: чи потрібен мені запис?")
    assert "І ще: чи потрібен мені запис?" in anna.history[-1].text
    standin.release()
    clock.advance(minutes=1)
    assert await retry_translations(app.sessions, clock()) == 2
    await app.drain()
    assert anna.history[-1].text.endswith("[de] І ще: чи потрібен мені запис?")


async def test_a_late_translation_of_an_answer_reaches_the_participant(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    await anna.click(DE("Take it"))
    standin.fail(429)
    await anna.send("/reply 1 Der Kurs beginnt am 12. Januar.")
    answer = olena.history[-1]
    assert "Der Kurs beginnt am 12. Januar." in answer.text
    assert answer.text.endswith(UK("A translation into your language follows soon."))
    clock.advance(minutes=1)
    assert await retry_translations(app.sessions, clock()) == 1
    await app.drain()
    late = olena.history[-1]
    assert late.text.startswith(UK("Answer to your question no. {number}, translated by machine ({engine}):",
                                   number=1, engine="LibreTranslate"))
    assert late.text.endswith("[uk] Der Kurs beginnt am 12. Januar.")


async def test_after_repeated_failures_the_translation_is_given_up_and_nothing_is_lost(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    standin.fail(500, times=20)
    await ask(olena, app, "uk", QUESTION_UK)
    for _ in range(10):
        clock.advance(hours=1)
        await retry_translations(app.sessions, clock())
    [row] = await stored(app)
    assert row.status == "failed" and row.attempts == 8
    assert QUESTION_UK in texts(anna.history)


# ---------------------------------------------------------------------------------------------------------------
# Privacy: deleted with the message; the notice says so and gets a new version


async def test_deleting_a_participant_deletes_the_translations(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    assert len(await stored(app)) == 1
    async with app.sessions() as session, session.begin():
        person = (await session.scalars(select(Person).where(Person.role == "participant"))).one()
        await erase(session, person, clock(), "request", app.network)
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MessageTranslation)) == 0


async def test_a_copy_of_ones_data_holds_the_translations_and_retention_deletes_them_with_the_question(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, clock: FakeClock) -> None:
    from bot.jobs.retention import RetentionPolicy, apply_retention
    from bot.services.privacy import gather

    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    olena = await participant(chat, "olena", language="Українська")
    await ask(olena, app, "uk", QUESTION_UK)
    async with app.sessions() as session:
        person = (await session.scalars(select(Person).where(Person.role == "participant"))).one()
        copy = await gather(session, person)
    assert [row["text"] for row in copy["message_translations"]] == [f"[de] {QUESTION_UK}"]
    await anna.send("/close 1")
    clock.advance(days=91)
    await apply_retention(app.sessions, app.network, RetentionPolicy(), clock())
    assert await stored(app) == []


@pytest.mark.parametrize("engine_name", ["off"])
async def test_turning_an_engine_on_changes_the_privacy_notice_and_asks_again(
        app: Lotse, chat: Callable[..., Chat], standin: Standin, tmp_path: Path) -> None:
    olena = await participant(chat, "olena", language="Українська")
    assert access.current_privacy_version() == access.PRIVACY_VERSION
    await translation.start(load_settings(data_dir=tmp_path, translation_engine="libretranslate",
                                          translation_url=standin.url), app.network)
    assert access.current_privacy_version() == f"{access.PRIVACY_VERSION}+libretranslate"
    *_, notice = await olena.send("/menu")
    assert "LibreTranslate" in notice.text and UK("Yes") in [c.label for c in notice.choices]
    await olena.click(UK("Yes"))
    async with app.sessions() as session:
        versions = (await session.scalars(select(Consent.version).order_by(Consent.id))).all()
    assert versions[-1] == f"{access.PRIVACY_VERSION}+libretranslate"
    assert versions[0] == access.PRIVACY_VERSION
    assert [path for path, _ in standin.requests] == ["/languages"]  # asked what it supports, nothing else


@pytest.mark.parametrize("engine_name", ["deepl"])
async def test_the_privacy_notice_names_an_outside_processor(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = chat("anna")
    await anna.send("hallo")
    [shown] = await anna.click("Deutsch")
    assert DE("Translation: if a coordinator does not read your language, your messages and their answers are "
              "translated by machine by {engine}, an outside service that processes them for the network under "
              "a contract. The original is always kept beside the translation.", engine="DeepL") in shown.text


# ---------------------------------------------------------------------------------------------------------------
# Settings: a wrong one stops startup with one line naming it


@pytest.mark.parametrize(("values", "named"), [
    ({"translation_engine": "deepl", "translation_key": "k:fx"}, "LOTSE_TRANSLATION_EXTERNAL_OK"),
    ({"translation_engine": "deepl", "translation_external_ok": True}, "LOTSE_TRANSLATION_KEY"),
    ({"translation_engine": "libretranslate"}, "LOTSE_TRANSLATION_URL"),
    ({"translation_engine": "libretranslate", "translation_url": "https://libretranslate.com"},
     "LOTSE_TRANSLATION_EXTERNAL_OK"),
])
async def test_a_translation_setting_that_does_not_fit_stops_startup_naming_it(
        values: dict[str, object], named: str, tmp_path: Path) -> None:
    unreachable = await translation.start(load_settings(data_dir=tmp_path, translation_engine="libretranslate",
                                                        translation_url="http://127.0.0.1:9"), load_network(None))
    assert unreachable is not None and unreachable.supported is None  # started; every language is tried
    with pytest.raises(SettingsError) as caught:
        await translation.start(load_settings(data_dir=tmp_path, **values), load_network(None))
    assert str(caught.value).startswith(f"setting {named}:") and "\n" not in str(caught.value)
    assert translation.active() is None


@pytest.mark.parametrize(("values", "named"), [
    ({"translation_engine": "google"}, "LOTSE_TRANSLATION_ENGINE"),
    ({"translation_url": "libre.example.org"}, "LOTSE_TRANSLATION_URL"),
    ({"translation_timeout": 0}, "LOTSE_TRANSLATION_TIMEOUT"),
])
def test_a_malformed_translation_setting_is_named(values: dict[str, object], named: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=f"^setting {named}:"):
        load_settings(data_dir=tmp_path, **values)


async def test_the_network_file_must_allow_machine_translation(tmp_path: Path) -> None:
    network = load_network(None).model_copy(update={"machine_translation": False})
    with pytest.raises(SettingsError, match=r"^setting LOTSE_TRANSLATION_ENGINE: the network file does not allow"):
        await translation.start(load_settings(data_dir=tmp_path, translation_engine="libretranslate",
                                              translation_url="http://127.0.0.1:9"), network)


def test_deepl_free_keys_use_the_free_host() -> None:
    assert translation.DeepL("abc:fx").url == "https://api-free.deepl.com"
    assert translation.DeepL("abc").url == "https://api.deepl.com"


async def test_a_deepl_key_never_reaches_the_logs(tmp_path: Path) -> None:
    from bot.core.config import secrets_of

    settings = load_settings(data_dir=tmp_path, translation_key="0c3a2b1e-secret:fx")
    assert "0c3a2b1e-secret:fx" in secrets_of(settings)



# ---------------------------------------------------------------------------------------------------------------
# Which language was written


@pytest.mark.parametrize(("text", "expected"), [
    ("Коли починається наступний курс?", "uk"),
    ("Когда начинается следующий курс?", "ru"),
    ("متى تبدأ الدورة القادمة؟", "ar"),
    ("دوره بعدی کی شروع می‌شود؟", "fa"),
    ("راتلونکی کورس کله پیلېږي؟", "ps"),
    ("መዓስ እዩ ዝጅምር?", "ti"),
    ("Ez dixwazim bizanim kursa almanî kengî dest pê dike?", "ku"),
    ("Wann beginnt der nächste Sprachkurs in Oldenburg?", "de"),
    ("When does the next language course start?", "en"),
    ("Bir sonraki dil kursu ne zaman başlıyor?", "tr"),
    ("ok", None),                    # too short to say
    ("اگلا کورس کب شروع ہوگا؟", None),  # Urdu: not a language Lotse has
    ("12.01.2027 🙂", None),
])
def test_the_language_written_is_detected_offline_only_when_clear(text: str, expected: str | None) -> None:
    assert detect(text) == expected


@pytest.mark.parametrize(("text", "chosen", "expected"), [
    ("بل لیک راغلی", "ps", "ps"),          # Pashto with no letter of its own: not called Persian
    ("بل لیک راغلی", "fa_AF", "fa_AF"),    # Dari is Persian
    ("بل لیک راغلی", "ar", "fa"),          # an Arabic reader writing Persian letters: Persian
    ("دوره بعدی کی شروع می‌شود؟", "ckb", "ckb"),
    ("متى تبدأ الدورة القادمة؟", "ps", "ps"),   # Pashto writes ي too
    ("متى تبدأ الدورة القادمة؟", "fa", "ar"),
    ("راتلونکی کورس کله پیلېږي؟", "fa", "ps"),   # letters of its own overrule the chosen language
    ("Коли починається наступний курс?", "ru", "uk"),
])
def test_the_chosen_language_stays_where_the_letters_cannot_tell(text: str, chosen: str, expected: str) -> None:
    assert detect(text, chosen=chosen) == expected


async def test_a_coordinator_learns_the_question_is_written_in_kurmanji_and_it_is_translated_from_kurmanji(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    amal = await participant(chat, "amal", language="العربية")  # chose Arabic, writes Kurmanji
    question = "Silav, ez dixwazim bizanim kursa almanî kengî dest pê dike?"
    await ask(amal, app, "ar", question)
    notice = anna.history[-1]
    assert DE("(written in {language})", language="Kurdisch (Kurmandschi)") in notice.text
    assert notice.text.index(question) < notice.text.index(marked(DE, "LibreTranslate"))
    [body] = standin.translations_asked
    assert (body["source"], body["target"]) == ("ku", "de")


async def test_english_written_by_a_participant_who_chose_german_is_not_sent_to_the_engine(
        app: Lotse, chat: Callable[..., Chat], standin: Standin) -> None:
    anna = await coordinator(app, chat, "anna", organisation="proconnect", locale="de")
    karim = await participant(chat, "karim", language="Deutsch")
    await ask(karim, app, "de", "When does the next language course start?")
    assert DE("(written in {language})", language="Englisch") in anna.history[-1].text
    assert standin.translations_asked == []
