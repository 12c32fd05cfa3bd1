"""One extraction job, from its journal row to stored memories.

    transcript --scrub--> model (or the user's turns, in ``turns`` mode) --minimise--> facts
    facts --saved in the job row--> consolidated into the user's memories

Saving the facts before applying them is what makes a replay exact: a job retried after a crash
applies the same facts with the same operation ids, instead of asking the model again and
getting other words for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from gateway.config import ExtractionConfig
from gateway.errors import EmbeddingError, GatewayError, UpstreamError
from gateway.learning.consolidate import Consolidator, Place
from gateway.learning.extractor import Extractor, InvalidExtraction
from gateway.learning.journal import Job, Journal
from gateway.learning.minimise import (
    Fact,
    Minimised,
    decode_facts,
    encode_facts,
    minimise,
    turn_facts,
)
from gateway.learning.outcomes import decode_exchange
from gateway.learning.pacing import Pacer
from gateway.learning.personalize import ProfileLearner
from gateway.learning.reactions import Reactions
from gateway.learning.salience import salient_turns
from gateway.learning.transcript import Transcript, scrubbed
from gateway.observability import Metrics
from gateway.types import ExchangeRef

T = TypeVar("T")
#: Told which active memories a job's facts repeated, and the exchange they came from.
OnRestated = Callable[[str, ExchangeRef, Sequence[str]], None]


class Retry(Exception):
    """The job may succeed later: back off and try again. A retry that is not ``charged``
    (the memory store is down) does not use up one of the job's attempts."""

    def __init__(self, reason: str, *, charged: bool = True) -> None:
        super().__init__(reason)
        self.charged = charged


class GiveUp(Exception):
    """The job cannot succeed; ``outcome`` is the metrics label it is counted under."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class Pipeline:
    def __init__(
        self,
        journal: Journal,
        extractor: Extractor | None,
        settings: ExtractionConfig,
        consolidator: Consolidator,
        pacer: Pacer,
        metrics: Metrics,
        *,
        executor: Executor | None = None,
        on_restated: OnRestated | None = None,
        reactions: Reactions | None = None,
        profile: ProfileLearner | None = None,
    ) -> None:
        self._reactions = reactions
        self._journal = journal
        self._on_restated = on_restated
        self._profile = profile
        #: Where scrubbing and minimising run (None: asyncio's default threads).
        self._executor = executor
        self._pacer = pacer
        #: None in ``turns`` mode: the user's own words are stored, no model is asked.
        self._extractor = extractor
        self._settings = settings
        self._consolidator = consolidator
        self._metrics = metrics

    async def run(self, job: Job) -> str:
        """Do the job; returns its outcome (``done``, or ``dropped`` when the user's data was
        erased after it was queued). Raises ``Retry`` or ``GiveUp``."""
        facts = await self._facts(job)
        try:
            async with self._pacer.turn(), self._consolidator.lock(job.scope):
                erased = await self._journal.call(
                    self._journal.erased_after, job.scope, job.created_at
                ) or await self._consolidator.erased_since(job.scope, job.created_at)
                if erased:
                    return "dropped"
                # Style facts shape the profile; they are not memories of their own.
                memories = [fact for fact in facts if not fact.style]
                transcript = Transcript.decode(job.transcript)
                place = Place(transcript.session, transcript.turn)
                restated = await self._consolidator.apply(job.scope, job.id, memories, place)
                if self._profile is not None:
                    await self._profile.learn(job.scope, job.id, transcript, facts)
        except (GatewayError, EmbeddingError) as exc:
            raise Retry(type(exc).__name__, charged=False) from exc
        if restated and job.exchange is not None and self._on_restated is not None:
            self._on_restated(job.scope.tenant, decode_exchange(job.exchange), restated)
        return "done"

    async def _facts(self, job: Job) -> list[Fact]:
        if job.facts is not None:
            return decode_facts(job.facts)
        minimised = await self._extract(Transcript.decode(job.transcript))
        self._metrics.memories_written("blocked", minimised.blocked)
        await self._journal.call(self._journal.save_facts, job.id, encode_facts(minimised.facts))
        return minimised.facts

    async def _extract(self, transcript: Transcript) -> Minimised:
        if self._extractor is None:
            return await self._compute(turn_facts, self._salient(transcript.new), self._settings)
        clean = await self._compute(scrubbed, transcript)
        try:
            raw = await self._extractor.extract(clean)
        except InvalidExtraction as exc:
            raise GiveUp("invalid_json") from exc
        except UpstreamError as exc:
            if exc.retryable:
                raise Retry(type(exc).__name__) from exc
            raise GiveUp("failed") from exc
        return await self._compute(minimise, raw, self._settings)

    def _salient(self, turns: tuple[str, ...]) -> tuple[str, ...]:
        if self._reactions is not None:
            stripped = [self._reactions.without(turn) for turn in turns]
            for _ in range(stripped.count("")):
                self._metrics.turn_skipped("acknowledgement")
            turns = tuple(turn for turn in stripped if turn)
        salient = salient_turns(turns)
        for reason in salient.skipped:
            self._metrics.turn_skipped(reason)
        return salient.kept

    async def _compute(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
