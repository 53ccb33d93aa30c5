"""The Dropbox Sign adapter behind the core's use cases, and chosen by the composition root."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from adapters.signing.dropbox_sign import DropboxSignSigner
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import SigningNotAvailable
from checkout_core.model.order import DocumentKind, OrderStatus
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import EnvelopeSync, place_order, start_signing, sync_open_envelopes
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import App, bootstrap, bootstrap_in_memory
from entrypoints.settings import load_settings
from tests.conftest import SPEC_NOW
from tests.core.spec_example import spec_order
from tests.signing.fake_dropbox_sign import API_KEY, CLIENT_ID, FakeDropboxSign

JOHN = Actor("cus_demo")


@pytest.fixture
def app(clock: FixedClock, signer: DropboxSignSigner) -> Iterator[App]:
    """The core in memory, demo data loaded, signing through Dropbox Sign (the fake)."""
    app = bootstrap_in_memory(clock=clock, ids=SequentialIds())
    app.ctx = attrs.evolve(app.ctx, signer=signer)
    load_demo(app.ctx.uow)
    yield app
    app.close()


def _order(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(app.ctx, JOHN, spec_order(reservation.id)).id


def test_start_signing_opens_a_dropbox_sign_request_with_the_agreement(app: App, fake: FakeDropboxSign) -> None:
    order_id = _order(app)
    envelope = start_signing(app.ctx, JOHN, order_id)

    request = fake.only()
    assert (envelope.id, envelope.provider) == (request.signature_request_id, "dropbox_sign")
    assert request.metadata == {"order_id": order_id}
    assert (request.signatures[0].signer_name, request.signatures[0].signer_email_address) == (
        "John Doe",
        "john@example.com",
    )
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    assert agreement is not None
    assert request.document.content == app.ctx.documents.get(agreement.storage_key)
    assert envelope.expires_at >= SPEC_NOW + app.ctx.policy.signing_link_ttl


def test_asking_again_reuses_the_envelope_until_it_expires_then_opens_a_new_one(
    app: App, fake: FakeDropboxSign, clock: FixedClock, signer: DropboxSignSigner
) -> None:
    order_id = _order(app)
    first = start_signing(app.ctx, JOHN, order_id)
    assert start_signing(app.ctx, JOHN, order_id) == first
    assert len(fake.requests) == 1

    clock.set(first.expires_at + timedelta(seconds=1))
    second = start_signing(app.ctx, JOHN, order_id)
    assert second.id != first.id
    assert second.expires_at > first.expires_at
    assert len(fake.requests) == 2

    # The old request is dead at the provider too: its link cannot be used any more.
    with pytest.raises(SigningNotAvailable):
        signer.sign_url(first.id)
    assert signer.sign_url(second.id).startswith("https://app.hellosign.com/")


def test_callbacks_name_the_order_of_the_current_envelope(
    app: App, fake: FakeDropboxSign, signer: DropboxSignSigner
) -> None:
    order_id = _order(app)
    envelope = start_signing(app.ctx, JOHN, order_id)
    fake.sign(envelope.id)
    callback = signer.verify_callback(*fake.callback(envelope.id, "signature_request_all_signed"))
    assert (callback.order_id, callback.envelope_id, callback.event) == (order_id, envelope.id, "signed")
    assert signer.signed_document(envelope.id) is not None


def test_bootstrap_chooses_dropbox_sign(tmp_path: Path, fake: FakeDropboxSign, clock: FixedClock) -> None:
    settings = load_settings(
        {
            "CHECKOUT_DATA_DIR": str(tmp_path),
            "CHECKOUT_JWT_SECRET": "s" * 40,
            "CHECKOUT_SIGNING_PROVIDER": "dropbox_sign",
            "DROPBOX_SIGN_API_KEY": API_KEY,
            "CHECKOUT_DROPBOX_SIGN_API_BASE": fake.url,
            "DROPBOX_SIGN_CLIENT_ID": CLIENT_ID,
            "DROPBOX_SIGN_TEST_MODE": "true",  # stated: it has no default with the provider configured
        }
    )
    app = bootstrap(settings, clock=clock)
    try:
        signer = app.ctx.signer
        assert isinstance(signer, DropboxSignSigner)
        assert signer.provider == "dropbox_sign"
        # Configured from the settings: base URL, key (the fake checks it), client id, and the
        # app's clock (the fake checks expires_at against the same fixed clock).
        envelope = signer.create_envelope(
            order_id="ord_1",
            document=b"%PDF-1.4\n%%EOF\n",
            signer_name="John Doe",
            signer_email="john@example.com",
            expires_at=clock.now() + timedelta(hours=24),
        )
        assert fake.received[0].path == "/v3/signature_request/create_embedded"
        assert envelope.id == fake.only().signature_request_id
    finally:
        app.close()


def _order_status(app: App, order_id: str) -> OrderStatus:
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    return order.status


def test_lost_callbacks_are_made_up_for_by_asking_the_provider(
    app: App, fake: FakeDropboxSign, clock: FixedClock
) -> None:
    """The buyer signed at Dropbox Sign but no callback ever arrived (an outage longer than its
    retries): the sync job reads the request, finishes the signing, and does it once."""
    order_id = _order(app)
    envelope = start_signing(app.ctx, JOHN, order_id)
    assert sync_open_envelopes(app.ctx) == EnvelopeSync(asked=1, signed=0, declined=0, unavailable=0)
    assert _order_status(app, order_id) is OrderStatus.PENDING_DOCUMENTS

    clock.advance(timedelta(minutes=5))
    signed_pdf = fake.sign(envelope.id)
    clock.advance(timedelta(hours=2))  # long after: a callback this old would be refused as stale
    assert sync_open_envelopes(app.ctx) == EnvelopeSync(asked=1, signed=1, declined=0, unavailable=0)
    assert _order_status(app, order_id) is not OrderStatus.PENDING_DOCUMENTS
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
        trail = [e.action.value for e in uow.audit.entries(order_id)]
    assert order is not None
    signed = order.document(DocumentKind.SIGNED_AGREEMENT)
    assert signed is not None and app.ctx.documents.get(signed.storage_key) == signed_pdf
    assert "signed" in trail
    assert sync_open_envelopes(app.ctx) == EnvelopeSync(asked=0, signed=0, declined=0, unavailable=0)


def test_a_lost_decline_is_applied_and_an_unreachable_provider_is_counted(app: App, fake: FakeDropboxSign) -> None:
    order_id = _order(app)
    envelope = start_signing(app.ctx, JOHN, order_id)
    fake.decline(envelope.id)
    fake.fail_next(503)
    assert sync_open_envelopes(app.ctx) == EnvelopeSync(asked=0, signed=0, declined=0, unavailable=1)
    assert sync_open_envelopes(app.ctx) == EnvelopeSync(asked=1, signed=0, declined=1, unavailable=0)
    with app.ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None and order.envelope is not None and order.envelope.status != "sent"
