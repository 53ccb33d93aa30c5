"""Fixtures: the fake Dropbox Sign API on a free local port, and the real adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.signing.dropbox_sign import DropboxSignSigner
from adapters.system.clock import FixedClock
from tests.signing.fake_dropbox_sign import API_KEY, CLIENT_ID, FakeDropboxSign


@pytest.fixture
def fake(clock: FixedClock) -> Iterator[FakeDropboxSign]:
    """A fresh fake per test, on the same clock as the adapter; stopped afterwards."""
    server = FakeDropboxSign(clock)
    yield server
    server.close()


@pytest.fixture
def signer(fake: FakeDropboxSign, clock: FixedClock) -> Iterator[DropboxSignSigner]:
    """The adapter in embedded mode (with a client id), through the official SDK, on the fake."""
    adapter = DropboxSignSigner(API_KEY, api_base=fake.url, client_id=CLIENT_ID, clock=clock, timeout=5)
    yield adapter
    adapter.close()


@pytest.fixture
def email_signer(fake: FakeDropboxSign, clock: FixedClock) -> Iterator[DropboxSignSigner]:
    """The adapter without a client id: requests are sent by e-mail."""
    adapter = DropboxSignSigner(API_KEY, api_base=fake.url, clock=clock, timeout=5)
    yield adapter
    adapter.close()
