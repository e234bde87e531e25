"""Fixtures for the end-to-end sync suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tansu import TansuBroker


@pytest.fixture
def tansu() -> Iterator[TansuBroker]:
    """A fresh broker per test: topics and group offsets never leak between tests."""
    with TansuBroker() as broker:
        yield broker
