"""The profile's directives: the configured wording, in field order, the organization first."""

from __future__ import annotations

from gateway.config import PersonalizationConfig
from gateway.profile.model import FieldState, Profile, Summary
from gateway.profile.render import Organization, directives

SETTINGS = PersonalizationConfig()


def profile(**values: str | tuple[str, ...]) -> Profile:
    result = Profile()
    for name, value in values.items():
        result = result.with_field(name, FieldState(value, "set", 1, 0.0))
    return result


def test_an_empty_profile_says_nothing() -> None:
    assert directives(Profile(), Organization(tone="formal", has_compliance=True), SETTINGS) == []


def test_each_field_has_its_sentence_and_the_history_rule_follows() -> None:
    lines = directives(
        profile(brevity="concise", expertise="technical", stack=("go", "k8s")),
        Organization(),
        SETTINGS,
    )
    assert lines == [
        SETTINGS.template("expertise.technical"),
        SETTINGS.template("brevity.concise"),
        "The user works with: go, k8s.",
        SETTINGS.template("history"),
    ]


def test_the_organizations_tone_replaces_the_users_and_says_it_wins() -> None:
    lines = directives(profile(tone="casual"), Organization(tone="Formal"), SETTINGS)
    assert SETTINGS.template("tone.formal") in lines
    assert SETTINGS.template("tone.casual") not in lines
    assert lines[-1] == SETTINGS.template("precedence")
    free = directives(profile(tone="casual"), Organization(tone="warm and concise"), SETTINGS)
    assert "Use the organization's tone: warm and concise." in free


def test_the_wording_is_the_operators_and_the_summary_is_included() -> None:
    settings = PersonalizationConfig(templates={"format.bullets": "Bullets, always."})
    with_summary = Profile(summary=Summary("Ships pallets to Porto.", 500, 0.0))
    assert directives(profile(format="bullets"), Organization(), settings)[0] == "Bullets, always."
    assert directives(with_summary, Organization(), settings)[0] == (
        "What the user's history adds up to: Ships pallets to Porto."
    )


def test_the_metric_labels_know_every_field() -> None:
    from gateway.observability.labels import PROFILE_FIELDS
    from gateway.profile.model import FIELDS

    assert set(FIELDS) == PROFILE_FIELDS
