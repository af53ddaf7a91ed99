"""The Telegram transport: Bot API updates in, inline keyboards out, through python-telegram-bot's `Bot`.

Edges only. An update becomes an `Incoming` event and is stored through `receive` before Telegram hears that it
arrived: in polling mode the next `getUpdates` call confirms the offset only after `receive` returned, in webhook
mode the HTTP answer goes out only after it returned. A crash in between makes Telegram deliver the update again,
and the inbox drops it by its event id (the update id).

Sending is rate-limited here (about 30 messages a second overall, one a second per chat after a burst of three,
20 a minute per group) and failures are translated for the sender: 429 -> retry after Telegram's delay,
403 (blocked, deactivated) -> permanent, network faults and 5xx -> "platform down", waited out with a capped
exponential backoff that polling and sending share and that the operator reads about once per outage.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import inspect
import logging
import math
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.core.i18n import DEFAULT_LOCALE, LANGUAGES, Translator
from bot.core.messages import Attachment, AttachmentKind, Delivery, Incoming, Outgoing
from bot.runtime.transport import DeliveryError, Receive, ReceiveBatch

log = logging.getLogger("lotse.telegram")

NAME: Final = "telegram"
DEFAULT_BASE_URL: Final = "https://api.telegram.org/bot"
MAX_TEXT: Final = 4096
"""Telegram's limit per message, counted in UTF-16 code units."""
MAX_CAPTION: Final = 1024
"""A document's caption, in UTF-16 code units; a longer text follows the document as its own message."""
MAX_CALLBACK_BYTES: Final = 64
DONE_SUFFIX: Final = ":__done__"
SELECTED_MARK: Final = "✅ "
ALLOWED_UPDATES: Final = ["message", "callback_query"]
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"
EMPTY_TEXT: Final = "…"
"""Telegram refuses an empty text; a message that is only buttons still needs one."""

Sleep = Callable[[float], Awaitable[None]]


def file_url_for(base_url: str) -> str:
    """`https://host/bot` -> `https://host/file/bot`, the way the Bot API lays out file downloads."""
    trimmed = base_url.rstrip("/")
    if trimmed.endswith("/bot"):
        return trimmed[: -len("/bot")] + "/file/bot"
    return trimmed + "/file/bot"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


