"""The tables: the database is the truth for people, conversations, inbox, outbox, consent and audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false, true

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python; SQLite drops offsets, so values are stored as naive UTC there."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


PERSON_ROLES = ("participant", "volunteer", "coordinator", "admin", "company")
"""What `persons.role` may hold: the values of `bot.core.access.Role` (a test keeps both the same)."""


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (CheckConstraint(f"role IN ({', '.join(repr(role) for role in PERSON_ROLES)})", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="participant")
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    district: Mapped[str | None] = mapped_column(String(64))
    organisation: Mapped[str | None] = mapped_column(String(64))
    persona: Mapped[str | None] = mapped_column(String(64), unique=True)
    privacy_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    handles: Mapped[list[Handle]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class Handle(Base):
    """One way to reach a person: a transport and the platform's id for them (a person may have several)."""

    __tablename__ = "handles"
    __table_args__ = (UniqueConstraint("transport", "platform_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(255))
    chat_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    """False once the platform said the person blocked the bot; true again when they write."""
    preferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Chosen in /settings: messages go to this chat while it is reachable (otherwise to the one used last)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="handles")


class Conversation(Base):
    """Where a person is in which flow, as JSON, so a restart resumes at the same step."""

    __tablename__ = "conversations"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboxEntry(Base):
    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("transport", "event_id"),
        Index("ix_inbox_pending", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transport: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


ANSWER, NOTICE, BULK = 1, 2, 3
"""Outbox priorities: bulk uses only what answers and notices leave of a platform's rate."""


class OutboxEntry(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "transport", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transport: Mapped[str] = mapped_column(String(16))
    chat: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    platform_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(SmallInteger, default=NOTICE, server_default=str(NOTICE))
    """The sender's lane order: ANSWER (to what a person just wrote), NOTICE, BULK (broadcasts)."""
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    """The process sending this row now (host:pid:start); with `lease_until`, so no two processes send it."""
    lease_until: Mapped[datetime | None] = mapped_column()
    """The claim ends here: a crashed claimer's rows are sent by the next one after this moment."""


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    given: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Profile(Base):
    """A participant's intake answers. Drafts are kept answer by answer, so a break never loses anything."""

    __tablename__ = "profiles"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    german_level: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    """E.164, only when the participant chose to be called."""
    share_with_companies: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The second consent, off by default: may partner companies see this profile for internships?"""
    stage: Mapped[str] = mapped_column(String(24), default="registered", server_default="registered")
    completed_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PotentialCheck(Base):
    """The result of a Kompetenz- und Potenzialcheck: the answers, the traits read from them, suggested fields."""

    __tablename__ = "potential_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    """A single-use code that makes a handle staff. Only a hash is stored: a leaked database reveals no codes."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    organisation: Mapped[str | None] = mapped_column(String(64))
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    districts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(16), default="de")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))


class StaffScope(Base):
    """A staff member's own topics and districts (from their invite); "all" means every one of their organisation."""

    __tablename__ = "staff_scopes"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    districts: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Ticket(Base):
    """A participant's question and its thread: who it went to, who took it, when it is due."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str | None] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(64))
    organisations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()
    reassured_at: Mapped[datetime | None] = mapped_column()


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(8))
    """"in" from the participant, "out" to the participant, "event" for claims, hand-overs and closing."""
    text: Mapped[str | None] = mapped_column(Text)
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    translations: Mapped[list[MessageTranslation]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="MessageTranslation.id")
    """Machine translations of this message (docs/translation.md), loaded with it so notices can show them."""


class MessageTranslation(Base):
    """A translation of one question or answer into one language; deleted with the message.

    One per target and engine: a volunteer language mediator's (engine "volunteer") stands beside the machine's.
    `text` is None while the engine has not answered yet (`next_attempt_at` says when it is asked again)."""

    __tablename__ = "message_translations"
    __table_args__ = (UniqueConstraint("message_id", "target", "engine"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="done")
    """"done", "pending" (asked again in the background) or "failed" (given up; the original stands)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    translated_at: Mapped[datetime | None] = mapped_column()
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)


class TicketNotice(Base):
    """One copy of a question's notification: edited for everyone when someone claims it; replies find it."""

    __tablename__ = "ticket_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(16))
    chat: Mapped[str] = mapped_column(String(255))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"), index=True)


# ---------------------------------------------------------------------------------------------------------------
# Volunteers, pairings, reports, stage history, digests and broadcasts (issue 8)


