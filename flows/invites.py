"""Staff join by invite: a single-use code with an expiry gives a handle its role, organisation and scope.

`lotse invite ...` (an admin) or `/invite` (a coordinator, for their own organisation) makes a code;
`/start CODE` (Telegram deep link, or typed; `!start CODE` on Matrix) redeems it. Codes avoid letters people
confuse (0/O, 1/I) and only their SHA-256 is stored. An expired, used or invented code gets one polite line and
changes nothing; every attempt is in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import may_grant
from bot.core.i18n import N_, STAFF_LOCALES
from bot.core.messages import Choice
from bot.core.network import Network
from flows.engine import END, YES, Flow, InputKind, Next, Step, Turn
from flows.linking import link_with_code, looks_like_link_code
from flows.registry import START_ARGUMENT, Command, register, start_flow
from storage.models import AuditEntry, Invite, Person, StaffScope

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
STAFF_ROLES = ("coordinator", "volunteer", "company")
INVITERS = frozenset({"coordinator", "admin"})
DEFAULT_DAYS = 7


class InviteError(Exception):
    """A wrong `lotse invite` argument, as one line for the operator."""


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    normalised = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def check_scope(network: Network, role: str, organisation: str | None, topics: list[str],
                districts: list[str]) -> None:
    if role not in STAFF_ROLES:
        raise InviteError(f"--role: choose {', '.join(STAFF_ROLES)}")
    if role in ("coordinator", "company") and not organisation:
        raise InviteError(f"--organisation: a {role} contact belongs to an organisation")
    if organisation and organisation not in network.organisations:
        raise InviteError(f"--organisation: unknown organisation {organisation!r} "
                          f"(known: {', '.join(network.organisations)})")
    companies = [key for key, found in network.organisations.items() if found.kind == "company"]
    if role == "company" and organisation not in companies:
        raise InviteError(f"--organisation: a company contact belongs to a company "
                          f"(known: {', '.join(companies) or 'none in the network file'})")
    for topic in topics:
        if topic != "all" and topic not in network.topics:
            raise InviteError(f"--topics: unknown topic {topic!r} (known: all, {', '.join(network.topics)})")
    for district in districts:
        if district != "all" and district not in network.districts:
            raise InviteError(f"--districts: unknown district {district!r} "
                              f"(known: all, {', '.join(network.districts)})")


def districts_outside(network: Network, organisation: str | None, districts: list[str]) -> list[str]:
    """The chosen districts the organisation has no responsibility for in the network file (an invite for them is
    most likely a slip). "all" means the organisation's own; an organisation without rules is not judged."""
    rules = [rule for rule in network.responsibilities if rule.organisation == organisation]
    if not rules or any("all" in rule.districts for rule in rules):
        return []
    covered = {district for rule in rules for district in rule.districts}
    return [district for district in districts if district != "all" and district not in covered]


class OutsideCoverage(InviteError):
    """The invite names districts its organisation does not cover; `--force` makes it anyway."""


async def create_invite(session: AsyncSession, network: Network, now: datetime, role: str,
                        organisation: str | None, topics: list[str], districts: list[str], locale: str = "de",
                        days: int = DEFAULT_DAYS, created_by: int | None = None,
                        force: bool = False) -> tuple[str, Invite]:
    check_scope(network, role, organisation, topics, districts)
    outside = districts_outside(network, organisation, districts)
    if outside and not force:
        covered = sorted({d for rule in network.responsibilities if rule.organisation == organisation
                          for d in rule.districts})
        raise OutsideCoverage(f"--districts: {organisation} does not cover {', '.join(outside)} "
                              f"(it covers: {', '.join(covered)}); nothing was created. "
                              f"Add --force to invite for them anyway")
    if locale not in STAFF_LOCALES:
        raise InviteError(f"--language: choose one of {', '.join(STAFF_LOCALES)}")
    if not 1 <= days <= 90:
        raise InviteError("--days: an invite is valid for 1 to 90 days")
    code = new_code()
    invite = Invite(code_hash=code_hash(code), role=role, organisation=organisation, topics=topics or ["all"],
                    districts=districts or ["all"], locale=locale, created_at=now, created_by_id=created_by,
                    expires_at=now + timedelta(days=days))
    session.add(invite)
    session.add(AuditEntry(actor_id=created_by, action="invite.created",
                           details={"role": role, "organisation": organisation,
                                    "expires": invite.expires_at.isoformat()}))
    return code, invite


def how_to_join(code: str, bot_username: str | None = None) -> list[str]:
    lines = [f"code: {code}"]
    if bot_username:
        lines.append(f"Telegram: https://t.me/{bot_username}?start={code}")
    lines.append(f"Telegram or console: /start {code}")
    lines.append(f"Matrix (Element): !start {code}")
    return lines


