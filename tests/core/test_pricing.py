"""Pricing of a purchase: the spec's example to the cent, validation, B.C.'s tier basis."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money
from checkout_core.pricing import FeeSchedule, Pricing, price_purchase
from checkout_core.tax import PROVINCES
from entrypoints.views import pricing_to_dict

TODAY = date(2025, 12, 23)
SPEC_FEES = FeeSchedule(admin_fee=Money(49900), documentation_fee=Money(15000))


def _price(vehicle: int, trade_in: int = 0, province: str = "ON", fees: FeeSchedule = SPEC_FEES) -> Pricing:
    return price_purchase(
        vehicle_price=Money(vehicle), trade_in_credit=Money(trade_in), province=province, on=TODAY, fees=fees
    )


def test_the_spec_example_to_the_cent() -> None:
    pricing = _price(2499900, 800000)
    assert pricing.subtotal == Money(1764800)
    assert pricing.tax.total == Money(229424)
    assert pricing.tax.rate == Decimal("0.13")
    assert pricing.total_due == Money(1994224)
    assert pricing_to_dict(pricing) == {
        "vehiclePrice": 2499900,
        "tradeInCredit": -800000,
        "adminFee": 49900,
        "documentationFee": 15000,
        "subtotal": 1764800,
        "taxRate": 0.13,
        "taxAmount": 229424,
        "licenceFee": 0,
        "totalDue": 1994224,
        "taxes": [{"kind": "HST", "rate": 0.13, "amount": 229424}],
        "province": "ON",
    }


def test_the_dict_is_plain_json_and_rates_print_as_written() -> None:
    text = json.dumps(pricing_to_dict(_price(2499900, 800000, "QC")))
    assert '"taxRate": 0.14975' in text
    assert '"rate": 0.09975' in text


def test_default_fees_are_the_spec_fees() -> None:
    assert FeeSchedule() == SPEC_FEES
    assert FeeSchedule().total == Money(64900)


def test_fees_come_from_the_schedule() -> None:
    pricing = _price(1000000, fees=FeeSchedule(admin_fee=Money(0), documentation_fee=Money(100)))
    assert (pricing.admin_fee, pricing.documentation_fee) == (Money(0), Money(100))
    assert pricing.subtotal == Money(1000100)
    assert pricing.tax.total == Money(130013)


def test_no_trade_in() -> None:
    pricing = _price(2499900)
    assert pricing_to_dict(pricing)["tradeInCredit"] == 0
    assert pricing.subtotal == Money(2564800)
    assert pricing.total_due == Money(2564800 + 333424)


def test_trade_in_equal_to_the_price_leaves_only_the_fees() -> None:
    pricing = _price(1000000, 1000000)
    assert pricing.subtotal == Money(64900)
    assert pricing.tax.total == Money(8437)  # 13 % of 649.00 = 84.37


@pytest.mark.parametrize(
    ("vehicle", "trade_in", "field"),
    [(-1, 0, "vehiclePrice"), (1000000, -1, "tradeInCredit"), (1000000, 1000001, "tradeInCredit")],
)
def test_bad_amounts_are_refused(vehicle: int, trade_in: int, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _price(vehicle, trade_in)
    assert caught.value.details["field"] == field


def test_negative_fees_are_refused() -> None:
    with pytest.raises(ValueError, match="admin_fee"):
        FeeSchedule(admin_fee=Money(-1))
    with pytest.raises(ValueError, match="documentation_fee"):
        FeeSchedule(documentation_fee=Money(-1))


def test_unknown_province_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown province"):
        _price(2499900, province="ZZ")


def test_province_is_stored_canonical() -> None:
    assert _price(2499900, province="on").province == "ON"


def test_bc_tier_is_chosen_by_the_price_before_the_trade_in() -> None:
    # $60,000 car, $10,000 trade-in: taxable 50,649.00, but the purchase price puts it at 10 %.
    pricing = _price(6000000, 1000000, "BC")
    assert pricing.subtotal == Money(5064900)
    assert [(line.kind, line.rate, line.amount) for line in pricing.tax.lines] == [
        ("GST", Decimal("0.05"), Money(253245)),
        ("PST", Decimal("0.10"), Money(506490)),
    ]
    assert pricing.total_due == Money(5064900 + 253245 + 506490)


def test_bc_fees_are_part_of_the_purchase_price_that_picks_the_tier() -> None:
    # $54,500 + $649 of fees = $55,149: the 8 % tier, although the car alone is under $55,000.
    assert _price(5450000, 0, "BC").tax.lines[1].rate == Decimal("0.08")
    assert _price(5435099, 0, "BC").tax.lines[1].rate == Decimal("0.07")  # 54,350.99 + 649 = 54,999.99
    assert _price(5435100, 0, "BC").tax.lines[1].rate == Decimal("0.08")  # exactly 55,000.00


def test_quebec_purchase() -> None:
    pricing = _price(2499900, 800000, "QC")
    assert pricing_to_dict(pricing)["taxes"] == [
        {"kind": "GST", "rate": 0.05, "amount": 88240},
        {"kind": "QST", "rate": 0.09975, "amount": 176039},
    ]
    assert pricing.total_due == Money(1764800 + 88240 + 176039)


@given(
    st.sampled_from(PROVINCES),
    st.integers(min_value=0, max_value=10**9),
    st.data(),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**5),
)
def test_the_parts_add_up_to_the_total(
    province: str, vehicle: int, data: st.DataObject, admin: int, documentation: int, licence: int
) -> None:
    trade_in = data.draw(st.integers(min_value=0, max_value=vehicle))
    fees = FeeSchedule(admin_fee=Money(admin), documentation_fee=Money(documentation), licence_fee=Money(licence))
    pricing = _price(vehicle, trade_in, province, fees)
    assert pricing.subtotal.cents == vehicle - trade_in + admin + documentation  # the licence fee is not taxed
    assert pricing.tax.taxable == pricing.subtotal
    assert pricing.total_due == pricing.subtotal + pricing.tax.total + Money(licence)
    assert pricing.tax.total.cents == sum(line.amount.cents for line in pricing.tax.lines)
    assert pricing.tax.total.cents >= 0
    as_dict = pricing_to_dict(pricing)
    assert (
        as_dict["vehiclePrice"] + as_dict["tradeInCredit"] + as_dict["adminFee"] + as_dict["documentationFee"]
        == as_dict["subtotal"]
    )
    assert as_dict["subtotal"] + as_dict["taxAmount"] + as_dict["licenceFee"] == as_dict["totalDue"]
    assert sum(tax["amount"] for tax in as_dict["taxes"]) == as_dict["taxAmount"]


def test_a_licence_and_plate_fee_is_added_after_the_tax_and_not_taxed() -> None:
    """$59.00 of plates on the spec's Ontario purchase: the tax is the spec's, the total $59 more."""
    fees = attrs.evolve(SPEC_FEES, licence_fee=Money(5900))
    pricing = _price(2499900, 800000, "ON", fees)
    assert (pricing.subtotal, pricing.tax.total) == (Money(1764800), Money(229424))
    assert pricing.licence_fee == Money(5900)
    assert pricing.total_due == Money(1994224 + 5900)
    assert pricing_to_dict(pricing)["licenceFee"] == 5900
    # B.C.'s tier is chosen by the price and the taxable fees, not the plates: 54,350.99 + 649
    # stays under 55,000 with 59 of plates on top.
    assert _price(5435099, 0, "BC", fees).tax.lines[1].rate == Decimal("0.07")
    with pytest.raises(ValueError, match="licence_fee"):
        FeeSchedule(licence_fee=Money(-1))
