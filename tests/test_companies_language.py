"""Company contacts chat in German or English (issue 18): the language question offers only these two."""

from __future__ import annotations

from collections.abc import Callable

from bot.runtime.app import Lotse
from tests.chat import Chat
from tests.test_companies import company_contact, tigrinya_participant


async def test_a_company_contact_chooses_between_german_and_english_only(
        app: Lotse, chat: Callable[..., Chat]) -> None:
    kai = await company_contact(app, chat, "kai")
    [asked] = await kai.send("/language")
    assert kai.buttons() == ["Deutsch", "English"]
    assert "\nPartner companies chat with Lotse in German or English.\n" in asked.text
    for other in ("العربية", "3", "Türkçe"):  # another language by its name or a number: a hint, the choice again
        [hint, again] = await kai.send(other)
        assert hint.text.startswith("Please answer with a number from 1 to 2"), (other, hint.text)
        assert "Partner companies chat with Lotse in German or English." in again.text
    [done, *_] = await kai.click("Deutsch")
    assert done.text == "Ab jetzt schreibe ich Ihnen auf Deutsch."
    [german] = await kai.send("/language")
    assert "Partnerbetriebe schreiben mit Lotse auf Deutsch oder Englisch." in german.text
    assert kai.buttons() == ["Deutsch", "English"]

    amal = await tigrinya_participant(chat, "amal")  # a participant still has every language
    await amal.send("/language")
    assert len(amal.buttons()) > 2
