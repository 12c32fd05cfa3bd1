"""Every /v1/* endpoint the gateway does not own reaches the provider untouched, through the
official openai SDK pointed at a real gateway on loopback."""

from __future__ import annotations

import base64
import hashlib
import threading
from array import array
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import KEY, RunningGateway, free_port, spawn_gateway, start_gateway
from tests.support.mock_passthrough import vector
from tests.support.mock_upstream import RunningMock

PROVIDER_KEY = "sk-provider-secret-123"


def passthrough_yaml(mock_base_url: str) -> str:
    provider = f'api_base: "{mock_base_url}", api_key: {PROVIDER_KEY}, timeout_s: 5'
    return f"""
auth:
  keys:
    - {{key: {KEY}, tenant: acme}}
models:
  - {{name: mock, model: openai/mock-model, {provider}}}
  - {{name: embed, model: openai/text-embedding-mock, {provider}}}
  - {{name: whisper, model: openai/whisper-mock, {provider}}}
  - {{name: translated-embed, model: openai/text-embedding-mock, protocol: litellm, {provider}}}
  - {{name: echo, model: echo}}
routing: {{default_model: mock}}
memory: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def routed(mock_server: RunningMock) -> Iterator[RunningGateway]:
    with start_gateway(passthrough_yaml(mock_server.base_url)) as running:
        yield running


@pytest.fixture
def client(routed: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=routed.base_url, api_key=KEY, max_retries=0)


def test_embeddings_as_from_the_provider(client: openai.OpenAI, mock: RunningMock) -> None:
    # The SDK asks for base64 by default and decodes it itself.
    raw = client.embeddings.with_raw_response.create(
        model="embed",
        input=["hi", "there"],
        extra_headers={"X-User-Id": "alice", "OpenAI-Beta": "assistants=v2", "Cookie": "a=b"},
    )
    reply = raw.parse()
    assert [item.embedding for item in reply.data] == [vector("hi"), vector("there")]
    assert reply.model == "text-embedding-mock"
    assert raw.headers["x-request-id"] == "req-mock-embeddings"
    [received] = mock.state.requests
    assert received.path == "/v1/embeddings"
    assert received.body["model"] == "text-embedding-mock"
    assert received.body["encoding_format"] == "base64"
    # The gateway key never travels upstream; the provider's key does.
    assert received.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"
    assert KEY not in str(received.headers)
    # The client's own headers go on, but not the gateway's or its credentials.
    sent = {name.lower(): value for name, value in received.headers.items()}
    assert sent["openai-beta"] == "assistants=v2"
    assert "x-user-id" not in sent
    assert "cookie" not in sent


def test_embeddings_as_floats(client: openai.OpenAI, mock: RunningMock) -> None:
    reply = client.embeddings.create(model="embed", input="hi", encoding_format="float")
    assert reply.data[0].embedding == vector("hi")
    assert mock.state.requests[0].body["encoding_format"] == "float"


@pytest.mark.parametrize("encoding", ["base64", "float", None])
def test_translated_model_embeds_through_litellm(
    client: openai.OpenAI, mock: RunningMock, encoding: str | None
) -> None:
    extra = {} if encoding is None else {"encoding_format": encoding}
    reply = client.embeddings.create(model="translated-embed", input=["hi", "you"], **extra)  # type: ignore[arg-type]
    # Asked for explicitly, base64 is the caller's to decode; otherwise the SDK decodes it.
    vectors = [
        array("f", base64.b64decode(item.embedding)).tolist()
        if encoding == "base64"
        else item.embedding
        for item in reply.data
    ]
    assert vectors == [vector("hi"), vector("you")]
    assert reply.usage.prompt_tokens == 2
    # litellm made the call (its own request), with the provider's name for the model.
    [received] = mock.state.requests
    assert received.body["model"] == "text-embedding-mock"
    assert received.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"


def test_provider_error_reaches_the_sdk_as_its_own_exception(
    client: openai.OpenAI, mock: RunningMock
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="embed", input="hi", extra_body={"mock": {"status": 400}})
    assert raised.value.status_code == 400
    assert "mock embeddings refused" in str(raised.value)


def test_audio_upload_streams_through_with_the_model_renamed(
    client: openai.OpenAI, mock: RunningMock
) -> None:
    audio = bytes(range(256)) * 4096  # 1 MiB
    reply = client.audio.transcriptions.create(model="whisper", file=("hello.mp3", audio))
    assert reply.text == f"heard {len(audio)} bytes"
    [received] = mock.state.requests
    assert received.path == "/v1/audio/transcriptions"
    assert received.body["model"] == "whisper-mock"
    assert received.body["sha256"] == hashlib.sha256(audio).hexdigest()
    assert received.headers["Authorization"] == f"Bearer {PROVIDER_KEY}"


def test_file_upload_without_a_model_goes_to_the_default_model(
    client: openai.OpenAI, mock: RunningMock
) -> None:
    content = b'{"custom_id": "1"}\n' * 5000
    uploaded = client.files.create(file=("batch.jsonl", content), purpose="batch")
    assert uploaded.bytes == len(content)
    assert uploaded.filename == "batch.jsonl"
    [received] = mock.state.requests
    assert received.body["purpose"] == "batch"
    assert received.body["sha256"] == hashlib.sha256(content).hexdigest()


def test_upload_of_unknown_length_goes_chunked(routed: RunningGateway, mock: RunningMock) -> None:
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n",
    ]
    audio = b"RIFF" + b"\x01" * 300_000

    def body() -> Iterator[bytes]:
        yield from (part.encode() for part in parts)
        yield from (audio[i : i + 65536] for i in range(0, len(audio), 65536))
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{routed.base_url}/audio/transcriptions",
        content=body(),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"text": f"heard {len(audio)} bytes"}
    assert mock.state.requests[0].body["model"] == "whisper-mock"


def test_audio_answer_streams_back(client: openai.OpenAI, mock: RunningMock) -> None:
    size = 3 * 1024 * 1024 + 7
    with client.audio.speech.with_streaming_response.create(
        model="mock", voice="alloy", input="hello", extra_body={"mock": {"bytes": size}}
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        received = sum(len(chunk) for chunk in response.iter_bytes())
    assert received == size
    assert mock.state.requests[0].body["model"] == "mock-model"


def test_bodiless_request_keeps_its_query(routed: RunningGateway, mock: RunningMock) -> None:
    response = httpx.get(
        f"{routed.base_url}/files?limit=2&purpose=batch", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": [], "has_more": False}
    assert mock.state.requests[0].path == "/v1/files?limit=2&purpose=batch"


def test_gateway_key_is_required(routed: RunningGateway, mock: RunningMock) -> None:
    bad = openai.OpenAI(base_url=routed.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="embed", input="hi")
    assert mock.state.requests == []


def test_unknown_model_is_a_404_naming_it(client: openai.OpenAI, mock: RunningMock) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.embeddings.create(model="text-embedding-nope", input="hi")
    assert "text-embedding-nope" in str(raised.value)
    assert mock.state.requests == []


@pytest.mark.parametrize("model", ["translated-embed", "echo"])
def test_untranslatable_endpoint_is_a_400_naming_model_and_endpoint(
    client: openai.OpenAI, mock: RunningMock, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.transcriptions.create(model=model, file=("a.mp3", b"abc"))
    message = str(raised.value)
    assert f"'{model}'" in message
    assert "POST /v1/audio/transcriptions" in message
    assert raised.value.body["param"] == "model"  # type: ignore[index]
    assert mock.state.requests == []


def test_no_model_and_no_default_is_a_400(gateway: RunningGateway, mock: RunningMock) -> None:
    # The shared gateway has no routing.default_model.
    client = openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.list()
    assert "routing.default_model" in str(raised.value)
    assert mock.state.requests == []


def test_gateway_paths_are_not_passed_through(routed: RunningGateway, mock: RunningMock) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert httpx.put(f"{routed.base_url}/users/u1/memories", headers=auth).status_code == 405
    assert httpx.delete(f"{routed.base_url}/models", headers=auth).status_code == 405
    # The whole of /v1/users/ is the gateway's: a user id never reaches a provider.
    assert httpx.get(f"{routed.base_url}/users/u1/elsewhere", headers=auth).status_code == 404
    assert mock.state.requests == []


def test_each_endpoint_is_counted(
    routed: RunningGateway, client: openai.OpenAI, mock: RunningMock
) -> None:
    def count(endpoint: str, model: str, status: str) -> float:
        text = httpx.get(f"{routed.url}/metrics").text
        for family in text_string_to_metric_families(text):
            if family.name == "gateway_passthrough_requests":
                wanted = {"endpoint": endpoint, "model": model, "status_code": status}
                return sum(
                    s.value
                    for s in family.samples
                    if s.name.endswith("_total") and s.labels == wanted
                )
        return 0.0

    before = count("embeddings", "embed", "200"), count("audio/transcriptions", "echo", "400")
    client.embeddings.create(model="embed", input="hi")
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(model="echo", file=("a.mp3", b"abc"))
    after = count("embeddings", "embed", "200"), count("audio/transcriptions", "echo", "400")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


class RssPeak:
    """The most resident memory a process reached while the block ran, over what it held
    before, sampled every few milliseconds from /proc."""

    def __init__(self, pid: int) -> None:
        self._path = Path(f"/proc/{pid}/status")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.before = self.peak = self._rss()

    def _rss(self) -> int:
        for line in self._path.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 2**20


HUNDRED_MB = 100 * 1024 * 1024


@pytest.mark.slow
def test_100_mb_both_ways_with_flat_rss(mock_server: RunningMock, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(passthrough_yaml(mock_server.base_url))
    upload = tmp_path / "big.jsonl"
    with upload.open("wb") as out:
        block = bytes(range(256)) * 4096
        for _ in range(HUNDRED_MB // len(block)):
            out.write(block)
    process = spawn_gateway(config, port=free_port())
    try:
        client = openai.OpenAI(base_url=f"{process.url}/v1", api_key=KEY, max_retries=0)
        # Warm up both paths, so what is measured is the transfer, not first-use allocations.
        client.files.create(file=("warm.jsonl", block), purpose="batch")
        client.audio.speech.create(model="mock", voice="alloy", input="hi").read()
        with RssPeak(process.process.pid) as up, upload.open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="batch")
        with (
            RssPeak(process.process.pid) as down,
            client.audio.speech.with_streaming_response.create(
                model="mock", voice="alloy", input="hi", extra_body={"mock": {"bytes": HUNDRED_MB}}
            ) as response,
        ):
            downloaded = sum(len(chunk) for chunk in response.iter_bytes(1 << 20))
    finally:
        process.process.terminate()
        process.process.wait(timeout=15)
    assert uploaded.bytes == HUNDRED_MB
    assert downloaded == HUNDRED_MB
    print(f"gateway RSS growth: upload {up.growth_mib:.1f} MiB, download {down.growth_mib:.1f} MiB")
    assert up.growth_mib < 8, up.growth_mib
    assert down.growth_mib < 8, down.growth_mib
