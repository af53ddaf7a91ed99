"""Who may do what: the one place roles are checked, for menus, commands, buttons and queries alike.

`may(person, Action.X, resource)` answers "may this person do this (to that)"; `holders(Action.X)` gives the roles
that may, for a query's filter. Whether a staff member is responsible for one participant depends on the network
file and the database, so it is `bot.services.routing.is_responsible` / `visible_participants` (which start from
`may`)."""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, cast

from bot.core.i18n import LOCALES_DIR

if TYPE_CHECKING:
    from bot.core.network import Network
    from storage.models import Person



class Role(StrEnum):
    """What a person is in the network; the values are what `persons.role` stores (a CHECK keeps it so)."""

    PARTICIPANT = "participant"
    VOLUNTEER = "volunteer"
    COORDINATOR = "coordinator"
    ADMIN = "admin"
    COMPANY = "company"


class Action(StrEnum):
    """What a person may ask to do; `may` decides, `GRANTS` lists who may without looking at a resource."""

    USE = "use"
    """Start a flow, command or menu entry (the resource: its declaration, whose `roles` say who may)."""
    WORK_AS_STAFF = "work_as_staff"
    """Staff commands' buttons and lists, answering a question by a reply: coordinators and admins."""
    SEE_ALL = "see_all"
    """Every participant, question, appointment, course and broadcast, not only one's own: admins."""
    BE_RESPONSIBLE = "be_responsible"
    """Be responsible for participants by the network file's rules and one's invite scope: coordinators."""
    RUN_COURSE = "run_course"
    """Run this course (the resource): admins, and the coordinator who runs it."""
    MANAGE_APPOINTMENT = "manage_appointment"
    """Move or cancel this appointment (the resource) without asking responsibility: admins and who booked it."""
    ADD_TO_QUESTION = "add_to_question"
    """What one writes at the menu joins one's open question: participants."""
    GIVE_CONSENT = "give_consent"
    """Consent to the privacy notice, and the rights that come with it (a copy, deletion): participants, volunteers."""
    SPEAK_IN_GROUP = "speak_in_group"
    """Be answered in a coordinators' group room: coordinators and admins."""
    WORK_WITH_PLACES = "work_with_places"
    """Places in the districts one covers, proposing candidates: coordinators and admins."""
    ACT_FOR_COMPANY = "act_for_company"
    """Act for one's own company (only its places; accepting or refusing the candidates proposed to it): company
    contacts."""
    ACCOMPANY = "accompany"
    """Be paired with a participant to accompany them: volunteers."""


STAFF = frozenset({Role.COORDINATOR, Role.ADMIN})
"""Coordinators and admins: who may use the staff commands."""

GRANTS: dict[Action, frozenset[Role]] = {
    Action.WORK_AS_STAFF: STAFF,
    Action.SEE_ALL: frozenset({Role.ADMIN}),
    Action.BE_RESPONSIBLE: frozenset({Role.COORDINATOR}),
    Action.ADD_TO_QUESTION: frozenset({Role.PARTICIPANT}),
    Action.GIVE_CONSENT: frozenset({Role.PARTICIPANT, Role.VOLUNTEER}),
    Action.SPEAK_IN_GROUP: STAFF,
    Action.WORK_WITH_PLACES: STAFF,
    Action.ACT_FOR_COMPANY: frozenset({Role.COMPANY}),
    Action.ACCOMPANY: frozenset({Role.VOLUNTEER}),
}
"""The actions whose answer depends on the role alone."""


ALL_ROLES: frozenset[str] = frozenset(Role)
"""What a flow, command or menu entry allows when it says nothing else."""


class Declared(Protocol):
    """A flow, command or menu entry: it declares which roles may use it."""

    @property
    def roles(self) -> frozenset[str]: ...


class Startable(Declared, Protocol):
    """A flow: its roles, and whether it needs the current consent first."""

    @property
    def needs_consent(self) -> bool: ...


class RunBy(Protocol):
    @property
    def run_by_id(self) -> int | None: ...


class BookedBy(Protocol):
    @property
    def booked_by_id(self) -> int | None: ...


def holders(action: Action) -> list[Role]:
    """The roles that may do `action`, in a fixed order, for a query: `Person.role.in_(holders(...))`."""
    return sorted(GRANTS[action])


def may(person: Person, action: Action, resource: object = None) -> bool:
    """May this person do this (to that)? The one answer menus, commands, buttons and queries ask."""
    if action is Action.USE:
        return person.role in cast(Declared, resource).roles
    if action is Action.RUN_COURSE:
        runs = cast(RunBy, resource).run_by_id == person.id
        return may(person, Action.SEE_ALL) or (may(person, Action.BE_RESPONSIBLE) and runs)
    if action is Action.MANAGE_APPOINTMENT:
        return may(person, Action.SEE_ALL) or cast(BookedBy, resource).booked_by_id == person.id
    return person.role in GRANTS[action]


CONSENT_ROLES = GRANTS[Action.GIVE_CONSENT]
PRIVACY_NOTICE_FILE = LOCALES_DIR / "privacy_notice.toml"


def privacy_notice_version(audience: str = "participants") -> str:
    """The notice's version lives with the catalogs (`locales/privacy_notice.toml`), next to its translations."""
    declared = tomllib.loads(PRIVACY_NOTICE_FILE.read_text(encoding="utf-8"))
    return str(declared["version"] if audience == "participants" else declared[audience]["version"])


