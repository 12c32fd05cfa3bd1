"""The OpenAI endpoints the gateway passes through, as the mock provider serves them.

``POST /v1/embeddings`` answers one vector per input (floats, or base64 float32 when
``encoding_format`` says so), or ``mock.status`` with an OpenAI error body; ``POST /v1/audio/transcriptions`` and ``POST /v1/files`` read a
multipart upload as it arrives, holding none of it, and answer with its size and SHA-256;
``POST /v1/audio/speech`` streams ``mock.bytes`` bytes of audio; ``GET /v1/files`` lists.
Every request is recorded in the shared ``MockState``, with the form's fields as its body.
"""

from __future__ import annotations

import base64
import hashlib
from array import array
from typing import Any

from aiohttp import BodyPartReader, web

from tests.support.mock_upstream import MockState, Received

#: What every vector starts with, so a test can tell the mock's answer from anything else.
DIMENSION = 4


def vector(text: str) -> list[float]:
    """The mock's embedding of ``text``: exact in float32, so base64 round-trips."""
    return [float(len(text)), 0.5, -1.0, 0.25][:DIMENSION]


class PassThroughEndpoints:
    def __init__(self, state: MockState) -> None:
        self.state = state

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/audio/transcriptions", self.upload)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files", self.list_files)
        app.router.add_post("/v1/audio/speech", self.speech)

    def _record(self, request: web.Request, body: dict[str, Any]) -> None:
        self.state.requests.append(Received(request.path_qs, dict(request.headers), body))

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record(request, body)
        status = (body.get("mock") or {}).get("status")
        if status is not None:
            error = {"message": "mock embeddings refused", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=int(status))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        base64_wanted = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": _base64(vector(text)) if base64_wanted else vector(text),
            }
            for index, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        answer = {"object": "list", "data": data, "model": body["model"], "usage": usage}
        return web.json_response(answer, headers={"x-request-id": "req-mock-embeddings"})

    async def upload(self, request: web.Request) -> web.Response:
        """Read the form part by part and the file piece by piece; keep only a digest."""
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            if part.filename is None:
                fields[part.name or ""] = (await part.read()).decode()
                continue
            digest, size = hashlib.sha256(), 0
            while chunk := await part.read_chunk(256 * 1024):
                digest.update(chunk)
                size += len(chunk)
            fields[part.name or ""] = {"filename": part.filename, "bytes": size}
            fields["sha256"] = digest.hexdigest()
        self._record(request, fields)
        if request.path.endswith("/transcriptions"):
            return web.json_response({"text": f"heard {fields['file']['bytes']} bytes"})
        upload = fields["file"]
        return web.json_response(
            {
                "id": "file-mock",
                "object": "file",
                "bytes": upload["bytes"],
                "created_at": 1_700_000_000,
                "filename": upload["filename"],
                "purpose": fields.get("purpose", "assistants"),
                "status": "processed",
                "sha256": fields["sha256"],
            }
        )

    async def list_files(self, request: web.Request) -> web.Response:
        self._record(request, {})
        return web.json_response({"object": "list", "data": [], "has_more": False})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self._record(request, body)
        size = int((body.get("mock") or {}).get("bytes", 1000))
        response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
        await response.prepare(request)
        piece = b"\xff\xfb" * (32 * 1024)
        sent = 0
        while sent < size:
            chunk = piece[: size - sent]
            await response.write(chunk)
            sent += len(chunk)
        await response.write_eof()
        return response


def _base64(values: list[float]) -> str:
    return base64.b64encode(array("f", values).tobytes()).decode()
