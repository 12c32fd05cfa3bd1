"""Synthetic memories for the scaling benchmark: short plausible texts and random unit vectors.

Writing a million memories through the embedder would take hours on one core (about 5 ms each),
so bulk memories get random unit vectors instead: ranking costs the same whatever the numbers
are. Texts come from a few templates, so BM25 sees realistic postings (common words such as
"user" occur in every memory, names and places in a few percent). Everything is a function of
the seed, so two runs build the same store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from gateway.store.records import Memory

DIMENSION = 384
#: The store id the synthetic snapshots are recorded for (a snapshot names the store it was read
#: from; these were read from none, so the scaling probe's backend answers with this id).
STORE_ID = "bench-synthetic"
#: Memories written together (one session) share a created_at and form a thread.
SESSION_SIZE = 10
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_CATEGORIES = ("preference", "fact", "role", "general")
_TEMPLATES: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("User prefers {} for breakfast.", (("porridge", "eggs", "toast", "yoghurt", "fruit"),)),
    ("User is allergic to {}.", (("peanuts", "shellfish", "pollen", "cats", "penicillin"),)),
    ("User works as a {} in {}.", (("nurse", "teacher", "chef"), ("Lisbon", "Oslo", "Osaka"))),
    ("User has a {} called {}.", (("dog", "cat", "parrot"), ("Milo", "Luna", "Pip", "Otto"))),
    ("User is learning {} in the evenings.", (("Spanish", "piano", "pottery", "chess"),)),
    ("User enjoys reading {}.", (("crime novels", "history", "poetry", "science fiction"),)),
    ("User runs {} km most {}.", (("5", "8", "10", "12"), ("mornings", "evenings"))),
    ("User plans a trip to {} in {}.", (("Japan", "Peru", "Iceland"), ("May", "June"))),
    ("User's sister {} likes {}.", (("Ana", "Mei", "Sara"), ("orchids", "jazz", "hiking"))),
    ("User has a deadline for the {} project on {}.", (("billing", "atlas"), ("Friday",))),
    ("User avoids {} after {}.", (("coffee", "screens", "sugar"), ("6pm", "8pm", "10pm"))),
    ("User wants to save for {}.", (("a flat", "a new bike", "a sabbatical", "a wedding"),)),
)


def texts(seed: int, count: int) -> list[str]:
    """``count`` short facts; a day number keeps most of them distinct."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        template, slots = rng.choice(_TEMPLATES)
        fact = template.format(*(rng.choice(options) for options in slots))
        out.append(f"{fact} Noted on day {rng.randrange(1, 2000)}.")
    return out


def unit_vectors(seed: int, count: int, dimension: int = DIMENSION) -> npt.NDArray[np.float32]:
    """``count`` random float32 vectors of length one (what the embedder returns)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def memories(seed: int, count: int) -> Iterator[Memory]:
    """``count`` memories of one user, in sessions of ``SESSION_SIZE`` spread over a year."""
    rng = random.Random(seed + 1)
    for position, content in enumerate(texts(seed, count)):
        session = position // SESSION_SIZE
        created = _EPOCH + timedelta(seconds=session * 3_600 + rng.randrange(3_600))
        created = created.replace(microsecond=0)
        yield Memory(
            id=f"m{seed}-{position}",
            content=content,
            category=_CATEGORIES[position % len(_CATEGORIES)],
            created_at=_EPOCH + timedelta(hours=session),
            updated_at=created,
            last_seen_at=created,
            source="extracted",
            ordinal=position + 1,
        )
