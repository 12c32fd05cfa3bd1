"""An int8 copy of the local embedding model, for queries on the request path.

Embedding the query is the largest cost of a request with memory. With a short query the fp32
model's time goes mostly to reading its ~42 MB of weights and to ~300 small operators, so the
copy has BERT's attention, layer norms and GELUs fused into single operators, then every weight
(the token embedding table too) stored as int8, quantized per output channel. A 20-token query
takes ~5.7 ms instead of ~9.9 here, and the session holds ~43 MiB instead of ~127; the vectors
stay at cosine >= 0.98 from the exact ones and evidence recall on bench/eval is unchanged
(docs/memory.md: Embeddings). Stored memories are always embedded by the exact model, so the
store holds the vectors Chroma's own default embedding function would write.

The copy is made once from the configured model with onnxruntime's transformer optimizer and
quantizer (~5 s) and kept in a cache keyed by the source file's size and modification time.
Whatever goes wrong leaves queries on the exact model: a slower request is better than a gateway
that does not start. But it is logged as an error, with the fix: the usual cause is a package the
quantizer imports missing from the environment (sympy, ml_dtypes), which only a reinstall mends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["default_quantized_cache", "int8_model"]

log = logging.getLogger(__name__)

#: Bumped whenever the quantization settings below change, so old copies are not reused.
_RECIPE = "bert-fused-int8-per-channel-reduced-v3"


def default_quantized_cache() -> Path:
    """``~/.cache/gateway/onnx_models``, beside the cache Chroma keeps its models in."""
    return Path.home() / ".cache" / "gateway" / "onnx_models"


def int8_model(source: Path, cache_root: Path | None = None) -> Path | None:
    """The int8 copy of the ONNX model at ``source``, made on first use; None if it cannot be
    made (the reason is logged as an error)."""
    root = cache_root or default_quantized_cache()
    try:
        target = root / f"{source.stem}-int8-{_fingerprint(source)}.onnx"
        if not target.is_file():
            _quantize(source, target)
    except Exception as exc:  # an optimisation must never stop the gateway from starting
        log.error(
            "could not make an int8 copy of %s (%s: %s); queries use the exact model, ~1.7x "
            "slower. Reinstall the gateway with its dependencies (pip install -e .), or set "
            "memory.embedding.query_precision: fp32 to choose the exact model",
            source,
            type(exc).__name__,
            exc,
        )
        return None
    return target


def _fingerprint(source: Path) -> str:
    # Size and mtime, not a hash of 90 MB: this runs at every start, and a replaced model file
    # gets a new mtime.
    stat = source.stat()
    key = f"{_RECIPE}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _quantize(source: Path, target: Path) -> None:
    # Imported here: onnx and the quantizer cost ~0.7 s to import and are needed once per model.
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    # Written under names of this process's own, then renamed: two gateways starting together
    # each write a whole file, and a reader never sees half of one.
    fused = target.with_name(f".{target.name}.{os.getpid()}.fused")
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with _quiet_quantizer():
            _fuse(source, fused)
            quantize_dynamic(
                fused,
                partial,
                # reduce_range keeps AVX2's 16-bit sums from saturating on CPUs without VNNI.
                per_channel=True,
                reduce_range=True,
                weight_type=QuantType.QInt8,
                # The fused operators are outside ONNX's shape inference; their outputs are
                # float, as everywhere in this model.
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
        partial.replace(target)
    finally:
        fused.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    log.info("made an int8 copy of %s for queries: %s", source, target)


def _fuse(source: Path, target: Path) -> None:
    """``source`` with each layer's attention, layer norms and GELU as single operators: the
    same numbers (exact in fp32), in ~70 operators instead of ~300. The shapes come from the
    ``config.json`` beside the model; onnxruntime cannot find them in this graph itself."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    # The residual Add and LayerNormalization stay two operators: onnxruntime's CPU kernel for
    # the fused SkipLayerNormalization is slower than the pair (~8% of a query, measured at 8
    # to 256 tokens). The session keeps them apart too (embedding.UNFUSED).
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    config = json.loads((source.parent / "config.json").read_text(encoding="utf-8"))
    try:
        model = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=0,
            optimization_options=options,
        )
    except Exception as exc:
        _remove_scratch_directories(exc)
        raise
    model.save_model_to_file(str(target))


def _remove_scratch_directories(exc: BaseException) -> None:
    """Remove the temporary directories left in the frames ``exc`` unwound. ``optimize_model``
    removes its scratch directory only when it succeeds; otherwise the directory lasts until the
    garbage collector finds the traceback, and its ResourceWarning appears in whatever code
    happens to be running then."""
    step = exc.__traceback__
    while step is not None:
        for value in step.tb_frame.f_locals.values():
            if isinstance(value, tempfile.TemporaryDirectory):
                value.cleanup()
        step = step.tb_next


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Drop the quantizer's advice to pre-process the model, which it logs on the root logger
    at warning level on every call: the result was measured without it."""

    def not_from_quantizer(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname or "quantization" not in record.pathname

    root = logging.getLogger()
    root.addFilter(not_from_quantizer)
    try:
        yield
    finally:
        root.removeFilter(not_from_quantizer)
