from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gateway import RunningGateway, base_yaml, start_gateway
from tests.support.mock_upstream import RunningMock, mock_provider

#: The memory fixtures (the embedding model, Chroma, gateways with memory on), shared by the tests
#: of context/, store/ and api/; each starts only when a test asks for it.
pytest_plugins = ["tests.support.memory_fixtures"]


@pytest.fixture(scope="session")
def mock_server() -> Iterator[RunningMock]:
    with mock_provider() as running:
        yield running


@pytest.fixture
def mock(mock_server: RunningMock) -> RunningMock:
    """The shared mock provider, with its record cleared for this test."""
    mock_server.state.requests.clear()
    mock_server.state.failures.clear()
    mock_server.state.abandoned.clear()
    mock_server.state.abandoned_event.clear()
    mock_server.state.release.clear()
    return mock_server


@pytest.fixture(scope="session")
def gateway(mock_server: RunningMock) -> Iterator[RunningGateway]:
    """A gateway (memory off) in front of the mock provider, shared by the proxy tests."""
    with start_gateway(base_yaml(mock_server.base_url)) as running:
        yield running
