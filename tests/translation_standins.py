"""LibreTranslate and DeepL stand-ins on loopback, answering like the documented APIs.

LibreTranslate (https://libretranslate.com/docs): `GET /languages` lists `{code, name, targets}`; `POST /translate`
takes `q`, `source`, `target`, `format` and an optional `api_key` (JSON or form) and answers `{"translatedText"}`;
`POST /detect` answers `[{"confidence", "language"}]`; errors are `{"error": "..."}` with 400 (bad request,
unsupported language), 403 (banned or wrong API key), 429 (slow down) and 500 (translation failed).
DeepL (https://developers.deepl.com/docs): `POST /v2/translate` with `Authorization: DeepL-Auth-Key KEY`, a JSON
body `{"text": [...], "target_lang", "source_lang"}` and the answer `{"translations": [{"detected_source_language",
"text"}]}`; `GET /v2/languages?type=source|target`; errors 400, 403 (authorization failed), 429 (too many requests),
456 (quota exceeded), 5xx, with `{"message": "..."}`.
Tests queue failures (`fail(status, times)`) or hold answers until released (`hold()`, `release()`), and read
every request the stand-in saw in `requests`. The "translation" is a tag and the text: `[de] Коли курс?`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Standin:
    languages: tuple[str, ...] = ("ar", "de", "en", "fa", "ku", "ru", "tr", "uk")
    api_key: str | None = None
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    held: asyncio.Event | None = None
    delay: float = 0.0
    """Seconds every translation takes (the bench's slow engine)."""
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail(self, status: int, times: int = 1) -> None:
        self.failures.extend([status] * times)

    def hold(self) -> None:
        """Answers wait (longer than any budget) until `release()`: an engine that is slow right now."""
        self.held = asyncio.Event()

    def release(self) -> None:
        if self.held is not None:
            self.held.set()
        self.held = None

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _wait(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.held is not None:
            await self.held.wait()

    @property
    def translations_asked(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("translate")]


@dataclass
class LibreTranslateStandin(Standin):
    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body: dict[str, Any] = await request.json()
            return body
        return dict(await request.post())

    def _refused(self, body: dict[str, Any]) -> web.Response | None:
        if self.failures:
            status = self.failures.pop(0)
            message = {400: "Invalid request", 403: "Invalid API key", 429: "Too many request limits violations",
                       500: "Cannot translate text: internal error"}.get(status, "error")
            return web.json_response({"error": message}, status=status)
        if self.api_key is not None and body.get("api_key") != self.api_key:
            return web.json_response({"error": "Invalid API key"}, status=403)
        return None

    async def _languages(self, request: web.Request) -> web.Response:
        self.requests.append(("/languages", {}))
        return web.json_response([{"code": code, "name": code, "targets": list(self.languages)}
                                  for code in self.languages])

    async def _translate(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.requests.append(("/translate", body))
        await self._wait()
        refused = self._refused(body)
        if refused is not None:
            return refused
        if not body.get("q"):
            return web.json_response({"error": "Invalid request: missing q parameter"}, status=400)
        for key in ("source", "target"):
            if body.get(key) not in (*self.languages, "auto"):
                return web.json_response({"error": f"{body.get(key)} is not supported"}, status=400)
        return web.json_response({"translatedText": f"[{body['target']}] {body['q']}"})

    async def _detect(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.requests.append(("/detect", body))
        refused = self._refused(body)
        if refused is not None:
            return refused
        return web.json_response([{"confidence": 90.0, "language": "uk"}])

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/languages", self._languages), web.post("/translate", self._translate),
                web.post("/detect", self._detect)]


DEEPL_NAMES = {"ar": "Arabic", "de": "German", "en": "English", "ru": "Russian", "tr": "Turkish", "uk": "Ukrainian"}


@dataclass
class DeepLStandin(Standin):
    languages: tuple[str, ...] = ("ar", "de", "en", "ru", "tr", "uk")
    api_key: str | None = "0c3a2b1e-deepl-test-key:fx"

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"DeepL-Auth-Key {self.api_key}":
            return web.json_response({"message": "Authorization failed. Please supply a valid auth_key parameter."},
                                     status=403)
        if self.failures:
            status = self.failures.pop(0)
            message = {429: "Too many requests", 456: "Quota exceeded", 403: "Authorization failed"}.get(
                status, "Internal server error")
            return web.json_response({"message": message}, status=status)
        return None

    async def _languages(self, request: web.Request) -> web.Response:
        kind = request.query.get("type", "source")
        self.requests.append(("/v2/languages", {"type": kind}))
        refused = self._refused(request)
        if refused is not None:
            return refused
        codes = [("EN-GB" if code == "en" and kind == "target" else code.upper()) for code in self.languages]
        return web.json_response([{"language": code, "name": DEEPL_NAMES.get(code.lower()[:2], code)}
                                  for code in codes])

    async def _translate(self, request: web.Request) -> web.Response:
        try:
            body: dict[str, Any] = await request.json()
        except json.JSONDecodeError:
            return web.json_response({"message": "Bad request"}, status=400)
        self.requests.append(("/v2/translate", body))
        await self._wait()
        refused = self._refused(request)
        if refused is not None:
            return refused
        target, source = str(body.get("target_lang", "")), str(body.get("source_lang", ""))
        known = {code.upper() for code in self.languages} | {"EN-GB", "EN-US"}
        if target not in known or target == "EN" or (source and source not in known) or not body.get("text"):
            return web.json_response({"message": "Value for 'target_lang' not supported."}, status=400)
        return web.json_response({"translations": [{"detected_source_language": source or "EN",
                                                    "text": f"[{target.lower()}] {text}"}
                                                   for text in body["text"]]})

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v2/languages", self._languages), web.post("/v2/translate", self._translate)]
