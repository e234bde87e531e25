"""Run a Google end-to-end harness on a chosen backend: SQLite/PostgreSQL store, embedded bus/Kafka.

    @pytest.fixture
    async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
        async with harness_on(request, getattr(request, "param", "sqlite")) as h:
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

from tests.sync.harness import Harness, running_harness
from tests.tansu import TansuBroker

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("kafka", id="kafka", marks=[pytest.mark.kafka, pytest.mark.slow]),
]


@asynccontextmanager
async def harness_on(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Harness]:
    from tests.conftest import _migrate

    url: str = request.getfixturevalue("postgres_url" if backend == "postgres" else "sqlite_url")
    _migrate(url)
    if backend == "kafka":
        with TansuBroker() as broker:
            async with running_harness(url, kafka=broker.bootstrap) as h:
                yield h
    else:
        async with running_harness(url) as h:
            yield h
