"""Rows and JSON documents ↔ domain objects through two cattrs converters, built once on first use.

``documents()`` writes nested value objects (contact, pricing, payment plan, trade-in, delivery,
documents, insurance, signing envelope, disclosures) as JSON objects keyed by attrs field names:
money is ``{"cents": int, "currency": str}``, ``Decimal`` rates their exact text (never a JSON
number), datetimes ISO 8601 in UTC, dates ``YYYY-MM-DD``. Reading checks every type, so a corrupt
document fails loudly (:class:`CorruptRecord`) instead of producing a half-valid aggregate.

``rows()`` writes entities as table rows: a ``Money`` field ``x`` is the column ``x_cents`` plus the
row's one ``currency`` column, value objects are JSON documents, datetimes go to ``UtcDateTime``
as they are, enums are their values."""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
from cattrs import Converter
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from checkout_core.model.order import (
    Delivery,
    DocumentRecord,
    Insurance,
    Order,
    PaymentPlan,
    SigningEnvelope,
    TradeIn,
)
from checkout_core.model.parties import Address, Advisor, ContactInfo, Customer, FinancingApplication, TradeInOffer
from checkout_core.model.payments import Dispute, Payment, Refund
from checkout_core.model.reservation import Reservation
from checkout_core.model.vehicle import Vehicle
from checkout_core.money import Money
from checkout_core.ports.idempotency import IdempotencyRecord
from checkout_core.ports.repositories import StoredEvent
from checkout_core.pricing.quote import Pricing
from checkout_core.tax.calculator import TaxBreakdown, TaxLine

JsonDict = dict[str, Any]
#: A result row by column name (SQLAlchemy's RowMapping is keyed by names *or* columns).
Row = Mapping[Any, Any]
T = TypeVar("T")

#: Entities stored one per row; every other attrs class is a JSON document inside a row.
_ROW_TYPES: frozenset[type] = frozenset({Vehicle, Reservation, Order, Payment, Refund, Dispute, Customer, Advisor})
_ROW_TYPES |= {TradeInOffer, FinancingApplication, StoredEvent, IdempotencyRecord}
#: Fields whose column is not named after them (besides money's ``x_cents``).
_RENAMED = {(Order, "payment"): "payment_plan"}


class CorruptRecord(ValueError):
    """A stored row or document does not have the shape this code writes."""


# -- the odd fields -------------------------------------------------------------------------


def _strict(kind: type, what: str) -> Callable[[object, object], Any]:
    def check(value: object, _: object) -> Any:
        # bool is an int subclass; a stored True must not pass for 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CorruptRecord(f"expected {what}, got {type(value).__name__}: {value!r}")
        return value

    return check


_check_str = _strict(str, "a string")


def _parse(parse: Callable[[str], T], what: str) -> Callable[[object, object], T]:
    def structure(value: object, _: object) -> T:
        text = _check_str(value, str)  # rates are text on purpose: a JSON number would go through float
        try:
            return parse(text)
        except (ValueError, InvalidOperation):
            raise CorruptRecord(f"{text!r} is not {what}") from None

    return structure


def _aware_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise CorruptRecord(f"{text!r} has no UTC offset")
    return value.astimezone(UTC)


def _decimal_text(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}")
    return str(value)


