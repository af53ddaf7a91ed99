"""A Bot API stand-in on loopback: enough of Telegram for python-telegram-bot's `Bot` and Lotse's transport.

It behaves like Telegram where Lotse depends on it: `getUpdates` long-polls until an update is queued or the
timeout passes, an update stays queued until a later call confirms it with a higher `offset`, 429 answers carry
`retry_after`, a blocked chat answers 403, and an edit that changes nothing answers 400 "message is not modified".
With `enforce_limits` it answers 429 like Telegram's flood control: more than 30 sends in a second overall, a
private chat past a burst of 3 then one a second, a group chat past 20 in a minute (sends and text edits count).
Tests play the people: `user_sends`, `user_sends_photo`, `user_clicks`; and read what they see with `sent_to`.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 777000
JSON = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


@dataclass
class Failure:
    method: str
    remaining: int
    retry_after: int
    after: int = 0


LIMITED_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "editMessageText"})


@dataclass
class FloodControl:
    """Telegram's limits as sliding windows and per-chat buckets, on a clock the test may own."""

    clock: Callable[[], float] = time.monotonic
    per_second: int = 30
    chat_interval: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20
    tolerance: float = 0.05
    """Seconds of slack: Telegram is not precise to the millisecond, and requests arrive with a little jitter."""
    _overall: collections.deque[float] = field(default_factory=collections.deque)
    _chat_due: dict[int, float] = field(default_factory=dict)
    _group: dict[int, collections.deque[float]] = field(default_factory=dict)

    def check(self, chat_id: int) -> int | None:
        """Records a send now; or returns the seconds to wait (`retry_after`) if it breaks a limit."""
        now = self.clock()
        while self._overall and self._overall[0] <= now - 1.0 + self.tolerance:
            self._overall.popleft()
        if len(self._overall) >= self.per_second:
            return max(1, math.ceil(self._overall[0] + 1.0 - now))
        due = self._chat_due.get(chat_id, now)
        if due - now > (self.chat_burst - 1) * self.chat_interval + self.tolerance:
            return max(1, math.ceil(due - now - (self.chat_burst - 1) * self.chat_interval))
        sent = self._group.setdefault(chat_id, collections.deque()) if chat_id < 0 else None
        if sent is not None:
            while sent and sent[0] <= now - 60.0 + self.tolerance:
                sent.popleft()
            if len(sent) >= self.group_per_minute:
                return max(1, math.ceil(sent[0] + 60.0 - now))
            sent.append(now)
        self._overall.append(now)
        self._chat_due[chat_id] = max(due, now) + self.chat_interval
        return None


