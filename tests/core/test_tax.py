"""Canadian sales tax: the rate table, every jurisdiction, B.C.'s tiers, per-component rounding."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout_core.errors import ValidationFailed
from checkout_core.money import Money
from checkout_core.tax import (
    PROVINCES,
    TAX_KINDS,
    TAX_TABLE,
    RateTier,
    TaxBreakdown,
    TaxComponent,
    TaxLine,
    compute_sales_tax,
    normalize_province,
    rates_in_force,
)

TODAY = date(2025, 12, 23)
SPEC_SUBTOTAL = Money(1764800)


def _lines(breakdown: TaxBreakdown) -> list[tuple[str, str, int]]:
    return [(line.kind, str(line.rate), line.amount.cents) for line in breakdown.lines]


# Expected tax on the spec's subtotal ($17,648.00) in every jurisdiction, by hand:
# 5 % = 88240, 6 % = 105888, 7 % = 123536, 9.975 % = 176038.8 → 176039, 13 % = 229424,
# 14 % = 247072, 15 % = 264720.
EVERY_JURISDICTION = [
    ("AB", [("GST", "0.05", 88240)], "0.05"),
    ("BC", [("GST", "0.05", 88240), ("PST", "0.07", 123536)], "0.12"),
    ("MB", [("GST", "0.05", 88240), ("RST", "0.07", 123536)], "0.12"),
    ("NB", [("HST", "0.15", 264720)], "0.15"),
    ("NL", [("HST", "0.15", 264720)], "0.15"),
    ("NS", [("HST", "0.14", 247072)], "0.14"),
    ("NT", [("GST", "0.05", 88240)], "0.05"),
    ("NU", [("GST", "0.05", 88240)], "0.05"),
    ("ON", [("HST", "0.13", 229424)], "0.13"),
    ("PE", [("HST", "0.15", 264720)], "0.15"),
    ("QC", [("GST", "0.05", 88240), ("QST", "0.09975", 176039)], "0.14975"),
    ("SK", [("GST", "0.05", 88240), ("PST", "0.06", 105888)], "0.11"),
    ("YT", [("GST", "0.05", 88240)], "0.05"),
]


def test_the_table_covers_the_13_jurisdictions() -> None:
    assert len(PROVINCES) == 13
    assert {row.province for row in TAX_TABLE} == set(PROVINCES)
    assert {code for code, _, _ in EVERY_JURISDICTION} == set(PROVINCES)


@pytest.mark.parametrize(("province", "expected", "rate"), EVERY_JURISDICTION)
def test_every_jurisdiction(province: str, expected: list[tuple[str, str, int]], rate: str) -> None:
    breakdown = compute_sales_tax(province, SPEC_SUBTOTAL, TODAY)
    assert breakdown.province == province
    assert _lines(breakdown) == expected
    assert breakdown.total.cents == sum(amount for _, _, amount in expected)
    assert breakdown.rate == Decimal(rate)
    assert str(breakdown.rate) == rate


def test_the_spec_example_ontario() -> None:
    breakdown = compute_sales_tax("ON", SPEC_SUBTOTAL, TODAY)
    assert breakdown == TaxBreakdown(
        province="ON",
        taxable=SPEC_SUBTOTAL,
        lines=(TaxLine("HST", Decimal("0.13"), Money(229424)),),
        total=Money(229424),
        rate=Decimal("0.13"),
    )


def test_quebec_rounds_gst_and_qst_separately() -> None:
    # GST 5 % of 2000010 = 100000.5 → 100001; QST 9.975 % = 199500.9975 → 199501.
    # One rounding of the combined 14.975 % would give 299501.4975 → 299501, a cent less.
    breakdown = compute_sales_tax("QC", Money(2000010), TODAY)
    assert _lines(breakdown) == [("GST", "0.05", 100001), ("QST", "0.09975", 199501)]
    assert breakdown.total == Money(299502)
    assert Money(2000010).times(Decimal("0.14975")) == Money(299501)


def test_quebec_each_component_rounds_half_up() -> None:
    # 30 cents: GST 1.5 → 2, QST 2.9925 → 3.
    assert _lines(compute_sales_tax("QC", Money(30), TODAY)) == [("GST", "0.05", 2), ("QST", "0.09975", 3)]


@pytest.mark.parametrize(
    ("on", "rate", "amount"),
    [
        (date(2010, 7, 1), "0.15", 264720),
        (date(2025, 3, 31), "0.15", 264720),
        (date(2025, 4, 1), "0.14", 247072),
        (date(2030, 1, 1), "0.14", 247072),
    ],
)
def test_nova_scotia_hst_drops_to_14_percent_on_2025_04_01(on: date, rate: str, amount: int) -> None:
    breakdown = compute_sales_tax("NS", SPEC_SUBTOTAL, on)
    assert _lines(breakdown) == [("HST", rate, amount)]


@pytest.mark.parametrize(
    ("basis_cents", "pst_rate"),
    [
        (0, "0.07"),
        (5499999, "0.07"),
        (5500000, "0.08"),
        (5599999, "0.08"),
        (5600000, "0.09"),
        (5699999, "0.09"),
        (5700000, "0.10"),
        (12499999, "0.10"),
        (12500000, "0.15"),
        (14999999, "0.15"),
        (15000000, "0.20"),
        (99999999, "0.20"),
    ],
)
def test_bc_passenger_vehicle_tiers_switch_the_whole_rate(basis_cents: int, pst_rate: str) -> None:
    basis = Money(basis_cents)
    breakdown = compute_sales_tax("BC", basis, TODAY, tier_basis=basis)
    gst, pst = breakdown.lines
    assert (gst.kind, gst.rate) == ("GST", Decimal("0.05"))
    assert (pst.kind, pst.rate) == ("PST", Decimal(pst_rate))
    # Not marginal: the tier rate applies to the whole amount.
    assert pst.amount == basis.times(Decimal(pst_rate))
    assert breakdown.rate == Decimal("0.05") + Decimal(pst_rate)


def test_bc_tier_basis_is_separate_from_the_taxable_amount() -> None:
    # A $60,000 car with a $10,000 trade-in: 10 % (the price's tier) on $50,000.
    breakdown = compute_sales_tax("BC", Money(5000000), TODAY, tier_basis=Money(6000000))
    assert _lines(breakdown) == [("GST", "0.05", 250000), ("PST", "0.10", 500000)]
    # Without a tier basis, the taxable amount picks the tier.
    assert _lines(compute_sales_tax("BC", Money(5000000), TODAY))[1] == ("PST", "0.07", 350000)


def test_tiers_only_matter_in_bc() -> None:
    on = compute_sales_tax("ON", Money(100000), TODAY, tier_basis=Money(20000000))
    assert _lines(on) == [("HST", "0.13", 13000)]


@pytest.mark.parametrize("taxable", [-1, -800000])
def test_negative_taxable_owes_no_tax(taxable: int) -> None:
    breakdown = compute_sales_tax("QC", Money(taxable), TODAY)
    assert breakdown.total == Money(0)
    assert [line.amount for line in breakdown.lines] == [Money(0), Money(0)]
    assert breakdown.rate == Decimal("0.14975")
    assert breakdown.taxable == Money(taxable)


def test_zero_taxable() -> None:
    assert compute_sales_tax("ON", Money(0), TODAY).total == Money(0)


def test_unknown_province_lists_the_valid_codes() -> None:
    with pytest.raises(ValidationFailed) as caught:
        compute_sales_tax("XX", SPEC_SUBTOTAL, TODAY)
    assert "'XX'" in caught.value.message
    for code in PROVINCES:
        assert code in caught.value.message
    assert caught.value.details["allowed"] == list(PROVINCES)
    assert caught.value.code == "validation_error"


@pytest.mark.parametrize("bad", ["", "Ontario", "O N", "QUE"])
def test_other_bad_province_codes(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        rates_in_force(bad, TODAY)


def test_province_code_case_and_blanks_are_forgiven() -> None:
    assert normalize_province(" on ") == "ON"
    assert compute_sales_tax("qc", SPEC_SUBTOTAL, TODAY).province == "QC"


def test_date_before_the_table_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no sales tax rates are known for BC on 2018-03-31"):
        rates_in_force("BC", date(2018, 3, 31))
    assert rates_in_force("BC", date(2018, 4, 1)).province == "BC"


def test_rows_of_each_province_are_contiguous_and_the_last_is_open() -> None:
    for code in PROVINCES:
        rows = sorted((row for row in TAX_TABLE if row.province == code), key=lambda r: r.effective_from)
        for earlier, later in itertools.pairwise(rows):
            assert earlier.effective_to is not None
            assert later.effective_from == earlier.effective_to + timedelta(days=1)
        assert rows[-1].effective_to is None
        for row in rows:
            assert all(component.kind in TAX_KINDS for component in row.components)


def test_the_table_refuses_percentages_where_fractions_belong() -> None:
    with pytest.raises(ValueError, match="fraction"):
        TaxComponent("HST", Decimal(13))
    with pytest.raises(ValueError, match="fraction"):
        RateTier(Money(100), Decimal("1.5"))
    with pytest.raises(ValueError, match="ascending"):
        TaxComponent(
            "PST",
            Decimal("0.07"),
            tiers=(RateTier(Money(200), Decimal("0.09")), RateTier(Money(100), Decimal("0.08"))),
        )
    with pytest.raises(ValueError, match="kind"):
        TaxComponent("VAT", Decimal("0.05"))


def test_a_breakdown_cannot_disagree_with_its_lines() -> None:
    line = TaxLine("HST", Decimal("0.13"), Money(13))
    with pytest.raises(ValueError, match="total"):
        TaxBreakdown("ON", Money(100), (line,), Money(14), Decimal("0.13"))
    with pytest.raises(ValueError, match="rate"):
        TaxBreakdown("ON", Money(100), (line,), Money(13), Decimal("0.15"))


# From the first day every jurisdiction has a row in the table.
COVERED_FROM = max(min(r.effective_from for r in TAX_TABLE if r.province == p) for p in PROVINCES)
dates = st.dates(min_value=COVERED_FROM, max_value=date(2035, 12, 31))
amounts = st.integers(min_value=-(10**9), max_value=10**10)


@given(st.sampled_from(PROVINCES), amounts, dates, st.integers(min_value=0, max_value=10**10))
def test_tax_properties(province: str, taxable_cents: int, on: date, basis_cents: int) -> None:
    taxable = Money(taxable_cents)
    breakdown = compute_sales_tax(province, taxable, on, tier_basis=Money(basis_cents))
    # Components add up to the tax, and their rates to the rate.
    assert breakdown.total.cents == sum(line.amount.cents for line in breakdown.lines)
    assert breakdown.rate == sum((line.rate for line in breakdown.lines), Decimal(0))
    for line in breakdown.lines:
        # Never a negative tax.
        assert line.amount.cents >= 0
        # Each component is within half a cent of its exact value.
        exact = Decimal(max(taxable_cents, 0)) * line.rate
        assert abs(Decimal(line.amount.cents) - exact) <= Decimal("0.5")
    # Separate rounding can drift from one rounding of the combined rate by at most
    # half a cent per component.
    exact_total = Decimal(max(taxable_cents, 0)) * breakdown.rate
    assert abs(Decimal(breakdown.total.cents) - exact_total) <= Decimal("0.5") * len(breakdown.lines)