SENTENCE_END = re.compile(r"[.!?؟۔።…](?=\s)")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cuts a text into parts of at most `limit` UTF-16 units, preferring line breaks, then the end of a
    sentence, then spaces; nothing is dropped (only the break itself)."""
    if utf16_length(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        units = 0
        cut = 0
        for index, character in enumerate(rest):
            units += 2 if ord(character) > 0xFFFF else 1
            if units > limit:
                cut = index
                break
        window = rest[:cut]
        sentences = [match.end() for match in SENTENCE_END.finditer(window)]
        candidates = (window.rfind("\n") + 1, sentences[-1] + 1 if sentences else 0, window.rfind(" ") + 1)
        cut = next((position for position in candidates if position > cut // 2), cut)
        parts.append(rest[:cut].rstrip() or rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts


def callback_fits(data: str) -> bool:
    return 0 < len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    """One button per row; ticks on selected options and a Done row for multiple selection."""
    rows: list[list[InlineKeyboardButton]] = []
    for choice in message.choices:
        if not callback_fits(choice.key):
            log.error("callback data of %r is %d bytes, over Telegram's %d: button left out",
                      choice.label, len(choice.key.encode("utf-8")), MAX_CALLBACK_BYTES)
            continue
        label = choice.label
        if message.selection == "multiple" and choice.key in message.selected:
            label = SELECTED_MARK + label
        rows.append([InlineKeyboardButton(label, callback_data=choice.key)])
    if message.selection == "multiple" and message.done_label and message.done_key:
        if callback_fits(message.done_key):
            rows.append([InlineKeyboardButton(message.done_label, callback_data=message.done_key)])
        else:
            log.error("callback data of the Done button is over %d bytes: button left out", MAX_CALLBACK_BYTES)
    return InlineKeyboardMarkup(rows) if rows else None


def keeps_keyboard(query: CallbackQuery) -> bool:
    """A press on a multiple choice (a keyboard with a Done row) keeps the keyboard, unless it is Done itself.

    Read from the pressed message as Telegram sends it, not from memory: after a restart in the middle of a
    multiple choice the keyboard stays until Done, as before."""
    if (query.data or "").endswith(DONE_SUFFIX) or not isinstance(query.message, Message):
        return False
    markup = query.message.reply_markup
    return markup is not None and any(isinstance(button.callback_data, str) and button.callback_data.endswith(
        DONE_SUFFIX) for row in markup.inline_keyboard for button in row)


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the attribute will become a timedelta
        warnings.simplefilter("ignore")
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def to_incoming(update: Update) -> Incoming | None:
    """Converts one update; None for kinds Lotse does not read (channel posts, edits, service messages)."""
    event_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        user = query.from_user
        if query.message is None or query.data is None:
            return None
        return Incoming(transport=NAME, event_id=event_id, handle=str(user.id), chat=str(query.message.chat.id),
                        choice=query.data, message_id=str(query.message.message_id),
                        language_hint=user.language_code, display_name=user.first_name)
    message = update.message
    if message is None or message.from_user is None or message.chat.type != "private":
        return None  # edits, channel posts and group chatter are not conversations with Lotse
    user = message.from_user
    text = message.text if message.text is not None else message.caption
    attachment = attachment_of(message)
    unsupported = None
    if text is None and attachment is None:  # a sticker, location, contact, poll...: answered, not ignored
        unsupported = next((kind for kind in ("sticker", "location", "contact", "poll", "dice", "video_note")
                            if getattr(message, kind, None) is not None), "other")
    return Incoming(transport=NAME, event_id=event_id, handle=str(user.id), chat=str(message.chat.id),
                    text=text, attachment=attachment, unsupported=unsupported, message_id=str(message.message_id),
                    reply_to=str(message.reply_to_message.message_id) if message.reply_to_message else None,
                    language_hint=user.language_code, display_name=user.first_name)


def attachment_of(message: Message) -> Attachment | None:
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return Attachment(kind="photo", reference=largest.file_id, mime_type="image/jpeg", size=largest.file_size)
    kinds: tuple[tuple[str, AttachmentKind], ...] = (
        ("document", "document"), ("voice", "voice"), ("video", "video"), ("audio", "other"))
    for field_name, kind in kinds:
        item = getattr(message, field_name, None)
        if item is not None:
            return Attachment(kind=kind, reference=item.file_id, mime_type=getattr(item, "mime_type", None),
                              file_name=getattr(item, "file_name", None), size=item.file_size)
    return None


def is_group_chat(chat: str) -> bool:
    """Telegram gives groups, supergroups and channels negative chat ids; people have positive ones."""
    return chat.startswith("-")


class RateLimiter:
    """At most `per_second` sends overall; per chat one per `per_chat_interval` seconds after a short burst;
    per group chat at most `per_group_minute` in any minute.

    Each call reserves the earliest moment that keeps every limit, then sleeps until it. The per-chat limits are
    GCRA buckets: a typical answer (a hint and the question again) goes out at once, as Telegram tolerates short
    bursts, and the sender, which delivers one row at a time, does not hold every other chat for a second. A group
    bucket allows the same burst and spaces the rest so that burst plus spaced sends stay within the minute's
    budget (3 at once, then one every 60/17 s: never more than 20 in 60 s). `per_group_minute=0` treats groups like
    private chats (tests that are about something else).
    """

    def __init__(self, per_second: float = 30.0, per_chat_interval: float = 1.0, per_chat_burst: int = 3,
                 per_group_minute: int = 20, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.spacing = 1.0 / per_second if per_second > 0 else 0.0
        self.per_chat_interval = per_chat_interval
        self.per_chat_burst = max(1, per_chat_burst)
        self.group_burst = max(1, min(self.per_chat_burst, per_group_minute - 1)) if per_group_minute > 0 else 1
        self.group_interval = (max(per_chat_interval, 60.0 / (per_group_minute - self.group_burst))
                               if per_group_minute > self.group_burst else per_chat_interval)
        self.monotonic = monotonic
        self.sleep = sleep
        self._next_overall = -math.inf
        self._next_chat: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._per_second_count = int(per_second) if per_second > 0 else 0
        self._issued: collections.deque[float] = collections.deque()

    def ready_in(self, chat: str) -> float:
        """Seconds until a send to `chat` keeps its per-chat (or per-group) limit, without reserving anything.

        The sender asks this for every waiting chat and passes over those that must wait, so one chat's limit
        never holds up another; the overall 30 a second is kept by `wait`, a few milliseconds at most."""
        interval, burst = ((self.group_interval, self.group_burst) if is_group_chat(chat)
                           else (self.per_chat_interval, self.per_chat_burst))
        now = self.monotonic()
        theoretical = max(now, self._next_chat.get(chat, now))
        return max(0.0, theoretical - (burst - 1) * interval - now)

    async def wait(self, chat: str) -> float:
        """Returns how long it waited."""
        interval, burst = ((self.group_interval, self.group_burst) if is_group_chat(chat)
                           else (self.per_chat_interval, self.per_chat_burst))
        async with self._lock:
            now = self.monotonic()
            theoretical = max(now, self._next_chat.get(chat, now))
            earliest_for_chat = theoretical - (burst - 1) * interval
            slot = max(now, self._next_overall, earliest_for_chat)
            self._next_overall = slot + self.spacing
            self._next_chat[chat] = max(theoretical, slot) + interval
            if len(self._next_chat) > 10_000:
                self._next_chat = {key: value for key, value in self._next_chat.items() if value > now}
        delay = slot - now
        if delay > 0:
            await self.sleep(delay)
        return max(delay, 0.0) + await self._within_the_second(slot)

    async def _within_the_second(self, slot: float) -> float:
        """At most `per_second` sends really leave in any one second. The slots above are spaced evenly, but a
        busy event loop wakes several late at once, and bunched sends broke Telegram's limit (3 answers 429 in
        `bench/lanes.py`); counting the moments the sends really leave keeps the limit whatever the loop did."""
        if self._per_second_count <= 0:
            return 0.0
        waited = 0.0
        while True:
            leaving = max(slot, self.monotonic())  # on time: its slot; late: now
            while self._issued and self._issued[0] <= leaving - 1.0 + 1e-6:  # a microsecond for rounding
                self._issued.popleft()
            if len(self._issued) < self._per_second_count:
                self._issued.append(leaving)
                return waited
            pause = self._issued[0] + 1.0 - leaving
            slot = leaving + pause
            await self.sleep(pause)
            waited += pause


def is_unreachable(error: BaseException) -> bool:
    """Connection refused, DNS, timeouts and Telegram's 5xx: the Bot API is down, not this request wrong."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


