"""Every legal and every illegal order transition, table-driven."""

from __future__ import annotations

import itertools

import pytest

from checkout_core.errors import IllegalTransition
from checkout_core.model.order import TRANSITIONS, OrderStatus, OrderStep, next_status

S, T = OrderStatus, OrderStep

LEGAL = {
    (S.PENDING_DOCUMENTS, T.SIGN_DOCUMENTS): S.PENDING_INSURANCE,
    (S.PENDING_INSURANCE, T.VERIFY_INSURANCE): S.PENDING_PAYMENT,
    (S.PENDING_PAYMENT, T.RECEIVE_FULL_PAYMENT): S.PENDING_DELIVERY,
    (S.PENDING_DELIVERY, T.DISPATCH): S.IN_TRANSIT,
    (S.PENDING_DELIVERY, T.HAND_OVER): S.DELIVERED,
    (S.IN_TRANSIT, T.DELIVER): S.DELIVERED,
    (S.DELIVERED, T.COMPLETE): S.COMPLETED,
    (S.DELIVERED, T.RETURN): S.RETURNED,
    (S.PENDING_DOCUMENTS, T.CANCEL): S.CANCELLED,
    (S.PENDING_INSURANCE, T.CANCEL): S.CANCELLED,
    (S.PENDING_PAYMENT, T.CANCEL): S.CANCELLED,
    (S.PENDING_DELIVERY, T.CANCEL): S.CANCELLED,
}


def test_the_table_is_exactly_the_designed_machine() -> None:
    assert dict(TRANSITIONS) == LEGAL


@pytest.mark.parametrize(("current", "step"), sorted(LEGAL))
def test_legal_transition(current: OrderStatus, step: OrderStep) -> None:
    assert next_status(current, step) is LEGAL[(current, step)]


ILLEGAL = [pair for pair in itertools.product(OrderStatus, OrderStep) if pair not in LEGAL]


@pytest.mark.parametrize(("current", "step"), ILLEGAL)
def test_illegal_transition_names_status_and_step(current: OrderStatus, step: OrderStep) -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(current, step)
    assert raised.value.current == current.value
    assert raised.value.attempted == step.value
    assert current.value in str(raised.value) and step.value in str(raised.value)


def test_nothing_leaves_a_terminal_status() -> None:
    for terminal in (S.COMPLETED, S.CANCELLED, S.RETURNED):
        assert not [step for (status, step) in TRANSITIONS if status is terminal]


def test_cancel_is_impossible_once_the_car_left() -> None:
    for status in (S.IN_TRANSIT, S.DELIVERED):
        with pytest.raises(IllegalTransition):
            next_status(status, T.CANCEL)
