"""The intake through real python-telegram-bot calls: buttons, toggles edited in place, "Done", typed answers."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.transports.telegram import TelegramTransport
from storage.models import Profile
from tests.telegram_standin import BotApiStandIn, buttons
from tests.test_telegram import arrive, standin, telegram  # noqa: F401  (fixtures)


def pressed(standin: BotApiStandIn, chat: int, label: str) -> int:  # noqa: F811  (the fixture's name)
    """Presses the button `label` under the latest message that has it; returns the update id."""
    for message in reversed(standin.sent_to(chat)):
        for shown, data in buttons(message):
            if shown.removeprefix("✅ ") == label:
                return standin.user_clicks(chat, int(message["message_id"]), data, language_code="uk")
    raise AssertionError(f"no button {label!r}")


async def test_ukrainian_intake_with_inline_buttons_and_toggles(
        app: Lotse, standin: BotApiStandIn, telegram: TelegramTransport) -> None:  # noqa: F811
    uk, olena = Translator("uk"), 601
    await arrive(app, standin, standin.user_sends(olena, "/start", language_code="uk"))
    await arrive(app, standin, pressed(standin, olena, "Українська"))
    await arrive(app, standin, pressed(standin, olena, uk("Yes")))
    district = standin.sent_to(olena)[-1]
    assert district["text"].startswith(uk("Question {number} of {total}", number=1, total=11))
    await arrive(app, standin, pressed(standin, olena, app.network.districts["delmenhorst"].name["uk"]))
    answered = standin.message(olena, int(district["message_id"]))
    assert not buttons(answered)  # the answered question keeps no buttons to press again
    goals = standin.sent_to(olena)[-1]
    topics = app.network.topics
    await arrive(app, standin, pressed(standin, olena, topics["language_course"].name["uk"]))
    await arrive(app, standin, pressed(standin, olena, topics["internship"].name["uk"]))
    edited = standin.message(olena, int(goals["message_id"]))  # the same message, ticked in place
    ticked = [label for label, _ in buttons(edited) if label.startswith("✅")]
    assert len(ticked) == 2 and buttons(edited)[-1][0] == uk("Done")
    assert standin.sent_to(olena)[-1]["message_id"] == goals["message_id"]  # nothing new was sent
    await arrive(app, standin, pressed(standin, olena, uk("Done")))
    occupations = standin.sent_to(olena)[-1]
    assert occupations["text"].startswith(uk("Question {number} of {total}", number=2, total=11))
    await arrive(app, standin, standin.user_sends(olena, "12, 11", language_code="uk"))  # typed numbers work too
    await arrive(app, standin, pressed(standin, olena, "B1"))
    async with app.sessions() as session:
        profile = (await session.scalars(select(Profile))).one()
    assert profile.answers["goals"] == ["language_course", "internship"]
    assert profile.answers["occupations"] == ["beauty", "it"]
    assert profile.german_level == "b1"
    assert standin.sent_to(olena)[-1]["text"].startswith(uk("Question {number} of {total}", number=4, total=11))
