"""Domain objects for the persistence tests, with every optional field filled in so that a
field the mapping forgets cannot go unnoticed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from checkout_core.model.order import (
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    DocumentKind,
    DocumentRecord,
    Insurance,
    InsuranceStatus,
    Order,
    OrderStatus,
    PaymentChoice,
    PaymentPlan,
    SigningEnvelope,
    TradeIn,
)
from checkout_core.model.parties import (
    Address,
    Advisor,
    ContactInfo,
    Customer,
    FinancingApplication,
    FinancingStatus,
    TradeInOffer,
)
from checkout_core.model.payments import (
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from checkout_core.model.reservation import Reservation, ReservationStatus
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle, VehicleStatus, Warranty, WarrantyKind
from checkout_core.money import Money
from checkout_core.pricing.fees import FeeSchedule
from checkout_core.pricing.quote import price_purchase

T0 = datetime(2025, 12, 23, 10, 30, tzinfo=UTC)
#: Eastern time with microseconds: stored as UTC, must come back as the same instant.
TORONTO = timezone(timedelta(hours=-5))

ADDRESS = Address(street="123 Main St", city="Montréal", province="QC", postal_code="H2X 1Y4")
CONTACT = ContactInfo(
    first_name="Zoë", last_name="O'Brien", email="zoe@example.com", phone="514-555-0199", address=ADDRESS
)


def vehicle(vehicle_id: str = "veh_1", *, status: VehicleStatus = VehicleStatus.AVAILABLE) -> Vehicle:
    """A listed car with every field set."""
    return Vehicle(
        id=vehicle_id,
        vin="2HGFE2F5XMH512345",
        year=2021,
        make="Honda",
        model="Civic",
        trim="EX",
        colour="Sonic Grey Pearl",
        body_type="Sedan",
        odometer_km=34500,
        price=Money(2499900),
        status=status,
        disclosures=(Disclosure(kind=DisclosureKind.POLICE, detail="Ontario Provincial Police, 2021-2022"),),
        stock_number="CC-21-0457",
        safety_certificate="SSC S1234567",
        warranty=Warranty(kind=WarrantyKind.EXTENDED, detail="24 months by Maple AutoCare"),
    )


def advisor(advisor_id: str = "adv_1", *, active: bool = True) -> Advisor:
    """An advisor."""
    return Advisor(
        id=advisor_id, name="Sarah Johnson", email="sarah@clutchclone.ca", phone="416-555-1234", active=active
    )


def customer(customer_id: str = "cus_1") -> Customer:
    """A customer with accented names (JSON must keep them)."""
    return Customer(id=customer_id, contact=CONTACT)


def trade_in_offer(offer_id: str = "trade_1", *, customer_id: str = "cus_1") -> TradeInOffer:
    """A trade-in offer with an expiry."""
    return TradeInOffer(
        id=offer_id,
        customer_id=customer_id,
        credit=Money(800000),
        description="2015 Toyota Corolla CE, 142,000 km",
        expires_at=datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )


def financing(application_id: str = "app_1", *, customer_id: str = "cus_1") -> FinancingApplication:
    """An approved application whose APR has a trailing zero (its text must survive)."""
    return FinancingApplication(
        id=application_id,
        customer_id=customer_id,
        status=FinancingStatus.APPROVED,
        apr_percent=Decimal("5.2170"),
        term_months=60,
        lender="Maple Auto Finance",
        max_amount=Money(5_000_000),
    )


def reservation(
    reservation_id: str = "res_1",
    *,
    vehicle_id: str = "veh_1",
    customer_id: str = "cus_1",
    status: ReservationStatus = ReservationStatus.CONFIRMED,
    created_at: datetime = T0,
    expires_at: datetime | None = None,
) -> Reservation:
    """A reservation; confirmed ones have every optional field set."""
    confirmed = status is not ReservationStatus.PENDING_DEPOSIT
    return Reservation(
        id=reservation_id,
        vehicle_id=vehicle_id,
        customer_id=customer_id,
        status=status,
        deposit=Money(10000),
        hold_hours=72,
        created_at=created_at,
        expires_at=(expires_at or created_at + timedelta(hours=72)) if confirmed else expires_at,
        charge_id="pi_sbx123" if confirmed else None,
        order_id="ord_1" if status is ReservationStatus.CONVERTED else None,
        updated_at=created_at + timedelta(seconds=1),
    )


def full_order(
    order_id: str = "ord_1",
    *,
    number: str = "CLT-2025-10001",
    reservation_id: str = "res_1",
    vehicle_id: str = "veh_1",
    customer_id: str = "cus_1",
    advisor_id: str = "adv_1",
    status: OrderStatus = OrderStatus.DELIVERED,
    created_at: datetime = T0,
    delivered_at: datetime | None = None,
    documents: list[DocumentRecord] | None = None,
) -> Order:
    """An order with a trade-in, financing, documents (unless ``documents`` says which),
    insurance, an envelope and a delivery, priced in Québec (GST + QST: two tax lines, a
    five-decimal rate)."""
    pricing = price_purchase(
        vehicle_price=Money(2499900),
        trade_in_credit=Money(800000),
        province="QC",
        on=date(2025, 12, 23),
        fees=FeeSchedule(),
    )
    signed_at = datetime(2025, 12, 23, 7, 0, 0, 123456, tzinfo=TORONTO)
    default_documents = [
        DocumentRecord(
            id="doc_1",
            kind=DocumentKind.PURCHASE_AGREEMENT,
            storage_key="ab" * 32,
            sha256="ab" * 32,
            content_type="application/pdf",
            size=48213,
            created_at=created_at,
            status="signed",
            signed_at=signed_at,
        ),
        DocumentRecord(
            id="doc_2",
            kind=DocumentKind.SIGNED_AGREEMENT,
            storage_key="cd" * 32,
            sha256="cd" * 32,
            content_type="application/pdf",
            size=51002,
            created_at=signed_at,
            status="signed",
            signed_at=signed_at,
        ),
        DocumentRecord(
            id="doc_3",
            kind=DocumentKind.INSURANCE_PROOF,
            storage_key="ef" * 32,
            sha256="ef" * 32,
            content_type="image/png",
            size=1024,
            created_at=signed_at + timedelta(hours=1),
            status="submitted",
        ),
    ]
    return Order(
        id=order_id,
        number=number,
        status=status,
        vehicle_id=vehicle_id,
        customer_id=customer_id,
        reservation_id=reservation_id,
        contact=CONTACT,
        pricing=pricing,
        payment=PaymentPlan(
            method=PaymentChoice.FINANCE,
            deposit=Money(10000),
            down_payment=Money(250000),
            financed_amount=Money(1734224),
            financing_application_id="app_1",
            apr_percent=Decimal("5.2170"),
            term_months=60,
            monthly_payment=Money(32900),
            lender="Maple Auto Finance",
        ),
        trade_in=TradeIn(offer_id="trade_1", credit=Money(800000), description="2015 Toyota Corolla CE"),
        delivery=Delivery(
            method=DeliveryMethod.DELIVERY,
            address=ADDRESS,
            preferred_date=date(2025, 12, 28),
            scheduled_date=date(2025, 12, 29),
            time_window="10:00 AM - 2:00 PM",
            status=DeliveryStatus.DELIVERED,
        ),
        advisor_id=advisor_id,
        created_at=created_at,
        updated_at=created_at + timedelta(days=6),
        documents=default_documents if documents is None else documents,
        insurance=Insurance(
            id="ins_1",
            policy_number="POL-12345",
            provider="Intact Insurance",
            document_id="doc_3",
            status=InsuranceStatus.VERIFIED,
            submitted_at=signed_at + timedelta(hours=1),
            verified_at=signed_at + timedelta(hours=3),
            rejection_reason="first upload was unreadable",
        ),
        envelope=SigningEnvelope(
            id="env_1",
            provider="builtin",
            signature_url="https://sign.example.com/envelope/env_1",
            expires_at=created_at + timedelta(hours=24),
            status="completed",
        ),
        paid=Money(260000),
        refunded=Money(5000),
        delivered_at=delivered_at or created_at + timedelta(days=6),
        completed_at=created_at + timedelta(days=16),
        closed_reason="test closing reason",
        version=3,
    )


def payment(
    payment_id: str = "pay_1",
    *,
    key: str | None = None,
    reservation_id: str | None = "res_1",
    order_id: str | None = None,
    status: PaymentStatus = PaymentStatus.SUCCEEDED,
    created_at: datetime = T0,
    gateway_ref: str | None = None,
) -> Payment:
    """A card payment with every optional field set."""
    return Payment(
        id=payment_id,
        purpose=PaymentPurpose.DEPOSIT if order_id is None else PaymentPurpose.ORDER,
        method=PaymentMethod.CARD,
        amount=Money(10000),
        status=status,
        idempotency_key=key or f"{payment_id}:key",
        created_at=created_at,
        updated_at=created_at + timedelta(seconds=2),
        reservation_id=reservation_id,
        order_id=order_id,
        gateway_ref=gateway_ref or f"pi_{payment_id}",
        failure_code="none",
        card_brand="visa",
        card_last4="4242",
        refunded=Money(2500),
    )


def refund(
    refund_id: str = "rfd_1",
    *,
    payment_id: str = "pay_1",
    key: str | None = None,
    status: RefundStatus = RefundStatus.SUCCEEDED,
    created_at: datetime = T0,
) -> Refund:
    """A refund with every optional field set."""
    return Refund(
        id=refund_id,
        payment_id=payment_id,
        amount=Money(2500),
        status=status,
        idempotency_key=key or f"{refund_id}:key",
        reason="reservation_expired",
        created_at=created_at,
        updated_at=created_at + timedelta(seconds=3),
        gateway_ref=f"re_{refund_id}",
        failure_code="none",
    )
