"""The evidence gate: a field changes only after enough separate exchanges agree."""

from __future__ import annotations

from gateway.profile.evidence import learn
from gateway.profile.model import FieldState, Profile

NOW = 1_800_000_000.0


def run(profile: Profile, *observed: dict[str, str], required: int = 3) -> Profile:
    for number, seen in enumerate(observed):
        profile = learn(profile, seen, f"job-{number}", NOW + number, required).profile
    return profile


def test_three_agreeing_exchanges_set_a_field_and_two_do_not() -> None:
    concise = {"brevity": "concise"}
    assert "brevity" not in run(Profile(), concise, concise).fields
    state = run(Profile(), concise, concise, concise).fields["brevity"]
    assert (state.value, state.source, state.evidence) == ("concise", "inferred", 3)
    assert state.observations == ("job-0", "job-1", "job-2")


def test_a_contrary_observation_starts_the_count_again() -> None:
    concise, thorough = {"brevity": "concise"}, {"brevity": "thorough"}
    profile = run(Profile(), concise, concise, thorough, concise, concise)
    assert "brevity" not in profile.fields
    assert run(profile, {"brevity": "concise"}).fields["brevity"].value == "concise"


def test_a_one_off_request_does_not_flip_an_established_field() -> None:
    concise, thorough = {"brevity": "concise"}, {"brevity": "thorough"}
    profile = run(Profile(), thorough, thorough, thorough, concise, thorough)
    assert profile.fields["brevity"].value == "thorough"
    assert profile.fields["brevity"].evidence == 4


def test_a_replayed_exchange_counts_once() -> None:
    profile = Profile()
    for _ in range(3):
        profile = learn(profile, {"tone": "casual"}, "same-job", NOW, 3).profile
    assert "tone" not in profile.fields
    assert profile.candidates["tone"].observations == ("same-job",)


def test_a_set_field_is_never_overwritten_by_inference() -> None:
    profile = Profile().with_field("tone", FieldState("formal", "set", 1, NOW))
    profile = run(profile, *[{"tone": "casual"}] * 5)
    assert profile.fields["tone"] == FieldState("formal", "set", 1, NOW)


def test_an_unconfirmed_inferred_field_fades_and_a_set_one_does_not() -> None:
    profile = run(Profile(), *[{"brevity": "concise"}] * 3)
    profile = profile.with_field("tone", FieldState("formal", "set", 1, NOW - 10**8))
    day = 86_400
    assert "brevity" in profile.fresh(NOW + 10 * day, 30 * day).fields
    faded = profile.fresh(NOW + 40 * day, 30 * day)
    assert "brevity" not in faded.fields
    assert faded.fields["tone"].value == "formal"
