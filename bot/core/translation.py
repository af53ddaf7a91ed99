"""Machine translation through a processor the operator chose: a self-hosted LibreTranslate or the DeepL API.

Off unless both the settings (`LOTSE_TRANSLATION_ENGINE`, ...) and the network file (`machine_translation = true`)
say so; DeepL, a service outside the operator's servers, also needs `LOTSE_TRANSLATION_EXTERNAL_OK=true`.
The languages an engine supports are asked once at startup; others are simply not translated. Every call has a
timeout; an error says whether trying again later may help (timeouts, 429, DeepL's 456 and 5xx) or not (400).
Flows reach the engine through `active()`, set by the app at startup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from bot.core.config import Settings, SettingsError
from bot.core.network import Network

log = logging.getLogger("lotse.translation")

IN_TURN_SECONDS = 2.0
"""A question or an answer waits at most this long for its translation; a slower engine translates afterwards."""
PAUSE_AFTER_FAILURE = 60.0
"""After a failure the engine is left out of conversations for this long (only the background retries use it)."""
DEEPL_FREE_HOST = "https://api-free.deepl.com"
DEEPL_PRO_HOST = "https://api.deepl.com"


class TranslationFailed(Exception):
    """The engine did not translate; `retry` says whether asking again later may succeed."""

    def __init__(self, reason: str, retry: bool = True) -> None:
        super().__init__(reason)
        self.retry = retry


class Engine(Protocol):
    key: str
    """`libretranslate` or `deepl`: stored with each translation."""
    label: str
    """The name people see in "machine translation (…)"."""
    external: bool

    async def languages(self) -> frozenset[str]: ...

    async def translate(self, text: str, source: str, target: str) -> str: ...

    async def aclose(self) -> None: ...


def _failure(response: httpx.Response, service: str) -> TranslationFailed:
    """One line for the log, without the text that was sent; 400 (this text cannot be translated) is final."""
    try:
        body: Any = response.json()
        detail = body.get("error") or body.get("message") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    reason = f"{service} answered {response.status_code}" + (f": {str(detail)[:200]}" if detail else "")
    return TranslationFailed(reason, retry=response.status_code != 400)


@dataclass
class LibreTranslate:
    """The LibreTranslate HTTP API (`/translate`, `/detect`, `/languages`); the API key is optional."""

    url: str
    api_key: str | None = None
    timeout: float = 10.0
    key: str = "libretranslate"
    label: str = "LibreTranslate"
    external: bool = False
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient())

    def _body(self, **values: Any) -> dict[str, Any]:
        return {**values, "api_key": self.api_key} if self.api_key else values

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self.client.post(self.url + path, json=self._body(**body),
                                               timeout=self.timeout)
        except httpx.HTTPError as error:
            raise TranslationFailed(f"LibreTranslate: {type(error).__name__}") from None
        if response.status_code != 200:
            raise _failure(response, "LibreTranslate")
        return response.json()

    async def languages(self) -> frozenset[str]:
        try:
            response = await self.client.get(self.url + "/languages", timeout=self.timeout)
        except httpx.HTTPError as error:
            raise TranslationFailed(f"LibreTranslate: {type(error).__name__}") from None
        if response.status_code != 200:
            raise _failure(response, "LibreTranslate")
        return frozenset(str(item["code"]).lower() for item in response.json())

    async def translate(self, text: str, source: str, target: str) -> str:
        answer = await self._post("/translate", {"q": text, "source": source, "target": target, "format": "text"})
        translated = answer.get("translatedText") if isinstance(answer, dict) else None
        if not isinstance(translated, str):
            raise TranslationFailed("LibreTranslate: no translatedText in the answer")
        return translated

    async def detect(self, text: str) -> str | None:
        """The most likely language with its confidence; used where no offline detector is installed."""
        answer = await self._post("/detect", {"q": text})
        return str(answer[0]["language"]).lower() if isinstance(answer, list) and answer else None

    async def aclose(self) -> None:
        await self.client.aclose()


DEEPL_TARGETS = {"en": "EN-GB", "pt": "PT-PT"}
"""DeepL wants a variant for some target languages (plain EN is deprecated as a target)."""


@dataclass
class DeepL:
    """The DeepL API v2 (`/v2/translate`, `/v2/languages`), with `Authorization: DeepL-Auth-Key`."""

    auth_key: str
    url: str = ""
    timeout: float = 10.0
    key: str = "deepl"
    label: str = "DeepL"
    external: bool = True
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient())

    def __post_init__(self) -> None:
        if not self.url:  # free-plan keys end in ":fx" and only work on the free host
            self.url = DEEPL_FREE_HOST if self.auth_key.endswith(":fx") else DEEPL_PRO_HOST

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"DeepL-Auth-Key {self.auth_key}"}

    async def languages(self) -> frozenset[str]:
        found: list[set[str]] = []
        for kind in ("source", "target"):
            try:
                response = await self.client.get(self.url + "/v2/languages", params={"type": kind},
                                                 headers=self._headers, timeout=self.timeout)
            except httpx.HTTPError as error:
                raise TranslationFailed(f"DeepL: {type(error).__name__}") from None
            if response.status_code != 200:
                raise _failure(response, "DeepL")
            found.append({str(item["language"]).lower().split("-")[0] for item in response.json()})
        return frozenset(found[0] & found[1])  # translated both ways: questions in, answers out

    async def translate(self, text: str, source: str, target: str) -> str:
        body = {"text": [text], "source_lang": source.upper(),
                "target_lang": DEEPL_TARGETS.get(target, target.upper())}
        try:
            response = await self.client.post(self.url + "/v2/translate", json=body, headers=self._headers,
                                              timeout=self.timeout)
        except httpx.HTTPError as error:
            raise TranslationFailed(f"DeepL: {type(error).__name__}") from None
        if response.status_code != 200:
            raise _failure(response, "DeepL")  # 403 key, 429 too many, 456 quota used up, 5xx: retried later
        try:
            return str(response.json()["translations"][0]["text"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise TranslationFailed("DeepL: no translation in the answer") from None

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class Translation:
    """The engine with what it supports, a short memory of answers and a pause after failures."""

    engine: Engine
    supported: frozenset[str] | None = None
    """None until `/languages` answered: then every language is tried."""
    paused_until: float = 0.0
    memory: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.engine.label

    def can(self, source: str, target: str) -> bool:
        if source == target:
            return False
        return self.supported is None or (source in self.supported and target in self.supported)

    async def load_languages(self) -> None:
        try:
            self.supported = await self.engine.languages()
            log.info("translation: %s supports %d languages", self.engine.label, len(self.supported))
        except TranslationFailed as error:
            log.warning("translation: could not ask %s for its languages (%s); trying every language",
                        self.engine.label, error)

    async def translate(self, text: str, source: str, target: str, budget: float | None = None) -> str:
        """The translation, or TranslationFailed; with a `budget`, gives up after that many seconds."""
        remembered = self.memory.get((text, source, target))
        if remembered is not None:
            return remembered
        if budget is not None and time.monotonic() < self.paused_until:
            raise TranslationFailed(f"{self.engine.label} failed a moment ago")
        try:
            if budget is None:
                result = await self.engine.translate(text, source, target)
            else:
                result = await asyncio.wait_for(self.engine.translate(text, source, target), budget)
        except TimeoutError:
            self.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            raise TranslationFailed(f"{self.engine.label} took longer than {budget} s") from None
        except TranslationFailed:
            self.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            raise
        self.paused_until = 0.0
        if len(self.memory) > 200:
            self.memory.clear()
        self.memory[(text, source, target)] = result
        return result


_active: Translation | None = None


def active() -> Translation | None:
    """The configured translation, or None when it is off (then nothing is ever sent to an engine)."""
    return _active


def engine_from(settings: Settings, network: Network) -> Engine | None:
    """The engine the settings ask for, after checking the network file allows it; one line naming what is wrong."""
    name = settings.translation_engine
    if name is None:
        return None
    if not network.machine_translation:
        raise SettingsError("setting LOTSE_TRANSLATION_ENGINE: the network file does not allow machine translation "
                            "(add machine_translation = true to it)")
    if name == "deepl":
        if not settings.translation_key:
            raise SettingsError("setting LOTSE_TRANSLATION_KEY: DeepL needs its authentication key")
        if not settings.translation_external_ok:
            raise SettingsError("setting LOTSE_TRANSLATION_EXTERNAL_OK: DeepL runs outside your own servers and "
                                "receives participants' text; set it to true to allow that")
        return DeepL(settings.translation_key, settings.translation_url or "", settings.translation_timeout)
    if not settings.translation_url:
        raise SettingsError("setting LOTSE_TRANSLATION_URL: needed with LOTSE_TRANSLATION_ENGINE=libretranslate "
                            "(your server, e.g. http://127.0.0.1:5000)")
    host = urlsplit(settings.translation_url).hostname or ""
    if host.endswith("libretranslate.com") and not settings.translation_external_ok:
        raise SettingsError("setting LOTSE_TRANSLATION_EXTERNAL_OK: libretranslate.com runs outside your own "
                            "servers and receives participants' text; set it to true to allow that")
    return LibreTranslate(settings.translation_url, settings.translation_key, settings.translation_timeout,
                          external=host.endswith("libretranslate.com"))


async def start(settings: Settings, network: Network) -> Translation | None:
    """Called once at startup: checks the settings, asks the engine's languages, makes it `active()`."""
    global _active
    await stop()  # an earlier app's engine, closed; none is active if the settings below do not fit
    engine = engine_from(settings, network)
    _active = Translation(engine) if engine is not None else None
    if _active is not None:
        await _active.load_languages()
    return _active


async def stop() -> None:
    global _active
    if _active is not None:
        await _active.engine.aclose()
    _active = None
