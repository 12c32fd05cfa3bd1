from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from gateway.errors import EmbeddingModelUnavailable, EmbeddingProviderError
from gateway.store.embedding import (
    MODEL_DIR_KEY,
    MODEL_NAME,
    Embedder,
    LiteLLMEmbedder,
    OnnxMiniLM,
    resolve_model_dir,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The shape of a loopback handler, as the ``serve`` fixture in conftest.py takes it.
Reply = tuple[int, str, bytes]
Handler = Callable[[str, str, bytes], Reply]

TOLERANCE = 1e-5
UNREACHABLE = "http://127.0.0.1:9/onnx.tar.gz"  # discard port: nothing listens, refused at once
MODEL_FILES = ("config.json", "model.onnx", "tokenizer.json")

# Common English words, each a single word piece in this model's vocabulary (checked below).
ONE_PIECE_WORDS = [
    *("the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "to", "see", "big"),
    *("red", "dog", "who", "was", "in", "his", "house", "near", "old", "green", "tree", "by"),
    *("water", "with", "some", "small", "birds", "that", "sang", "all", "day", "long"),
]


# --- the local model: exactness ---------------------------------------------------------------


def test_matches_sentence_transformers_reference(
    embedder: OnnxMiniLM, reference: dict[str, Any]
) -> None:
    vectors = embedder.embed_sync(reference["texts"])

    expected = np.asarray(reference["embeddings"], dtype=np.float64)
    assert vectors.dtype == np.float32
    assert vectors.shape == expected.shape == (3, embedder.dimension)
    assert np.abs(vectors - expected).max() <= TOLERANCE
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_identity_is_the_model(embedder: OnnxMiniLM) -> None:
    described: Embedder = embedder  # the protocol other modules are written against

    assert isinstance(described, Embedder)
    assert described.name == "all-MiniLM-L6-v2" == MODEL_NAME
    assert described.dimension == 384


def test_padding_to_a_longer_neighbour_does_not_change_a_vector(embedder: OnnxMiniLM) -> None:
    short = "Where did I park the car?"
    long = " ".join(["My notes from the quarterly planning meeting cover hiring and budgets."] * 15)

    alone = embedder.embed_sync([short])
    beside_long = embedder.embed_sync([short, long])

    assert np.abs(alone[0] - beside_long[0]).max() <= TOLERANCE
    assert np.abs(beside_long[0] - beside_long[1]).max() > 0.01  # the rows really differ


def test_long_text_is_cut_at_256_word_pieces(embedder: OnnxMiniLM, model_dir: Path) -> None:
    words = [ONE_PIECE_WORDS[i % len(ONE_PIECE_WORDS)] for i in range(2000)]
    full_tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    full_tokenizer.no_truncation()
    full_tokenizer.no_padding()
    # Precondition: one piece per word, so word counts are piece counts ([CLS] and [SEP] extra).
    assert len(full_tokenizer.encode(" ".join(words)).ids) == 2000 + 2

    long, kept, one_fewer = embedder.embed_sync(
        [" ".join(words), " ".join(words[:254]), " ".join(words[:253])]
    )

    # 256 pieces including [CLS] and [SEP], as sentence-transformers counts them.
    assert np.abs(long - kept).max() <= TOLERANCE
    assert np.abs(long - one_fewer).max() > 1e-4


def test_caller_order_survives_length_sorted_sub_batches(model_dir: Path) -> None:
    texts = [" ".join(ONE_PIECE_WORDS[: 3 + (i * 7) % 31]) for i in range(9)] + [""]
    small_batches = OnnxMiniLM(model_dir, batch_size=2)
    try:
        batched = small_batches.embed_sync(texts)
        one_by_one = np.vstack([small_batches.embed_sync([text]) for text in texts])
    finally:
        small_batches.close()

    assert np.abs(batched - one_by_one).max() <= TOLERANCE


def test_empty_batch_has_the_model_width(embedder: OnnxMiniLM) -> None:
    vectors = embedder.embed_sync([])

    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_a_bare_string_is_refused(embedder: OnnxMiniLM) -> None:
    with pytest.raises(TypeError, match="list of texts"):
        embedder.embed_sync("hello world")


def test_missing_model_files_name_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelUnavailable, match=re.escape(MODEL_DIR_KEY)):
        OnnxMiniLM(tmp_path)


def test_out_of_range_max_tokens_is_refused(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        OnnxMiniLM(model_dir, max_tokens=1024)  # the model has 512 positions


# --- the local model: off the event loop ------------------------------------------------------


class _ThreadRecordingMiniLM(OnnxMiniLM):
    """Notes which thread each embedding ran on; the embedding itself is untouched."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.ran_on: list[int] = []

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.ran_on.append(threading.get_ident())
        return super().embed_sync(texts)


@pytest.mark.asyncio
async def test_embed_runs_off_the_event_loop_with_identical_numbers(model_dir: Path) -> None:
    texts = ["I prefer window seats.", "Remind me about the dentist on Friday."]
    recording = _ThreadRecordingMiniLM(model_dir)
    try:
        loop_thread = threading.get_ident()
        off_loop = await recording.embed(texts)
        on_loop = recording.embed_sync(texts)
    finally:
        recording.close()

    assert len(recording.ran_on) == 2
    assert recording.ran_on[0] != loop_thread
    assert recording.ran_on[1] == loop_thread
    np.testing.assert_array_equal(off_loop, on_loop)


@pytest.mark.asyncio
async def test_concurrent_embeds_each_get_their_own_rows(embedder: OnnxMiniLM) -> None:
    texts = ["alpha beta", "a considerably longer sentence about gardening in spring", "x"]

    results = await asyncio.gather(*(embedder.embed([text]) for text in texts))

    expected = np.vstack([embedder.embed_sync([text]) for text in texts])
    np.testing.assert_allclose(np.vstack(results), expected, atol=TOLERANCE)


class _GatedMiniLM(OnnxMiniLM):
    """Records the texts of each model run; the first run waits until ``gate`` opens, and a
    run holding "boom" fails."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.runs: list[list[str]] = []
        self.gate = threading.Event()

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.runs.append(list(texts))
        if len(self.runs) == 1:
            self.gate.wait(10)
        if "boom" in texts:
            raise RuntimeError("the model failed")
        return super().embed_sync(texts)


async def _until_running(minilm: _GatedMiniLM) -> None:
    for _ in range(500):
        if minilm.runs:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first run never started")


@pytest.mark.asyncio
async def test_queries_arriving_while_the_model_is_busy_share_its_next_run(
    model_dir: Path,
) -> None:
    minilm = _GatedMiniLM(model_dir)
    try:
        first = asyncio.create_task(minilm.embed(["the first question"]))
        await _until_running(minilm)
        queued = [f"question number {n}" for n in range(5)]
        later = [asyncio.create_task(minilm.embed([text])) for text in queued]
        await asyncio.sleep(0.05)
        minilm.gate.set()
        results = await asyncio.gather(first, *later)
        alone = minilm.embed_sync(queued)
    finally:
        minilm.gate.set()
        minilm.close()

    assert minilm.runs[0] == ["the first question"]
    assert sorted(minilm.runs[1]) == queued
    assert [r.shape for r in results] == [(1, 384)] * 6
    np.testing.assert_allclose(np.vstack(results[1:]), alone, atol=TOLERANCE)


@pytest.mark.asyncio
async def test_under_a_backlog_the_newest_queries_run_first(model_dir: Path) -> None:
    # The oldest callers are the nearest to their deadline; the newest can still make theirs.
    # A backlog of 20 runs as the newest 16 (the most one run shares), then the 4 oldest.
    minilm = _GatedMiniLM(model_dir)
    try:
        first = asyncio.create_task(minilm.embed(["the first question"]))
        await _until_running(minilm)
        queued = [f"question number {n:02d}" for n in range(20)]
        later = []
        for text in queued:
            later.append(asyncio.create_task(minilm.embed([text])))
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        minilm.gate.set()
        await asyncio.gather(first, *later)
    finally:
        minilm.gate.set()
        minilm.close()

    assert sorted(minilm.runs[1]) == queued[4:]
    assert sorted(minilm.runs[2]) == queued[:4]


@pytest.mark.asyncio
async def test_a_caller_that_gave_up_is_not_embedded(model_dir: Path) -> None:
    minilm = _GatedMiniLM(model_dir)
    try:
        first = asyncio.create_task(minilm.embed(["running"]))
        await _until_running(minilm)
        gone = asyncio.create_task(minilm.embed(["abandoned"]))
        kept = asyncio.create_task(minilm.embed(["kept"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        minilm.gate.set()
        await asyncio.gather(first, kept)
    finally:
        minilm.gate.set()
        minilm.close()

    assert gone.cancelled()
    assert minilm.runs == [["running"], ["kept"]]


@pytest.mark.asyncio
async def test_a_failed_run_fails_its_callers_and_the_next_run_still_works(
    model_dir: Path,
) -> None:
    minilm = _GatedMiniLM(model_dir)
    try:
        first = asyncio.create_task(minilm.embed(["running"]))
        await _until_running(minilm)
        shared = [asyncio.create_task(minilm.embed([text])) for text in ("boom", "bystander")]
        await asyncio.sleep(0.01)
        minilm.gate.set()
        await first
        outcomes = await asyncio.gather(*shared, return_exceptions=True)
        after = await minilm.embed(["after the failure"])
    finally:
        minilm.gate.set()
        minilm.close()

    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
    assert after.shape == (1, 384)


@pytest.mark.asyncio
async def test_a_closed_embedder_refuses_work(model_dir: Path) -> None:
    minilm = OnnxMiniLM(model_dir)
    minilm.close()
    minilm.close()  # closing twice is harmless

    with pytest.raises(RuntimeError, match="closed"):
        await minilm.embed(["hello"])
    with pytest.raises(RuntimeError, match="closed"):
        minilm.embed_sync(["hello"])


def test_importing_the_module_does_not_import_litellm() -> None:
    probe = "import sys, gateway.store.embedding; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


# --- finding the model files ------------------------------------------------------------------


def _link_model_files(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in MODEL_FILES:
        (target / name).symlink_to(source / name)
    return target


def test_a_populated_configured_dir_is_used_as_is(model_dir: Path, tmp_path: Path) -> None:
    resolved = resolve_model_dir(model_dir, cache_root=tmp_path / "cache", url=UNREACHABLE)

    assert resolved == model_dir
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("configured_name", ["empty", "absent"])
def test_no_model_while_offline_names_the_config_key(tmp_path: Path, configured_name: str) -> None:
    configured = tmp_path / configured_name
    if configured_name == "empty":
        configured.mkdir()

    with pytest.raises(EmbeddingModelUnavailable) as caught:
        resolve_model_dir(configured, cache_root=tmp_path / "cache", url=UNREACHABLE)

    assert MODEL_DIR_KEY in str(caught.value)
    assert UNREACHABLE in str(caught.value)
    assert not (tmp_path / "cache" / MODEL_NAME / "onnx.tar.gz.part").exists()


def test_unset_dir_while_offline_names_the_config_key(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelUnavailable, match=re.escape(MODEL_DIR_KEY)):
        resolve_model_dir(None, cache_root=tmp_path / "cache", url=UNREACHABLE)


def test_a_configured_file_instead_of_a_dir_is_an_error(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelUnavailable, match=re.escape(MODEL_DIR_KEY)):
        resolve_model_dir(model_dir / "model.onnx", cache_root=tmp_path / "cache", url=UNREACHABLE)


def test_a_partly_populated_configured_dir_is_an_error(model_dir: Path, tmp_path: Path) -> None:
    configured = tmp_path / "partial"
    configured.mkdir()
    (configured / "tokenizer.json").symlink_to(model_dir / "tokenizer.json")

    with pytest.raises(EmbeddingModelUnavailable, match=re.escape(MODEL_DIR_KEY)) as caught:
        resolve_model_dir(configured, cache_root=tmp_path / "cache", url=UNREACHABLE)

    assert "model.onnx" in str(caught.value)


def test_a_populated_cache_serves_an_unset_dir_without_fetching(
    model_dir: Path, tmp_path: Path
) -> None:
    cached = _link_model_files(model_dir, tmp_path / "cache" / MODEL_NAME / "onnx")

    resolved = resolve_model_dir(None, cache_root=tmp_path / "cache", url=UNREACHABLE)

    assert resolved == cached
    minilm = OnnxMiniLM(resolved)
    try:
        assert minilm.embed_sync(["hello world"]).shape == (1, 384)
    finally:
        minilm.close()


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"onnx/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _static(body: bytes) -> Handler:
    def handle(method: str, path: str, request: bytes) -> Reply:
        return (
            (200, "application/gzip", body) if path == "/onnx.tar.gz" else (404, "text/plain", b"")
        )

    return handle


def test_a_verified_download_is_unpacked_into_the_cache(
    serve: Callable[[Handler], str], tmp_path: Path
) -> None:
    files = {name: f"stand-in {name}".encode() for name in MODEL_FILES}
    archive = _archive(files)
    base = serve(_static(archive))

    resolved = resolve_model_dir(
        tmp_path / "empty",
        cache_root=tmp_path / "cache",
        url=f"{base}/onnx.tar.gz",
        sha256=hashlib.sha256(archive).hexdigest(),
    )

    assert resolved == tmp_path / "cache" / MODEL_NAME / "onnx"
    assert {name: (resolved / name).read_bytes() for name in MODEL_FILES} == files
    assert (tmp_path / "cache" / MODEL_NAME / "onnx.tar.gz").read_bytes() == archive


def test_a_download_with_the_wrong_checksum_is_discarded(
    serve: Callable[[Handler], str], tmp_path: Path
) -> None:
    base = serve(_static(_archive({name: b"tampered" for name in MODEL_FILES})))

    with pytest.raises(EmbeddingModelUnavailable, match="checksum") as caught:
        resolve_model_dir(None, cache_root=tmp_path / "cache", url=f"{base}/onnx.tar.gz")

    assert MODEL_DIR_KEY in str(caught.value)
    assert list((tmp_path / "cache" / MODEL_NAME).iterdir()) == []


def test_an_http_error_names_the_config_key(
    serve: Callable[[Handler], str], tmp_path: Path
) -> None:
    base = serve(_static(b""))

    with pytest.raises(EmbeddingModelUnavailable, match=re.escape(MODEL_DIR_KEY)) as caught:
        resolve_model_dir(None, cache_root=tmp_path / "cache", url=f"{base}/missing.tar.gz")

    assert "404" in str(caught.value)


# --- a provider's model through litellm (a stand-in OpenAI server on loopback) ----------------

API_KEY = "sk-test-0123456789abcdef"
PRIVATE_TEXT = "my diary entry about the argument with Sam"


def _openai_embeddings(dimension: int, requests: list[dict[str, Any]]) -> Handler:
    """Answers /v1/embeddings like OpenAI, with unnormalised vectors listed in reverse order."""

    def handle(method: str, path: str, body: bytes) -> Reply:
        request = json.loads(body)
        requests.append(request)
        rows = []
        for index, text in enumerate(request["input"]):
            vector = np.full(dimension, float(len(text) + 1), dtype=np.float32)
            vector[index % dimension] += 3.0
            encoded: Any = vector.tolist()
            if request.get("encoding_format") == "base64":
                encoded = base64.b64encode(vector.tobytes()).decode()
            rows.append({"object": "embedding", "index": index, "embedding": encoded})
        payload = {
            "object": "list",
            "model": request["model"],
            "data": rows[::-1],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        return 200, "application/json", json.dumps(payload).encode()

    return handle


def _expected(texts: Sequence[str], dimension: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    rows = np.array([[len(t) + 1.0] * dimension for t in texts])
    for index in range(len(texts)):
        rows[index, index % dimension] += 3.0
    normalised: np.ndarray[Any, np.dtype[np.float64]] = rows / np.linalg.norm(
        rows, axis=1, keepdims=True
    )
    return normalised


def _unauthorised(method: str, path: str, body: bytes) -> Reply:
    """Rejects the key, echoing it and the input back, as careless providers do."""
    echoed = json.loads(body)["input"]
    message = f"Incorrect API key provided: {API_KEY} for input {echoed}"
    return 401, "application/json", json.dumps({"error": {"message": message}}).encode()


@pytest.mark.slow
def test_provider_vectors_come_back_in_order_and_normalised(
    serve: Callable[[Handler], str],
) -> None:
    requests: list[dict[str, Any]] = []
    base = serve(_openai_embeddings(8, requests))
    provider = LiteLLMEmbedder(
        "openai/text-embedding-3-small", dimension=8, api_key=API_KEY, api_base=f"{base}/v1"
    )
    texts = ["first", "second text", "third, the longest text"]

    vectors = provider.embed_sync(texts)

    assert provider.name == "openai/text-embedding-3-small"
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, _expected(texts, 8), atol=1e-6)
    assert [r["input"] for r in requests] == [texts]
    assert provider.embed_sync([]).shape == (0, 8)
    assert len(requests) == 1  # an empty batch never reaches the provider


@pytest.mark.slow
@pytest.mark.asyncio
async def test_provider_embed_async_matches_sync(serve: Callable[[Handler], str]) -> None:
    base = serve(_openai_embeddings(8, []))
    provider = LiteLLMEmbedder(
        "openai/text-embedding-3-small", dimension=8, api_key=API_KEY, api_base=f"{base}/v1"
    )
    texts = ["one", "two two", "three three three"]

    vectors = await provider.embed(texts)

    np.testing.assert_allclose(vectors, _expected(texts, 8), atol=1e-6)
    assert (await provider.embed([])).shape == (0, 8)


@pytest.mark.slow
def test_provider_dimension_mismatch_names_the_setting(serve: Callable[[Handler], str]) -> None:
    base = serve(_openai_embeddings(8, []))
    provider = LiteLLMEmbedder(
        "openai/text-embedding-3-small", dimension=16, api_key=API_KEY, api_base=f"{base}/v1"
    )

    with pytest.raises(EmbeddingProviderError, match=r"memory\.embedding\.dimension"):
        provider.embed_sync(["hello"])


@pytest.mark.slow
def test_provider_failure_is_translated_without_the_key(serve: Callable[[Handler], str]) -> None:
    base = serve(_unauthorised)
    provider = LiteLLMEmbedder(
        "openai/text-embedding-3-small", dimension=8, api_key=API_KEY, api_base=f"{base}/v1"
    )

    with pytest.raises(EmbeddingProviderError, match="status 401") as caught:
        provider.embed_sync([PRIVATE_TEXT])

    logged = "".join(traceback.format_exception(caught.value))
    assert "AuthenticationError" in logged
    assert API_KEY not in logged
    assert PRIVATE_TEXT not in logged
