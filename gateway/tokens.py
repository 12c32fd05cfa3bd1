"""Exact token counts with tiktoken, offline.

tiktoken fetches its encoding files over the network on first use. litellm's wheel ships the two
files we need (cl100k_base and o200k_base) in tiktoken's cache layout, so we point tiktoken's cache
at that folder, found without importing litellm (which would cost seconds).

A text made of pieces is counted exactly from the remembered counts of its pieces wherever the
tokenizer provably cannot merge across the join between two of them (see ``_joins_cleanly``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import secrets
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from functools import cache
from pathlib import Path

import tiktoken

from gateway.config import default_environment

O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def encoding_name(model: str) -> str:
    """The encoding of a model: o200k_base for the gpt-4o / 4.1 / 5 / o-series families."""
    base = model.rsplit("/", 1)[-1].lower()
    return "o200k_base" if base.startswith(O200K_PREFIXES) else "cl100k_base"


def bundled_cache_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


def _bundled_cache_path() -> str | None:
    folder = bundled_cache_dir()
    return None if folder is None else str(folder)


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    # An operator's own TIKTOKEN_CACHE_DIR wins; otherwise use the files litellm ships, which is
    # exactly what litellm itself does when imported.
    default_environment("TIKTOKEN_CACHE_DIR", _bundled_cache_path)
    return tiktoken.get_encoding(name)


#: The pre-tokenizer patterns of cl100k_base and o200k_base, as in tiktoken_ext.openai_public;
#: the rule in ``_joins_cleanly`` was worked out from these two and is used for no other.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_ANALYSED_PATTERNS = frozenset({_CL100K_PATTERN, _O200K_PATTERN})
#: Keys the digests, so a remembered count cannot confirm a guessed text outside this process.
_DIGEST_KEY = secrets.token_bytes(16)
#: Texts whose counts are remembered by digest (a conversation's messages, across its turns).
_REMEMBERED_TEXTS = 8192


class TokenCounter:
    """Counts tokens the way a given model's tokenizer does."""

    __slots__ = ("_count", "_encoding", "_remembered", "_splits")

    def __init__(self, model: str) -> None:
        name = encoding_name(model)
        self._encoding = get_encoding(name)
        self._count = _cached_counter(name)
        self._remembered = _remembered_counts(name)
        self._splits = _splits_at_clean_joins(name)

    @property
    def encoding(self) -> str:
        return self._encoding.name

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def count_line(self, text: str) -> int:
        """``count`` for short texts that recur (a user's notes, headings): remembered."""
        return self._count(text)

    def count_joined(self, pieces: Iterable[str]) -> int:
        """Exactly ``count("".join(pieces))``, from ``count_line`` of the pieces wherever the
        tokenizer cannot merge across the join; for short pieces that recur."""
        return sum(map(self._count, self._units(pieces)))

    def count_history(self, pieces: Iterable[str]) -> int:
        """``count_joined`` for long texts resent request after request (a conversation's
        messages): their counts are remembered by a digest, so no text is kept."""
        return sum(map(self._remembered.count, self._units(pieces)))

    def _units(self, pieces: Iterable[str]) -> Iterator[str]:
        """The pieces, each joined to the next where the join is not provably clean."""
        if not self._splits:
            yield "".join(pieces)
            return
        pending = ""
        for piece in pieces:
            if _joins_cleanly(pending, piece):
                yield pending
                pending = piece
            else:
                pending += piece
        if pending:
            yield pending


@cache
def _cached_counter(name: str) -> Callable[[str], int]:
    # The same notes are counted on every request of their user; encoding one costs ~20 us.
    # Room for a line per memory the default index cache holds (200,000): users come round in
    # turn, and an LRU smaller than the lines they cycle through hits almost never (65,536
    # entries under 100 users x 1,000 memories cost ~2 ms a request). Keyed by Python's own
    # string hash (SipHash, with a key random per process): the cache keeps no memory text
    # alive past its erasure, at ~0.5 us a line, lookup included, where a 128-bit digest alone
    # costs ~2 us here. Two of the 262,144 lines sharing a 64-bit hash (odds ~1e-9) would
    # share a count.
    return _DigestCounts(get_encoding(name), 262_144, hash).count


def _joins_cleanly(before: str, after: str) -> bool:
    r"""Whether ``count(before + after) == count(before) + count(after)`` is certain, for
    cl100k_base and o200k_base, from the characters at the join alone.

    tiktoken cuts a text into pre-tokens with the encoding's pattern, left to right, and merges
    tokens only within a pre-token. Neither pattern looks behind, so once a pre-token ends at the
    join, ``after`` is cut as it would be alone. One does end there when ``before`` ends in "\n"
    and ``after`` starts with neither whitespace nor "/":

    - the letter, digit and apostrophe alternatives never take a "\n";
    - the punctuation alternatives take the newlines that follow them (cl100k ``[\r\n]*+``,
      o200k ``[\r\n/]*``, hence the "/"), so they stop at the join;
    - the whitespace alternatives (``\s*[\r\n]``, ``\s*[\r\n]+``, ``\s+(?!\S)``, ``\s++$``,
      ``\s+``) stop where the whitespace does.

    And ``before`` alone is cut as in the whole: the alternatives that read past its last "\n"
    (by lookahead, ``$``, or a greedy run) are the ones above, and each ends at that "\n"
    whether the end of the text or such a character follows it.
    """
    if not before.endswith("\n") or not after:
        return False
    first = after[0]
    # str.isspace holds for all of Unicode's White_Space (the patterns' \s), and a few more.
    return not first.isspace() and first != "/"


@cache
def _splits_at_clean_joins(name: str) -> bool:
    # Decided from the encoding's own pattern: a tiktoken whose pattern differs is counted whole.
    return getattr(get_encoding(name), "_pat_str", None) in _ANALYSED_PATTERNS


def _keyed_digest(text: str) -> bytes:
    """128 bits of a long text, keyed by this process's secret."""
    # surrogatepass: a JSON body can carry lone surrogates; the digest must still tell texts
    # apart.
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, key=_DIGEST_KEY).digest()


class _DigestCounts:
    """Token counts remembered by a digest of the text (never the text), the least recently
    used forgotten first.

    Shared between threads (long prompts are counted on a worker) without a lock, which would
    cost more than the lookup here: each OrderedDict operation is atomic, and a race between
    two of them costs at most a recount or an early eviction."""

    def __init__(
        self, encoding: tiktoken.Encoding, size: int, digest: Callable[[str], Hashable]
    ) -> None:
        self._encoding = encoding
        self._size = size
        self._digest = digest
        self._counts: OrderedDict[Hashable, int] = OrderedDict()

    def count(self, text: str) -> int:
        key = self._digest(text)
        counts = self._counts
        known = counts.get(key)
        if known is not None:
            try:  # noqa: SIM105 - contextlib.suppress would cost more than the lookup
                counts.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile
                pass
            return known
        tokens = len(self._encoding.encode(text, disallowed_special=()))
        counts[key] = tokens
        if len(counts) > self._size:
            with contextlib.suppress(KeyError):  # emptied by another thread meanwhile
                counts.popitem(last=False)
        return tokens


@cache
def _remembered_counts(name: str) -> _DigestCounts:
    return _DigestCounts(get_encoding(name), _REMEMBERED_TEXTS, _keyed_digest)
