from checkout_core.model.order import FIRST_ORDER_NUMBER, order_number


def test_order_number_is_clt_year_and_the_counter_zero_padded_to_five_digits() -> None:
    assert order_number(2025, FIRST_ORDER_NUMBER) == "CLT-2025-10001"
    assert order_number(2026, 7) == "CLT-2026-00007"
    assert order_number(2025, 123456) == "CLT-2025-123456"
