"""The profile as plain directive sentences for the ``## profile`` section of the memory block.

Each field's value picks its sentence from ``personalization.templates`` (``<field>.<value>``,
or ``<field>`` with ``{value}`` for free text). The organization comes first: when the tenant
configures a tone, that tone's sentence replaces the user's own, and when it has compliance
rules the section says they take precedence.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import PersonalizationConfig
from gateway.profile.model import CHOICES, FIELDS, Profile


@dataclass(frozen=True, slots=True)
class Organization:
    """What of the tenant's own context outranks a user's preferences."""

    tone: str | None = None
    has_compliance: bool = False


def directives(
    profile: Profile, organization: Organization, settings: PersonalizationConfig
) -> list[str]:
    """The section's sentences in order; empty when there is nothing to say about the user."""
    lines: list[str] = []
    for name in FIELDS:
        state = profile.fields.get(name)
        if state is None:
            continue
        if name == "tone" and organization.tone:
            # The user's own tone gives way to the organization's, said in the same words.
            lines.append(_organization_tone(organization.tone, settings))
        else:
            lines.append(_sentence(name, state.value, settings))
    if profile.summary is not None:
        lines.append(settings.template("summary").replace("{value}", profile.summary.text))
    if not lines:
        return []
    lines.append(settings.template("history"))
    if organization.has_compliance or organization.tone:
        lines.append(settings.template("precedence"))
    return lines


def _sentence(name: str, value: str | tuple[str, ...], settings: PersonalizationConfig) -> str:
    if name in CHOICES:
        assert isinstance(value, str)
        return settings.template(f"{name}.{value}")
    text = ", ".join(value) if isinstance(value, tuple) else value
    return settings.template(name).replace("{value}", text)


def _organization_tone(tone: str, settings: PersonalizationConfig) -> str:
    known = tone.strip().lower()
    if known in CHOICES["tone"]:
        return settings.template(f"tone.{known}")
    return f"Use the organization's tone: {tone}."
