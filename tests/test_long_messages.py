"""Long answers arrive whole: split at line or sentence breaks for each platform, never cut, never dropped."""

from __future__ import annotations

from collections.abc import Callable

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.transports.telegram import MAX_TEXT, split_text, utf16_length
from tests.chat import Chat
from tests.test_questions import coordinator, participant

SENTENCE = "Bitte bringen Sie den Bescheid vom Jobcenter und Ihren Ausweis mit. "


async def test_a_coordinators_long_reply_reaches_the_participant_whole(app: Lotse, chat: Callable[..., Chat]) -> None:
    ben = await coordinator(app, chat, "ben")
    amal = await participant(chat, "amal", language="العربية")
    ar = Translator("ar")
    await amal.send("/menu")
    await amal.click(ar("Ask a question"))
    await amal.click(app.network.topics["apprenticeship"].name["ar"])
    await amal.send("متى يبدأ التدريب المهني؟")
    reply = (SENTENCE * 18) + "Termin: Montag, 14.12.2026, 10:30 Uhr, Raum 12."  # about 1,280 characters
    assert len(reply) > 1200
    answered = await ben.send(f"/reply 1 {reply}")  # taken and answered in one go
    assert "Sent to the participant (question no. 1)." in [message.text for message in answered]
    answer = amal.history[-1]
    assert answer.text.endswith("Termin: Montag, 14.12.2026, 10:30 Uhr, Raum 12.")  # the appointment line is there
    assert reply in answer.text


def test_telegram_parts_end_at_a_sentence_and_lose_nothing() -> None:
    text = SENTENCE * 100 + "Ende."
    parts = split_text(text)
    assert len(parts) == 2 and all(utf16_length(part) <= MAX_TEXT for part in parts)
    assert parts[0].endswith("mit.")  # at the end of a sentence, not mid-word
    assert " ".join(parts) == text


def test_telegram_parts_prefer_line_breaks_and_count_emoji_as_telegram_does() -> None:
    text = "\n".join(["🙂" * 30 + " Zeile" for _ in range(200)])
    parts = split_text(text)
    assert all(utf16_length(part) <= MAX_TEXT for part in parts) and len(parts) == 4  # 13,399 units
    assert "\n".join(parts) == text
