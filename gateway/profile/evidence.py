"""When inference may change a field: only after enough separate exchanges agree.

An exchange contributes at most one observation per field, under its own id, so a replayed job
or a long message counts once. Per field:

- the field is ``set``: the observation is ignored, whatever it says;
- it repeats the field's value: the value gains evidence and its ``updated_at`` (what keeps it
  from fading) moves to now;
- it repeats the field's candidate: the candidate gains an observation, and takes the field
  once it has ``required`` of them;
- anything else becomes the new candidate with one observation: a contrary observation starts
  the count again.

One request for brevity from a user in a hurry therefore changes nothing; three, from three
exchanges, in a row, do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gateway.profile.model import MAX_OBSERVATIONS, Candidate, FieldState, Profile


@dataclass(frozen=True, slots=True)
class Learned:
    profile: Profile
    #: The fields whose value changed.
    changed: tuple[str, ...]


def learn(
    profile: Profile,
    observed: Mapping[str, str],
    exchange: str,
    now: float,
    required: int,
) -> Learned:
    """``profile`` after one exchange's observations (field -> value)."""
    changed: list[str] = []
    for name, value in observed.items():
        profile, did_change = _observe(profile, name, value, exchange, now, required)
        if did_change:
            changed.append(name)
    return Learned(profile, tuple(changed))


def _observe(
    profile: Profile, name: str, value: str, exchange: str, now: float, required: int
) -> tuple[Profile, bool]:
    state = profile.fields.get(name)
    if state is not None and state.source == "set":
        return profile, False
    if state is not None and exchange in state.observations:
        return profile, False  # a replay of an exchange already counted
    if state is not None and state.value == value:
        confirmed = replace(
            state,
            evidence=state.evidence + 1,
            updated_at=now,
            observations=_kept(state.observations, exchange),
        )
        return profile.with_field(name, confirmed), False
    candidate = profile.candidates.get(name)
    if candidate is not None and exchange in candidate.observations:
        return profile, False
    if candidate is not None and candidate.value == value:
        seen = _kept(candidate.observations, exchange)
    else:
        seen = (exchange,)
    if len(seen) >= required:
        won = FieldState(value, "inferred", len(seen), now, seen)
        return profile.with_field(name, won), True
    candidates = {**profile.candidates, name: Candidate(value, seen)}
    return replace(profile, candidates=candidates), False


def _kept(observations: tuple[str, ...], exchange: str) -> tuple[str, ...]:
    return (*observations, exchange)[-MAX_OBSERVATIONS:]
