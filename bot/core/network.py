"""The network file: districts, topics, organisations, responsibilities and demo personas, validated.

An error names the file and the key (or TOML line) and says what is wrong, in one line.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.i18n import ALL_LANGUAGES, LANGUAGES, Translator

EXAMPLE_NETWORK = Path(__file__).resolve().parents[1] / "example_network.toml"

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Role = Literal["participant", "volunteer", "coordinator", "admin", "company"]


class NetworkError(Exception):
    """One line for the operator: file, key or line, and what is wrong."""


class Translated(BaseModel):
    """A name shown to participants, in every shipped language."""

    model_config = ConfigDict(extra="forbid")
    names: dict[str, str]

    @field_validator("names")
    @classmethod
    def _every_language(cls, names: dict[str, str]) -> dict[str, str]:
        missing = [code for code in LANGUAGES if not names.get(code, "").strip()]
        if missing:
            raise ValueError(f"translation missing for {', '.join(missing)}")
        unknown = sorted(set(names) - set(ALL_LANGUAGES))  # names for a catalog still to come may be ready
        if unknown:
            raise ValueError(f"unknown language {', '.join(unknown)}")
        return names

    def __getitem__(self, locale: str) -> str:
        return self.names.get(locale) or self.names["en"]


def _translated(value: object) -> object:
    return {"names": value} if isinstance(value, dict) and "names" not in value else value


class District(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Translated
    pilot: bool = False

    _wrap = field_validator("name", mode="before")(lambda cls, v: _translated(v))


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Translated

    _wrap = field_validator("name", mode="before")(lambda cls, v: _translated(v))


class Occupation(BaseModel):
    """An occupational field participants choose and coordinators search by."""

    model_config = ConfigDict(extra="forbid")
    name: Translated

    _wrap = field_validator("name", mode="before")(lambda cls, v: _translated(v))


class Organisation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["chamber", "jobcenter", "agency", "school", "nonprofit", "company", "other"]


Address = Annotated[str, StringConstraints(pattern=r"^(telegram|matrix|console):\S{1,255}$")]


class Responsibility(BaseModel):
    """Topic x district -> an organisation's coordinators, optionally their shared room and a lead contact."""

    model_config = ConfigDict(extra="forbid")
    organisation: Key
    topics: list[Key] = Field(min_length=1)
    districts: list[Key] = Field(min_length=1)
    room: Address | None = None
    """A coordinators' group room that gets every question of this rule, e.g. "matrix:!abc:example.org"."""
    lead: str | None = Field(default=None, min_length=1, max_length=300)
    """The lead contact for overdue questions: a persona name or a handle "telegram:12345"."""

    def specificity(self) -> int:
        return (2 if "all" not in self.districts else 0) + (1 if "all" not in self.topics else 0)


class Persona(BaseModel):
    """Someone the console demo can speak as (`/as NAME`)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    role: Role
    display_name: str = Field(min_length=1, max_length=100)
    locale: str | None = None
    organisation: Key | None = None
    district: Key | None = None

    @field_validator("locale")
    @classmethod
    def _shipped(cls, value: str | None) -> str | None:
        if value is not None and value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    privacy_contact: str = Field(min_length=3)
    controller: str = Field(min_length=3)
    retention_months: int = Field(default=12, ge=1, le=120)
    districts: dict[Key, District] = Field(min_length=1)
    topics: dict[Key, Topic] = Field(min_length=1)
    organisations: dict[Key, Organisation] = Field(min_length=1)
    occupations: dict[Key, Occupation] = Field(min_length=1)
    responsibilities: list[Responsibility] = Field(default_factory=list)
    fallback_organisation: Key | None = None
    """Gets every question that no rule covers, so that none goes nowhere."""
    personas: list[Persona] = Field(default_factory=list)
    machine_translation: bool = False
    """The network allows a translation engine (LOTSE_TRANSLATION_ENGINE) to translate questions and answers."""

    @model_validator(mode="after")
    def _references(self) -> Network:
        for index, rule in enumerate(self.responsibilities):
            where = f"responsibilities[{index}]"
            if rule.organisation not in self.organisations:
                raise ValueError(f"{where}.organisation: unknown organisation {rule.organisation!r}")
            for topic in rule.topics:
                if topic != "all" and topic not in self.topics:
                    raise ValueError(f"{where}.topics: unknown topic {topic!r}")
            for district in rule.districts:
                if district != "all" and district not in self.districts:
                    raise ValueError(f"{where}.districts: unknown district {district!r}")
        if self.fallback_organisation and self.fallback_organisation not in self.organisations:
            raise ValueError(f"fallback_organisation: unknown organisation {self.fallback_organisation!r}")
        seen: set[str] = set()
        for index, persona in enumerate(self.personas):
            where = f"personas[{index}]"
            if persona.name in seen:
                raise ValueError(f"{where}.name: {persona.name!r} appears twice")
            seen.add(persona.name)
            if persona.organisation and persona.organisation not in self.organisations:
                raise ValueError(f"{where}.organisation: unknown organisation {persona.organisation!r}")
            if persona.district and persona.district not in self.districts:
                raise ValueError(f"{where}.district: unknown district {persona.district!r}")
            if persona.role in ("coordinator", "volunteer", "admin") and persona.locale is None:
                raise ValueError(f"{where}.locale: staff personas need a language")
        return self


@lru_cache(maxsize=16)
def _parsed(text: str) -> dict[str, Any]:
    """The TOML, parsed once per distinct text: every opened Lotse (each test's, too) reads the same file."""
    return tomllib.loads(text)


def load_network(path: Path | None = None) -> Network:
    path = path or EXAMPLE_NETWORK
    try:
        raw = _parsed(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise NetworkError(f"network file {path}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise NetworkError(f"network file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise NetworkError(f"network file {path}: not valid TOML: {error}") from None
    try:
        return Network.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ""
        for part in first["loc"]:
            if part != "names":
                key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
        message = first["msg"].removeprefix("Value error, ")
        raise NetworkError(f"network file {path}: {key + ': ' if key else ''}{message}") from None


def field_name(t: Translator, network: Network, occupation: str) -> str:
    found = network.occupations.get(occupation)
    return found.name[t.locale] if found else occupation


def district_name(t: Translator, network: Network, district: str | None) -> str:
    found = network.districts.get(district or "")
    return found.name[t.locale] if found else "–"


def company_name(network: Network, organisation: str) -> str:
    found = network.organisations.get(organisation)
    return found.name if found else organisation