class VolunteerProfile(Base):
    """What a volunteer offers: languages, district, kinds of help and the same weekly grid as participants."""

    __tablename__ = "volunteer_profiles"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    district: Mapped[str | None] = mapped_column(String(64))
    offers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    availability: Mapped[list[Any]] = mapped_column(JSON, default=list)
    completed_at: Mapped[datetime | None] = mapped_column()
    mediates: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default="[]")
    """Languages the volunteer translates from (into German) as a language mediator (Sprachmittler); empty: none."""


class MediationRequest(Base):
    """One message handed to volunteer language mediators, one at a time, until one translates it.

    A mediator sees only the message's text. The translation is stored as a `MessageTranslation` with engine
    "volunteer"; this row is deleted with the message."""

    __tablename__ = "mediation_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"),
                                                   index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("case_reports.id", ondelete="CASCADE"), index=True)
    """A volunteer's report instead of a message (then `message_id` is empty); its translation goes to the report."""
    source: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default="asking")
    """"asking" (waiting for the mediator asked last), "taken", "done", or "nobody" (no mediator left)."""
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    mediator_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    asked: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """The mediators asked so far, in order (the next one is the first mediator not in it)."""
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    """When it goes to the next mediator (4 working hours after asking or taking)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class Pairing(Base):
    """A volunteer accompanying a participant: "asked" until the participant agrees, then "active"."""

    __tablename__ = "pairings"
    __table_args__ = (Index("ix_pairings_volunteer_status", "volunteer_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="asked")
    """asked, active, declined, ended."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class CaseReport(Base):
    """A volunteer's update about a participant; urgent ones went to a coordinator at once, the rest to the digest."""

    __tablename__ = "case_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    milestone: Mapped[str | None] = mapped_column(String(24))
    """For kind "milestone": the stage it proposes (potential_check, internship, apprenticeship, employment)."""
    text: Mapped[str | None] = mapped_column(Text)
    attachment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    needs_action: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    translation: Mapped[str | None] = mapped_column(Text)
    """A machine translation of `text` for staff who do not read its language (deleted with the report)."""
    translation_source: Mapped[str | None] = mapped_column(String(16))
    translation_target: Mapped[str | None] = mapped_column(String(16))
    translation_engine: Mapped[str | None] = mapped_column(String(32))
    translation_status: Mapped[str | None] = mapped_column(String(8))
    """done, pending (the engine failed or was late: asked again at `translation_next_at`) or failed."""
    translation_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    translation_next_at: Mapped[datetime | None] = mapped_column(index=True)
    volunteer_translation: Mapped[str | None] = mapped_column(Text)
    """What a volunteer language mediator wrote (into German or English), shown below any machine translation."""
    volunteer_translation_status: Mapped[str | None] = mapped_column(String(8))
    """pending (a mediator was asked), done, or failed (no mediator was left); None: no mediator asked."""