class Reachability:
    """Whether the Bot API answers, shared by polling and sending, with a capped exponential backoff.

    The operator reads one line when the API stops answering and one when it answers again, however many attempts
    fail in between; each failure doubles the pause before the next attempt, up to `max_delay`.
    """

    def __init__(self, first_delay: float = 2.0, max_delay: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.first_delay = first_delay
        self.max_delay = max(max_delay, first_delay)
        self.monotonic = monotonic
        self.reachable = True
        self.failures = 0
        """Failed attempts since the API was last reachable."""
        self.delay = first_delay
        self._retry_at = -math.inf

    def failed(self, error: BaseException) -> float:
        """Records a failed attempt; returns how long to wait before the next one."""
        if self.reachable:
            self.reachable = False
            log.warning("telegram: Bot API unreachable (%s: %s); retrying", type(error).__name__, error)
        self.failures += 1
        delay = self.delay
        self.delay = min(self.delay * 2, self.max_delay)
        self._retry_at = self.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        if not self.reachable:
            log.info("telegram: Bot API reachable again after %d failed attempt(s)", self.failures)
        self.reachable = True
        self.failures = 0
        self.delay = self.first_delay
        self._retry_at = -math.inf

    def wait_left(self) -> float:
        """Seconds until the next attempt is due (0 when reachable or due now)."""
        return 0.0 if self.reachable else max(0.0, self._retry_at - self.monotonic())


class TelegramTransport:
    """Long polling by default; webhook mode when `webhook_url` is given."""

    name: str = NAME

    def __init__(self, token: str, *, base_url: str | None = None, base_file_url: str | None = None,
                 webhook_url: str | None = None, webhook_secret: str | None = None,
                 webhook_host: str = "127.0.0.1", webhook_port: int = 8443, poll_timeout: int = 25,
                 rate_per_second: float = 30.0, per_chat_interval: float = 1.0, per_group_minute: int = 20,
                 retry_delay: float = 2.0, max_retry_delay: float = 60.0, limiter: RateLimiter | None = None,
                 bot: Bot | None = None) -> None:
        api = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.bot = bot or Bot(token, base_url=api, base_file_url=base_file_url or file_url_for(api),
                              request=HTTPXRequest(connection_pool_size=16),
                              get_updates_request=HTTPXRequest(connection_pool_size=1))
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret or hmac.new(token.encode(), b"lotse-webhook", hashlib.sha256).hexdigest()
        self.webhook_host = webhook_host
        self.webhook_port = webhook_port
        self.poll_timeout = poll_timeout
        self.retry_delay = retry_delay
        self.api = Reachability(retry_delay, max_retry_delay)
        self.limiter = limiter or RateLimiter(rate_per_second, per_chat_interval,
                                              per_group_minute=per_group_minute)
        self.commands: Callable[[], dict[str, str]] | None = None
        """The command menu (name -> catalog description); the runtime sets it, since transports know no flows."""
        self.pace = self.limiter
        self.max_in_flight = 4
        """Sends in flight at once: enough to keep 30 a second with slow uploads, few enough that a new answer
        never queues behind many reserved bulk slots."""
        self._receive_batch: ReceiveBatch | None = None
        self.mode: Literal["polling", "webhook"] = "webhook" if webhook_url else "polling"
        self.offset: int | None = None
        self.bound_port: int | None = None
        self._receive: Receive | None = None
        self._poller: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._running = False
        self._partial: dict[tuple[str, str], int] = {}
        """How many parts of a split text went out before a failure, so that a retry does not repeat them."""

    # ---------------------------------------------------------------------------------------------------------
    # Lifecycle

    async def start(self, receive: Receive, receive_batch: ReceiveBatch | None = None,
                    receiving: bool = True) -> None:
        """`receive_batch`: a getUpdates page is stored in one transaction (else each update alone).

        `receiving=False`: only sends (a worker while webhook receivers take the updates); neither polls nor
        touches the webhook."""
        self._receive = receive
        self._receive_batch = receive_batch
        await self.connect()
        await self.set_commands()
        self._running = True
        if not receiving:
            log.info("telegram: ready to send as @%s", self.bot.username)
            return
        if self.mode == "webhook":
            await self._start_webhook()
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        log.info("telegram: started in %s mode as @%s", self.mode, self.bot.username)

    async def start_polling(self) -> None:
        """Polling for a leader that takes over (`start(..., receiving=False)` first): one poller per bot."""
        if self._poller is None:
            await self.bot.delete_webhook(drop_pending_updates=False)
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
            log.info("telegram: polling for updates")

    async def stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def connect(self) -> None:
        """getMe: checks the token (InvalidToken goes up) and waits out an unreachable Bot API, with backoff."""
        while True:
            try:
                await self.bot.initialize()
                break
            except TelegramError as error:
                if not is_unreachable(error):
                    raise
                await asyncio.sleep(self.api.failed(error))
        self.api.succeeded()

    async def stop(self) -> None:
        self._running = False
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        with contextlib.suppress(Exception):
            await self.bot.shutdown()

    async def set_commands(self) -> None:
        """The command menu in every shipped language, and in English for everyone else."""
        menu = self.commands
        if menu is None:  # no menu given (a bare transport in a test): Telegram keeps what it had
            return

        def commands(code: str) -> list[BotCommand]:
            translate = Translator(code)
            return [BotCommand(name, translate(description)[:256]) for name, description in menu().items()]

        try:
            await self.bot.set_my_commands(commands(DEFAULT_LOCALE))
            for code in LANGUAGES:
                if len(code) == 2:  # Telegram takes ISO 639-1 codes only: Dari (fa_AF) and Sorani (ckb) see fa / en
                    await self.bot.set_my_commands(commands(code), language_code=code)
        except TelegramError as error:
            log.warning("telegram: could not set the command menu (%s)", error)

    # ---------------------------------------------------------------------------------------------------------
    # Inbound

    async def _poll(self) -> None:
        while self._running:
            try:
                updates = await self.bot.get_updates(offset=self.offset, timeout=self.poll_timeout,
                                                     allowed_updates=ALLOWED_UPDATES)
            except RetryAfter as error:
                self.api.succeeded()
                await asyncio.sleep(retry_seconds(error))
                continue
            except Exception as error:
                if is_unreachable(error):  # network faults and Telegram's 5xx: one line per outage
                    await asyncio.sleep(self.api.failed(error))
                    continue
                # a conflicting second poller, a revoked token: worth a line each time
                log.warning("telegram: getUpdates failed (%s: %s); retrying in %.0fs", type(error).__name__, error,
                            self.retry_delay)
                await asyncio.sleep(self.retry_delay)
                continue
            self.api.succeeded()
            if self._receive_batch is not None and len(updates) > 1:
                await self._store_page(updates)
                continue
            for update in updates:
                try:
                    await self.handle_update(update)
                except Exception as error:  # not stored: do not confirm, Telegram sends it again
                    log.error("telegram: update %s could not be stored (%s: %s); retrying in %.0fs",
                              update.update_id, type(error).__name__, error, self.retry_delay)
                    await asyncio.sleep(self.retry_delay)
                    break
                self.offset = update.update_id + 1  # confirmed by the next getUpdates call

    async def _store_page(self, updates: Sequence[Update]) -> None:
        """A whole getUpdates page in one transaction; its offset is confirmed only after the commit."""
        assert self._receive_batch is not None
        converted: list[tuple[Update, Incoming]] = []
        for update in updates:
            try:
                incoming = to_incoming(update)
            except Exception:  # a bug here must not hold back everyone's updates behind this one
                log.exception("telegram: update %s could not be converted; skipped", update.update_id)
                continue
            if incoming is not None:
                converted.append((update, incoming))
        try:
            await self._receive_batch([incoming for _, incoming in converted], None)
        except Exception as error:  # not stored: do not confirm, Telegram sends the page again
            log.error("telegram: %d update(s) could not be stored (%s: %s); retrying in %.0fs", len(updates),
                      type(error).__name__, error, self.retry_delay)
            await asyncio.sleep(self.retry_delay)
            return
        self.offset = updates[-1].update_id + 1
        for update, incoming in converted:
            if update.callback_query is not None:
                await self._answer_press(update, incoming)

    async def handle_update(self, update: Update) -> None:
        """Stores one update through `receive`, then answers a pressed button. Raises if storing failed."""
        if self._receive is None:
            raise RuntimeError("the Telegram transport was not started")
        try:
            incoming = to_incoming(update)
        except Exception:  # a bug here must not hold back everyone's updates behind this one
            log.exception("telegram: update %s could not be converted; skipped", update.update_id)
            return
        if incoming is None:
            log.debug("telegram: update %s carries nothing Lotse reads", update.update_id)
            return
        await self._receive(incoming)
        if update.callback_query is not None:
            await self._answer_press(update, incoming)

    async def _answer_press(self, update: Update, incoming: Incoming) -> None:
        """Answers a pressed button (stops the spinner) and removes a keyboard that has done its job."""
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()
        except TelegramError as error:  # too old, or already answered before a crash
            if is_unreachable(error):
                self.api.failed(error)
            else:
                log.info("telegram: could not answer callback query %s (%s)", query.id, error)
        if incoming.message_id is None:
            return
        if keeps_keyboard(query):
            return
        pressed = (incoming.chat, incoming.message_id)
        try:
            await self.bot.edit_message_reply_markup(chat_id=incoming.chat, message_id=int(incoming.message_id),
                                                     reply_markup=None)
        except TelegramError as error:  # already gone ("message is not modified") or deleted
            if is_unreachable(error):
                self.api.failed(error)
            log.debug("telegram: keyboard of %s:%s not removed (%s)", *pressed, error)

    async def _start_webhook(self) -> None:
        assert self.webhook_url is not None
        path = urlsplit(self.webhook_url).path or "/"
        application = web.Application()
        application.router.add_post(path, self._webhook)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.webhook_host, self.webhook_port)
        await site.start()
        addresses = self._runner.addresses  # the bound port, also when port 0 asked for any free one
        self.bound_port = int(addresses[0][1]) if addresses else self.webhook_port
        await self.bot.set_webhook(self.webhook_url, secret_token=self.webhook_secret,
                                   allowed_updates=ALLOWED_UPDATES)

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.bot)
        except Exception:  # not an update: Telegram would only resend it
            log.warning("telegram: webhook received a body that is not an update")
            return web.Response(status=400)
        try:
            await self.handle_update(update)
        except Exception as error:
            log.error("telegram: update %s could not be stored (%s: %s)", update.update_id,
                      type(error).__name__, error)
            return web.Response(status=500)  # Telegram delivers it again later
        return web.Response(status=200)

    # ---------------------------------------------------------------------------------------------------------
    # Outbound

    async def send(self, message: Outgoing, edit_platform_id: str | None) -> Delivery:
        markup = keyboard(message)
        if edit_platform_id is not None and message.document_path is None:
            edited = await self._edit(message, edit_platform_id, markup)
            if edited is not None:
                return edited
        calls = self._calls_for(message, markup)
        # A long text that failed half-way is retried from the part that failed, not from the start.
        progress_key = (message.chat, hashlib.sha256(repr(message.to_json()).encode()).hexdigest())
        done = self._partial.get(progress_key, 0)
        sent: Message | None = None
        for number, call in enumerate(calls, start=1):
            if number <= done:
                continue
            await self.limiter.wait(message.chat)
            try:
                sent = await self._call(call())
            except DeliveryError:
                if number > 1 and len(self._partial) < 10_000:
                    self._partial[progress_key] = number - 1
                raise
        self._partial.pop(progress_key, None)
        if sent is None:
            raise DeliveryError("telegram: sendMessage returned no message")
        return Delivery(platform_message_id=str(sent.message_id))

    def _calls_for(self, message: Outgoing,
                   markup: InlineKeyboardMarkup | None) -> list[Callable[[], Awaitable[Message]]]:
        """The Bot API calls that make up one message, in order; the keyboard goes with the last one."""
        text = message.text
        calls: list[Callable[[], Awaitable[Message]]] = []
        if message.document_path is not None:
            path = Path(message.document_path)
            if not path.is_file():
                raise DeliveryError(f"telegram: the file to send is missing: {path}", permanent=True)
            caption = text if text and utf16_length(text) <= MAX_CAPTION else None
            calls.append(lambda: self.bot.send_document(
                chat_id=message.chat, document=path, filename=message.document_label, caption=caption,
                reply_markup=markup if caption is not None or not text else None))
            if caption is not None or not text:
                return calls
        parts = split_text(text or EMPTY_TEXT)
        for number, part in enumerate(parts, start=1):
            last = number == len(parts)
            calls.append(lambda part=part, last=last: self.bot.send_message(  # type: ignore[misc]
                chat_id=message.chat, text=part, reply_markup=markup if last else None))
        return calls

    async def _edit(self, message: Outgoing, platform_id: str, markup: InlineKeyboardMarkup | None) -> Delivery | None:
        """Edits in place; None when the message cannot be edited any more (then it is sent anew)."""
        text = message.text or EMPTY_TEXT
        if utf16_length(text) > MAX_TEXT:
            text = split_text(text, MAX_TEXT - 1)[0] + "…"
        await self.limiter.wait(message.chat)
        try:
            await self._call(self.bot.edit_message_text(chat_id=message.chat, message_id=int(platform_id),
                                                        text=text, reply_markup=markup), editing=True)
        except DeliveryError as error:
            if "message to edit not found" in str(error).lower() or "can't be edited" in str(error).lower():
                log.info("telegram: message %s:%s cannot be edited; sending it anew", message.chat, platform_id)
                return None
            raise
        return Delivery(platform_message_id=platform_id)

    async def _call(self, call: Awaitable[Message | bool], editing: bool = False) -> Message | None:
        """Runs one Bot API call; the message it returns, or None for an edit that changed nothing."""
        wait_left = self.api.wait_left()
        if wait_left > 0:  # the API is down and the next attempt is not due: do not knock again yet
            if inspect.iscoroutine(call):
                call.close()
            raise DeliveryError("telegram: Bot API unreachable", retry_after=wait_left, unavailable=True)
        try:
            result = await call
        except RetryAfter as error:
            self.api.succeeded()
            raise DeliveryError(f"telegram: {error}", retry_after=retry_seconds(error)) from error
        except Forbidden as error:  # blocked by the user, user deactivated, kicked from the group
            self.api.succeeded()
            raise DeliveryError(f"telegram: {error.message}", unreachable=True) from error
        except BadRequest as error:
            self.api.succeeded()
            text = error.message.lower()
            if editing and "message is not modified" in text:
                return None
            # The same request will fail the same way: chat not found, text empty, button data invalid, ...
            raise DeliveryError(f"telegram: {error.message}", permanent=True) from error
        except TelegramError as error:
            if is_unreachable(error):  # the sender waits out the backoff and does not count it against the row
                delay = self.api.failed(error)
                raise DeliveryError(f"telegram: Bot API unreachable ({type(error).__name__}: {error})",
                                    retry_after=delay, unavailable=True) from error
            raise DeliveryError(f"telegram: {type(error).__name__}: {error}") from error
        self.api.succeeded()
        return result if isinstance(result, Message) else None

    # ---------------------------------------------------------------------------------------------------------
    # Files

    async def download(self, reference: str) -> bytes:
        """The bytes of a file a person sent (photo, document, voice), by its file id."""
        file = await self.bot.get_file(reference)
        return bytes(await file.download_as_bytearray())

