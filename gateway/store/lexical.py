"""A small BM25 index over one user's memories.

Dense embeddings blur exactly the things users ask about most precisely: names, numbers, dates,
product codes. A lexical score catches those; retrieval fuses the two.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: Which ``terms()`` saved postings were made with. Change it with the tokenizing below (words,
#: stopwords, stemming): postings saved under another lexicon are rebuilt from the text.
LEXICON = 1

_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been
    before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours yourself
    yourselves s t don ll ve re m d also get got like really yeah oh hey hi ok okay well"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def stem(word: str) -> str:
    """A deliberately light suffix stripper: plural and verb endings only, never below 3 letters.

    Heavier stemming merges unrelated names; this keeps "hiking"/"hikes"/"hiked" together."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words; numbers are kept whole."""
    return [term for word in _WORD.findall(text.lower()) if (term := _term(word))]


def forget_words() -> None:
    """Empty the word cache below, whose keys are words of stored memories (an erase)."""
    _term.cache_clear()


@lru_cache(maxsize=32_768)
def _term(word: str) -> str:
    """The term a lower-cased word stands for; empty for a stopword. Remembered: a user's
    memories repeat a small vocabulary, and loading a 1,000-memory user looks up ~5,000 words."""
    if word in STOPWORDS:
        return ""
    return word if word.isdigit() else stem(word)


class BM25Index:
    """BM25 over documents that are appended and removed over time.

    Postings are compact int arrays (4 bytes an entry, not a Python object each) that grow as
    documents arrive; scoring views the few query terms' postings as numpy arrays without
    copying, so a query costs time in the number of matching documents. A term's postings are
    one array of (document, count) pairs: one object per term, not two arrays and a tuple, for
    the garbage collector to walk on every full collection of a process holding many users.
    An index restored from a snapshot keeps what it was given as one read-only array, each
    term a span of it, and only what is added later in arrays of its own.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self._k1 = k1
        self._b = b
        #: Pairs added to this index, by term.
        self._postings: dict[str, array[int]] = {}
        #: Pairs it was restored with (``restore``): a span of ``_base_pairs`` per term.
        self._base: dict[str, tuple[int, int]] = {}
        self._base_pairs: Ints = np.zeros((0, 2), dtype=np.int32)
        self._lengths: list[int] = []
        self._alive: list[bool] = []
        self._live_count = 0
        self._total_length = 0
        # _lengths and _alive as arrays, made again only after a change: converting 1,000
        # Python ints costs ~50 us, more than scoring a short query.
        self._arrays: tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None = None

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, text: str) -> int:
        """Index a document; returns its position (positions never move)."""
        position = len(self._lengths)
        found = terms(text)
        counts: dict[str, int] = {}
        for term in found:
            counts[term] = counts.get(term, 0) + 1
        postings = self._postings
        for term, count in counts.items():
            entry = postings.get(term)
            if entry is None:
                entry = postings[term] = array("i")
            entry.append(position)
            entry.append(count)
        length = len(found)
        self._lengths.append(length)
        self._alive.append(True)
        self._live_count += 1
        self._total_length += length
        self._arrays = None
        return position

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def remove(self, position: int) -> None:
        if self._alive[position]:
            self._alive[position] = False
            self._live_count -= 1
            self._total_length -= self._lengths[position]
            self._arrays = None

    def scores(self, query: str | Sequence[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every position (removed documents score 0)."""
        return self.query(query).scores()

    def query(self, query: str | Sequence[str], *, detached: bool = False) -> BM25Query:
        """What scoring ``query`` needs, taken from the index now. ``detached`` copies the
        query's postings, so that ``BM25Query.scores`` may run on another thread while documents
        are added: an ``array`` cannot grow while numpy views its buffer. The lengths and the
        alive flags are arrays that a change replaces rather than alters."""
        query_terms = terms(query) if isinstance(query, str) else list(query)
        postings = []
        unknown = 0
        for term in set(query_terms):
            pairs = self._pairs(term, detached)
            if len(pairs):
                postings.append((pairs[:, 0], pairs[:, 1]))
            else:
                unknown += 1
        lengths, alive = self._as_arrays()
        return BM25Query(
            self._live_count,
            self._total_length,
            lengths,
            alive,
            tuple(postings),
            self._k1,
            self._b,
            unknown,
        )

    def _pairs(self, term: str, detached: bool = False) -> Ints:
        """The term's (document, count) pairs, in document order."""
        span = self._base.get(term, (0, 0))
        posting = self._postings.get(term)
        if posting is None:
            # Restored pairs never change: a view of them is detached already.
            return self._base_pairs[span[0] : span[1]]
        added = np.frombuffer(posting, dtype=np.int32).reshape(-1, 2)
        if span[1]:
            return np.concatenate((self._base_pairs[span[0] : span[1]], added))
        return added.copy() if detached else added

    def saved(self) -> Postings:
        """The index as flat arrays, for a snapshot (``BM25Index.restore``)."""
        found = list(self._base) + [t for t in self._postings if t not in self._base]
        parts = [self._pairs(term) for term in found]
        pairs = np.concatenate(parts) if parts else self._base_pairs
        return Postings(
            terms=found,
            sizes=np.fromiter(map(len, parts), np.int32, len(parts)),
            docs=pairs[:, 0],
            counts=pairs[:, 1],
            lengths=np.asarray(self._lengths, dtype=np.int32),
            alive=np.asarray(self._alive, dtype=np.bool_),
        )

    @classmethod
    def restore(cls, saved: Postings) -> BM25Index:
        """The index ``saved`` was taken from, with its positions, at a fraction of the cost of
        adding the documents again (no words to find and stem)."""
        index = cls()
        pairs = np.empty((len(saved.docs), 2), dtype=np.int32)
        pairs[:, 0], pairs[:, 1] = saved.docs, saved.counts
        pairs.flags.writeable = False
        ends = np.cumsum(saved.sizes).tolist()
        spans = zip([0, *ends], ends, strict=False)  # (start, end) of each term, in order
        index._base = dict(zip(saved.terms, spans, strict=True))
        index._base_pairs = pairs
        index._lengths = saved.lengths.tolist()
        index._alive = saved.alive.tolist()
        index._live_count = int(np.count_nonzero(saved.alive))
        index._total_length = int(saved.lengths[saved.alive].sum())
        return index

    def _as_arrays(self) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        if self._arrays is None:
            self._arrays = (
                np.asarray(self._lengths, dtype=np.float32),
                np.asarray(self._alive, dtype=np.bool_),
            )
        return self._arrays


