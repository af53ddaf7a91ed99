"""Who may start which flow: the one place roles are checked, for menus and commands alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.engine import Flow
    from storage.models import Person

CONSENT_ROLES = frozenset({"participant", "volunteer"})
PRIVACY_VERSION = "2026-11"
"""Bump when the privacy notice changes materially: everyone who must consent is asked again."""


def needs_consent(person: Person) -> bool:
    return person.role in CONSENT_ROLES and person.privacy_version != PRIVACY_VERSION


def may_start(person: Person, flow: Flow) -> bool:
    if person.role not in flow.roles:
        return False
    return not (flow.needs_consent and needs_consent(person))
