"""Run an end-to-end harness on a chosen backend: SQLite/PostgreSQL store, embedded bus/Kafka.

Google (``tests/sync/harness.py``) and Graph (``tests/graph/harness.py``) alike::

    @pytest.fixture
    async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
        async with harness_on(request, getattr(request, "param", "sqlite")) as h:   # or graph_on
            yield h

    @pytest.mark.parametrize("harness", BACKENDS, indirect=True)
    async def test_...(harness: Harness) -> None: ...

A flow with several near-identical variants (``x`` below) runs every variant on SQLite and PostgreSQL
but only the representative ones on Kafka, whose broker costs ~5 s per test::

    @pytest.mark.parametrize(("harness", "x"), crossed(["a", "b"], on_kafka=["a"]), indirect=["harness"])

``postgres`` takes the ``postgres_url`` fixture (skips cleanly when PostgreSQL is unreachable);
``kafka`` runs SQLite with a fresh Tansu broker per test (idempotence off, as Tansu needs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager

import pytest
from _pytest.mark import ParameterSet

from tests.graph.harness import Stack, graph_stack
from tests.sync.harness import Harness, running_harness
from tests.tansu import TansuBroker

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("kafka", id="kafka", marks=[pytest.mark.kafka, pytest.mark.slow]),
]


def crossed(values: Sequence[str], *, on_kafka: Collection[str]) -> list[ParameterSet]:
    """``(backend, value)`` pairs, ids ``value-backend``: every value on every backend except Kafka,
    which gets only ``on_kafka``."""
    return [
        pytest.param(backend.values[0], value, id=f"{value}-{backend.id}", marks=backend.marks)
        for value in values
        for backend in BACKENDS
        if backend.id != "kafka" or value in on_kafka
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
