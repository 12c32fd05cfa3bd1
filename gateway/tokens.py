"""Exact token counts with tiktoken, offline.

tiktoken fetches its encoding files over the network on first use. litellm's wheel ships the two
files we need (cl100k_base and o200k_base) in tiktoken's cache layout, so we point tiktoken's cache
at that folder, found without importing litellm (which would cost seconds).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

import tiktoken

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


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    # An operator's own TIKTOKEN_CACHE_DIR wins; otherwise use the files litellm ships, which is
    # exactly what litellm itself does when imported.
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        folder = bundled_cache_dir()
        if folder is not None:
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    return tiktoken.get_encoding(name)


class TokenCounter:
    """Counts tokens the way a given model's tokenizer does."""

    __slots__ = ("_count", "_encoding")

    def __init__(self, model: str) -> None:
        name = encoding_name(model)
        self._encoding = get_encoding(name)
        self._count = _cached_counter(name)

    @property
    def encoding(self) -> str:
        return self._encoding.name

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    def count_line(self, text: str) -> int:
        """``count`` for short texts that recur (a user's notes, headings): remembered."""
        return self._count(text)


@cache
def _cached_counter(name: str) -> Callable[[str], int]:
    encoding = get_encoding(name)

    # The same notes are counted on every request of their user; encoding one costs ~20 us.
    @lru_cache(maxsize=65_536)
    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return count
