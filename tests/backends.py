"""Run an end-to-end harness on a chosen backend: SQLite/PostgreSQL store, embedded bus/Kafka.

Google (``tests/sync/harness.py``) and Graph (``tests/graph/harness.py``) alike::

    @pytest.fixture
    async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
        async with harness_on(request, getattr(request, "param", "sqlite")) as h:   # or graph_on
            yield h

    @pytest.mark.parametrize("harness", BACKENDS, indirect=True)
    async def test_...(harness: Harness) -> None: ...

``postgres`` takes the ``postgres_url`` fixture (skips cleanly when PostgreSQL is unreachable);
``kafka`` runs SQLite with a fresh Tansu broker per test (idempotence off, as Tansu needs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.graph.harness import Stack, graph_stack
from tests.sync.harness import Harness, running_harness
from tests.tansu import TansuBroker

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("kafka", id="kafka", marks=[pytest.mark.kafka, pytest.mark.slow]),
]


@asynccontextmanager
async def store_and_bus(
    request: pytest.FixtureRequest, backend: str
) -> AsyncIterator[tuple[str, str | None]]:
    """(migrated database URL, Kafka bootstrap or None for the embedded bus) for ``backend``."""
    from tests.conftest import _migrate

    url: str = request.getfixturevalue("postgres_url" if backend == "postgres" else "sqlite_url")
    _migrate(url)
    if backend == "kafka":
        with TansuBroker() as broker:
            yield url, broker.bootstrap
    else:
        yield url, None


@asynccontextmanager
async def harness_on(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Harness]:
    """The Google emulator and the daemon on ``backend``."""
    async with store_and_bus(request, backend) as (url, kafka), running_harness(url, kafka=kafka) as h:
        yield h


@asynccontextmanager
async def graph_on(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Stack]:
    """The Graph emulator and the daemon on ``backend``."""
    async with (
        store_and_bus(request, backend) as (url, kafka),
        graph_stack(url, (kafka,) if kafka else ()) as s,
    ):
        yield s