PRIVACY_VERSION = privacy_notice_version()
"""A new version asks everyone who must consent again, before anything new is stored."""
VOLUNTEER_PRIVACY_VERSION = privacy_notice_version("volunteers")
"""Volunteers read their own notice (what is stored about them and the participants they accompany)."""


def privacy_version_for(role: str) -> str:
    if role == Role.VOLUNTEER:
        return VOLUNTEER_PRIVACY_VERSION
    return current_privacy_version()


def current_privacy_version() -> str:
    """The participants' notice as shown here: turning machine translation on adds a sentence, so a new version."""
    from bot.core.translation import active

    service = active()
    return PRIVACY_VERSION if service is None else f"{PRIVACY_VERSION}+{service.engine.key}"


def needs_consent(person: Person) -> bool:
    return may(person, Action.GIVE_CONSENT) and person.privacy_version != privacy_version_for(person.role)


def may_start(person: Person, flow: Startable) -> bool:
    if not may(person, Action.USE, flow):
        return False
    return not (flow.needs_consent and needs_consent(person))


def covered_districts(network: Network, person: Person,
                      scope_districts: Collection[str] | None = None) -> frozenset[str] | None:
    """Districts a staff member works in: their organisation's, narrowed by their own scope from their invite
    (`scope_districts`, the `StaffScope` row's districts; None or "all": the whole organisation's). None means all
    (admins, or a rule for "all" and no narrower scope).

    Only for choosing among districts (options, counts): whom a staff member may see is decided by
    `bot.services.routing.visible_participants` / `is_responsible`, which also weigh topics, scope and handled cases."""
    if may(person, Action.SEE_ALL):
        return None
    if not may(person, Action.BE_RESPONSIBLE) or not person.organisation:
        return frozenset()
    districts: set[str] = set()
    everywhere = False
    for rule in network.responsibilities:
        if rule.organisation == person.organisation:
            everywhere = everywhere or "all" in rule.districts
            districts.update(rule.districts)
    own = None if scope_districts is None or "all" in scope_districts else frozenset(scope_districts)
    if everywhere:
        return own
    covered = frozenset(districts)
    return covered if own is None else covered & own


def scope_covers(topics: Collection[str], districts: Collection[str], topic: str | None,
                 district: str | None) -> bool:
    """A staff member's own scope (from their invite, "all" for every one) covers this topic in this district.

    A question or participant without a topic (general, "Talk to a person", no goals yet) is for whoever covers all
    topics: a coordinator invited for the language course only is not shown everyone's general questions."""
    topic_ok = "all" in topics or (topic is not None and topic in topics)
    district_ok = "all" in districts or district is None or district in districts
    return topic_ok and district_ok


def within_own(own: Collection[str] | None, granted: Collection[str]) -> bool:
    """Granted topics or districts lie within one's own (None or "all": anything, "all" included)."""
    if own is None or "all" in own:
        return True
    return bool(granted) and "all" not in granted and set(granted) <= set(own)


def may_grant(person: Person, own_topics: Collection[str] | None, own_districts: Collection[str] | None,
              role: str, organisation: str | None, topics: Collection[str], districts: Collection[str]) -> bool:
    """May this person make (or still stand behind) an invite giving this role, organisation and scope?

    Admins give anything; a coordinator gives at most their own: their organisation (a company contact belongs to
    the company) and the topics and districts of their own scope (`own_*`, from their `StaffScope`; None or "all":
    network- or organisation-wide, so "all" too). Asked when the code is made and again when it is redeemed."""
    if may(person, Action.SEE_ALL):
        return True
    if not may(person, Action.BE_RESPONSIBLE) or not person.organisation:
        return False
    if role == Role.COMPANY:  # a company contact sees their own company's places, whatever the districts
        return True
    if organisation != person.organisation:
        return False
    return within_own(own_topics, topics) and within_own(own_districts, districts)


def responsible_organisations(network: Network, district: str | None, topics: Iterable[str]) -> set[str]:
    """Organisations with a rule for this district (or all) and one of these topics (or all)."""
    wanted = set(topics)
    found: set[str] = set()
    for rule in network.responsibilities:
        district_fits = "all" in rule.districts or (district is not None and district in rule.districts)
        topic_fits = "all" in rule.topics or bool(wanted & set(rule.topics))
        if district_fits and topic_fits:
            found.add(rule.organisation)
    return found


COMPANY = Role.COMPANY
"""A partner company's contact: sees only their own organisation's places and the candidates proposed to them."""
PLACE_STAFF = GRANTS[Action.WORK_WITH_PLACES]


def may_see_place(network: Network, person: Person, organisation: str, district: str | None,
                  scope_districts: Collection[str] | None = None) -> bool:
    """A company contact: their own company's places only; staff: places in the districts they cover, their own
    invite scope (`scope_districts`, the `StaffScope` row's districts) included. Seeing a place is changing it."""
    if may(person, Action.ACT_FOR_COMPANY):
        return person.organisation is not None and person.organisation == organisation
    if not may(person, Action.WORK_WITH_PLACES):
        return False
    covered = covered_districts(network, person, scope_districts)
    return covered is None or (district is not None and district in covered)


def company_sees_name(person: Person, shares: bool) -> bool:
    """Name and phone go to a company only with the participant's partner-companies consent."""
    return not may(person, Action.ACT_FOR_COMPANY) or shares


GROUP_ROOM_ROLES = GRANTS[Action.SPEAK_IN_GROUP]


def may_speak_in_group(person: Person) -> bool:
    """Coordinators' group rooms are for staff: anyone else writing there is not answered there (their own
    conversation happens in their direct chat, never in front of the coordinators)."""
    return may(person, Action.SPEAK_IN_GROUP)
