"""Fixtures the inbox tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import LoopbackResolver
from tests.fakes import FakeRemote, shared_key


@pytest.fixture
async def mastodon(resolver: LoopbackResolver) -> AsyncIterator[FakeRemote]:
    """A Mastodon server with two people, bob and carol."""
    fake = FakeRemote("mastodon.example", shared_key())
    fake.add_person("bob")
    fake.add_person("carol")
    await fake.start(resolver)
    yield fake
    await fake.stop()
