"""What one user's memories have in common, taken out of their dense similarity to a query.

MiniLM puts all the memories of one user close together: most name the same people and share a
few topics, and many start with the same speaker. Raw cosine similarity then favours short,
generic memories, close to everything, over the one that answers the question. Measured from
the memories' mean, with their few main directions of spread removed (what most tells one of
them from another is often just who speaks, or how long the memory is), a memory counts for
what sets it apart:

    similarity(v, q) = cos(P (v - mean), P (q - mean)),    P = I - Uᵀ U

The mean is shrunk towards zero for a user with few memories (a mean of two leaves only noise),
and directions are removed only from ``DIRECTIONS_FROM`` memories on, estimated on at most
``SAMPLE`` of them by block power iteration: milliseconds at any size. A basis is fitted once
and then kept while memories come and go (``UserIndex`` refits it after a tenth of them have);
each memory's length under it is kept beside its vector, so a query costs one matrix-vector
product, as raw similarity does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
#: Memories' worth of zero vectors the mean is averaged with.
MEAN_PRIOR = 20
#: Main directions of spread removed (chosen on the development set: 0-8 tried).
DIRECTIONS = 3
#: Fewer memories than this, and their main directions are single memories, not what they share.
DIRECTIONS_FROM = 50
#: The most memories the directions are estimated on, evenly spaced.
SAMPLE = 1_000
_ITERATIONS = 12
_TINY = 1e-12


@dataclass(frozen=True, slots=True)
class Basis:
    mean: Floats
    #: Orthonormal rows: the directions taken out (possibly none).
    directions: Floats

    def lengths(self, vectors: Floats) -> Floats:
        """``|P (v - mean)|`` of each row."""
        shifted = vectors - self.mean
        kept = np.einsum("ij,ij->i", shifted, shifted)
        if len(self.directions):
            along = shifted @ self.directions.T
            kept = kept - np.einsum("ij,ij->i", along, along)
        out: Floats = np.sqrt(np.maximum(kept, _TINY)).astype(np.float32, copy=False)
        return out

    def similarity(self, vectors: Floats, lengths: Floats, query: Floats) -> Floats:
        """Each row's similarity to ``query`` under this basis; ``lengths`` from ``lengths``."""
        moved = query - self.mean
        if len(self.directions):
            moved = moved - self.directions.T @ (self.directions @ moved)
        norm = max(float(np.linalg.norm(moved)), _TINY)
        # P is a projection, so P(v - mean) . P(q - mean) = v . P(q - mean) - mean . P(q - mean).
        dot = vectors @ moved - float(self.mean @ moved)
        out: Floats = (dot / (lengths * norm)).astype(np.float32, copy=False)
        return out


def fit(total: npt.NDArray[np.float64], count: int, sample: Floats) -> Basis:
    """The basis of ``count`` memories whose vectors sum to ``total``; ``sample`` is some of
    those vectors (``SAMPLE`` at most), to estimate the directions on."""
    mean = (total / (count + MEAN_PRIOR)).astype(np.float32)
    if count < DIRECTIONS_FROM or len(sample) <= DIRECTIONS:
        return Basis(mean, np.zeros((0, mean.size), dtype=np.float32))
    spread = sample - (total / count).astype(np.float32)
    # Seeded: the same memories give the same basis, so rankings repeat.
    block = np.random.default_rng(0).standard_normal((mean.size, DIRECTIONS)).astype(np.float32)
    for _ in range(_ITERATIONS):
        block, _ = np.linalg.qr(spread.T @ (spread @ block))
    return Basis(mean, np.ascontiguousarray(block.T, dtype=np.float32))