async def own_scope(session: AsyncSession, person_id: int) -> tuple[list[str] | None, list[str] | None]:
    """A staff member's own topics and districts from their invite (None: no narrower scope)."""
    scope = await session.get(StaffScope, person_id)
    if scope is None:
        return None, None
    return [str(topic) for topic in scope.topics], [str(district) for district in scope.districts]


async def maker_stands_behind(session: AsyncSession, invite: Invite) -> bool:
    """The invite gives no more than its maker may give now (`lotse invite`, by the operator, has no maker): a code
    made before a coordinator's scope was narrowed, or by someone who is no coordinator any more, does not work."""
    if invite.created_by_id is None:
        return True
    maker = await session.get(Person, invite.created_by_id)
    if maker is None:
        return False
    topics, districts = await own_scope(session, maker.id)
    return may_grant(maker, topics, districts, invite.role, invite.organisation, list(invite.topics),
                     list(invite.districts))


async def redeem(turn: Turn, code: str) -> None:
    """`/start CODE`: the invite's role, organisation and scope for this person, once (a link code links chats).

    The role goes to the person this chat belongs to: someone already known (a linked chat, a participant who
    becomes a volunteer) keeps one record with their history, and gets the role on it."""
    if looks_like_link_code(code):
        await link_with_code(turn, code)
        return
    invite = (await turn.session.scalars(select(Invite).where(Invite.code_hash == code_hash(code)))).first()
    valid = invite is not None and invite.used_at is None and invite.expires_at > turn.now
    within = invite is None or await maker_stands_behind(turn.session, invite)
    turn.session.add(AuditEntry(actor_id=turn.person.id, action="invite.redeemed" if valid and within
                                else "invite.refused",
                                details={"invite": invite.id if invite else None,
                                         **({} if within else {"reason": "beyond_maker_scope"})}))
    valid = valid and within
    if invite is None or not valid:
        turn.say(N_("This invitation code does not work. It may be expired or already used. "
                    "Please ask the person who invited you for a new one."))
        start_flow(turn, "menu")
        return
    person = turn.person
    person.role = invite.role
    person.organisation = invite.organisation
    if person.locale not in STAFF_LOCALES:
        person.locale = invite.locale
        turn.use_locale(invite.locale)
    scope = await turn.session.get(StaffScope, person.id)
    if scope is None:
        scope = StaffScope(person_id=person.id)
        turn.session.add(scope)
    scope.topics, scope.districts = list(invite.topics), list(invite.districts)
    invite.used_at, invite.used_by_id = turn.now, person.id
    if turn.incoming.display_name and not person.display_name:
        person.display_name = turn.incoming.display_name[:200]
    organisation = turn.network.organisations[invite.organisation].name if invite.organisation else "–"
    if invite.role == "company":
        turn.say(N_("Welcome! You are now the contact for {organisation}. You can offer places (Praktikum, "
                    "Ausbildung and more) with /place and see them with /places."), organisation=organisation)
    elif invite.role == "coordinator":
        turn.say(N_("Welcome! You are now a coordinator for {organisation}. Write /help to see what you can do."),
                 organisation=organisation)
    else:
        turn.say(N_("Welcome! You are now a volunteer in the network. Thank you for your help."))
    start_flow(turn, "menu")


# ---------------------------------------------------------------------------------------------------------------
# /invite in the chat


def role_options(turn: Turn) -> list[Choice]:
    return [Choice("volunteer", turn.t(N_("Volunteer"))), Choice("coordinator", turn.t(N_("Coordinator"))),
            Choice("company", turn.t(N_("Contact at a partner company")))]


def company_options(turn: Turn) -> list[Choice]:
    return [Choice(key, found.name) for key, found in turn.network.organisations.items() if found.kind == "company"]


SCOPE_KEY = "_own_scope"
"""The inviter's own topics and districts, read once (options are built without a database)."""


def _own(turn: Turn, which: str) -> list[str] | None:
    own: dict[str, list[str] | None] = turn.data.get(SCOPE_KEY) or {}
    return own.get(which)


def _narrow(turn: Turn, which: str) -> list[str] | None:
    """The inviter's own keys when narrower than "all" (what an invite may give at most); None: anything."""
    own = _own(turn, which)
    return None if own is None or "all" in own else own


async def _role_chosen(turn: Turn, value: Any) -> Next:
    topics, districts = await own_scope(turn.session, turn.person.id)
    turn.data[SCOPE_KEY] = {"topics": topics, "districts": districts}
    if value != "company":
        return "districts"
    if not company_options(turn):
        turn.say(N_("The network file lists no partner company yet. Please ask the administrator."))
        return END
    return "company"


