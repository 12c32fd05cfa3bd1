"""The int8 copy of the embedding model that queries run on: made once, close to exact, and
never a reason for the gateway not to start."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.config import MemoryConfig
from gateway.context.service import build_query_embedder
from gateway.store.embedding import MODEL_NAME, Embedder, OnnxMiniLM
from gateway.store.quantized import _fingerprint, int8_model

#: How far an int8 query vector may turn from the exact one. Measured: 0.985 at worst on the
#: reference texts; recall on bench/eval does not move (docs/memory.md: Embeddings).
MIN_COSINE = 0.97
#: Where the copies are kept, under the home directory (quantized.default_quantized_cache).
CACHE = Path(".cache", "gateway", "onnx_models")


@pytest.fixture(scope="module")
def fresh_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def served(model_dir: Path, embedder: OnnxMiniLM, fresh_home: Path) -> Iterator[Embedder]:
    """What a gateway with the default config embeds queries with, started as on a fresh
    install: with no int8 copy in its cache yet."""
    config = MemoryConfig.model_validate({"embedding": {"model_dir": str(model_dir)}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(fresh_home))
        queries = build_query_embedder(config, embedder)
    yield queries
    if queries is not embedder:
        queries.close()


@pytest.fixture(scope="module")
def int8_copy(model_dir: Path, served: Embedder, fresh_home: Path) -> Path:
    copy = int8_model(model_dir / "model.onnx", fresh_home / CACHE)
    assert copy is not None
    return copy


@pytest.fixture(scope="module")
def int8_embedder(model_dir: Path, int8_copy: Path) -> Iterator[OnnxMiniLM]:
    minilm = OnnxMiniLM(model_dir, model_file=int8_copy)
    yield minilm
    minilm.close()


def test_a_fresh_install_serves_queries_from_an_int8_copy(
    model_dir: Path, served: Embedder, fresh_home: Path
) -> None:
    # A missing quantizer dependency (sympy, say) fails here, not as a quietly slower gateway.
    [copy] = (fresh_home / CACHE).iterdir()
    assert copy.name.startswith("model-int8-")
    assert served.name == f"{MODEL_NAME} ({copy.name})"
    assert copy.stat().st_size < 0.7 * (model_dir / "model.onnx").stat().st_size


def test_the_copy_is_made_once_and_then_reused(model_dir: Path, int8_copy: Path) -> None:
    before = int8_copy.stat().st_mtime_ns
    again = int8_model(model_dir / "model.onnx", int8_copy.parent)
    assert again == int8_copy
    assert int8_copy.stat().st_mtime_ns == before
    # Only the finished file is left behind, never a partial one.
    assert [p.name for p in int8_copy.parent.iterdir()] == [int8_copy.name]
    # A quarter of the weights' bytes: the copy is really quantized, not a renamed original.
    assert int8_copy.stat().st_size < 0.7 * (model_dir / "model.onnx").stat().st_size


def test_a_replaced_model_file_does_not_reuse_the_old_copy(tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"weights, first version")
    first = _fingerprint(source)
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = _fingerprint(source)
    source.write_bytes(b"weights, second version, longer")
    assert len({first, touched, _fingerprint(source)}) == 3


def test_a_model_that_cannot_be_quantized_leaves_queries_exact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"\x00not an onnx file")
    with caplog.at_level(logging.WARNING, logger="gateway.store.quantized"):
        assert int8_model(source, tmp_path / "cache") is None
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "queries use the exact model" in record.getMessage()
    assert not list((tmp_path / "cache").glob("*"))


# Runs in a Python without sympy, as a fresh install of onnxruntime >= 1.25 is by itself.
_WITHOUT_SYMPY = """
import gc, logging, sys
from pathlib import Path

class NoSympy:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "sympy":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoSympy())
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from gateway.store.quantized import int8_model

print("copy:", int8_model(Path(sys.argv[1]), Path(sys.argv[2])))
gc.collect()
"""


@pytest.mark.slow
def test_a_missing_quantizer_dependency_is_an_error_and_leaks_nothing(
    model_dir: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    source, cache = str(model_dir / "model.onnx"), str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", _WITHOUT_SYMPY, source, cache],
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "copy: None" in done.stdout
    assert "ERROR gateway.store.quantized: could not make an int8 copy" in done.stderr
    assert "sympy" in done.stderr
    # onnxruntime's scratch directory is gone now, not whenever the garbage collector runs.
    assert "Implicitly cleaning up" not in done.stderr
    assert [path for path in scratch.iterdir() if path.is_dir()] == []
    assert not list((tmp_path / "cache").glob("*"))


def test_int8_vectors_stay_close_to_the_reference(
    int8_embedder: OnnxMiniLM, reference: dict[str, Any]
) -> None:
    vectors = int8_embedder.embed_sync(reference["texts"])
    expected = np.asarray(reference["embeddings"], dtype=np.float32)
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() >= MIN_COSINE
    # Not the exact model under another name: its numbers differ beyond float noise.
    assert np.abs(vectors - expected).max() > 1e-3
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert int8_embedder.name.startswith(MODEL_NAME)
    assert int8_embedder.name != MODEL_NAME


def test_an_int8_query_finds_what_the_exact_query_finds(
    int8_embedder: OnnxMiniLM, embedder: OnnxMiniLM
) -> None:
    notes = [
        "My sister Ana is getting married in Lisbon next June.",
        "I switched our deployment pipeline from Jenkins to GitHub Actions.",
        "Allergic to penicillin; ibuprofen is fine.",
        "Our team's quarterly planning happens in the second week of January.",
        "I run 10k every Sunday morning along the river.",
        "The staging database password rotates every 30 days.",
    ]
    questions = [
        "when is my sister's wedding?",
        "what runs our deployment pipeline now?",
        "what medicine should I avoid?",
        "when do we plan the quarter?",
        "what do I do on weekends?",
        "how often do credentials change?",
    ]
    stored = embedder.embed_sync(notes)  # memories are always embedded exactly
    exact = embedder.embed_sync(questions) @ stored.T
    int8 = int8_embedder.embed_sync(questions) @ stored.T
    assert list(int8.argmax(axis=1)) == list(exact.argmax(axis=1)) == list(range(len(notes)))
    assert np.abs(int8 - exact).max() < 0.05


def test_the_config_chooses_what_embeds_queries(
    model_dir: Path, embedder: OnnxMiniLM, monkeypatch: pytest.MonkeyPatch, int8_copy: Path
) -> None:
    monkeypatch.setattr(
        "gateway.context.service.int8_model", lambda source: int8_copy
    )  # the module's copy, not another 4 s in the user's cache
    exact = MemoryConfig.model_validate(
        {"embedding": {"model_dir": str(model_dir), "query_precision": "fp32"}}
    )
    assert build_query_embedder(exact, embedder) is embedder
    default = MemoryConfig.model_validate({"embedding": {"model_dir": str(model_dir)}})
    queries = build_query_embedder(default, embedder)
    try:
        assert queries is not embedder
        assert queries.name == f"{MODEL_NAME} ({int8_copy.name})"
    finally:
        queries.close()


def test_without_a_copy_queries_fall_back_to_the_exact_model(
    model_dir: Path, embedder: OnnxMiniLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.context.service.int8_model", lambda source: None)
    default = MemoryConfig.model_validate({"embedding": {"model_dir": str(model_dir)}})
    assert build_query_embedder(default, embedder) is embedder
