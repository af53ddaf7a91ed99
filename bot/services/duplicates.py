"""Likely duplicates: the same person entered twice (by two organisations, or by a chat and a list).

Two records are a likely duplicate when they have the same phone number (compared in E.164), or when their names
are alike once written in Latin letters (`anyascii` transliterates Arabic, Persian, Tigrinya and Cyrillic;
`rapidfuzz` compares) and they live in the same district and have a close birth year or earliest start. Arabic
and Persian script write few vowels ("محمد" becomes "mhmd"), so names are also compared by their consonants
("Mohammed", "Muhammad" and "Mohamad" all read "mhmd"). A pair once decided ("different people") is never
suggested again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import phonenumbers
from anyascii import anyascii
from rapidfuzz import fuzz
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DuplicateSuggestion, Person, Profile

NAME_THRESHOLD = 85
"""Names at least this alike (0-100) count as "written differently", given district and a close date."""
CLEAR = 96
"""An import row this alike, in the same district with the same birth year, is the same person without asking."""
YEARS_APART = 1
START_DAYS_APART = 92
_VOWELS = re.compile(r"[aeiouyw]")
_ABJAD = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_NOT_LETTERS = re.compile(r"[^a-z ]")
_DOUBLES = re.compile(r"(.)\1+")


def e164(text: str | None, region: str = "DE") -> str | None:
    """The number in E.164 (+4915123456789), or None when it is no valid number."""
    if not text or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def latin(name: str) -> str:
    """Lower-case Latin letters and single spaces; hyphens and apostrophes join ("Al-Hassan" = "alhassan")."""
    text = anyascii(name).lower().replace("-", "").replace("'", "").replace("`", "")
    return " ".join(_NOT_LETTERS.sub(" ", text).split())


def consonants(name: str) -> str:
    """The consonants of each part, doubled letters once: how an abjad script writes a name.

    "w" and "y" go with the vowels (Arabic and Persian write long vowels with them: نوری is "Noori"), and "z"
    reads as "d" (ض is "d" in Arabic and "z" in Persian: رضا is "Reza")."""
    words = (_DOUBLES.sub(r"\1", _VOWELS.sub("", word).replace("z", "d")) for word in latin(name).split())
    return " ".join(part for part in words if part)


def name_score(first: str, second: str) -> float:
    """How alike two names are, 0-100, across scripts and transliterations."""
    a, b = latin(first), latin(second)
    if not a or not b:
        return 0.0
    plain = max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")))
    ca, cb = consonants(first), consonants(second)
    if len(ca.replace(" ", "")) < 3 or len(cb.replace(" ", "")) < 3:
        return float(plain)  # "Ali" and "Ola" share one consonant: too little to say anything
    skeleton = max(fuzz.token_sort_ratio(ca, cb), fuzz.ratio(ca.replace(" ", ""), cb.replace(" ", "")))
    if _ABJAD.search(first) or _ABJAD.search(second):
        return float(max(plain, skeleton))  # the script wrote no vowels: the consonants are all there is
    return float(max(plain, (plain + skeleton) / 2))  # "Mohammed" and "Muhammad": vowels count for half


@dataclass(frozen=True)
class Record:
    """What the comparison needs of a person."""

    person_id: int
    name: str
    district: str | None
    phone: str | None
    birth_year: int | None = None
    start: date | None = None


@dataclass(frozen=True)
class Likeness:
    reason: str
    """phone or name."""
    score: int
    clear: bool = False
    """So alike that an import links them without asking (a chat never merges without a coordinator)."""


def _day(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            return None
    return None


def record_of(person: Person, profile: Profile | None) -> Record:
    answers = profile.answers if profile is not None else {}
    year = answers.get("birth_year")
    return Record(person_id=person.id, name=person.display_name or "", district=person.district,
                  phone=profile.phone if profile is not None else None,
                  birth_year=int(year) if isinstance(year, int | str) and str(year).isdigit() else None,
                  start=_day(answers.get("start")))


def close_dates(a: Record, b: Record) -> bool | None:
    """Whether birth year or earliest start are close; None when neither is known for both."""
    if a.birth_year is not None and b.birth_year is not None:
        return abs(a.birth_year - b.birth_year) <= YEARS_APART
    if a.start is not None and b.start is not None:
        return abs((a.start - b.start).days) <= START_DAYS_APART
    return None


def likeness(a: Record, b: Record) -> Likeness | None:
    """Why two records may be one person, or None."""
    if a.phone and b.phone and a.phone == b.phone:
        # Families often share one phone: only with a name that fits is it clearly the same person.
        return Likeness("phone", 100, clear=not a.name or not b.name or names_fit(a.name, b.name))
    if not a.district or a.district != b.district:
        return None
    score = name_score(a.name, b.name)
    if score < NAME_THRESHOLD or not close_dates(a, b):
        return None
    same_year = a.birth_year is not None and a.birth_year == b.birth_year
    return Likeness("name", int(score), clear=same_year and score >= CLEAR)


def names_fit(first: str, second: str) -> bool:
    """One name is the other, or part of it ("Amal" and "Amal Haddad"), in any script."""
    if name_score(first, second) >= NAME_THRESHOLD:
        return True
    a, b = latin(first), latin(second)
    ca, cb = consonants(first), consonants(second)
    return bool(a and b) and max(fuzz.token_set_ratio(a, b), fuzz.token_set_ratio(ca, cb) if ca and cb else 0) >= 90


async def records(session: AsyncSession, ids: Iterable[int] | None = None) -> list[Record]:
    """Participants as records (all of them, or these)."""
    statement = select(Person, Profile).outerjoin(Profile, Profile.person_id == Person.id).where(
        Person.role == "participant")
    if ids is not None:
        statement = statement.where(Person.id.in_(list(ids)))
    return [record_of(person, profile) for person, profile in (await session.execute(statement)).all()]


async def decided_pairs(session: AsyncSession, person_id: int) -> set[int]:
    """The other records this one was already compared with (suggested, or decided)."""
    rows = (await session.execute(select(DuplicateSuggestion.first_id, DuplicateSuggestion.second_id).where(
        or_(DuplicateSuggestion.first_id == person_id, DuplicateSuggestion.second_id == person_id)))).all()
    return {b if a == person_id else a for a, b in rows}


def best_matches(record: Record, others: Iterable[Record]) -> list[tuple[Record, Likeness]]:
    """Every other record like this one, the likeliest first."""
    found = [(other, found) for other in others if other.person_id != record.person_id
             and (found := likeness(record, other)) is not None]
    return sorted(found, key=lambda pair: (-pair[1].score, pair[0].person_id))


async def suggest_for(session: AsyncSession, person_id: int, now: datetime,
                      among: list[Record] | None = None) -> list[DuplicateSuggestion]:
    """New suggestions for this record (none for pairs already suggested or decided); added to the session."""
    mine = await records(session, [person_id])
    if not mine:
        return []
    record = mine[0]
    known = await decided_pairs(session, person_id)
    candidates = among if among is not None else await records(session)
    made = []
    for other, why in best_matches(record, candidates):
        if other.person_id in known:
            continue
        first, second = sorted((record.person_id, other.person_id))
        suggestion = DuplicateSuggestion(first_id=first, second_id=second, reason=why.reason, score=why.score,
                                         status="open", created_at=now)
        session.add(suggestion)
        made.append(suggestion)
        known.add(other.person_id)
    if made:
        await session.flush()
    return made
