"""The reportlab purchase agreement: deterministic, complete, and readable by machines."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import attrs
import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer, clear_caches, percent, printable
from adapters.documents.agreement_text import catalogue
from adapters.documents.agreement_text import fr as fr_catalogue
from adapters.documents.agreement_text.en import STRINGS as TITLES
from checkout_core.model.disclosures import CHECKLIST
from checkout_core.model.order import DeliveryStatus, PaymentChoice
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Warranty, WarrantyKind
from checkout_core.money import Money
from checkout_core.ports.documents import AgreementInput
from checkout_core.pricing import FeeSchedule, price_purchase


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
        "2HGFE2F5XMH512345",
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
        "Once the vehicle is delivered, the sale is final, subject only to the 10-day return policy (clause 4);",
        "before delivery the buyer may cancel (clause 3).",
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
    statement = with_signature[0].index("Once the vehicle is delivered, the sale is final")
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
    text = _text(renderer.render(attrs.evolve(cash_agreement, languages=("en",))))
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
    assert "Once the vehicle is delivered, the sale is final; before delivery the buyer may cancel (clause 3)." in text
    assert "The sale becomes final when the vehicle is delivered or handed over; before then, clause 3 applies." in text
    assert "return" not in text.split("TERMS AND CONDITIONS")[1]


def test_the_return_window_is_the_configured_one(financed_agreement: AgreementInput) -> None:
    text = _text(ReportlabAgreementRenderer(return_window_days=14).render(financed_agreement))
    assert "subject only to the 14-day return policy (clause 4)" in text
    assert "4. 14-day return policy. The buyer may return the vehicle within 14 days after the day of delivery" in text


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


def test_the_vehicles_history_disclosures_answer_every_category_in_order(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    """OMVIC: every category answered, a declared one "Yes" with the dealer's words, the rest "No"."""
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
    rental = text.index("1. Previously used as a daily rental vehicle Yes Rental fleet 2019-2020")
    police = text.index("2. Previously used as a police vehicle No")
    branded = text.index("9. Branded as irreparable, salvage or rebuilt Yes Rebuilt IGNORE THIS LINE BREAK")
    accident = text.index(
        "10. Sustained accident damage exceeding $3,000 (total repair costs) Yes Rear collision, repaired: $4,850"
    )
    flood = text.index("6. Sustained flood damage (immersed in liquid) No")
    other = text.index("15. Any other material fact No The dealer knows of no other material fact about this vehicle.")
    assert rental < police < flood < branded < accident < other


