"""Sentence embeddings for memory retrieval.

Everything that turns text into vectors talks to one small contract, ``Embedder``. Two
implementations exist:

- ``OnnxMiniLM`` (the default) runs all-MiniLM-L6-v2 on the local CPU through onnxruntime: no
  key, no network on the hot path. ``resolve_model_dir`` finds its files, or fetches them once into
  the cache Chroma's own default embedding function uses.
- ``LiteLLMEmbedder`` asks a provider's embedding endpoint through litellm.

Its errors, ``EmbeddingError`` and its subclasses, are in ``gateway.errors``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from gateway._litellm import load_litellm
from gateway.errors import EmbeddingModelUnavailable, EmbeddingProviderError

__all__ = [
    "MODEL_ARCHIVE_SHA256",
    "MODEL_ARCHIVE_URL",
    "MODEL_DIR_KEY",
    "MODEL_NAME",
    "Embedder",
    "LiteLLMEmbedder",
    "OnnxMiniLM",
    "default_cache_root",
    "resolve_model_dir",
]

Vectors = npt.NDArray[np.float32]

MODEL_NAME = "all-MiniLM-L6-v2"
#: Padded tokens (rows x longest row) in one model run.
_BATCH_TOKENS = 512
#: Most texts from different callers embedded in one run. Measured (docs/benchmarks.md, Goodput
#: at capacity): the int8 query model costs 1.2 ms a chat query alone and ~1.0 ms in runs of 4
#: to 32; end to end at 32 connections, runs of 16 kept every request fully ranked with p99
#: ~113 ms, runs of 8 ranked 11% lexically with p99 ~177 ms (fewer, longer runs leave the event
#: loop more of the core between them).
_SHARED_RUN = 16
MODEL_DIR_KEY = "memory.embedding.model_dir"
#: onnxruntime graph rewrites left off. Its CPU SkipLayerNormalization is slower than the Add
#: and LayerNormalization it replaces; the exact model never matches the pattern, the int8 copy
#: (quantized.py) would.
UNFUSED = ("SkipLayerNormFusion",)
# The archive, checksum and cache layout Chroma's ONNXMiniLM_L6_V2 uses (chromadb 1.5.9), so a
# machine that already ran Chroma's default embedder needs no second download.
MODEL_ARCHIVE_URL = "https://chroma-onnx-models.s3.amazonaws.com/all-MiniLM-L6-v2/onnx.tar.gz"
MODEL_ARCHIVE_SHA256 = "913d7300ceae3b2dbc2c50d1de4baacab4be7b9380491c27fab7418616a16ec3"
_ARCHIVE_NAME = "onnx.tar.gz"
_EXTRACTED_DIR = "onnx"
_REQUIRED_FILES = ("config.json", "model.onnx", "tokenizer.json")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text, in the caller's order."""

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns."""
        ...

    @property
    def name(self) -> str:
        """Model identity, stored beside vectors so a model change can be detected."""
        ...

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed on the calling thread; an empty input gives shape ``(0, dimension)``."""
        ...

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Same result as ``embed_sync``, without blocking the event loop."""
        ...

    @property
    def backlog(self) -> int:
        """Texts waiting for the model behind the run in progress (0 where calls never wait
        for each other)."""
        ...

    def close(self) -> None:
        """Release threads and model memory; the embedder cannot be used afterwards."""
        ...


# --- locating the model files ----------------------------------------------------------------


def default_cache_root() -> Path:
    """Where Chroma caches its ONNX models: ``~/.cache/chroma/onnx_models``."""
    return Path.home() / ".cache" / "chroma" / "onnx_models"


def resolve_model_dir(
    configured: Path | None,
    *,
    cache_root: Path | None = None,
    url: str = MODEL_ARCHIVE_URL,
    sha256: str = MODEL_ARCHIVE_SHA256,
    timeout: float = 60.0,
) -> Path:
    """Return a directory holding the all-MiniLM-L6-v2 ONNX files.

    A populated ``configured`` directory is used as it is. When it is unset, missing or empty, the
    files come from ``<cache_root>/all-MiniLM-L6-v2/onnx``, downloading and checksum-verifying the
    archive first if that is not populated either. Raises ``EmbeddingModelUnavailable`` (naming
    ``memory.embedding.model_dir``) when that fails, e.g. on a machine without internet access.
    Blocking (a download is ~80 MB): call it at startup, before serving.
    """
    if configured is not None and not _is_empty(configured):
        missing = _missing_files(configured)
        if missing:
            raise EmbeddingModelUnavailable(
                f"{MODEL_DIR_KEY} points at {configured}, which lacks {', '.join(missing)}; "
                f"point it at a directory holding {', '.join(_REQUIRED_FILES)}"
            )
        return configured
    model_root = (cache_root or default_cache_root()) / MODEL_NAME
    target = model_root / _EXTRACTED_DIR
    if not _missing_files(target):
        return target
    archive = _fetch_archive(url, sha256, model_root / _ARCHIVE_NAME, timeout)
    _extract(archive, target)
    return target


def _is_empty(directory: Path) -> bool:
    # A path that exists but is a file is not "empty": it is a mistake worth reporting.
    if not directory.exists():
        return True
    return directory.is_dir() and next(directory.iterdir(), None) is None


def _missing_files(directory: Path) -> list[str]:
    return [name for name in _REQUIRED_FILES if not (directory / name).is_file()]


def _unavailable(target: Path, url: str, reason: str) -> EmbeddingModelUnavailable:
    return EmbeddingModelUnavailable(
        f"the {MODEL_NAME} model files are not in {target} and could not be fetched from {url} "
        f"({reason}); set {MODEL_DIR_KEY} to a directory holding {', '.join(_REQUIRED_FILES)} "
        f"(for example a copy of {target} made on a machine with internet access)"
    )


def _fetch_archive(url: str, sha256: str, archive: Path, timeout: float) -> Path:
    # An archive left by an earlier run (ours or Chroma's) is reused only if it is intact.
    if archive.is_file() and _sha256_of(archive) == sha256:
        return archive
    partial = archive.with_name(archive.name + ".part")
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        _download(url, partial, timeout)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        partial.unlink(missing_ok=True)
        raise _unavailable(archive.parent / _EXTRACTED_DIR, url, str(exc)) from exc
    if _sha256_of(partial) != sha256:
        partial.unlink()
        raise _unavailable(archive.parent / _EXTRACTED_DIR, url, "checksum mismatch")
    partial.replace(archive)
    return archive


def _download(url: str, destination: Path, timeout: float) -> None:
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,
            destination.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the response, and with it the socket, open
        raise


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _extract(archive: Path, target: Path) -> None:
    # Unpack beside the target, then move file by file: a concurrent reader sees each file either
    # absent or complete, never half-written.
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".extract-") as scratch:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(scratch, filter="data")
            unpacked = Path(scratch) / _EXTRACTED_DIR
            missing = _missing_files(unpacked)
            if missing:
                raise EmbeddingModelUnavailable(
                    f"{archive} lacks {', '.join(missing)}; delete it, or set {MODEL_DIR_KEY}"
                )
            target.mkdir(exist_ok=True)
            for item in unpacked.iterdir():
                item.replace(target / item.name)
    except (OSError, tarfile.TarError) as exc:
        raise EmbeddingModelUnavailable(
            f"could not unpack {archive} into {target} ({exc}); set {MODEL_DIR_KEY} instead"
        ) from exc


# --- the local model ---------------------------------------------------------------------------


class OnnxMiniLM:
    """all-MiniLM-L6-v2 on the local CPU, numerically matching sentence-transformers.

    Each batch is padded only to its longest text and truncated at ``max_tokens`` word pieces
    (256, as sentence-transformers does); embeddings are the attention-masked mean of the last
    hidden state, L2-normalised. ``embed`` runs on one worker thread owned by this instance.
    ``model_file`` runs another ONNX file of the same model (an int8 copy, say) with the
    tokenizer and config from ``model_dir``.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        threads: int = 1,
        max_tokens: int = 256,
        batch_size: int = 32,
        model_file: Path | None = None,
    ) -> None:
        missing = _missing_files(model_dir)
        if missing:
            raise EmbeddingModelUnavailable(
                f"{model_dir} lacks {', '.join(missing)}; check {MODEL_DIR_KEY}"
            )
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        _check_range("threads", threads, 1, 1024)
        _check_range("max_tokens", max_tokens, 2, int(config["max_position_embeddings"]))
        _check_range("batch_size", batch_size, 1, 4096)
        self._dimension = int(config["hidden_size"])
        self._batch_size = batch_size
        self._name = MODEL_NAME if model_file is None else f"{MODEL_NAME} ({model_file.name})"
        self._tokenizer = _load_tokenizer(model_dir / "tokenizer.json", max_tokens)
        self._session: ort.InferenceSession | None = _new_session(
            model_file or model_dir / "model.onnx", threads
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-embed")
        # Callers waiting for the model's next run, and the task that feeds it (event loop only).
        self._waiting: deque[tuple[list[str], asyncio.Future[Vectors]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def name(self) -> str:
        return self._name

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        batch = _as_text_list(texts)
        encodings = [self._tokenizer.encode(text) for text in batch]
        out = np.empty((len(batch), self._dimension), dtype=np.float32)
        # Longest first, so each sub-batch holds texts of similar length and little padding.
        order = sorted(range(len(batch)), key=lambda i: len(encodings[i].ids), reverse=True)
        start = 0
        while start < len(order):
            # Bound the padded area of one run: attention memory grows with rows x length^2,
            # and onnxruntime keeps its peak allocation for the life of the process.
            longest = max(len(encodings[order[start]].ids), 1)
            size = max(1, min(self._batch_size, _BATCH_TOKENS // longest))
            rows = order[start : start + size]
            input_ids, attention_mask = _pad([encodings[i] for i in rows])
            out[rows] = self._forward(input_ids, attention_mask)
            start += size
        return out

    async def embed(self, texts: Sequence[str]) -> Vectors:
        batch = _as_text_list(texts)
        self._live_session()
        if len(batch) >= _SHARED_RUN:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.embed_sync, batch)
        return await self._coalesced(batch)

    @property
    def backlog(self) -> int:
        return sum(len(texts) for texts, _ in self._waiting)

    async def _coalesced(self, batch: list[str]) -> Vectors:
        """Small inputs that arrive while the model is busy wait for its next run and share
        it, so the busier the model, the larger its runs and the less each query costs (a fifth
        less for the int8 query model, half for the exact one, and one hand-off to the thread
        and back for the whole run). An input arriving while the model is idle runs
        at once. A run takes at most ``_SHARED_RUN`` texts: all of its callers wait for the
        whole run."""
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Vectors] = loop.create_future()
        self._waiting.append((batch, waiting))
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        return await waiting

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._run(self._next_run())
        finally:
            # Only when the loop is going away: nobody is left to answer those still waiting.
            while self._waiting:
                self._waiting.popleft()[1].cancel()

    def _next_run(self) -> list[tuple[list[str], asyncio.Future[Vectors]]]:
        taken: list[tuple[list[str], asyncio.Future[Vectors]]] = []
        size = 0
        limit = min(self._batch_size, _SHARED_RUN)
        # Newest first. Under overload the oldest callers are the nearest to their retrieval
        # deadline: serving them first spends the model on answers that come too late, while
        # the newest, which still have their whole deadline, wait until they miss it too.
        while self._waiting and (not taken or size + len(self._waiting[-1][0]) <= limit):
            texts, waiting = self._waiting.pop()
            # A caller past its deadline has gone: its texts are not embedded.
            if not waiting.done():
                taken.append((texts, waiting))
                size += len(texts)
        return taken

    async def _run(self, taken: list[tuple[list[str], asyncio.Future[Vectors]]]) -> None:
        if not taken:
            return
        joined = [text for texts, _ in taken for text in texts]
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(self._executor, self.embed_sync, joined)
        except asyncio.CancelledError:
            for _, waiting in taken:
                waiting.cancel()
            raise
        except Exception as exc:  # every caller of this run gets its error
            for _, waiting in taken:
                if not waiting.done():
                    waiting.set_exception(exc)
            return
        start = 0
        for texts, waiting in taken:
            if not waiting.done():
                waiting.set_result(vectors[start : start + len(texts)])
            start += len(texts)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._session = None

    def _forward(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> Vectors:
        """Pooled, normalised embeddings for already tokenised and padded rows."""
        feeds = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        (hidden,) = self._live_session().run(["last_hidden_state"], feeds)
        return _l2_normalise(_mean_pool(hidden, attention_mask))

    def _live_session(self) -> ort.InferenceSession:
        if self._session is None:
            raise RuntimeError("this embedder has been closed")
        return self._session


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _load_tokenizer(path: Path, max_tokens: int) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    # tokenizer.json ships fixed padding to 128 and truncation at 128: padding every query to a
    # fixed width costs most of the model's runtime, and sentence-transformers truncates at 256.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def _new_session(model_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Spinning workers would burn the core the event loop runs on between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(model_path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(UNFUSED),
    )


def _pad(encodings: Sequence[Encoding]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    width = max(len(encoding.ids) for encoding in encodings)
    input_ids = np.zeros((len(encodings), width), dtype=np.int64)  # 0 is [PAD]
    attention_mask = np.zeros_like(input_ids)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return input_ids, attention_mask


def _mean_pool(hidden: Vectors, attention_mask: npt.NDArray[np.int64]) -> Vectors:
    weights = attention_mask.astype(np.float32)[:, :, np.newaxis]
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled: Vectors = (hidden * weights).sum(axis=1) / counts
    return pooled


def _l2_normalise(vectors: Vectors) -> Vectors:
    # Same floor as torch.nn.functional.normalize, so an all-zero row stays zero instead of NaN.
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    normalised: Vectors = (vectors / norms).astype(np.float32, copy=False)
    return normalised


def _as_text_list(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; embedding it letter by letter is never what was meant.
    if isinstance(texts, str):
        raise TypeError("embed a list of texts, not a single string")
    return list(texts)


# --- a provider's model through litellm --------------------------------------------------------


class LiteLLMEmbedder:
    """A provider's embedding model through litellm (e.g. ``"openai/text-embedding-3-small"``).

    litellm is imported on first use, never at module import. Returned vectors are checked against
    ``dimension`` and L2-normalised, since not every provider normalises.
    """

    def __init__(
        self,
        model: str,
        *,
        dimension: int,
        api_key: str | None = None,
        api_base: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        _check_range("dimension", dimension, 1, 1 << 16)
        self._model = model
        self._dimension = dimension
        self._api_key = api_key
        self._api_base = api_base
        self._timeout = timeout

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def name(self) -> str:
        return self._model

    @property
    def backlog(self) -> int:
        # Each call goes to the provider on its own; none waits behind another here.
        return 0

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        batch = _as_text_list(texts)
        if not batch:
            return np.empty((0, self._dimension), dtype=np.float32)
        litellm = load_litellm()
        try:
            response = litellm.embedding(**self._request(batch))
        except _provider_error_base() as exc:
            raise self._failure(exc) from None
        return self._vectors(response, len(batch))

    async def embed(self, texts: Sequence[str]) -> Vectors:
        batch = _as_text_list(texts)
        if not batch:
            return np.empty((0, self._dimension), dtype=np.float32)
        # The first import of litellm takes seconds; keep it off the event loop.
        litellm = await asyncio.to_thread(load_litellm)
        try:
            response = await litellm.aembedding(**self._request(batch))
        except _provider_error_base() as exc:
            raise self._failure(exc) from None
        return self._vectors(response, len(batch))

    def close(self) -> None:
        """Nothing to release: litellm owns its HTTP clients."""

    def _request(self, batch: list[str]) -> dict[str, Any]:
        return {
            "model": self._model,
            "input": batch,
            "api_key": self._api_key,
            "api_base": self._api_base,
            "timeout": self._timeout,
        }

    def _failure(self, exc: Exception) -> EmbeddingProviderError:
        # A provider's message can echo the key or the input text, so neither it nor the
        # original exception (hence `from None` at the raise) travels on: only class and status.
        status = getattr(exc, "status_code", None)
        return EmbeddingProviderError(
            f"embedding request to {self._model} failed: {type(exc).__name__} (status {status})"
        )

    def _vectors(self, response: Any, expected_rows: int) -> Vectors:
        items = sorted(response.data, key=lambda item: int(item["index"]))
        try:
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except ValueError as exc:  # ragged rows, or base64 strings instead of floats
            raise EmbeddingProviderError(f"{self._model} returned malformed vectors") from exc
        if vectors.shape != (expected_rows, self._dimension):
            raise EmbeddingProviderError(
                f"{self._model} returned vectors of shape {vectors.shape}, expected "
                f"({expected_rows}, {self._dimension}); check memory.embedding.dimension"
            )
        return _l2_normalise(vectors)


def _provider_error_base() -> type[Exception]:
    # litellm maps every provider failure onto the openai SDK's exception tree (openai is a
    # dependency of litellm); importing it here, after litellm, costs nothing.
    from openai import OpenAIError

    return OpenAIError