def datetime_to_json(value: datetime) -> str:
    """Aware datetime → ISO 8601 in UTC (naive datetimes are refused)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store a naive datetime: {value!r}")
    return value.astimezone(UTC).isoformat()


def _structure_money(value: object, _: object) -> Money:
    if not isinstance(value, Mapping):
        raise CorruptRecord(f"money: expected an object, got {type(value).__name__}")
    return Money(_strict(int, "integer cents")(value.get("cents"), int), _check_str(value.get("currency"), str))


def _checked_document(make: Callable[[Any, Any], Any], cl: type) -> Callable[[object, object], Any]:
    def structure(value: object, _: object) -> Any:
        if not isinstance(value, Mapping):
            raise CorruptRecord(f"{cl.__name__}: expected an object, got {type(value).__name__}")
        try:
            return make(value, cl)
        except KeyError as missing:
            raise CorruptRecord(f"{cl.__name__}: {missing} is missing") from None

    return structure


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, enum.Enum)


def _is_optional_plain(t: Any) -> bool:
    return t in (str | None, int | None)


def _converter() -> Converter:
    c = Converter(detailed_validation=False, unstruct_collection_overrides={tuple: list})
    c.register_unstructure_hook(enum.StrEnum, operator.attrgetter("value"))  # a plain str, as before
    c.register_unstructure_hook_factory(_is_optional_plain, lambda _: identity)  # inlined by cattrs
    return c


@functools.cache
def documents() -> Converter:
    """The converter of JSON documents (built on first use, then shared)."""
    c = _converter()
    for kind, what in ((str, "a string"), (int, "an integer"), (bool, "a boolean")):
        # By exact type: a class hook would also catch StrEnum (a str subclass).
        c.register_structure_hook_func(functools.partial(operator.is_, kind), _strict(kind, what))
    c.register_unstructure_hook(Money, lambda m: {"cents": m.cents, "currency": m.currency})
    c.register_structure_hook(Money, _structure_money)
    c.register_unstructure_hook(Decimal, _decimal_text)
    c.register_structure_hook(Decimal, _parse(Decimal, "a decimal number"))
    c.register_unstructure_hook(datetime, datetime_to_json)
    c.register_structure_hook(datetime, _parse(_aware_utc, "an ISO 8601 datetime with an offset"))
    c.register_unstructure_hook(date, date.isoformat)
    c.register_structure_hook(date, _parse(date.fromisoformat, "an ISO 8601 date"))
    c.register_structure_hook_factory(_is_enum, lambda t: lambda v, _: t(_check_str(v, str)))
    c.register_structure_hook_factory(attrs.has, lambda cl: _checked_document(make_dict_structure_fn(cl, c), cl))
    return c


def _money_fields(cl: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(attrs.resolve_types(cl)) if f.type in (Money, Money | None))


def _columns(c: Converter, cl: type) -> dict[str, Any]:
    renamed = {f: override(rename=f"{f}_cents") for f in _money_fields(cl)}
    renamed |= {f: override(rename=column) for (owner, f), column in _RENAMED.items() if owner is cl}
    if "pending_events" in attrs.fields_dict(cl):
        renamed["pending_events"] = override(omit=True)
    return renamed


def _row_unstructure(c: Converter, cl: type) -> Callable[[Any], JsonDict]:
    make: Callable[[Any], JsonDict] = make_dict_unstructure_fn(cl, c, **_columns(c, cl))
    money = _money_fields(cl)
    if not money:
        return make

    def unstructure(obj: Any) -> JsonDict:
        row = make(obj)
        amounts = [getattr(obj, f) for f in money]
        if len(amounts) == 1 and amounts[0] is not None:  # the common case, kept cheap
            row["currency"] = amounts[0].currency
            return row
        currencies = {m.currency for m in amounts if m is not None}
        if len(currencies) > 1:
            raise ValueError(f"one row cannot hold amounts in several currencies: {sorted(currencies)}")
        row["currency"] = currencies.pop() if currencies else "CAD"
        return row

    return unstructure


def _row_structure(c: Converter, cl: type) -> Callable[[Row, Any], Any]:
    make: Callable[[Row, Any], Any] = make_dict_structure_fn(cl, c, **_columns(c, cl))
    columns = [f"{f}_cents" for f in _money_fields(cl)]
    if not columns:
        return make

    def structure(row: Row, _: Any) -> Any:
        values, currency = dict(row), row["currency"]
        for column in columns:
            cents = values[column]
            values[column] = None if cents is None else Money(int(cents), currency)
        return make(values, cl)

    return structure


def _as_is(value: object, _: object) -> object:
    return value


def _is_row(t: Any) -> bool:
    return t in _ROW_TYPES


def _is_payload(t: Any) -> bool:
    return bool(t == dict[str, object])


@functools.cache
def rows() -> Converter:
    """The converter of table rows (built on first use, then shared)."""
    docs, c = documents(), _converter()
    c.register_unstructure_hook_factory(attrs.has, docs.get_unstructure_hook)
    c.register_structure_hook_factory(attrs.has, docs.get_structure_hook)
    c.register_unstructure_hook_factory(_is_row, functools.partial(_row_unstructure, c))
    c.register_structure_hook_factory(_is_row, functools.partial(_row_structure, c))
    c.register_structure_hook(Money, lambda m, _: m)  # built from the cents and currency columns
    c.register_unstructure_hook(Money, lambda m: m.cents)  # its currency goes to the row's column
    c.register_unstructure_hook(Decimal, _decimal_text)
    c.register_structure_hook(Decimal, docs.get_structure_hook(Decimal))
    # Columns come back typed (UtcDateTime gives aware UTC datetimes): nothing to convert.
    c.register_structure_hook_func(lambda t: t in (datetime, datetime | None, str | None, int | None), _as_is)
    c.register_structure_hook_func(_is_payload, lambda v, _: dict(_structure_payload(v)))
    c.register_unstructure_hook_func(_is_payload, lambda v: v)  # the event's payload as it is
    c.register_structure_hook(bytes, lambda v, _: bytes(v))
    return c


def _structure_payload(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CorruptRecord(f"outbox.payload: expected an object, got {type(value).__name__}")
    return value


# -- the names the repositories and tests use -----------------------------------------------


def money_to_json(money: Money) -> JsonDict:
    """``{"cents": …, "currency": …}``."""
    return {"cents": money.cents, "currency": money.currency}


def money_from_json(value: object, what: str = "money") -> Money:
    """The inverse of :func:`money_to_json`."""
    return _structure_money(value, Money)


def _to_json(value: Any) -> JsonDict:
    return documents().unstructure(value)  # type: ignore[no-any-return]


def address_to_json(value: Address) -> JsonDict:
    return _to_json(value)


def address_from_json(value: object) -> Address:
    return documents().structure(value, Address)


def contact_to_json(value: ContactInfo) -> JsonDict:
    return _to_json(value)


def contact_from_json(value: object) -> ContactInfo:
    return documents().structure(value, ContactInfo)


def tax_line_to_json(value: TaxLine) -> JsonDict:
    return _to_json(value)


def tax_line_from_json(value: object) -> TaxLine:
    return documents().structure(value, TaxLine)


def tax_to_json(value: TaxBreakdown) -> JsonDict:
    return _to_json(value)


def tax_from_json(value: object) -> TaxBreakdown:
    return documents().structure(value, TaxBreakdown)


def pricing_to_json(value: Pricing) -> JsonDict:
    return _to_json(value)


def pricing_from_json(value: object) -> Pricing:
    return documents().structure(value, Pricing)


def payment_plan_to_json(value: PaymentPlan) -> JsonDict:
    return _to_json(value)


def payment_plan_from_json(value: object) -> PaymentPlan:
    return documents().structure(value, PaymentPlan)


def trade_in_to_json(value: TradeIn) -> JsonDict:
    return _to_json(value)


def trade_in_from_json(value: object) -> TradeIn:
    return documents().structure(value, TradeIn)


def delivery_to_json(value: Delivery) -> JsonDict:
    return _to_json(value)


def delivery_from_json(value: object) -> Delivery:
    return documents().structure(value, Delivery)


def document_to_json(value: DocumentRecord) -> JsonDict:
    return _to_json(value)


def document_from_json(value: object) -> DocumentRecord:
    return documents().structure(value, DocumentRecord)


def insurance_to_json(value: Insurance) -> JsonDict:
    return _to_json(value)


def insurance_from_json(value: object) -> Insurance:
    return documents().structure(value, Insurance)


def envelope_to_json(value: SigningEnvelope) -> JsonDict:
    return _to_json(value)


def envelope_from_json(value: object) -> SigningEnvelope:
    return documents().structure(value, SigningEnvelope)


def _to_row(value: Any) -> JsonDict:
    return rows().unstructure(value)  # type: ignore[no-any-return]


def vehicle_to_row(value: Vehicle) -> JsonDict:
    return _to_row(value)


def vehicle_from_row(row: Row) -> Vehicle:
    return rows().structure(row, Vehicle)


def reservation_to_row(value: Reservation) -> JsonDict:
    return _to_row(value)


def reservation_from_row(row: Row) -> Reservation:
    return rows().structure(row, Reservation)


def order_to_row(value: Order) -> JsonDict:
    """``version`` is managed by the repository; ``awaits_agreement`` is written for queries."""
    return {**_to_row(value), "awaits_agreement": value.awaits_agreement}


def order_from_row(row: Row) -> Order:
    return rows().structure(row, Order)


def payment_to_row(value: Payment) -> JsonDict:
    return _to_row(value)


def payment_from_row(row: Row) -> Payment:
    return rows().structure(row, Payment)


def refund_to_row(value: Refund) -> JsonDict:
    return _to_row(value)


def refund_from_row(row: Row) -> Refund:
    return rows().structure(row, Refund)


def dispute_to_row(value: Dispute) -> JsonDict:
    return _to_row(value)


def dispute_from_row(row: Row) -> Dispute:
    return rows().structure(row, Dispute)


def customer_to_row(value: Customer) -> JsonDict:
    return _to_row(value)


def customer_from_row(row: Row) -> Customer:
    return rows().structure(row, Customer)


def advisor_to_row(value: Advisor) -> JsonDict:
    return _to_row(value)


def advisor_from_row(row: Row) -> Advisor:
    return rows().structure(row, Advisor)


def trade_in_offer_to_row(value: TradeInOffer) -> JsonDict:
    return _to_row(value)


def trade_in_offer_from_row(row: Row) -> TradeInOffer:
    return rows().structure(row, TradeInOffer)


def financing_to_row(value: FinancingApplication) -> JsonDict:
    return _to_row(value)


def financing_from_row(row: Row) -> FinancingApplication:
    return rows().structure(row, FinancingApplication)


def event_to_row(value: StoredEvent) -> JsonDict:
    """``seq`` is assigned by the database."""
    return _to_row(value)


def event_from_row(row: Row) -> StoredEvent:
    return rows().structure(row, StoredEvent)


def idempotency_from_row(row: Row) -> IdempotencyRecord:
    return rows().structure(row, IdempotencyRecord)