class StageChange(Base):
    """Every change of a participant's stage: who, when, from, to and why."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    from_stage: Mapped[str | None] = mapped_column(String(24))
    to_stage: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("case_reports.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DigestSent(Base):
    """One row per week and recipient: the Montagsrunde digest goes out once, even across a restart."""

    __tablename__ = "digests_sent"
    __table_args__ = (UniqueConstraint("week", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[str] = mapped_column(String(10))
    """The ISO week, e.g. 2026-W49."""
    recipient: Mapped[str] = mapped_column(String(300))
    """person:<id> or room:<transport>:<chat>."""
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class Broadcast(Base):
    """One message to a segment; each recipient's outbox row is kept, so the report can say what arrived."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    segment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    texts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Language -> text as sent (written by the coordinator, or a translated template)."""
    template: Mapped[str | None] = mapped_column(String(32))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastDelivery(Base):
    __tablename__ = "broadcast_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    """None when the person had no reachable chat (they blocked the bot): counted as blocked."""


# ---------------------------------------------------------------------------------------------------------------
# Appointments, language courses and reminders (issue 6)


class Appointment(Base):
    """A participant's Termin, booked by a coordinator: the database is the truth its reminders are planned from."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_participant_starts", "participant_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    """jobcenter, counselling, potential_check, matching, internship, other."""
    starts_at: Mapped[datetime] = mapped_column()
    place: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    """scheduled or cancelled; a moved appointment keeps its row and gets a new `starts_at`."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Course(Base):
    """A language course (Sprachkurs): a weekly schedule between two dates, held in the course's time zone."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(200))
    weekdays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Weekday numbers, Monday = 0."""
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    run_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseSession(Base):
    """One meeting of a course, written out when the course is created so it can be cancelled or moved alone."""

    __tablename__ = "course_sessions"
    __table_args__ = (Index("ix_course_sessions_course_starts", "course_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    """scheduled, cancelled; a moved session keeps its row with new times and `moved` set."""
    moved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("course_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderChoice(Base):
    """Which reminders a participant wants (from /settings); no row means the defaults: both."""

    __tablename__ = "reminder_choices"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    evening_before: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    two_hours_before: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Reminder(Base):
    """One reminder to one participant for one appointment or course session, and whether it was sent.

    `status`: planned -> sent (its outbox row committed in the same transaction), missed (fell due while Lotse
    was down and the event had begun), dropped (event cancelled or moved, or the participant opted out), held
    (the participant blocked the bot). A row is never sent twice: the update to "sent" requires "planned".
    """

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("participant_id", "event_key", "kind", "event_starts_at"),
        Index("ix_reminders_status_due", "status", "due_at"),
        Index("ix_reminders_event_key", "event_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("course_sessions.id", ondelete="CASCADE"), index=True)
    event_key: Mapped[str] = mapped_column(String(32))
    """"a:<appointment id>" or "s:<session id>": one name for both kinds of event."""
    event_starts_at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    """evening_before or two_hours_before."""
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="planned")
    sent_at: Mapped[datetime | None] = mapped_column()
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(200))


class Attendance(Base):
    """A participant's answer to a reminder: coming or not (with an optional reason), per appointment or session."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("participant_id", "event_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    event_key: Mapped[str] = mapped_column(String(32), index=True)
    answer: Mapped[str] = mapped_column(String(8))
    """yes or no."""
    reason: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatrixSyncState(Base):
    """Where the Matrix transport's sync stands, per account: written in the transaction that stores that sync's
    events in the inbox, so a restart neither replays nor skips anything."""

    __tablename__ = "matrix_sync_state"

    account: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_batch: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------------------------------------------------------
# Privacy: what outlives a deletion (anonymous counts only) and the warning before retention deletes someone


