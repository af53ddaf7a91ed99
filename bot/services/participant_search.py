"""Finding a participant by number or by a part of the name, among those a staff member is responsible for.

One search for `/case`, `/appointment`, `/pair` and the other staff commands, so that "Müller" finds "MULLER" and
the same person is found (or not) everywhere."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.network import Network
from bot.core.text import clean_text, fold
from bot.services.routing import visible_participants
from storage.models import Person

MAX_LISTED = 10
"""A chat message lists at most this many; one more is fetched to know that there are more."""


async def find_participants(session: AsyncSession, network: Network, staff: Person, text: str) -> list[Person]:
    """By number (exact, with or without "#") or by a part of the name (case and accents ignored)."""
    query = clean_text(text).lstrip("#")[:100]
    statement = select(Person).where(await visible_participants(session, network, staff))
    if query.isdigit() and len(query) < 10:
        return list((await session.scalars(statement.where(Person.id == int(query)))).all())
    wanted = fold(query)
    if len(wanted) < 2:
        return []
    # Folding happens here, not in SQL: SQLite and PostgreSQL fold accents differently, and the staff member's
    # visible participants are a few hundred at most.
    people = (await session.scalars(statement.where(Person.display_name.is_not(None)).order_by(Person.id))).all()
    return [person for person in people if wanted in fold(person.display_name or "")][:MAX_LISTED + 1]
