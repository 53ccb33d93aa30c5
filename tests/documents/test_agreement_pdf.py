"""The reportlab purchase agreement: deterministic, complete, and readable by machines."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import attrs
import pytest
from pypdf import PdfReader

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer, percent, printable
from checkout_core.model.order import DeliveryStatus, PaymentChoice
from checkout_core.model.vehicle import Disclosure, DisclosureKind
from checkout_core.ports.documents import AgreementInput


def _pages(pdf: bytes) -> list[str]:
    """Each page's text with whitespace normalised (extraction may break lines anywhere)."""
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def _text(pdf: bytes) -> str:
    return " ".join(_pages(pdf))


@pytest.fixture(scope="module")
def renderer() -> ReportlabAgreementRenderer:
    """The renderer with the default 10-day return policy."""
    return ReportlabAgreementRenderer()


def test_the_same_input_gives_the_same_bytes(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    first = renderer.render(financed_agreement)
    assert first.startswith(b"%PDF-")
    assert renderer.render(financed_agreement) == first
    assert ReportlabAgreementRenderer().render(financed_agreement) == first


def test_different_input_gives_different_bytes(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    later = attrs.evolve(financed_agreement, sale_date=date(2025, 12, 24))
    assert renderer.render(later) != renderer.render(financed_agreement)


def test_the_spec_example_reads_back_every_required_item(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    order = financed_agreement.order
    text = _text(renderer.render(financed_agreement))
    expected = [
        # the agreement, its dates and the parties
        "VEHICLE PURCHASE AGREEMENT",
        f"Agreement no. {order.number}",
        "Date of sale: December 23, 2025",
        "John Doe",
        "123 Main St",
        "Toronto, ON M5V 2T6",
        "john@example.com",
        "Clutch Clone Motors Inc.",
        "100 King St W, Toronto ON M5X 1A9",
        "OMVIC 5551234",
        "Sales advisor: Sarah Johnson",
        # the vehicle
        "2HGFE2F59MH512345",
        "2021",
        "Honda",
        "Civic",
        "EX",
        "Sonic Grey Pearl",
        "Sedan",
        "34,500 km",
        # every charge, each tax, the total
        "Vehicle price $24,999.00",
        "Trade-in credit -$8,000.00",
        "Administration fee $499.00",
        "Documentation fee $150.00",
        "Subtotal (taxable amount) $17,648.00",
        "HST 13% on $17,648.00 $2,294.24",
        "Total purchase price $19,942.24",
        # the trade-in
        "2015 Toyota Corolla CE, 142,000 km",
        "Credit applied $8,000.00",
        # deposit, down payment, balance owing
        "Deposit received -$100.00",
        "Down payment (due before delivery) -$2,500.00",
        "Balance owing — to be financed by Maple Auto Finance $17,342.24",
        # the financing disclosure
        "FINANCING DISCLOSURE",
        "Lender Maple Auto Finance",
        "Annual rate (APR) 5.217%",
        "60 months",
        "Monthly payment $329.00",
        "Amount financed $17,342.24",
        "Total of payments $19,740.00",
        "Cost of borrowing $2,397.76",
        # delivery
        "Home delivery",
        "123 Main St, Toronto ON M5V 2T6",
        "December 28, 2025",
        # terms and signatures
        "10-day return policy.",
        "All sales are final, subject only to the 10-day return policy stated above.",
        "Buyer's signature",
        "Authorized representative's signature",
    ]
    missing = [item for item in expected if item not in text]
    assert not missing, f"not in the agreement: {missing}"


def test_cost_of_borrowing_is_total_of_payments_less_amount_financed(financed_agreement: AgreementInput) -> None:
    plan = financed_agreement.order.payment
    assert plan.monthly_payment is not None
    assert plan.term_months is not None
    assert plan.monthly_payment.cents * plan.term_months - plan.financed_amount.cents == 239776


def test_the_sales_final_statement_sits_with_the_buyers_signature(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    pages = _pages(renderer.render(financed_agreement))
    with_signature = [page for page in pages if "Buyer's signature" in page]
    assert len(with_signature) == 1
    statement = with_signature[0].index("All sales are final")
    assert statement < with_signature[0].index("Buyer's signature")
    assert with_signature[0].index("BUYER", statement - 40) < statement


def test_every_page_is_numbered_out_of_the_total(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    pages = _pages(renderer.render(financed_agreement))
    number = financed_agreement.order.number
    for n, page in enumerate(pages, start=1):
        assert f"Agreement {number} · Page {n} of {len(pages)}" in page


def test_a_cash_purchase_has_no_financing_disclosure_and_itemises_each_tax(
    renderer: ReportlabAgreementRenderer, cash_agreement: AgreementInput
) -> None:
    order = cash_agreement.order
    assert order.payment.method is PaymentChoice.CASH
    text = _text(renderer.render(cash_agreement))
    for item in (
        order.number,
        cash_agreement.vehicle.vin,
        "Zoë Lefèvre",
        "Montréal, QC H3B 1K9",
        "Vehicle price $19,999.00",
        "Trade-in credit $0.00",
        "Subtotal (taxable amount) $20,648.00",
        "GST 5% on $20,648.00 $1,032.40",
        "QST 9.975% on $20,648.00 $2,059.64",
        "Total sales tax (14.975%) $3,092.04",
        "Total purchase price $23,740.04",
        "Deposit received -$100.00",
        "Down payment $0.00",
        "Balance owing — due before delivery $23,640.04",
        "No trade-in vehicle",
        "Pickup by the buyer",
        "To be scheduled",
    ):
        assert item in text, item
    for absent in ("FINANCING DISCLOSURE", "Cost of borrowing", "APR", "Lender"):
        assert absent not in text


def test_a_scheduled_delivery_prints_its_date_and_window(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    order = attrs.evolve(
        financed_agreement.order,
        delivery=attrs.evolve(
            financed_agreement.order.delivery,
            scheduled_date=date(2025, 12, 29),
            time_window="10:00 AM - 2:00 PM",
            status=DeliveryStatus.SCHEDULED,
        ),
    )
    text = _text(renderer.render(attrs.evolve(financed_agreement, order=order)))
    assert "December 29, 2025, 10:00 AM - 2:00 PM (scheduled)" in text


def test_without_a_return_policy_all_sales_are_simply_final(financed_agreement: AgreementInput) -> None:
    text = _text(ReportlabAgreementRenderer(return_window_days=0).render(financed_agreement))
    assert "All sales are final." in text
    assert "No return policy." in text
    assert "10-day" not in text


def test_the_return_window_is_the_configured_one(financed_agreement: AgreementInput) -> None:
    text = _text(ReportlabAgreementRenderer(return_window_days=14).render(financed_agreement))
    assert "All sales are final, subject only to the 14-day return policy stated above." in text


def test_a_negative_return_window_is_refused() -> None:
    with pytest.raises(ValueError, match="return_window_days"):
        ReportlabAgreementRenderer(return_window_days=-1)


def test_the_document_metadata_names_the_agreement(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    info = PdfReader(io.BytesIO(renderer.render(financed_agreement))).metadata
    assert info is not None
    assert info.title == f"Vehicle purchase agreement {financed_agreement.order.number}"
    assert info.author == "Clutch Clone Motors Inc."


def test_typed_text_cannot_break_lines_and_long_text_wraps_onto_more_pages(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    order = financed_agreement.order
    address = attrs.evolve(order.contact.address, street="Unit 4\nBuilding " + "Long Street Name " * 11)
    contact = attrs.evolve(order.contact, first_name="John\r\n\x1b[31m", last_name="Doe\u202e", address=address)
    vehicle = attrs.evolve(financed_agreement.vehicle, colour="Very " * 60 + "Grey")
    odd = attrs.evolve(financed_agreement, order=attrs.evolve(order, contact=contact), vehicle=vehicle)
    pdf = renderer.render(odd)
    text = _text(pdf)
    assert "Unit 4 Building Long Street Name" in text
    assert "\x1b" not in text
    assert "\u202e" not in text
    pages = _pages(pdf)
    assert all(f"of {len(pages)}" in page for page in pages)


def test_helpers_format_rates_and_clean_text() -> None:
    assert percent(Decimal("0.13")) == "13%"
    assert percent(Decimal("0.09975")) == "9.975%"
    assert percent(Decimal("0.10")) == "10%"
    assert percent(Decimal("0.05")) == "5%"
    assert printable("a\nb\tc\u200bd  e") == "a b c d e"
    assert printable("x" * 20, 10) == "x" * 9 + "…"


def test_the_vehicles_history_disclosures_are_printed_in_order(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    """OMVIC: each material fact the dealer declared, numbered, in the dealer's words."""
    car = attrs.evolve(
        financed_agreement.vehicle,
        disclosures=(
            Disclosure(kind=DisclosureKind.DAILY_RENTAL, detail="Rental fleet 2019-2020"),
            Disclosure(kind=DisclosureKind.ACCIDENT_DAMAGE, detail="Rear collision, repaired: $4,850"),
            Disclosure(kind=DisclosureKind.BRANDED, detail="Rebuilt\nIGNORE THIS LINE BREAK"),
        ),
    )
    text = " ".join(_text(renderer.render(attrs.evolve(financed_agreement, vehicle=car))).split())
    assert "Vehicle history disclosures" in text
    rental = text.index("1. Previously used as a daily rental vehicle: Rental fleet 2019-2020")
    accident = text.index("2. Sustained accident damage exceeding $3,000 (total repair costs): Rear collision")
    branded = text.index("3. Branded: Rebuilt IGNORE THIS LINE BREAK")
    assert rental < accident < branded
    assert "declared no material fact" not in text


def test_a_car_without_disclosures_says_none_were_declared(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    assert financed_agreement.vehicle.disclosures == ()
    text = " ".join(_text(renderer.render(financed_agreement)).split())
    assert "The dealer has declared no material fact about this vehicle's history" in text