def test_a_car_without_disclosures_answers_no_to_every_category(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    assert financed_agreement.vehicle.disclosures == ()
    text = " ".join(_text(renderer.render(financed_agreement)).split())
    for kind in CHECKLIST:
        assert f"{TITLES[f'disclosure.{kind.value}']} No" in text, kind
    assert " Yes " not in text.split("Vehicle history disclosures")[1].split("PURCHASE PRICE")[0]


def test_the_dealers_tax_numbers_stock_number_and_licence_fee_are_printed(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput, cash_agreement: AgreementInput
) -> None:
    text = _text(renderer.render(financed_agreement))
    assert "GST/HST registration no. 123456789 RT0001" in text
    assert "Dealer's GST/HST no. 123456789 RT0001." in text
    assert "QST" not in text  # an Ontario sale charges no QST: no QST number either
    assert "Stock no. CC-21-0457" in text
    assert "veh_" not in text  # the internal id is not the dealer's stock number
    assert "Licence and plate fee (not taxable) $0.00" in text
    quebec = _text(renderer.render(attrs.evolve(cash_agreement, languages=("en",))))
    assert "QST registration no. 1234567890 TQ0001" in quebec
    assert "Dealer's GST/HST no. 123456789 RT0001; QST no. 1234567890 TQ0001." in quebec


def test_a_certified_car_states_its_certificate_and_an_uncertified_one_is_sold_as_is(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    certified = _text(renderer.render(financed_agreement))
    assert "sold with a Safety Standards Certificate (SSC S1234567)" in certified
    assert "as is" not in certified
    as_is = attrs.evolve(financed_agreement.vehicle, safety_certificate="")
    text = _text(renderer.render(attrs.evolve(financed_agreement, vehicle=as_is)))
    assert (
        "This vehicle is being sold \u201cas is\u201d and is not represented as being in road worthy condition" in text
    )
    assert "Safety Standards Certificate" not in text


@pytest.mark.parametrize(
    ("warranty", "statement"),
    [
        (Warranty(), "No warranty is given with this vehicle, by the dealer or by the manufacturer."),
        (
            Warranty(kind=WarrantyKind.MANUFACTURER, detail="Powertrain to June 2026"),
            "The remainder of the manufacturer's warranty applies: Powertrain to June 2026.",
        ),
        (
            Warranty(kind=WarrantyKind.EXTENDED, detail="24 months by Maple AutoCare"),
            "An extended warranty is included: 24 months by Maple AutoCare.",
        ),
    ],
)
def test_the_warranty_statement_comes_from_the_vehicle(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput, warranty: Warranty, statement: str
) -> None:
    car = attrs.evolve(financed_agreement.vehicle, warranty=warranty)
    assert statement in _text(renderer.render(attrs.evolve(financed_agreement, vehicle=car)))


def test_the_terms_never_contradict_the_cancellation_right_and_all_sit_above_the_signatures(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    text = _text(renderer.render(financed_agreement))
    assert "All sales are final" not in text
    assert "3. Cancellation before delivery. Until the vehicle is dispatched for delivery or handed over" in text
    assert (
        "5. When the sale becomes final. The sale becomes final when the 10-day return period of clause 4 ends" in text
    )
    last_term = text.index("9. Entire agreement.")
    assert last_term < text.index("SIGNATURES") < text.index("Buyer's signature")


def test_a_long_buyer_email_wraps_inside_the_buyer_box(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    email = "a.very.long.mailbox.name.that.keeps.going." + "x" * 60 + "@example-dealer-customers.com"
    order = financed_agreement.order
    contact = attrs.evolve(order.contact, email=email)
    pdf = renderer.render(attrs.evolve(financed_agreement, order=attrs.evolve(order, contact=contact)))
    lines: list[tuple[str, float, float, float]] = []

    def visit(value: str, cm: object, tm: list[float], font: object, size: float) -> None:
        if value.strip():
            lines.append((value.strip(), tm[4], tm[5], size))

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=visit)
    phone_y = next(y for t, _, y, _ in lines if t.startswith("Phone:"))
    vehicle_y = next(y for t, _, y, _ in lines if t == "VEHICLE")
    box_right = 54 + (612 - 108 - 12) / 2
    pieces = [(t, x, size) for t, x, y, size in lines if vehicle_y < y < phone_y and x < box_right]
    assert len(pieces) >= 2  # it took more than one line
    for value, x, size in pieces:
        assert x + stringWidth(value, "Helvetica", size) <= box_right, value
    assert "".join(value for value, _, _ in pieces).replace("Email:", "").replace(" ", "") == email


def test_a_quebec_buyer_gets_the_agreement_in_french(
    renderer: ReportlabAgreementRenderer, cash_agreement: AgreementInput
) -> None:
    assert cash_agreement.languages == ()  # nothing chosen: the buyer's province decides
    pdf = renderer.render(cash_agreement)
    text = _text(pdf)
    nbsp = " "  # a no-break space in the PDF; _text normalises all spaces
    for item in (
        "CONTRAT D'ACHAT DE VÉHICULE",
        "Date de la vente : 23 décembre 2025",
        f"Prix du véhicule 19{nbsp}999,00{nbsp}$",
        f"TPS 5{nbsp}% sur 20{nbsp}648,00{nbsp}$ 1{nbsp}032,40{nbsp}$",
        f"TVQ 9,975{nbsp}% sur 20{nbsp}648,00{nbsp}$ 2{nbsp}059,64{nbsp}$",
        f"Prix d'achat total 23{nbsp}740,04{nbsp}$",
        "taux en vigueur le 23 décembre 2025 pour un acheteur résidant au Québec",
        "N° d'inscription TVQ 1234567890 TQ0001",
        "Antécédents du véhicule",
        "Utilisé auparavant comme véhicule de police Non",
        "Le commerçant ne connaît aucun autre fait important concernant ce véhicule.",
        "3. Annulation avant la livraison.",
        "Signature de l'acheteur",
        "Signature du représentant autorisé",
        f"{nbsp}km (selon l'odomètre)",
    ):
        assert item in text, item
    for english in ("Vehicle price", "Buyer's signature", "Date of sale", "Terms and conditions"):
        assert english not in text
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None
    assert info.title == f"Contrat d'achat de véhicule {cash_agreement.order.number}"


def test_the_english_version_can_follow_the_french_one(
    renderer: ReportlabAgreementRenderer, cash_agreement: AgreementInput
) -> None:
    pages = _pages(renderer.render(attrs.evolve(cash_agreement, languages=("fr", "en"))))
    french = [p for p in pages if "Contrat " in p and "· Page " in p]
    english = [p for p in pages if "Agreement CLT" in p]
    assert french and english and len(french) + len(english) == len(pages)
    assert pages.index(french[-1]) < pages.index(english[0])
    assert f"Page {len(english)} of {len(english)}" in english[-1]
    assert f"Page {len(french)} de {len(french)}" in french[-1]


def test_every_catalogue_has_every_string() -> None:
    assert set(fr_catalogue.STRINGS) == set(TITLES)
    for code in ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"):
        assert f"province.{code}" in TITLES


def test_french_formats_amounts_dates_and_rates() -> None:
    fr = catalogue("fr")
    en = catalogue("en")
    assert fr.money(Money(2499900)) == "24\u00a0999,00\u00a0$"
    assert fr.less(Money(800000)) == "-8\u00a0000,00\u00a0$"
    assert en.money(Money(2499900)) == "$24,999.00"
    assert fr.date(date(2025, 12, 23)) == "23 décembre 2025"
    assert fr.date(date(2026, 2, 1)) == "1er février 2026"
    assert en.date(date(2025, 12, 23)) == "December 23, 2025"
    assert fr.percent(Decimal("0.09975")) == "9,975\u00a0%"
    assert fr.number(142000) == "142\u00a0000"


# -- the direct writer and what the renderer keeps per process --------------------------------


def _shapes(financed: AgreementInput, cash: AgreementInput) -> list[tuple[int, AgreementInput]]:
    """(return window, agreement) pairs covering every drawing path: both languages and both
    versions together, cash and financed, no return policy, characters from the substitution
    fonts (Symbol, ZapfDingbats), a colour long enough to push the price to the second page (so
    the oblique font is first used there), declared disclosures, a long e-mail address."""
    order = financed.order
    odd_name = attrs.evolve(order.contact, first_name="李 ✓ €", last_name="Ωmega → ★")
    long_colour = attrs.evolve(financed.vehicle, colour="Very " * 500 + "Grey ✓")
    declared = attrs.evolve(
        financed.vehicle,
        disclosures=(Disclosure(kind=DisclosureKind.POLICE, detail="OPP (2021) \\ unit 12 " * 8),),
    )
    email = attrs.evolve(order.contact, email="a.very.long.mailbox." + "x" * 90 + "@example.com")
    return [
        (10, financed),
        (0, financed),
        (14, attrs.evolve(financed, languages=("fr", "en"))),
        (10, cash),
        (0, attrs.evolve(cash, languages=("fr", "en"))),
        (10, attrs.evolve(financed, order=attrs.evolve(order, contact=odd_name))),
        (10, attrs.evolve(financed, vehicle=long_colour)),
        (10, attrs.evolve(financed, languages=("fr", "en"), vehicle=long_colour)),
        (10, attrs.evolve(financed, vehicle=declared)),
        (10, attrs.evolve(financed, order=attrs.evolve(order, contact=email))),
    ]


def test_the_direct_writer_writes_the_bytes_reportlabs_canvas_writes(
    financed_agreement: AgreementInput, cash_agreement: AgreementInput, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path is checked against reportlab's own canvas, byte for byte, on every shape."""
    # reportlab's canvas would take its "invariant" date from this; the writer always writes 2000-01-01.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    for days, agreement in _shapes(financed_agreement, cash_agreement):
        renderer = ReportlabAgreementRenderer(return_window_days=days)
        assert renderer.render(agreement) == renderer.render_with_canvas(agreement), (days, agreement.languages)


def test_substitution_fonts_and_late_fonts_are_written_like_reportlab(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two unusual font paths of the writer are really taken by the shapes above."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    order = financed_agreement.order
    odd = attrs.evolve(
        financed_agreement,
        order=attrs.evolve(order, contact=attrs.evolve(order.contact, first_name="Ωmega ✓")),
    )
    fonts = PdfReader(io.BytesIO(renderer.render(odd))).pages[0]["/Resources"]["/Font"]
    assert {"/Symbol", "/ZapfDingbats"} <= {str(font["/BaseFont"]) for font in fonts.values()}
    long_colour = attrs.evolve(financed_agreement.vehicle, colour="Very " * 500 + "Grey")
    pdf = renderer.render(attrs.evolve(financed_agreement, vehicle=long_colour))
    assert "PURCHASE PRICE" not in _pages(pdf)[0]
    assert pdf == renderer.render_with_canvas(attrs.evolve(financed_agreement, vehicle=long_colour))


def test_what_the_process_keeps_never_changes_the_bytes(
    financed_agreement: AgreementInput, cash_agreement: AgreementInput
) -> None:
    """Every shape rendered with nothing kept, then again after all the others were rendered
    (their blocks and operators kept and replayed), gives the same bytes."""
    shapes = _shapes(financed_agreement, cash_agreement)
    fresh = []
    for days, agreement in shapes:
        clear_caches()
        fresh.append(ReportlabAgreementRenderer(return_window_days=days).render(agreement))
    clear_caches()
    for _ in range(2):
        warm = [ReportlabAgreementRenderer(return_window_days=days).render(a) for days, a in reversed(shapes)]
        assert warm[::-1] == fresh


def test_one_orders_words_never_reach_the_next_orders_agreement(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    """Two orders laid out on the same places: the second shows its own buyer, car and figures
    wherever the first showed its own (nothing the first placed is replayed into the second)."""
    first = financed_agreement
    order = first.order
    contact = attrs.evolve(order.contact, first_name="Jane", last_name="Roe", email="jane@example.com")
    pricing = attrs.evolve(order.pricing, vehicle_price=Money(2511100))
    second = attrs.evolve(
        first,
        order=attrs.evolve(order, number="CLT-2025-20002", contact=contact, pricing=pricing),
        vehicle=attrs.evolve(first.vehicle, vin="2HGFE2F51MH599999", stock_number="CC-21-9999"),
        sale_date=date(2025, 12, 24),
    )
    renderer.render(first)
    text = _text(renderer.render(second))
    for own in ("Jane Roe", "jane@example.com", "CLT-2025-20002", "2HGFE2F51MH599999", "CC-21-9999", "$25,111.00"):
        assert own in text, own
    assert "Date of sale: December 24, 2025" in text
    for other in ("John Doe", "john@example.com", order.number, first.vehicle.vin, "$24,999.00", "sale: December 23"):
        assert other not in text, other


def test_threads_rendering_at_once_get_the_bytes_of_one_at_a_time(
    financed_agreement: AgreementInput, cash_agreement: AgreementInput
) -> None:
    shapes = _shapes(financed_agreement, cash_agreement) * 3
    clear_caches()
    alone = [ReportlabAgreementRenderer(return_window_days=days).render(a) for days, a in shapes]
    clear_caches()
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda s: ReportlabAgreementRenderer(return_window_days=s[0]).render(s[1]), shapes))
    assert together == alone


def test_a_licence_and_plate_fee_is_printed_after_the_tax_and_in_the_total(
    renderer: ReportlabAgreementRenderer, financed_agreement: AgreementInput
) -> None:
    order = financed_agreement.order
    fees = FeeSchedule(admin_fee=order.pricing.admin_fee, documentation_fee=order.pricing.documentation_fee)
    pricing = price_purchase(
        vehicle_price=order.pricing.vehicle_price,
        trade_in_credit=order.pricing.trade_in_credit,
        province=order.pricing.province,
        on=order.pricing.priced_on,
        fees=attrs.evolve(fees, licence_fee=Money(5900)),
    )
    with_plates = attrs.evolve(financed_agreement, order=attrs.evolve(order, pricing=pricing))
    text = _text(renderer.render(with_plates))
    assert "Licence and plate fee (not taxable) $59.00" in text
    assert "$20,001.24" in text  # the spec's $19,942.24 and the plates
    price = text.split("PURCHASE PRICE")[1]
    assert price.index("HST") < price.index("Licence and plate fee") < price.index("$20,001.24")
