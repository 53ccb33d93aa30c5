"""What a use case needs: the ports (built by the composition root) and the business policy."""

from __future__ import annotations

import enum
from datetime import timedelta

import attrs

from checkout_core.errors import Forbidden
from checkout_core.model.reservation import DEFAULT_HOLD_HOURS, validate_hold_hours
from checkout_core.money import Money
from checkout_core.ports.clock import Clock, IdGenerator
from checkout_core.ports.documents import (
    AgreementRenderer,
    Dealer,
    DocumentStore,
    SignedCopyMaker,
    SigningService,
)
from checkout_core.ports.payments import PaymentGateway
from checkout_core.ports.rate_limits import RateLimiter
from checkout_core.ports.unit_of_work import UnitOfWorkFactory
from checkout_core.pricing.fees import FeeSchedule
from checkout_core.usecases.rate_limits import RateLimits


@attrs.frozen(kw_only=True)
class BankDetails:
    """Where buyers send bank transfers (printed on the instructions)."""

    beneficiary: str = "Clutch Clone Motors Inc."
    institution: str = "Royal Bank of Canada"
    institution_number: str = "003"
    transit_number: str = "00002"
    account_number: str = "1234567"
    swift: str = "ROYCCAT2"
    due_days: int = 3


@attrs.frozen(kw_only=True)
class Policy:
    """Business settings the rules depend on. Defaults are the marketplace's current terms."""

    deposit: Money = Money(10000)
    hold_hours: int = attrs.field(default=DEFAULT_HOLD_HOURS, validator=lambda _i, _a, v: validate_hold_hours(v))
    max_active_reservations: int = 1
    fees: FeeSchedule = attrs.field(factory=FeeSchedule)
    return_window: timedelta = timedelta(days=10)
    #: A money intent (pending deposit, card payment or refund) untouched for this long is
    #: presumed left by a crash, and the recovery job settles it by asking the gateway.
    recovery_grace: timedelta = timedelta(minutes=2)
    signing_link_ttl: timedelta = timedelta(hours=24)
    card_payment_limit: Money = Money(1_000_000)
    max_upload_bytes: int = 10 * 1024 * 1024
    #: Largest image accepted as a proof (width × height): a decompression bomb is refused.
    max_image_pixels: int = 50_000_000
    #: Proofs of insurance one order may hold (each upload, rejected ones included, is kept).
    max_insurance_proofs: int = 5
    #: Card testing and floods (see :mod:`checkout_core.usecases.rate_limits`).
    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    #: Leave each new order's agreement to a document worker instead of rendering it inside
    #: the checkout (see :mod:`checkout_core.usecases.agreements`).
    agreements_by_worker: bool = False
    #: Print the English version beside a French agreement (Quebec) (``CHECKOUT_AGREEMENT_WITH_ENGLISH``).
    agreement_with_english: bool = False
    bank: BankDetails = attrs.field(factory=BankDetails)
    dealer: Dealer = attrs.field(
        factory=lambda: Dealer(
            name="Clutch Clone Motors Inc.",
            address="100 King St W, Toronto ON M5X 1A9",
            registration_number="OMVIC 5551234",
            phone="1-888-555-0100",
            email="sales@clutchclone.ca",
            gst_number="123456789 RT0001",
            qst_number="1234567890 TQ0001",
        )
    )


@attrs.frozen(kw_only=True)
class Context:
    """The ports and policy, built once by the composition root and passed to every use case."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    gateway: PaymentGateway
    documents: DocumentStore
    renderer: AgreementRenderer
    signer: SigningService
    signed_copies: SignedCopyMaker
    policy: Policy = attrs.field(factory=Policy)
    #: Where attempts are counted; None: nothing is rate limited.
    rate_limiter: RateLimiter | None = None


class Role(enum.StrEnum):
    """Who is calling."""

    CUSTOMER = "customer"
    ADVISOR = "advisor"
    SYSTEM = "system"


@attrs.frozen
class Actor:
    """The authenticated caller. Customers see only their own things; advisors see all."""

    id: str
    role: Role = Role.CUSTOMER
    #: The network address the call came from (set by the HTTP layer; None for the CLI and
    #: library callers). Used only for per-address rate limits; not part of the identity.
    client_ip: str | None = attrs.field(default=None, eq=False, kw_only=True)

    @property
    def is_staff(self) -> bool:
        """Advisors and the system's own jobs."""
        return self.role in (Role.ADVISOR, Role.SYSTEM)

    def require_staff(self) -> None:
        """Only advisors (and the system's jobs) may do this."""
        if not self.is_staff:
            raise Forbidden("this action is for advisors only")

    def may_see(self, owner_id: str) -> bool:
        """Whether this caller may see something owned by ``owner_id``."""
        return self.is_staff or self.id == owner_id


SYSTEM = Actor("system", Role.SYSTEM)
