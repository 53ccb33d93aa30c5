"""Domain errors. Each has a stable machine ``code``; entrypoints map codes to HTTP statuses
and CLI exit codes in one place each, so the core never knows about transports."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the core raises on purpose. ``code`` is stable API."""

    code = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    """Input is malformed or out of range (a field, an amount, a province)."""

    code = "validation_error"


class NotFound(DomainError):
    """The resource does not exist, or the caller may not see it (indistinguishable on purpose)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller is known but their role may not perform this action."""

    code = "forbidden"


class VehicleUnavailable(DomainError):
    """The car is not available for reservation (sold, reserved by someone else, withdrawn)."""

    code = "vehicle_unavailable"


class ReservationLimitReached(DomainError):
    """The customer already holds the maximum number of active reservations."""

    code = "reservation_limit_reached"


class ReservationNotUsable(DomainError):
    """The reservation cannot back an order: not confirmed, expired, or already used."""

    code = "reservation_not_usable"


class ReservationMismatch(DomainError):
    """The reservation exists but is for another car than the one in the request."""

    code = "reservation_mismatch"


class PaymentDeclined(DomainError):
    """The gateway declined the charge. ``decline_code`` is the gateway's reason."""

    code = "payment_declined"

    def __init__(self, message: str, decline_code: str | None = None, **details: Any) -> None:
        super().__init__(message, decline_code=decline_code, **details)
        self.decline_code = decline_code


class PaymentGatewayUnavailable(DomainError):
    """The gateway could not be reached or failed; the operation may be retried safely."""

    code = "payment_gateway_unavailable"


class AmountMismatch(DomainError):
    """An amount sent by the client differs from our stored record (trade-in, financing)."""

    code = "amount_mismatch"


class IllegalTransition(DomainError):
    """An order step that the current status does not allow."""

    code = "illegal_transition"

    def __init__(self, current: str, attempted: str) -> None:
        super().__init__(f"cannot {attempted} an order that is {current}", current_status=current, attempted=attempted)
        self.current = current
        self.attempted = attempted


class Conflict(DomainError):
    """A state conflict not covered by a more specific error (e.g. concurrent modification)."""

    code = "conflict"


class RefundNotAllowed(DomainError):
    """A refund larger than what was paid, or on a payment that cannot be refunded."""

    code = "refund_not_allowed"


class InvalidDocument(DomainError):
    """An uploaded file is not an accepted type (checked by content)."""

    code = "unsupported_media_type"


class DocumentTooLarge(DomainError):
    """An uploaded file is larger than the limit."""

    code = "payload_too_large"


class SigningNotAvailable(DomainError):
    """A signing request that cannot proceed (expired link, already signed, bad callback)."""

    code = "signing_not_available"


class TooManyAttempts(DomainError):
    """A rate limit (card testing, floods) refuses the attempt for now; ``retry_after`` is the
    number of seconds until one more would be allowed."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class DocumentDamaged(InvalidDocument):
    """An uploaded file claims an accepted type but its structure is broken (truncated, fake)."""

    code = "document_damaged"


class ImageTooLarge(InvalidDocument):
    """An uploaded image has more pixels (or a longer side) than allowed: a decompression bomb."""

    code = "image_too_large"


class ActiveContentNotAccepted(InvalidDocument):
    """An uploaded PDF carries JavaScript, launch actions or embedded files."""

    code = "active_content_not_accepted"


class InsuranceProofLimitReached(DomainError):
    """The order already holds the most proofs of insurance it may."""

    code = "insurance_proof_limit_reached"


class DocumentIntegrityError(DomainError):
    """A stored document no longer hashes to the SHA-256 it was stored under: its bytes were
    altered or damaged where they are kept. The caller did nothing wrong and a retry will not
    help: it cannot be served until an operator restores it from a backup. Raised by document
    stores; the use cases record a ``DocumentIntegrityFailed`` event on the order first.
    ``storage_key`` and ``actual_sha256`` are for logs and events, never for clients."""

    code = "document_integrity_failed"

    def __init__(self, message: str, *, storage_key: str = "", actual_sha256: str = "", **details: Any) -> None:
        super().__init__(message, **details)
        self.storage_key = storage_key
        self.actual_sha256 = actual_sha256
