"""Document ports: rendering the agreement, storing files, and getting them signed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

import attrs

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


@attrs.frozen(kw_only=True)
class AgreementInput:
    """Everything printed on the purchase agreement."""

    order: Order
    vehicle: Vehicle
    advisor: Advisor
    dealer: Dealer
    sale_date: date


class AgreementRenderer(Protocol):
    """Turns an order into the purchase agreement PDF (deterministic: same input, same bytes)."""

    def render(self, agreement: AgreementInput) -> bytes:
        """The agreement as PDF bytes."""
        ...


@attrs.frozen(kw_only=True)
class SignatureEvidence:
    """Who signed, when and from where (printed on the signature page, kept in the audit trail)."""

    signer_name: str
    signer_email: str
    signed_at: datetime
    ip_address: str = ""
    user_agent: str = ""


class SignedCopyMaker(Protocol):
    """Produces the signed copy of an agreement (a stamped signature page, maybe a digital seal)."""

    def make_signed_copy(self, agreement_pdf: bytes, evidence: SignatureEvidence) -> bytes:
        """The agreement with its signature page."""
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
