"""Profiles in Chroma: durable, isolated per user and tenant, erased with the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.profile.model import FieldState, Profile, Summary, decode, encode
from gateway.profile.store import ProfileStore
from gateway.store.chroma import ChromaBackend
from gateway.store.records import Scope

ALICE = Scope("acme", "alice")


def test_a_profile_survives_encoding() -> None:
    profile = Profile(
        {
            "stack": FieldState(("python",), "set", 1, 1.5),
            "tone": FieldState("formal", "inferred", 3, 2.0, ("a", "b", "c")),
        },
        summary=Summary("Gist.", 12, 3.0),
    )
    assert decode(encode(profile)) == profile


@pytest.mark.asyncio
async def test_profiles_are_durable_isolated_and_erased(tmp_path: Path) -> None:
    backend = ChromaBackend(path=tmp_path / "chroma")
    store = ProfileStore(backend)
    tone = FieldState("formal", "set", 1, 1.0)
    await store.change(ALICE, lambda p: p.with_field("tone", tone))
    # Another process (a fresh store and client) reads it back from Chroma.
    reopened = ProfileStore(ChromaBackend(path=tmp_path / "chroma"))
    assert (await reopened.get(ALICE)).fields == {"tone": tone}
    for other in (Scope("acme", "bob"), Scope("globex", "alice")):
        assert (await reopened.get(other)).empty
    await store.erase(ALICE)
    assert (await store.get(ALICE)).empty
    assert (await ProfileStore(ChromaBackend(path=tmp_path / "chroma")).get(ALICE)).empty
    backend.close()
