"""In-memory document adapters: a store, a plain renderer and a plain signed-copy maker.
They keep the core runnable without reportlab or a disk, e.g. in library users' tests."""

from __future__ import annotations

import hashlib
import threading

from checkout_core.errors import NotFound
from checkout_core.ports.documents import AgreementInput, SealReport, SignatureEvidence, StoredObject


class MemoryDocumentStore:
    """Content-addressed bytes in a dict (key = SHA-256 hex)."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, content: bytes, content_type: str) -> StoredObject:
        """Store bytes under their SHA-256."""
        digest = hashlib.sha256(content).hexdigest()
        with self._lock:
            self._blobs[digest] = bytes(content)
        return StoredObject(key=digest, sha256=digest, size=len(content))

    def get(self, key: str) -> bytes:
        """The bytes for ``key``."""
        with self._lock:
            try:
                return self._blobs[key]
            except KeyError:
                raise NotFound("document not found") from None


class PlainTextAgreementRenderer:
    """A stand-in renderer: the agreement's key facts as text. Deterministic."""

    def render(self, agreement: AgreementInput) -> bytes:
        """Text bytes naming the order, the car and the totals."""
        order = agreement.order
        lines = [
            "PURCHASE AGREEMENT",
            f"Order {order.number} dated {agreement.sale_date.isoformat()}",
            f"Buyer {order.contact.full_name}",
            f"Vehicle {agreement.vehicle.title} VIN {agreement.vehicle.vin}",
            f"Total due {order.pricing.total_due.format()}",
        ]
        return ("\n".join(lines) + "\n").encode()


class PlainSignedCopyMaker:
    """A stand-in for the stamped PDF: the agreement followed by a signature line."""

    def make_signed_copy(
        self, agreement_pdf: bytes, evidence: SignatureEvidence, countersignature: SignatureEvidence | None = None
    ) -> bytes:
        """The agreement bytes plus who signed and when (and who countersigned for the dealer)."""
        stamp = f"\nSIGNED by {evidence.signer_name} <{evidence.signer_email}> at {evidence.signed_at.isoformat()}\n"
        if countersignature is not None:
            stamp += (
                f"COUNTERSIGNED by {countersignature.signer_name} <{countersignature.signer_email}> "
                f"at {countersignature.signed_at.isoformat()}\n"
            )
        return agreement_pdf + stamp.encode()

    def check_seal(self, signed_pdf: bytes) -> SealReport:
        """The stand-in does not seal: nothing to check."""
        return SealReport(level="none", ok=True)
