"""Opening a mentorship and taking one back: shared by signed contracts (`flows.contracts`) and mentoring
(`flows.mentoring`), so neither flow has to import the other."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.reminders import out_of_quiet_hours
from storage.models import MentoringCheckIn, Mentorship, MentorshipEnding, Person

EVERY = timedelta(days=28)
"""An apprentice is asked every four weeks."""


async def open_mentorship(session: AsyncSession, participant: Person, now: datetime) -> Mentorship:
    """The mentorship of a new apprentice (a signed Ausbildung): opened, or opened again after an earlier ending."""
    mentorship = (await session.scalars(select(Mentorship).where(
        Mentorship.participant_id == participant.id))).first()
    if mentorship is None:
        mentorship = Mentorship(participant_id=participant.id, status="active", started_at=now,
                                next_due_at=out_of_quiet_hours(now + EVERY, participant.time_zone))
        session.add(mentorship)
        await session.flush()
    elif mentorship.status != "active":
        mentorship.status, mentorship.mentor_id, mentorship.school = "active", None, None
        mentorship.started_at = now
        mentorship.next_due_at = out_of_quiet_hours(now + EVERY, participant.time_zone)
    return mentorship


async def drop_unstarted_mentorship(session: AsyncSession, participant_id: int, opened_at: datetime) -> None:
    """A contract withdrawn as a mistake takes back the mentorship it opened, if nothing happened in it yet."""
    mentorship = (await session.scalars(select(Mentorship).where(
        Mentorship.participant_id == participant_id))).first()
    if mentorship is None or mentorship.status != "active" or mentorship.mentor_id is not None or \
            mentorship.started_at != opened_at:
        return
    asked = await session.scalar(select(MentoringCheckIn.id).where(
        MentoringCheckIn.mentorship_id == mentorship.id).limit(1))
    ended = await session.scalar(select(MentorshipEnding.id).where(
        MentorshipEnding.mentorship_id == mentorship.id).limit(1))
    if asked is None and ended is None:
        await session.delete(mentorship)
    else:
        mentorship.status = "ended"
