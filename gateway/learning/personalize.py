"""Learning the user's profile from each exchange, beside their memories.

Every learning mode reads the user's new turns (and the answer before them) for offline signals
(``gateway.profile.inference``); in ``facts`` mode the extraction model's style facts are read
the same way and feed the same fields, instead of being stored as memories. The observations
then go through the evidence gate (``gateway.profile.evidence``), keyed by the job id: a
replayed job counts once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.config import PersonalizationConfig
from gateway.learning.minimise import Fact
from gateway.learning.transcript import Transcript
from gateway.observability import Metrics
from gateway.profile.evidence import learn
from gateway.profile.inference import observe, style_signals
from gateway.profile.model import Profile
from gateway.profile.store import ProfileStore
from gateway.store.records import Scope


class ProfileLearner:
    def __init__(
        self, profiles: ProfileStore, settings: PersonalizationConfig, metrics: Metrics
    ) -> None:
        self._profiles = profiles
        self._settings = settings
        self._metrics = metrics

    async def learn(
        self, scope: Scope, job_id: str, transcript: Transcript, facts: Sequence[Fact]
    ) -> None:
        """Apply one exchange's signals to the user's profile."""
        if not self._settings.profile:
            return
        observed = observe(transcript.new, transcript.earlier)
        observed.update(style_signals(f.content for f in facts if f.style))
        if not observed:
            return
        changed: tuple[str, ...] = ()

        def apply(profile: Profile) -> Profile:
            nonlocal changed
            learned = learn(
                profile, observed, job_id, time.time(), self._settings.evidence_required
            )
            changed = learned.changed
            return learned.profile

        await self._profiles.change(scope, apply)
        for name in changed:
            self._metrics.profile_field_set(name, "inferred")
