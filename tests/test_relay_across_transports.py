"""A question and its answer cross platforms: the participant on Telegram, the coordinator elsewhere, files included."""

from __future__ import annotations

from collections.abc import Callable

from bot.app import Lotse
from bot.i18n import Translator
from bot.transports.telegram import TelegramTransport
from tests import test_telegram as telegram_tests
from tests.chat import Chat
from tests.telegram_standin import BotApiStandIn
from tests.test_intake import ANSWERS
from tests.test_questions import coordinator
from tests.test_telegram import arrive

standin, telegram = telegram_tests.standin, telegram_tests.telegram  # the Telegram tests' fixtures, shared


async def telegram_participant(app: Lotse, standin: BotApiStandIn, user: int, language: str) -> None:
    """Onboarding and intake typed on a phone: every choice answered by its label or number."""
    for text in ["/start", language, "1", *ANSWERS, "1", "2"]:
        await arrive(app, standin, standin.user_sends(user, text))


async def test_a_photo_from_telegram_reaches_the_coordinator_and_a_file_goes_back(
        app: Lotse, chat: Callable[..., Chat], standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    ben = await coordinator(app, chat, "ben")
    amal = 701
    ar = Translator("ar")
    await telegram_participant(app, standin, amal, "العربية")
    await arrive(app, standin, standin.user_sends(amal, "/menu"))
    await arrive(app, standin, standin.user_sends(amal, ar("Ask a question")))
    await arrive(app, standin, standin.user_sends(amal, app.network.topics["apprenticeship"].name["ar"]))
    await arrive(app, standin, standin.user_sends_photo(amal, caption="ما هذه الرسالة؟"))
    assert standin.sent_to(amal)[-2]["text"] == ar(
        "Thank you. Your question has the number {number}. It went to {organisation}. They usually answer within "
        "one working day (Monday to Friday). The answer comes here, in this chat.", number=1,
        organisation="Oldenburgische IHK")
    notice = ben.history[-2]
    assert "ما هذه الرسالة؟" in notice.text and "Arabic" in notice.text
    [(name, data)] = ben.transport.received_files["ben"]
    assert name == "photo.jpg" and len(data) == 180_000 and data.startswith(b"\xff\xd8")  # fetched with getFile
    await ben.click("Take it")
    notice = next(m for m in ben.history if "ما هذه الرسالة؟" in m.text)
    [sent] = await ben.reply(notice, "Bitte füllen Sie das Formular aus.", file=b"%PDF-1.7 Antrag")
    assert sent.text == "Sent to the participant (question no. 1)."
    answer = standin.sent_to(amal)[-1]
    assert answer["document"]["file_name"] == "answer.pdf"
    assert standin.files[answer["document"]["file_id"]][1] == b"%PDF-1.7 Antrag"  # uploaded to Telegram
    assert answer["caption"].endswith("Bitte füllen Sie das Formular aus.")
    assert "Oldenburgische IHK" in answer["caption"]
    await arrive(app, standin, standin.user_sends(amal, "شكرا"))
    assert "شكرا" in ben.history[-1].text