Ints = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class Postings:
    """A ``BM25Index`` as flat arrays: each term's postings one after another, in ``terms``
    order, ``sizes`` long each."""

    terms: list[str]
    sizes: Ints
    docs: Ints
    counts: Ints
    #: Per position: the document's length in terms, and whether it is still in the index.
    lengths: Ints
    alive: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class BM25Query:
    """One query's postings and the corpus figures BM25 needs (``BM25Index.query``)."""

    live_count: int
    total_length: int
    lengths: npt.NDArray[np.float32]
    alive: npt.NDArray[np.bool_]
    postings: tuple[tuple[Ints, Ints], ...]
    k1: float
    b: float
    #: Query terms no document holds.
    unknown: int = 0

    def scores(self) -> npt.NDArray[np.float32]:
        """BM25 score of every position (removed documents score 0)."""
        out = np.zeros(len(self.lengths), dtype=np.float32)
        if not self.live_count:
            return out
        removed = self.live_count < len(self.alive)
        average = self.total_length / self.live_count or 1.0
        k1, b = self.k1, self.b
        for docs, counts in self.postings:
            freqs = counts.astype(np.float32)
            # Postings keep removed documents until the index is compacted; counted in the
            # term's document frequency they would make its idf negative.
            frequency = int(np.count_nonzero(self.alive[docs])) if removed else len(docs)
            if not frequency:
                continue
            idf = math.log(1 + (self.live_count - frequency + 0.5) / (frequency + 0.5))
            norm = k1 * (1 - b + b * self.lengths[docs] / average)
            out[docs] += idf * freqs * (k1 + 1) / (freqs + norm)
        if removed:
            out[~self.alive] = 0.0
        return out

    def ceiling(self) -> float:
        """What a document of average length holding each of the query's terms once would
        score: the sum of their idfs, a term no document holds at the rarest term's idf. A
        score's share of it says how much of the query a document matches, where a share of
        the best score would not."""
        if not self.live_count:
            return 0.0
        removed = self.live_count < len(self.alive)
        total = self.unknown * math.log(1 + (self.live_count + 0.5) / 0.5)
        for docs, _ in self.postings:
            frequency = int(np.count_nonzero(self.alive[docs])) if removed else len(docs)
            if frequency:
                total += math.log(1 + (self.live_count - frequency + 0.5) / (frequency + 0.5))
        return total