class AnonymousCount(Base):
    """Counts for the network's statistics that outlive deleted people: no id, no name, only a month and a metric.

    Each metric is counted on its own (never "district x stage x month" together), so a count cannot point to one
    person.
    """

    __tablename__ = "anonymous_counts"
    __table_args__ = (UniqueConstraint("period", "metric"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    """YYYY-MM of the deletion."""
    metric: Mapped[str] = mapped_column(String(80))
    count: Mapped[int] = mapped_column(Integer, default=0)


class RetentionNotice(Base):
    """When a person inactive for long was told that their data will be deleted; writing again cancels it."""

    __tablename__ = "retention_notices"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    warned_at: Mapped[datetime] = mapped_column()
    delete_after: Mapped[datetime] = mapped_column()


# ---------------------------------------------------------------------------------------------------------------
# Partner companies: places, proposals and the follow-up around a placement (issue 18)


class Place(Base):
    """A place a partner company offers (Hospitation, Praktikum, EQ, Ausbildung, job): open, paused, filled, closed."""

    __tablename__ = "places"
    __table_args__ = (Index("ix_places_organisation_status", "organisation", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(String(64))
    """The company (an organisation of kind "company" in the network file)."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(24))
    """hospitation, praktikum, eq, ausbildung, job."""
    occupation: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[str] = mapped_column(String(10))
    """ISO day."""
    duration: Mapped[str] = mapped_column(String(16))
    """day, week, two_weeks, four_weeks, three_months, open."""
    hours: Mapped[str] = mapped_column(String(16))
    """morning, afternoon, full_day."""
    german_level: Mapped[str] = mapped_column(String(8))
    """a1 ... c1, or "any"."""
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    day_contact: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Proposal(Base):
    """A participant proposed for a place: offered -> wants / declined -> accepted / rejected (by the company)."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("place_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="offered")
    """offered, wants, declined (by the participant), accepted, rejected (by the company)."""
    reasons: Mapped[str | None] = mapped_column(Text)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    attended: Mapped[bool | None] = mapped_column(Boolean)
    """Recorded by the coordinator after the first day of an accepted place: came or not; None while not recorded."""


class PlacementFollowUp(Base):
    """A message planned around an accepted placement: the company's reminder and both sides' check-ins."""

    __tablename__ = "placement_follow_ups"
    __table_args__ = (Index("ix_placement_follow_ups_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    """company_reminder, participant_checkin (first afternoon), participant_after (last day), company_checkin."""
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="planned")
    """planned, sent, answered, dropped."""
    sent_at: Mapped[datetime | None] = mapped_column()
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# ---------------------------------------------------------------------------------------------------------------
# One person, one record: linked chats, duplicate suggestions and merges that can be undone (issue 15)


class LinkCode(Base):
    """A short single-use code that joins a second chat to this person; only its hash is stored."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class DuplicateSuggestion(Base):
    """Two records that may be the same person: open until a coordinator decides ("same" or "different")."""

    __tablename__ = "duplicate_suggestions"
    __table_args__ = (UniqueConstraint("first_id", "second_id"), Index("ix_duplicate_suggestions_status", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    """The older record (the smaller id)."""
    second_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    """phone or name."""
    score: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    """open, same (merged), different (remembered, never asked again)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column()


class PersonMerge(Base):
    """Two records joined into one: who decided, and a snapshot of both from before, so an undo restores them."""

    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    absorbed_id: Mapped[int] = mapped_column(Integer)
    """The record that was joined in (it no longer exists, unless the merge was undone)."""
    reason: Mapped[str] = mapped_column(String(16))
    """link (the person linked a chat), duplicate (a coordinator decided), import."""
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    undo_until: Mapped[datetime] = mapped_column()
    undone_at: Mapped[datetime | None] = mapped_column()
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Every row of both records before the merge, table by table (dropped after `undo_until`)."""
# Match-making days and mentoring for apprentices (issue 18, items 5 and 6)


class MatchingDay(Base):
    """A match-making day (Matching): companies and participants meet; afterwards each side names whom to see again."""

    __tablename__ = "matching_days"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_at: Mapped[datetime] = mapped_column()
    site: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64))
    companies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Keys of the organisations (kind company) taking part."""
    occupations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    """planned, reminded (the companies' reminder went out), held (over; waiting for who came), asked (the wishes
    were asked for after the day), cancelled."""
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MatchingInvite(Base):
    """A participant invited to a match-making day: invited -> yes / no; a yes has an appointment with reminders."""

    __tablename__ = "matching_invites"
    __table_args__ = (UniqueConstraint("day_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("matching_days.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="invited")
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    reasons: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column()
    attended: Mapped[bool | None] = mapped_column(Boolean)
    """Recorded by the coordinator after the day: came (True) or not (False); None while not recorded."""


class MatchingWish(Base):
    """After a match-making day: one side wants to meet the other again. Both sides' wishes make a proposal."""

    __tablename__ = "matching_wishes"
    __table_args__ = (UniqueConstraint("day_id", "participant_id", "organisation", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("matching_days.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(16))
    """participant or company."""
    by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mentorship(Base):
    """An apprentice (stage Ausbildung) with a mentor and a check-in every four weeks."""

    __tablename__ = "mentorships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), unique=True)
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    school: Mapped[str | None] = mapped_column(String(200))
    """The vocational school (BBS), when known."""
    status: Mapped[str] = mapped_column(String(16), default="active")
    next_due_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class MentoringCheckIn(Base):
    """One four-weekly question to an apprentice: sent -> answered (good, mixed, bad, with free text) or missed."""

    __tablename__ = "mentoring_check_ins"
    __table_args__ = (Index("ix_mentoring_check_ins_mentorship_sent", "mentorship_id", "sent_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mentorship_id: Mapped[int] = mapped_column(ForeignKey("mentorships.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    """sent, answered, missed."""
    answer: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    warned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A drop-out warning went to the mentor and the coordinators because of this check-in."""
    sent_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()


# ---------------------------------------------------------------------------------------------------------------
# Signed contracts and mentorships ended by hand (issue 18: what the 75 % goal counts)


class Contract(Base):
    """A signed contract (Ausbildung, a job subject to social insurance (SVB) or an EQ): the event the goal counts.

    An offer from a check-in is not a contract; this row is written only when a coordinator, or the company contact
    for their own match, records that the contract was signed."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """ausbildung, svb, eq."""
    organisation: Mapped[str | None] = mapped_column(String(64))
    """The partner company (an organisation of kind "company"); None: another employer."""
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"))
    """The place the match was for, when it was recorded from the match."""
    starts_on: Mapped[str] = mapped_column(String(10))
    """ISO day the contract starts."""
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MentorshipEnding(Base):
    """A mentorship ended by hand (finished, dropped out, changed company, other): who, when, why.

    Kept as rows of their own, so a later apprenticeship can open the mentorship again without losing a drop-out."""

    __tablename__ = "mentorship_endings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mentorship_id: Mapped[int] = mapped_column(ForeignKey("mentorships.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    mentor_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(16))
    """finished, dropped, changed, other."""
    note: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
