"""Who may start which flow: the one place roles are checked, for menus and commands alike."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.i18n import LOCALES_DIR

if TYPE_CHECKING:
    from bot.network import Network
    from flows.engine import Flow
    from storage.models import Person

CONSENT_ROLES = frozenset({"participant", "volunteer"})
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
    if role == "volunteer":
        return VOLUNTEER_PRIVACY_VERSION
    return current_privacy_version()


def current_privacy_version() -> str:
    """The participants' notice as shown here: turning machine translation on adds a sentence, so a new version."""
    from bot.translation import active

    service = active()
    return PRIVACY_VERSION if service is None else f"{PRIVACY_VERSION}+{service.engine.key}"


def needs_consent(person: Person) -> bool:
    return person.role in CONSENT_ROLES and person.privacy_version != privacy_version_for(person.role)


def may_start(person: Person, flow: Flow) -> bool:
    if person.role not in flow.roles:
        return False
    return not (flow.needs_consent and needs_consent(person))


def covered_districts(network: Network, person: Person) -> frozenset[str] | None:
    """Districts a staff member's organisation works in; None means all (admins, or a rule for "all").

    Only for choosing among districts (options, counts): whom a staff member may see is decided by
    `bot.routing.visible_participants` / `is_responsible`, which also weigh topics, scope and handled cases."""
    if person.role == "admin":
        return None
    if person.role != "coordinator" or not person.organisation:
        return frozenset()
    districts: set[str] = set()
    for rule in network.responsibilities:
        if rule.organisation == person.organisation:
            if "all" in rule.districts:
                return None
            districts.update(rule.districts)
    return frozenset(districts)


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


COMPANY = "company"
"""A partner company's contact: sees only their own organisation's places and the candidates proposed to them."""
PLACE_STAFF = frozenset({"coordinator", "admin"})


def may_see_place(network: Network, person: Person, organisation: str, district: str | None) -> bool:
    """A company contact: their own company's places only; staff: places in the districts they cover."""
    if person.role == COMPANY:
        return person.organisation is not None and person.organisation == organisation
    if person.role not in PLACE_STAFF:
        return False
    covered = covered_districts(network, person)
    return covered is None or (district is not None and district in covered)


def company_sees_name(person: Person, shares: bool) -> bool:
    """Name and phone go to a company only with the participant's partner-companies consent."""
    return person.role != COMPANY or shares


GROUP_ROOM_ROLES = frozenset({"coordinator", "admin"})


def may_speak_in_group(person: Person) -> bool:
    """Coordinators' group rooms are for staff: anyone else writing there is not answered there (their own
    conversation happens in their direct chat, never in front of the coordinators)."""
    return person.role in GROUP_ROOM_ROLES
