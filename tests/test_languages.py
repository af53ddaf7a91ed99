"""Choosing among many languages on a phone, Dari for Afghans, and right-to-left text that reads in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from bot.core.i18n import LANGUAGES, Translator
from tests.chat import Chat

FSI, PDI = "\u2068", "\u2069"
MORE = "🌐 More languages"


async def test_no_language_list_is_longer_than_a_phone_screen_and_every_language_is_reachable(
        chat: Callable[..., Chat]) -> None:
    amal = chat("amal")
    [picker] = await amal.send("hello")
    seen: list[str] = []
    for _ in range(len(LANGUAGES)):
        assert len(picker.choices) <= 8
        labels = [choice.label for choice in picker.choices]
        seen += [label for label in labels if label not in seen and not label.startswith("🌐")]
        if len(seen) == len(LANGUAGES):
            break
        [picker] = await amal.click(picker.choices[-1].label)
    assert sorted(seen) == sorted(LANGUAGES.values())


async def test_an_afghan_finds_dari_and_reads_dari_words(chat: Callable[..., Chat]) -> None:
    nazanin = chat("nazanin")
    [picker] = await nazanin.send("سلام")
    assert "دری" in [choice.label for choice in picker.choices]
    assert "فارسی" in [choice.label for choice in picker.choices]  # Iranian Persian stays its own choice
    [notice] = await nazanin.click("دری")
    assert notice.locale == "fa_AF" and notice.rtl
    assert "معلومات" in notice.text and "داده" not in notice.text
    assert [choice.label for choice in notice.choices][:2] == ["بلی", "نه"]  # then "read the full notice"


async def test_the_picker_says_each_line_once_when_dari_and_persian_share_it(chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: the Dari and the Persian "choose your language" lines are the same sentence."""
    nazanin = chat("nazanin")
    [picker] = await nazanin.send("سلام")
    prompt, footer = picker.text.split("\n\n")[0].splitlines(), picker.text.split("\n\n")[-1].splitlines()
    assert Translator("fa")("Please choose your language.") in prompt
    assert len(set(prompt)) == len(prompt) and len(set(footer)) == len(footer)


async def test_a_dari_hint_puts_dari_first(chat: Callable[..., Chat]) -> None:
    wahid = chat("wahid", hint="fa-AF")
    [picker] = await wahid.send("/start")
    assert picker.choices[0].label == "دری"
    assert picker.text.splitlines()[0] == Translator("fa_AF")("Please choose your language.")


async def test_a_language_on_the_second_page_can_be_chosen_later_with_the_language_command(
        chat: Callable[..., Chat]) -> None:
    olga = chat("olga")
    await olga.send("hi")
    await olga.click("English")
    await olga.click("Yes")
    [first] = await olga.send("/language")
    assert "Русский" not in [choice.label for choice in first.choices] and "Русский" in first.text
    [second] = await olga.click(MORE)
    assert "Русский" in [choice.label for choice in second.choices]
    changed, *_ = await olga.click("Русский")
    assert changed.text == Translator("ru")("From now on I will write to you in {language}.", language="Русский")
    [back] = await olga.send("/language")
    assert [choice.label for choice in back.choices][-1] == "🌐 " + Translator("ru")("More languages")


async def test_unknown_commands_and_help_in_arabic_keep_the_slash_with_the_command(chat: Callable[..., Chat]) -> None:
    amal = chat("amal", hint="ar")
    await amal.send("hi")
    await amal.click("العربية")
    await amal.click(Translator("ar")("Yes"))
    unknown, _again = await amal.send("/teleport")
    assert f"{FSI}/{FSI}teleport{PDI}{PDI}" in unknown.text
    assert f"{FSI}/help{PDI}" in unknown.text
    help_text, *_ = await amal.send("/help")
    assert f"{FSI}/language{PDI}" in help_text.text
    assert "/" not in help_text.text.replace(FSI + "/", "")  # every slash opens an isolate


async def test_a_language_of_the_next_page_can_be_typed_by_its_name(chat: Callable[..., Chat]) -> None:
    yonas = chat("yonas")
    [picker] = await yonas.send("selam")
    assert "ትግርኛ" not in [choice.label for choice in picker.choices]
    [notice] = await yonas.send("ትግርኛ")
    assert notice.locale == "ti"
    olena = chat("olena")
    await olena.send("привіт")
    hint, picker = await olena.send("Klingon")  # anything else: the same page again, numbers 1 to 8
    assert "Please answer with a number from 1 to 8." in hint.text.splitlines() and len(picker.choices) == 8
    [notice] = await olena.send("українська")
    assert notice.locale == "uk"


def test_a_date_that_ends_with_a_full_stop_is_not_followed_by_a_second_one() -> None:
    """Found by a native reader: "Вашу згоду записано 4 грудня 2026 р.." (Ukrainian and Russian long dates end
    with "р." and "г.")."""
    for code, year in (("uk", "р."), ("ru", "г.")):
        t = Translator(code)
        said = t("Thank you. Your consent was recorded on {date}.", date=t.date(date(2026, 12, 4)))
        assert said.endswith(year) and not said.endswith("..")
    english = Translator("en")
    assert english("Thank you. Your consent was recorded on {date}.", date="4 December 2026").endswith("2026.")


async def test_the_second_page_of_languages_says_how_to_answer_in_its_own_languages(
        chat: Callable[..., Chat]) -> None:
    """Found by a newcomer: the second page listed Kurmancî, Sorani, Tigrinya... but said "Write the number of your
    answer" only in the languages of the first page."""
    hawre = chat("hawre")
    await hawre.send("hi")
    [second] = await hawre.click(MORE)
    footer = second.text.split("\n\n")[-1].splitlines()
    for code in ("ckb", "ti", "so", "ru"):
        assert Translator(code)("Write the number of your answer.") in footer
    assert Translator("ps")("Write the number of your answer.") not in footer


def test_the_spoken_languages_have_a_name_in_every_readers_own_words() -> None:
    """A native reader of Somali saw "Turkish" in English, and Sorani readers "ئۆكراینی" with the Arabic kaf: CLDR
    gaps that Lotse mends. Every other name differs from the English one where the reader's language has its own."""
    from flows.intake import SPOKEN_LANGUAGES, language_name

    english = {code: language_name(Translator("en"), code) for code in SPOKEN_LANGUAGES}
    same_in_german = {"ti", "so", "ur"}  # German says Tigrinya, Somali and Urdu too
    for locale in LANGUAGES:
        if locale in ("en", "de"):
            continue
        t = Translator(locale)
        for code in SPOKEN_LANGUAGES:
            name = language_name(t, code)
            assert name, (locale, code)
            if locale == "so" and code == "ti":
                continue  # Somali writes Tigrinya as English does
            assert name != english[code] or code in ("ku", "ckb"), (locale, code, name)
            if locale in ("ckb", "fa", "fa_AF"):
                assert "\u0643" not in name, (locale, code, name)  # the Arabic kaf, where ک is meant
    for code in SPOKEN_LANGUAGES:
        assert language_name(Translator("de"), code) != english[code] or code in same_in_german | {"ku", "ckb"}
