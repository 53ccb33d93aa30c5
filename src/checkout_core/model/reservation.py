"""A $100 refundable hold on one car for one customer, and its rules.

Lifecycle: ``pending_deposit`` (car claimed, deposit being charged) → ``confirmed`` (held until
``expires_at``) → ``converted`` (an order uses it) | ``expired`` | ``cancelled``; or
``pending_deposit`` → ``failed`` when the deposit is declined.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from checkout_core.errors import ReservationNotUsable, ValidationFailed
from checkout_core.events import (
    DepositPaid,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationExpired,
    ReservationFailed,
    VehicleReservationInitiated,
)
from checkout_core.model.aggregate import Aggregate
from checkout_core.money import Money

MIN_HOLD_HOURS = 48
MAX_HOLD_HOURS = 72
DEFAULT_HOLD_HOURS = 72


def validate_hold_hours(hours: int) -> int:
    """The hold length must be 48–72 hours (REQ-CP-B-001)."""
    if not MIN_HOLD_HOURS <= hours <= MAX_HOLD_HOURS:
        raise ValidationFailed(f"reservation hold must be {MIN_HOLD_HOURS}–{MAX_HOLD_HOURS} hours, not {hours}")
    return hours


#: A deposit's idempotency key is the reservation id plus this (adapters join on it).
DEPOSIT_KEY_SUFFIX = ":deposit"


class ReservationStatus(enum.StrEnum):
    """The statuses a reservation goes through."""

    PENDING_DEPOSIT = "pending_deposit"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"
    CONVERTED = "converted"


ACTIVE_STATUSES = frozenset({ReservationStatus.PENDING_DEPOSIT, ReservationStatus.CONFIRMED})
#: The status whose hold runs out at ``expires_at`` (:meth:`Reservation.is_overdue`; adapters
#: build their "overdue" and "active hold" queries from this and ``ACTIVE_STATUSES``).
EXPIRING_STATUS = ReservationStatus.CONFIRMED
#: Ended without an order: whatever the deposit left with us is owed back.
RELEASED_STATUSES = frozenset({ReservationStatus.FAILED, ReservationStatus.CANCELLED, ReservationStatus.EXPIRED})


@attrs.define(kw_only=True)
class Reservation(Aggregate):
    """A hold on ``vehicle_id`` for ``customer_id`` backed by a deposit."""

    id: str
    vehicle_id: str
    customer_id: str
    status: ReservationStatus
    deposit: Money
    hold_hours: int
    created_at: datetime
    expires_at: datetime | None = None
    charge_id: str | None = None
    order_id: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def start(
        cls, *, id: str, vehicle_id: str, customer_id: str, deposit: Money, hold_hours: int, now: datetime
    ) -> Reservation:
        """Saga step 1: the car is claimed and the deposit is about to be charged."""
        reservation = cls(
            id=id,
            vehicle_id=vehicle_id,
            customer_id=customer_id,
            status=ReservationStatus.PENDING_DEPOSIT,
            deposit=deposit,
            hold_hours=validate_hold_hours(hold_hours),
            created_at=now,
            updated_at=now,
        )
        reservation.raise_event(
            VehicleReservationInitiated(occurred_at=now, reservation_id=id, vehicle_id=vehicle_id, user_id=customer_id)
        )
        return reservation

    @property
    def deposit_idempotency_key(self) -> str:
        """The key every deposit charge attempt for this reservation carries (crash-safe retries)."""
        return self.id + DEPOSIT_KEY_SUFFIX

    def is_overdue(self, now: datetime) -> bool:
        """A confirmed hold whose time is up (whether or not a sweep has marked it yet)."""
        return self.status is EXPIRING_STATUS and self.expires_at is not None and now >= self.expires_at

    def is_active(self, now: datetime) -> bool:
        """Holds the car right now: pending deposit, or confirmed and not overdue."""
        return self.status in ACTIVE_STATUSES and not self.is_overdue(now)

    def confirm(self, *, charge_id: str, now: datetime) -> None:
        """Saga step 3: the deposit was charged; the hold runs from now."""
        if self.status is ReservationStatus.CONFIRMED and self.charge_id == charge_id:
            return  # recovery and the request may both confirm; the second is a no-op
        self._require(ReservationStatus.PENDING_DEPOSIT, "confirm")
        self.status = ReservationStatus.CONFIRMED
        self.charge_id = charge_id
        self.expires_at = now + timedelta(hours=self.hold_hours)
        self.updated_at = now
        self.raise_event(DepositPaid(occurred_at=now, reservation_id=self.id, amount=self.deposit.cents))
        self.raise_event(
            ReservationConfirmed(
                occurred_at=now, reservation_id=self.id, vehicle_id=self.vehicle_id, expires_at=self.expires_at
            )
        )

    def fail(self, *, reason: str, now: datetime) -> None:
        """The deposit was declined or never charged: the hold ends before it began."""
        self._require(ReservationStatus.PENDING_DEPOSIT, "fail")
        self.status = ReservationStatus.FAILED
        self.updated_at = now
        self.raise_event(
            ReservationFailed(occurred_at=now, reservation_id=self.id, vehicle_id=self.vehicle_id, reason=reason)
        )

    def expire(self, *, now: datetime) -> None:
        """The hold ran out without an order."""
        if not self.is_overdue(now):
            raise ReservationNotUsable(f"reservation {self.id} is not due for expiry", status=self.status.value)
        self.status = ReservationStatus.EXPIRED
        self.updated_at = now
        self.raise_event(ReservationExpired(occurred_at=now, reservation_id=self.id, vehicle_id=self.vehicle_id))

    def cancel(self, *, now: datetime) -> None:
        """The customer lets the car go before ordering."""
        self._require(ReservationStatus.CONFIRMED, "cancel")
        self.status = ReservationStatus.CANCELLED
        self.updated_at = now
        self.raise_event(ReservationCancelled(occurred_at=now, reservation_id=self.id, vehicle_id=self.vehicle_id))

    def ensure_usable_for_order(self, *, customer_id: str, now: datetime) -> None:
        """An order needs a confirmed, unexpired hold of the caller's."""
        if self.customer_id != customer_id:
            raise ReservationNotUsable("reservation belongs to another customer")
        if self.status is not ReservationStatus.CONFIRMED:
            raise ReservationNotUsable(
                f"reservation {self.id} is {self.status.value}, not confirmed", status=self.status.value
            )
        if self.is_overdue(now):
            raise ReservationNotUsable(f"reservation {self.id} has expired", status="expired")

    def convert(self, *, order_id: str, now: datetime) -> None:
        """An order now uses this hold: it no longer expires and its deposit counts toward the order."""
        self._require(ReservationStatus.CONFIRMED, "convert")
        self.status = ReservationStatus.CONVERTED
        self.order_id = order_id
        self.updated_at = now

    def _require(self, status: ReservationStatus, step: str) -> None:
        if self.status is not status:
            raise ReservationNotUsable(
                f"cannot {step} reservation {self.id}: it is {self.status.value}", status=self.status.value
            )