@dataclass
class BotApiStandIn:
    token: str = "123456:TEST-token"
    username: str = "lotse_test_bot"
    updates: list[JSON] = field(default_factory=list)
    """Queued, not yet confirmed updates."""
    offered: set[int] = field(default_factory=set)
    """Update ids some getUpdates call has returned (possibly more than once)."""
    offer_counts: dict[int, int] = field(default_factory=dict)
    confirmed: set[int] = field(default_factory=set)
    messages: dict[int, list[JSON]] = field(default_factory=dict)
    """The bot's messages per chat as the person sees them now (edits applied)."""
    calls: list[tuple[str, JSON]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    answered_queries: list[str] = field(default_factory=list)
    webhook: JSON | None = None
    webhook_target: str | None = None
    """Where a webhook update is really posted: the reverse proxy's job in production (the webhook URL is public)."""
    webhook_answers: list[int] = field(default_factory=list)
    webhook_targets: list[str] = field(default_factory=list)
    """Several receivers behind a reverse proxy: updates are posted to them in turn (overrides `webhook_target`)."""
    posted: dict[int, int] = field(default_factory=dict)
    """How many times each update id was posted to a webhook (Telegram repeats until it hears 2xx)."""
    _chat_tails: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _client: aiohttp.ClientSession | None = None
    flood_control: FloodControl | None = None
    """Set to enforce Telegram's rate limits (None: unlimited, for tests about something else)."""
    on_sent: Callable[[JSON], None] | None = None
    """Called with each message the bot sends, the moment it arrives (benchmarks time replies with it)."""
    rate_limited: list[tuple[str, int, int]] = field(default_factory=list)
    """(method, chat id, retry_after) of every 429 that flood control answered."""
    _deliveries: set[asyncio.Task[None]] = field(default_factory=set)
    _failures: list[Failure] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _closing: bool = False
    _runner: web.AppRunner | None = None
    port: int = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts serving; after `stop`, again on the same port with every queued update kept (an outage)."""
        self._closing = False
        self._changed = asyncio.Condition()
        application = web.Application()
        application.router.add_route("*", "/bot{token}/{method}", self._api)
        application.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._closing = True
        for task in list(self._deliveries):
            task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what tests do as people ----------------------------------------------------------------------------------

    def _user(self, user_id: int, language_code: str | None, first_name: str | None = None) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def _queue(self, update: JSON) -> int:
        update_id = next(self._update_ids)
        if self.webhook is not None and (self.webhook_target is not None or self.webhook_targets):
            chat = _chat_of(update)
            before = self._chat_tails.get(chat) if chat is not None else None
            task = asyncio.get_running_loop().create_task(self._post({"update_id": update_id, **update}, before))
            if chat is not None:  # like Telegram: a chat's next update only after its previous one was taken
                self._chat_tails[chat] = task
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            return update_id
        self.updates.append({"update_id": update_id, **update})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _post(self, update: JSON, after: asyncio.Task[None] | None = None) -> None:
        """Like Telegram: posts with the secret header and repeats until the bot answers 2xx (bounded here)."""
        if after is not None:
            await asyncio.wait({after})
        assert self.webhook is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(self.webhook.get("secret_token", ""))}
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession()
        for _attempt in range(200):
            targets = self.webhook_targets or [str(self.webhook_target)]
            target = targets[next(self._turn) % len(targets)]  # the proxy: the next receiver, a dead one skipped
            self.posted[int(update["update_id"])] = self.posted.get(int(update["update_id"]), 0) + 1
            try:
                async with self._client.post(target, json=update, headers=headers) as answer:
                    self.webhook_answers.append(answer.status)
                    if 200 <= answer.status < 300:
                        self.confirmed.add(int(update["update_id"]))
                        return
            except aiohttp.ClientError:
                self.webhook_answers.append(0)
            await asyncio.sleep(0.05)

    def _incoming_message(self, user_id: int, language_code: str | None, **content: Any) -> JSON:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
                "from": self._user(user_id, language_code), **content}

    def queue_update(self, update: JSON) -> int:
        """Queues any update as Telegram would build it (without `update_id`); returns its update id."""
        return self._queue(update)

    def user_sends(self, user_id: int, text: str, language_code: str | None = None,
                   reply_to: int | None = None) -> int:
        """Queues a text message from a person; returns its update id."""
        content: JSON = {"text": text}
        if reply_to is not None:
            content["reply_to_message"] = self.message(user_id, reply_to)
        return self._queue({"message": self._incoming_message(user_id, language_code, **content)})

    def user_sends_photo(self, user_id: int, caption: str | None = None, language_code: str | None = None) -> int:
        sizes = []
        for width, height, size in ((90, 60, 1_200), (320, 213, 14_000), (1280, 853, 180_000)):
            file_id = f"photo-{width}-{uuid.uuid4().hex[:8]}"
            self.files[file_id] = (f"photos/{file_id}.jpg", b"\xff\xd8" + bytes(size - 2))
            sizes.append({"file_id": file_id, "file_unique_id": file_id[-8:], "width": width, "height": height,
                          "file_size": size})
        content: JSON = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._queue({"message": self._incoming_message(user_id, language_code, **content)})

    def user_clicks(self, user_id: int, message_id: int, data: str, language_code: str | None = None) -> int:
        """Presses a button with `data` under the bot's message `message_id` (even one no longer shown)."""
        return self._queue({"callback_query": {
            "id": uuid.uuid4().hex, "from": self._user(user_id, language_code), "chat_instance": "1",
            "message": self.message(user_id, message_id), "data": data}})

    def add_file(self, content: bytes, path: str = "documents/file.pdf") -> str:
        file_id = f"file-{uuid.uuid4().hex[:8]}"
        self.files[file_id] = (path, content)
        return file_id

    def fail_next(self, method: str, times: int = 1, retry_after: int = 3, after: int = 0) -> None:
        """After `after` successful calls, the next `times` calls of `method` answer 429 with `retry_after`."""
        self._failures.append(Failure(method, times, retry_after, after))

    # -- what tests read ----------------------------------------------------------------------------------------

    def sent_to(self, chat_id: int) -> list[JSON]:
        return self.messages.get(chat_id, [])

    def message(self, chat_id: int, message_id: int) -> JSON:
        for message in self.sent_to(chat_id):
            if message["message_id"] == message_id:
                return message
        raise KeyError(f"no bot message {message_id} in chat {chat_id}")

    def calls_of(self, method: str) -> list[JSON]:
        return [params for name, params in self.calls if name == method]

    async def wait_for(self, condition: Callable[[], bool], within: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {within}s waiting for {what}")
            await asyncio.sleep(0.005)

    async def wait_confirmed(self, update_id: int, within: float = 5.0) -> None:
        """Until a getUpdates call confirmed the update: the transport stored it and finished with it."""
        await self.wait_for(lambda: update_id in self.confirmed, within, f"update {update_id} to be confirmed")

    # -- the HTTP side ---------------------------------------------------------------------------------------------

    async def _notify(self) -> None:
        if self._changed is None:
            return
        async with self._changed:
            self._changed.notify_all()

    @staticmethod
    async def _params(request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):  # an uploaded file (sendDocument, sendPhoto)
                    params[key] = {"file_name": value.filename, "mime_type": value.content_type,
                                   "content": value.file.read()}
                    continue
                if not isinstance(value, str):
                    continue
                try:  # PTB JSON-encodes structured values (reply_markup, commands, allowed_updates)
                    params[key] = json.loads(value) if value[:1] in "[{" else value
                except ValueError:
                    params[key] = value
        return params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        handler: Callable[[JSON], Awaitable[Any]] | None = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        try:
            self._maybe_fail(method)
            self._flood_control(method, params)
            result = await handler(params)
        except ApiError as error:
            body: JSON = {"ok": False, "error_code": error.status, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
            return web.json_response(body, status=error.status)
        return web.json_response({"ok": True, "result": result})

    def _maybe_fail(self, method: str) -> None:
        for failure in self._failures:
            if failure.method == method and failure.after > 0:
                failure.after -= 1
            elif failure.method == method and failure.remaining > 0:
                failure.remaining -= 1
                raise ApiError(429, f"Too Many Requests: retry after {failure.retry_after}",
                               {"retry_after": failure.retry_after})

    def _flood_control(self, method: str, params: JSON) -> None:
        if self.flood_control is None or method not in LIMITED_METHODS or "chat_id" not in params:
            return
        chat_id = int(params["chat_id"])
        retry_after = self.flood_control.check(chat_id)
        if retry_after is not None:
            self.rate_limited.append((method, chat_id, retry_after))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for stored_path, content in self.files.values():
            if stored_path == path and request.match_info["token"] == self.token:
                return web.Response(body=content)
        return web.Response(status=404)

    def _bot_user(self) -> JSON:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Lotse", "username": self.username}

    def _chat(self, params: JSON) -> int:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    @staticmethod
    def _markup(params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup) if markup else None
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return dict(markup)

    async def _m_getMe(self, params: JSON) -> JSON:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_getUpdates(self, params: JSON) -> list[JSON]:
        assert self._changed is not None
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if offset:
            self.confirmed.update(u["update_id"] for u in self.updates if u["update_id"] < offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self.updates and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
        batch = self.updates[:limit]
        for update in batch:
            self.offered.add(update["update_id"])
            self.offer_counts[update["update_id"]] = self.offer_counts.get(update["update_id"], 0) + 1
        return batch

    async def _m_deleteWebhook(self, params: JSON) -> bool:
        self.webhook = None
        return True

    async def _m_setWebhook(self, params: JSON) -> bool:
        self.webhook = params
        return True

    async def _m_setMyCommands(self, params: JSON) -> bool:
        return True

    async def _m_answerCallbackQuery(self, params: JSON) -> bool:
        self.answered_queries.append(str(params["callback_query_id"]))
        return True

    async def _m_sendMessage(self, params: JSON) -> JSON:
        text = str(params.get("text", ""))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._deliver(params, text=text)

    def _deliver(self, params: JSON, **content: Any) -> JSON:
        chat_id = self._chat(params)
        chat: JSON = ({"id": chat_id, "type": "private", "first_name": f"User{chat_id}"} if chat_id > 0
                      else {"id": chat_id, "type": "group", "title": f"Group{-chat_id}"})
        message: JSON = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                         "from": self._bot_user(), **content}
        markup = self._markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        self.messages.setdefault(chat_id, []).append(message)
        if self.on_sent is not None:
            self.on_sent(message)
        return message

    def _upload(self, params: JSON, field_name: str, folder: str) -> tuple[str, str | None, str | None, bytes]:
        """(file id, name, MIME type, bytes) of an uploaded file, or of a file id sent again."""
        value = params.get(field_name)
        if isinstance(value, dict):
            file_id = f"{folder}-{uuid.uuid4().hex[:8]}"
            name = value.get("file_name") or file_id
            self.files[file_id] = (f"{folder}/{name}", value["content"])
            return file_id, name, value.get("mime_type"), value["content"]
        if isinstance(value, str) and value in self.files:
            path, content = self.files[value]
            return value, path.rsplit("/", 1)[-1], None, content
        raise ApiError(400, f"Bad Request: there is no {field_name} in the request")

    def _caption(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None:
            return {}
        if len(str(caption).encode("utf-16-le")) // 2 > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": str(caption)}

    async def _m_sendDocument(self, params: JSON) -> JSON:
        self._chat(params)
        file_id, name, mime_type, content = self._upload(params, "document", "documents")
        document: JSON = {"file_id": file_id, "file_unique_id": file_id[-8:], "file_name": name,
                          "file_size": len(content)}
        if mime_type:
            document["mime_type"] = mime_type
        return self._deliver(params, document=document, **self._caption(params))

    async def _m_sendPhoto(self, params: JSON) -> JSON:
        self._chat(params)
        file_id, _name, _mime_type, content = self._upload(params, "photo", "photos")
        size = {"file_id": file_id, "file_unique_id": file_id[-8:], "width": 1280, "height": 853,
                "file_size": len(content)}
        return self._deliver(params, photo=[size], **self._caption(params))

    def _existing(self, params: JSON) -> JSON:
        chat_id = self._chat(params)
        try:
            return self.message(chat_id, int(params["message_id"]))
        except KeyError:
            raise ApiError(400, "Bad Request: message to edit not found") from None

    async def _m_editMessageText(self, params: JSON) -> JSON:
        message = self._existing(params)
        text = str(params.get("text", ""))
        markup = self._markup(params)
        if text == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    async def _m_editMessageReplyMarkup(self, params: JSON) -> JSON:
        message = self._existing(params)
        markup = self._markup(params)
        if markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _m_getFile(self, params: JSON) -> JSON:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id[-8:], "file_size": len(content), "file_path": path}


def buttons(message: JSON) -> list[tuple[str, str]]:
    """(label, callback data) of a message's inline keyboard, top to bottom."""
    markup = message.get("reply_markup") or {}
    return [(button["text"], button.get("callback_data", "")) for row in markup.get("inline_keyboard", [])
            for button in row]


def _chat_of(update: JSON) -> int | None:
    """The chat an update belongs to (a message's or a pressed button's), for per-chat order."""
    message = update.get("message") or (update.get("callback_query") or {}).get("message")
    return int(message["chat"]["id"]) if isinstance(message, dict) and "chat" in message else None
