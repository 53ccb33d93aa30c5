"""Document ports: rendering the agreement, storing files, and getting them signed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

import attrs

from checkout_core.model.language import Language
from checkout_core.model.order import Order
from checkout_core.model.parties import Advisor
from checkout_core.model.vehicle import Vehicle


@attrs.frozen(kw_only=True)
class StoredObject:
    """What the store returns: the key to fetch it by, its SHA-256 and size."""

    key: str
    sha256: str
    size: int


class DocumentStore(Protocol):
    """Keeps document bytes. Keys are made by the store (content addresses), never by callers."""

    def put(self, content: bytes, content_type: str) -> StoredObject:
        """Store bytes atomically; storing the same bytes twice returns the same key."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes behind ``key``; raises NotFound if there are none, and
        :class:`~checkout_core.errors.DocumentIntegrityError` if they no longer hash to the
        SHA-256 they were stored under."""
        ...


@attrs.frozen(kw_only=True)
class Dealer:
    """The selling dealer as printed on the agreement."""

    name: str
    address: str
    registration_number: str
    phone: str = ""
    email: str = ""
    #: The GST/HST registration number (CRA business number + RT account), required on an
    #: invoice that charges GST/HST (``CHECKOUT_DEALER_GST_NUMBER``).
    gst_number: str = ""
    #: The Quebec QST registration number, required when QST is charged (``CHECKOUT_DEALER_QST_NUMBER``).
    qst_number: str = ""


@attrs.frozen(kw_only=True)
class AgreementInput:
    """Everything printed on the purchase agreement."""

    order: Order
    vehicle: Vehicle
    advisor: Advisor
    dealer: Dealer
    #: The day of sale in the buyer's province (see :mod:`checkout_core.model.local_day`).
    sale_date: date
    #: The languages to print, the contract's own first (``("fr",)`` in Quebec, maybe
    #: ``("fr", "en")``); empty means the order's language (:func:`agreement_language`).
    languages: tuple[Language, ...] = ()


class AgreementRenderer(Protocol):
    """Turns an order into the purchase agreement PDF (deterministic: same input, same bytes)."""

    def render(self, agreement: AgreementInput) -> bytes:
        """The agreement as PDF bytes."""
        ...


@attrs.frozen(kw_only=True)
class SignatureEvidence:
    """Who signed, when and from where (printed on the agreement's signature line and on the
    signature record page, kept in the audit trail)."""

    signer_name: str
    signer_email: str
    signed_at: datetime
    ip_address: str = ""
    user_agent: str = ""
    #: Whose line it goes on: ``buyer``, or ``dealer`` for the dealer's countersignature.
    role: str = "buyer"
    #: The signer's title, printed with a dealer's signature (``Sales advisor``).
    signer_title: str = ""
    #: The IANA time zone the date and time on the signature line are written in (the
    #: buyer's province's, see :mod:`checkout_core.model.local_day`).
    time_zone: str = "UTC"
    #: A drawn signature (PNG), printed on the line instead of the typed name.
    signature_image: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class SealReport:
    """What a signed copy's digital seal says when checked (``checkout documents verify``)."""

    level: str
    """``none`` (not sealed: a provider's copy, or the in-memory stand-in), ``PAdES B-B``,
    ``PAdES B-T`` (with an RFC 3161 timestamp) or ``PAdES B-LT`` (and its validation data)."""
    ok: bool
    """The seal is intact, valid, trusted and covers the whole file, and its timestamp (if
    any) is sound; true when there is no seal to check."""
    signer: str = ""
    timestamp_at: datetime | None = None
    """The time-stamping authority's time of the seal."""
    timestamp_authority: str = ""
    timestamp_trusted: bool = False
    """The TSA's certificate chains to a configured TSA trust anchor."""
    problem: str = ""


class SignedCopyMaker(Protocol):
    """Produces the signed copy of an agreement (a stamped signature page, maybe a digital seal)."""

    def make_signed_copy(
        self, agreement_pdf: bytes, evidence: SignatureEvidence, countersignature: SignatureEvidence | None = None
    ) -> bytes:
        """The agreement with each signature on its line (the buyer's ``evidence``, and the
        dealer's ``countersignature`` once the dealer signs) and the signature record page."""
        ...

    def check_seal(self, signed_pdf: bytes) -> SealReport:
        """Check the digital seal (and its timestamp) of a copy this maker made; never raises
        for a damaged file: the report says what is wrong."""
        ...


class PageImages(Protocol):
    """The pages of a PDF as images: the signing page shows them, since phones and headless
    browsers have no PDF viewer to show the PDF itself."""

    def page_count(self, pdf: bytes) -> int:
        """How many pages ``pdf`` has (raises ValueError if it is not a readable PDF)."""
        ...

    def page_png(self, pdf: bytes, page: int) -> bytes:
        """Page ``page`` (1-based) as PNG bytes; raises ValueError when there is no such page."""
        ...


@attrs.frozen(kw_only=True)
class Envelope:
    """A request for signature at a signing service."""

    id: str
    signature_url: str
    expires_at: datetime
    provider: str


@attrs.frozen(kw_only=True)
class SigningCallback:
    """A verified notification from the signing provider."""

    envelope_id: str
    order_id: str
    event: str  # "viewed", "signed", "declined"
    occurred_at: datetime
    signer_email: str = ""
    ip_address: str = ""
    user_agent: str = ""


@attrs.frozen(kw_only=True)
class EnvelopeState:
    """What the signing provider says about an envelope now: ``open``, ``signed`` or ``declined``
    (read when its callbacks may have been lost)."""

    envelope_id: str
    order_id: str
    outcome: str
    #: When it was signed (the provider's time), if it says.
    decided_at: datetime | None = None
    signer_email: str = ""


class SigningService(Protocol):
    """Gets the agreement signed (the built-in signing page, or a provider like Dropbox Sign)."""

    provider: str

    def create_envelope(
        self,
        *,
        order_id: str,
        document: bytes,
        signer_name: str,
        signer_email: str,
        expires_at: datetime,
    ) -> Envelope:
        """Open an envelope; the buyer signs at ``signature_url`` until ``expires_at``."""
        ...

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> SigningCallback:
        """Check a provider callback's authenticity (HMAC) and parse it; raise on a forgery."""
        ...

    def signed_document(self, envelope_id: str) -> bytes | None:
        """The provider's signed PDF once complete, if the provider produces one."""
        ...

    def envelope_state(self, envelope_id: str) -> EnvelopeState | None:
        """The envelope's state at the provider; None when there is nothing to ask (the built-in
        signer keeps it in our own database)."""
        ...
