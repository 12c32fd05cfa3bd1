"""How a memory's score is made: dense similarity fused with BM25, weighed by recency.

    dense  = cosine of query and memory, less what all the memories share  (``.basis``)
    fused  = dense + lexical_weight * bm25 / max(best bm25, sum of the query terms' idf)
             (``lexical`` mode: no dense term; ties broken by recency)
    linked = fused + thread_weight * max(0, fused(the memory before it in its thread))
    weight = floor + (1 - floor) * 0.5 ** (days since last seen / half_life_days)
    score  = linked * weight + evidence_weight * log2(evidence)

Dense alone blurs names, numbers and dates; BM25 alone misses paraphrase. A thread is the
memories of one session (learned from one conversation, or imported together with one
created_at; see ``gateway.store.index``): an answer borrows from the question it answered.
Normalising BM25 keeps the two on one scale whatever the query length; by the query's own
ceiling (a document holding each of its known terms once) rather than by the best match, so a
match on a word most memories share (the user's name) stays a sliver instead of counting like a
match on the whole question. Decay
uses the time a memory was last *seen* (created, or reinforced by a repeat observation), so facts
the user keeps confirming stay strong; the floor keeps an old but exact match from vanishing.

The weights are read from ``memory.retrieval`` (``RetrievalConfig``) as configured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from gateway.config import RetrievalConfig

Mode = Literal["hybrid", "dense", "lexical"]
Floats = npt.NDArray[np.float32]
SECONDS_PER_DAY = 86_400.0
#: In ``lexical`` mode, the weight of recency alone (see ``score``).
LEXICAL_RECENCY = 1e-3


@dataclass(frozen=True, slots=True)
class Signals:
    """Per-position evidence about every memory of one user, for one query."""

    dense: Floats
    lexical: Floats
    seen_at: Floats
    evidence: Floats
    #: Position of the memory before each one in its thread, or -1.
    parents: npt.NDArray[np.int64]
    #: What BM25 scores a document matching the whole query (``BM25Query.ceiling``).
    lexical_ceiling: float = 0.0


def fuse(dense: Floats, lexical: Floats, params: RetrievalConfig, ceiling: float = 0.0) -> Floats:
    if params.mode == "dense":
        return dense
    best = float(lexical.max()) if lexical.size else 0.0
    if best <= 0.0:
        return dense
    return dense + (params.lexical_weight / max(best, ceiling)) * lexical


def recency(seen_at: Floats, now: float, params: RetrievalConfig) -> Floats | float:
    if params.mode == "dense" or params.half_life_days is None:
        return 1.0
    age_days = np.maximum(now - seen_at, 0.0) / SECONDS_PER_DAY
    decay = np.exp2(-age_days / params.half_life_days).astype(np.float32)
    weight: Floats = params.recency_floor + (1.0 - params.recency_floor) * decay
    return weight


def linked(fused: Floats, parents: npt.NDArray[np.int64], params: RetrievalConfig) -> Floats:
    if params.mode == "dense" or params.thread_weight == 0.0:
        return fused
    # Only relevance is borrowed: a question less relevant than the average memory (a negative
    # centered similarity) does not push its answer down.
    borrowed = np.where(parents >= 0, np.maximum(fused[np.maximum(parents, 0)], 0.0), 0.0)
    return (fused + params.thread_weight * borrowed).astype(np.float32, copy=False)


def score(signals: Signals, now: float, params: RetrievalConfig) -> Floats:
    fused = fuse(signals.dense, signals.lexical, params, signals.lexical_ceiling)
    fused = linked(fused, signals.parents, params)
    fused = fused * recency(signals.seen_at, now, params)
    evidence = signals.evidence
    if params.mode == "dense" or params.evidence_weight == 0.0:
        return fused
    bonus = params.evidence_weight * np.log2(np.maximum(evidence, 1.0))
    if params.mode == "lexical":
        # Without a dense term every memory the query's words miss scores zero; a sliver of
        # recency orders those, newest first, below any word match.
        bonus = bonus + LEXICAL_RECENCY * recency(signals.seen_at, now, params)
    return (fused + bonus).astype(np.float32, copy=False)


def top(
    scores: Floats, eligible: npt.NDArray[np.bool_], k: int, min_score: float
) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` best eligible scores at or above ``min_score``, best first.

    An array, not a list: callers index their other arrays with it, and numpy would convert a
    list of 200 positions again for each of them."""
    masked = np.where(eligible & (scores >= min_score), scores, -math.inf)
    count = int(np.count_nonzero(masked > -math.inf))
    if count == 0:
        return np.empty(0, dtype=np.intp)
    k = min(k, count)
    chosen = np.argpartition(-masked, k - 1)[:k] if k < masked.size else np.arange(masked.size)
    ordered = chosen[np.argsort(-masked[chosen], kind="stable")]
    picked: npt.NDArray[np.intp] = ordered[masked[ordered] > -math.inf]
    return picked
