"""Reservations: the saga that takes a car and its deposit (:mod:`.reserving`), reading them
(:mod:`.reading`), how a hold ends without an order (:mod:`.ending`: cancelled, expired) and the
deposits a crash or a webhook leaves to settle (:mod:`.recovering`)."""

from checkout_core.usecases.reservations.ending import cancel_reservation, expire_due_reservations
from checkout_core.usecases.reservations.reading import (
    ReservationResult,
    get_reservation,
    list_reservations,
    list_reservations_with_deposits,
    list_vehicles,
)
from checkout_core.usecases.reservations.recovering import recover_pending_deposits, settle_deposit
from checkout_core.usecases.reservations.reserving import reserve_vehicle

__all__ = [
    "ReservationResult",
    "cancel_reservation",
    "expire_due_reservations",
    "get_reservation",
    "list_reservations",
    "list_reservations_with_deposits",
    "list_vehicles",
    "recover_pending_deposits",
    "reserve_vehicle",
    "settle_deposit",
]
