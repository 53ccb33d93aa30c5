"""The row ↔ domain mapping on its own (no database): every field of every value object is
written, read back equal, and a document of the wrong shape is refused, not half-read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import attrs
import pytest
from sqlalchemy.dialects import sqlite

from adapters.sql import mapping
from adapters.sql.tables import UtcDateTime
from tests.sql.builders import (
    advisor,
    customer,
    financing,
    full_order,
    payment,
    refund,
    reservation,
    trade_in_offer,
    vehicle,
)


def _through_json(document: Any) -> Any:
    """What a JSON column gives back: the document after a trip through JSON text."""
    return json.loads(json.dumps(document))


def _field_names(value: Any) -> set[str]:
    return {f.name for f in attrs.fields(type(value))}


ORDER = full_order()

VALUE_MAPPINGS = [
    pytest.param(ORDER.contact, mapping.contact_to_json, mapping.contact_from_json, id="contact"),
    pytest.param(ORDER.contact.address, mapping.address_to_json, mapping.address_from_json, id="address"),
    pytest.param(ORDER.pricing, mapping.pricing_to_json, mapping.pricing_from_json, id="pricing"),
    pytest.param(ORDER.pricing.tax, mapping.tax_to_json, mapping.tax_from_json, id="tax"),
    pytest.param(ORDER.pricing.tax.lines[1], mapping.tax_line_to_json, mapping.tax_line_from_json, id="tax-line"),
    pytest.param(ORDER.payment, mapping.payment_plan_to_json, mapping.payment_plan_from_json, id="payment-plan"),
    pytest.param(ORDER.trade_in, mapping.trade_in_to_json, mapping.trade_in_from_json, id="trade-in"),
    pytest.param(ORDER.delivery, mapping.delivery_to_json, mapping.delivery_from_json, id="delivery"),
    pytest.param(ORDER.documents[0], mapping.document_to_json, mapping.document_from_json, id="document"),
    pytest.param(ORDER.insurance, mapping.insurance_to_json, mapping.insurance_from_json, id="insurance"),
    pytest.param(ORDER.envelope, mapping.envelope_to_json, mapping.envelope_from_json, id="envelope"),
    pytest.param(ORDER.paid, mapping.money_to_json, mapping.money_from_json, id="money"),
]


@pytest.mark.parametrize(("value", "to_json", "from_json"), VALUE_MAPPINGS)
def test_value_objects_round_trip_with_every_field(value: Any, to_json: Any, from_json: Any) -> None:
    document = to_json(value)
    assert set(document) == _field_names(value), "a field is missing from (or extra in) the stored document"
    assert from_json(_through_json(document)) == value


ROW_MAPPINGS = [
    pytest.param(vehicle(), mapping.vehicle_to_row, mapping.vehicle_from_row, id="vehicle"),
    pytest.param(reservation(), mapping.reservation_to_row, mapping.reservation_from_row, id="reservation"),
    pytest.param(payment(order_id="ord_1"), mapping.payment_to_row, mapping.payment_from_row, id="payment"),
    pytest.param(refund(), mapping.refund_to_row, mapping.refund_from_row, id="refund"),
    pytest.param(customer(), mapping.customer_to_row, mapping.customer_from_row, id="customer"),
    pytest.param(advisor(), mapping.advisor_to_row, mapping.advisor_from_row, id="advisor"),
    pytest.param(trade_in_offer(), mapping.trade_in_offer_to_row, mapping.trade_in_offer_from_row, id="trade-in"),
    pytest.param(financing(), mapping.financing_to_row, mapping.financing_from_row, id="financing"),
]


@pytest.mark.parametrize(("value", "to_row", "from_row"), ROW_MAPPINGS)
def test_rows_round_trip(value: Any, to_row: Any, from_row: Any) -> None:
    assert from_row(to_row(value)) == value


def test_order_row_covers_every_field() -> None:
    row = mapping.order_to_row(ORDER)
    json_columns = ("contact", "pricing", "payment_plan", "trade_in", "delivery", "documents", "insurance", "envelope")
    through_db = {k: _through_json(v) if k in json_columns else v for k, v in row.items()}
    assert mapping.order_from_row(through_db) == ORDER
    stored_as = {"payment_plan": "payment", "paid_cents": "paid", "refunded_cents": "refunded"}
    derived = {"currency", "awaits_agreement"}  # written for queries, read back from the fields
    covered = {stored_as.get(k, k) for k in row} - derived
    assert covered == _field_names(ORDER) - {"pending_events"}
    assert row["awaits_agreement"] is ORDER.awaits_agreement


def test_decimal_rates_are_text_never_floats() -> None:
    document = mapping.payment_plan_to_json(ORDER.payment)
    assert document["apr_percent"] == "5.2170"
    tax = mapping.tax_to_json(ORDER.pricing.tax)
    assert tax["rate"] == "0.14975"
    assert [line["rate"] for line in tax["lines"]] == ["0.05", "0.09975"]
    with pytest.raises(mapping.CorruptRecord):
        mapping.tax_line_from_json({"kind": "GST", "rate": 0.05, "amount": {"cents": 1, "currency": "CAD"}})


@pytest.mark.parametrize(
    "document",
    [
        {"cents": "100", "currency": "CAD"},
        {"cents": 1.5, "currency": "CAD"},
        {"cents": True, "currency": "CAD"},
        {"cents": 100},
        [100, "CAD"],
    ],
)
def test_malformed_money_is_refused(document: Any) -> None:
    with pytest.raises(mapping.CorruptRecord):
        mapping.money_from_json(document)


def test_times_must_carry_an_offset() -> None:
    envelope = mapping.envelope_to_json(ORDER.envelope)  # type: ignore[arg-type]  # the builder sets it
    envelope["expires_at"] = "2025-12-24T10:30:00"
    with pytest.raises(mapping.CorruptRecord, match="offset"):
        mapping.envelope_from_json(envelope)
    with pytest.raises(ValueError, match="naive"):
        mapping.datetime_to_json(datetime(2025, 12, 24, 10, 30))


def test_utc_column_type_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2025, 12, 24), sqlite.dialect())


def test_a_changed_tax_total_does_not_load() -> None:
    # TaxBreakdown re-checks its invariants on load, so a tampered document cannot produce a
    # total that disagrees with its lines.
    tax = mapping.tax_to_json(ORDER.pricing.tax)
    tax["total"]["cents"] += 1
    with pytest.raises(ValueError, match="tax total"):
        mapping.tax_from_json(tax)