async def _company_invite(turn: Turn, value: Any) -> Next:
    code, invite = await create_invite(turn.session, turn.network, turn.now, "company", str(value), ["all"],
                                       ["all"], locale=turn.t.locale if turn.t.locale in STAFF_LOCALES else "de",
                                       created_by=turn.person.id)
    turn.say(N_("Here is the invitation code: {code}\nIt works once, until {date}. The new person sends "
                "/start {code} to this bot (on Matrix: !start {code})."), code=code,
             date=turn.t.datetime(invite.expires_at))
    return END


def district_options(turn: Turn) -> list[Choice]:
    """All districts, or (for a coordinator invited for some) only their own: an invite gives at most one's own."""
    own = _narrow(turn, "districts")
    if own is not None:
        return [Choice(k, d.name[turn.t.locale]) for k, d in turn.network.districts.items() if k in own]
    everywhere = Choice("all", turn.t(N_("All districts")))
    return [everywhere, *(Choice(k, d.name[turn.t.locale]) for k, d in turn.network.districts.items())]


def topic_options(turn: Turn) -> list[Choice]:
    own = _narrow(turn, "topics")
    if own is not None:
        return [Choice(k, topic.name[turn.t.locale]) for k, topic in turn.network.topics.items() if k in own]
    every = Choice("all", turn.t(N_("All topics")))
    return [every, *(Choice(k, topic.name[turn.t.locale]) for k, topic in turn.network.topics.items())]


def _outside(turn: Turn) -> list[str]:
    return districts_outside(turn.network, turn.person.organisation, list(turn.data.get("districts") or []))


async def _districts_chosen(turn: Turn, value: Any) -> Next:
    return "outside" if _outside(turn) else "topics"


def outside_text(turn: Turn) -> str:
    organisation = turn.network.organisations.get(turn.person.organisation or "")
    names = ", ".join(turn.network.districts[key].name[turn.t.locale] for key in _outside(turn))
    return turn.t(N_("{organisation} is not responsible for {districts} in the network. "
                     "Invite for these districts anyway?"),
                  organisation=organisation.name if organisation else "–", districts=names)


async def _outside_answered(turn: Turn, value: Any) -> Next:
    return "topics" if value == YES else "districts"


async def _invite_made(turn: Turn, value: Any) -> Next:
    organisation = turn.person.organisation
    if turn.person.role == "coordinator" and not organisation:
        turn.say(N_("You need an organisation to invite others. Please ask the administrator."))
        return END
    topics = ["all"] if "all" in value else list(value)
    districts = turn.data["districts"]
    districts = ["all"] if "all" in districts else list(districts)
    if not may_grant(turn.person, _own(turn, "topics"), _own(turn, "districts"), turn.data["role"], organisation,
                     topics, districts):  # the options offer only one's own; a stale button must not give more
        turn.say(N_("This is not available for you."))
        return END
    code, invite = await create_invite(turn.session, turn.network, turn.now, turn.data["role"], organisation,
                                       topics, districts, locale=turn.t.locale if turn.t.locale in STAFF_LOCALES
                                       else "de", created_by=turn.person.id, force=True)  # asked at "outside"
    turn.say(N_("Here is the invitation code: {code}\nIt works once, until {date}. The new person sends "
                "/start {code} to this bot (on Matrix: !start {code})."), code=code,
             date=turn.t.datetime(invite.expires_at))
    return END


INVITE = Flow(
    name="invite",
    roles=INVITERS,
    steps=(
        Step(name="role", prompt=N_("Whom do you want to invite?"), kind=InputKind.CHOICE, options=role_options,
             on_answer=_role_chosen, next="districts", branches=(("company", "company"),),
             describe="volunteer or coordinator of one's own organisation, or a company contact"),
        Step(name="company", prompt=N_("Which company?"), kind=InputKind.CHOICE, options=company_options,
             on_answer=_company_invite, next=END, describe="a partner company of the network; then the code"),
        Step(name="districts", prompt=N_("For which districts?"), kind=InputKind.MULTI, options=district_options,
             on_answer=_districts_chosen, describe="districts or all",
             branches=(("outside the organisation's districts", "outside"), ("otherwise", "topics"))),
        Step(name="outside", prompt=N_("Invite for these districts anyway?"), kind=InputKind.YES_NO,
             text=outside_text, on_answer=_outside_answered, describe="asked once; no chooses the districts again",
             branches=(("yes", "topics"), ("no", "districts"))),
        Step(name="topics", prompt=N_("For which topics?"), kind=InputKind.MULTI, options=topic_options,
             on_answer=_invite_made, next=END, describe="topics or all; then the code"),
    ),
)

register(INVITE, Command("invite", N_("Invite a coordinator, volunteer or company contact"), flow="invite",
                         roles=INVITERS))
START_ARGUMENT.append(redeem)
