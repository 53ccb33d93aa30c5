"""Core pieces behind the audit, decline and reconciliation endpoints and commands: declining
through a signing link, the audit trail's and the verification's views, the reconciliation
period of whole days and the report's view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.system.clock import FixedClock
from checkout_core.errors import NotFound, SigningNotAvailable, ValidationFailed
from checkout_core.model.audit import GENESIS_HASH
from checkout_core.money import Money
from checkout_core.ports.payments import GatewayRecord
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.orders import (
    decline_signing_link,
    envelope_for_signing,
    place_order,
    record_signing_view,
    start_signing,
)
from checkout_core.usecases.reconciliation import (
    CHARGE,
    LedgerEntry,
    compare,
    period_of_days,
)
from checkout_core.usecases.reservations import reserve_vehicle
from checkout_core.usecases.signing_audit import audit_entries, verify_order_documents
from entrypoints.bootstrap import App
from entrypoints.views import audit_entry_to_dict, reconciliation_to_dict, verification_to_dict
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)


def _order(app: App) -> str:
    reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(app.ctx, JOHN, spec_order(reservation.id)).id


# -- declining through the signing link ---------------------------------------------------------


def test_declining_a_valid_link_closes_it_and_the_next_request_opens_a_new_envelope(memory_app: App) -> None:
    order_id = _order(memory_app)
    envelope = start_signing(memory_app.ctx, JOHN, order_id)

    order = decline_signing_link(
        memory_app.ctx, order_id=order_id, envelope_id=envelope.id, ip_address="192.0.2.1", user_agent="ua"
    )

    assert order.envelope is not None
    assert order.envelope.status == "declined"
    with pytest.raises(SigningNotAvailable, match="declined"):
        envelope_for_signing(memory_app.ctx, order_id, envelope.id)
    declined = audit_entries(memory_app.ctx, JOHN, order_id)[-1]
    assert (declined.action.value, declined.ip_address, declined.user_agent) == ("declined", "192.0.2.1", "ua")
    assert start_signing(memory_app.ctx, JOHN, order_id).id != envelope.id


def test_an_expired_or_foreign_link_cannot_be_declined(memory_app: App, clock: FixedClock) -> None:
    order_id = _order(memory_app)
    envelope = start_signing(memory_app.ctx, JOHN, order_id)
    with pytest.raises(NotFound):
        decline_signing_link(memory_app.ctx, order_id=order_id, envelope_id="env_other", ip_address="", user_agent="")
    clock.advance(memory_app.ctx.policy.signing_link_ttl)
    with pytest.raises(SigningNotAvailable, match="expired"):
        decline_signing_link(memory_app.ctx, order_id=order_id, envelope_id=envelope.id, ip_address="", user_agent="")
    with pytest.raises(SigningNotAvailable, match="expired"):
        record_signing_view(memory_app.ctx, order_id=order_id, envelope_id=envelope.id, ip_address="", user_agent="")
    assert [e.action.value for e in audit_entries(memory_app.ctx, JOHN, order_id)] == ["created", "sent"]


# -- the views --------------------------------------------------------------------------------


def test_the_audit_entry_view_has_every_field_but_the_envelope_id(memory_app: App) -> None:
    order_id = _order(memory_app)
    envelope = start_signing(memory_app.ctx, JOHN, order_id)
    record_signing_view(
        memory_app.ctx, order_id=order_id, envelope_id=envelope.id, ip_address="198.51.100.1", user_agent="Firefox"
    )
    first, _, viewed = audit_entries(memory_app.ctx, SARAH, order_id)

    view = audit_entry_to_dict(viewed)

    assert view == {
        "sequence": 2,
        "action": "viewed",
        "occurredAt": "2025-12-23T10:30:00Z",
        "signerName": "John Doe",
        "signerEmail": "john@example.com",
        "ipAddress": "198.51.100.1",
        "userAgent": "Firefox",
        "documentSha256": viewed.document_sha256,
        "prevHash": viewed.prev_hash,
        "entryHash": viewed.entry_hash,
    }
    assert envelope.id not in str(view)
    assert audit_entry_to_dict(first)["prevHash"] == GENESIS_HASH


def test_the_verification_view(memory_app: App) -> None:
    order_id = _order(memory_app)
    start_signing(memory_app.ctx, JOHN, order_id)
    assert verification_to_dict(verify_order_documents(memory_app.ctx, SARAH, order_id)) == {
        "orderId": order_id,
        "ok": True,
        "entries": 2,
        "documents": 1,
        "chainProblems": [],
        "documentProblems": [],
        "seals": [],  # nothing signed yet: no seal to check
    }


# -- reconciliation ---------------------------------------------------------------------------


def test_a_period_of_days_includes_both_ends_in_utc() -> None:
    assert period_of_days(date(2025, 12, 1), date(2025, 12, 31)) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    since, until = period_of_days(date(2025, 12, 23), date(2025, 12, 23))
    assert until - since == timedelta(days=1)


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        period_of_days(date(2025, 12, 24), date(2025, 12, 23))
    assert refused.value.details["field"] == "until"


def test_the_report_view_has_every_bucket_with_its_count_and_items() -> None:
    at = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
    since, until = period_of_days(date(2025, 12, 23), date(2025, 12, 23))
    ours = LedgerEntry(
        kind=CHARGE,
        id="pay_1",
        payment_id="pay_1",
        amount=Money(10000),
        status="succeeded",
        idempotency_key="res_1:deposit",
        gateway_ref="pi_1",
        created_at=at,
    )
    theirs = GatewayRecord(kind=CHARGE, ref="pi_1", amount=Money(10000), status="succeeded", created_at=at)
    stray = GatewayRecord(kind=CHARGE, ref="pi_2", amount=Money(500), status="succeeded", created_at=at)

    view = reconciliation_to_dict(compare([ours], [theirs, stray], since=since, until=until, gateway="sandbox"))

    assert (view["since"], view["until"], view["gateway"], view["clean"]) == (
        "2025-12-23T00:00:00Z",
        "2025-12-24T00:00:00Z",
        "sandbox",
        False,
    )
    assert list(view["buckets"]) == [
        "matched",
        "missingInLedger",
        "missingAtGateway",
        "amountMismatch",
        "statusMismatch",
    ]
    assert {name: bucket["count"] for name, bucket in view["buckets"].items()} == {
        "matched": 1,
        "missingInLedger": 1,
        "missingAtGateway": 0,
        "amountMismatch": 0,
        "statusMismatch": 0,
    }
    [pair] = view["buckets"]["matched"]["items"]
    assert pair == {
        "matchedBy": "gatewayRef",
        "ledger": {
            "kind": "charge",
            "id": "pay_1",
            "paymentId": "pay_1",
            "amount": 10000,
            "currency": "cad",
            "status": "succeeded",
            "idempotencyKey": "res_1:deposit",
            "gatewayRef": "pi_1",
            "createdAt": "2025-12-23T10:30:00Z",
        },
        "gateway": {
            "kind": "charge",
            "ref": "pi_1",
            "amount": 10000,
            "currency": "cad",
            "status": "succeeded",
            "idempotencyKey": None,
            "ledgerId": None,
            "createdAt": "2025-12-23T10:30:00Z",
        },
    }
    assert view["buckets"]["missingInLedger"]["items"][0]["ref"] == "pi_2"
