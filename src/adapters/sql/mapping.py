"""Rows and JSON documents ↔ domain objects through one cattrs converter, built on first use.

Entities (:data:`_ROW_TYPES`) are table rows: a ``Money`` field ``x`` is the column ``x_cents`` plus
the row's one ``currency`` column, datetimes go to ``UtcDateTime`` as they are, enums are their
values. Every other attrs class is a JSON document inside a row, keyed by attrs field names: money
is ``{"cents": int, "currency": str}``, ``Decimal`` rates their exact text (never a JSON number),
datetimes ISO 8601 in UTC, dates ``YYYY-MM-DD``. Reading a document checks every type, so a corrupt
one fails loudly (:class:`CorruptRecord`) instead of producing a half-valid aggregate."""

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

from checkout_core.model.audit import AuditEntry
from checkout_core.model.order import Order
from checkout_core.model.parties import Advisor, Customer, FinancingApplication, TradeInOffer
from checkout_core.model.payments import Dispute, Payment, Refund
from checkout_core.model.reservation import Reservation
from checkout_core.model.vehicle import Vehicle
from checkout_core.money import Money
from checkout_core.ports.idempotency import IdempotencyRecord
from checkout_core.ports.repositories import StoredEvent

JsonDict = dict[str, Any]
#: A result row by column name (SQLAlchemy's RowMapping is keyed by names *or* columns).
Row = Mapping[Any, Any]
T = TypeVar("T")

#: Entities stored one per row; every other attrs class is a JSON document inside a row.
_ROW_TYPES: frozenset[type] = frozenset({Vehicle, Reservation, Order, Payment, Refund, Dispute, Customer, Advisor})
_ROW_TYPES |= {TradeInOffer, FinancingApplication, StoredEvent, IdempotencyRecord, AuditEntry}
#: Fields whose column is not named after them (besides money's ``x_cents``).
_RENAMED = {(Order, "payment"): "payment_plan"}


class CorruptRecord(ValueError):
    """A stored row or document does not have the shape this code writes."""


def _strict(kind: type, what: str) -> Callable[[object, object], Any]:
    def check(value: object, _: object) -> Any:
        # bool is an int subclass; a stored True must not pass for 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CorruptRecord(f"expected {what}, got {type(value).__name__}: {value!r}")
        return value

    return check


_check_str = _strict(str, "a string")
_check_cents = _strict(int, "integer cents")


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
    return Money(_check_cents(value.get("cents"), int), _check_str(value.get("currency"), str))


def _checked_document(make: Callable[[Any, Any], Any], cl: type) -> Callable[[object, object], Any]:
    def structure(value: object, _: object) -> Any:
        if not isinstance(value, Mapping):
            raise CorruptRecord(f"{cl.__name__}: expected an object, got {type(value).__name__}")
        try:
            return make(value, cl)
        except KeyError as missing:
            raise CorruptRecord(f"{cl.__name__}: {missing} is missing") from None

    return structure


def _as_is(value: object, _: object) -> object:
    return value


def _bytes(value: Any, _: object) -> bytes:
    return bytes(value)


def _structure_payload(value: object, _: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CorruptRecord(f"outbox.payload: expected an object, got {type(value).__name__}")
    return dict(value)


#: Row columns that come back typed from the database (``UtcDateTime`` gives aware UTC
#: datetimes): read and written as they are, not as their JSON form.
_TYPED_COLUMNS: dict[Any, Callable[[Any, object], Any]] = {dict[str, object]: _structure_payload, bytes: _bytes}
_TYPED_COLUMNS |= dict.fromkeys((datetime, datetime | None, str | None, int | None), _as_is)


def _cents(money: Money | None) -> int | None:
    return None if money is None else money.cents


def _columns(cl: type) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The money fields of row class ``cl`` and how each field is a column."""
    fields = attrs.fields(attrs.resolve_types(cl))
    money = tuple(f.name for f in fields if f.type in (Money, Money | None))
    how = {f: override(rename=f"{f}_cents", unstruct_hook=_cents, struct_hook=_as_is) for f in money}
    typed = {f.name: _TYPED_COLUMNS[f.type] for f in fields if f.type in _TYPED_COLUMNS}
    how |= {f: override(unstruct_hook=identity, struct_hook=hook) for f, hook in typed.items()}
    how |= {f: override(rename=column) for (owner, f), column in _RENAMED.items() if owner is cl}
    if "pending_events" in attrs.fields_dict(cl):
        how["pending_events"] = override(omit=True)
    return money, how


def _row_unstructure(c: Converter, cl: type) -> Callable[[Any], JsonDict]:
    money, how = _columns(cl)
    make: Callable[[Any], JsonDict] = make_dict_unstructure_fn(cl, c, **how)

    def unstructure(obj: Any) -> JsonDict:
        row = make(obj)
        currencies = {m.currency for m in (getattr(obj, f) for f in money) if m is not None}
        if len(currencies) > 1:
            raise ValueError(f"one row cannot hold amounts in several currencies: {sorted(currencies)}")
        if money:
            row["currency"] = currencies.pop() if currencies else "CAD"
        return row

    return unstructure


def _row_structure(c: Converter, cl: type) -> Callable[[Row, Any], Any]:
    money, how = _columns(cl)
    make: Callable[[Row, Any], Any] = make_dict_structure_fn(cl, c, **how)
    columns = [f"{f}_cents" for f in money]

    def structure(row: Row, _: Any) -> Any:
        if not columns:
            return make(row, cl)
        values, currency = dict(row), row["currency"]
        for column in columns:
            cents = values[column]
            values[column] = None if cents is None else Money(int(cents), currency)
        return make(values, cl)

    return structure


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, enum.Enum)


def _is_document(t: Any) -> bool:
    return attrs.has(t) and t not in _ROW_TYPES


@functools.cache
def converter() -> Converter:
    """The converter of rows and documents (built on first use, then shared)."""
    c = Converter(detailed_validation=False, unstruct_collection_overrides={tuple: list})
    c.register_unstructure_hook(enum.StrEnum, operator.attrgetter("value"))  # a plain str
    c.register_unstructure_hook_factory(lambda t: t in (str | None, int | None), lambda _: identity)
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
    c.register_structure_hook_factory(_is_document, lambda cl: _checked_document(make_dict_structure_fn(cl, c), cl))
    c.register_unstructure_hook_factory(lambda t: t in _ROW_TYPES, functools.partial(_row_unstructure, c))
    c.register_structure_hook_factory(lambda t: t in _ROW_TYPES, functools.partial(_row_structure, c))
    return c


def to_json(value: Any) -> JsonDict:
    """A value object (or ``Money``) as the JSON document stored for it."""
    return converter().unstructure(value)  # type: ignore[no-any-return]


def from_json(value: object, cl: type[T]) -> T:
    """The inverse of :func:`to_json`; :class:`CorruptRecord` if ``value`` has another shape."""
    return converter().structure(value, cl)


def to_row(value: Any) -> JsonDict:
    """An entity as its table row. An order also writes ``awaits_agreement`` (for queries);
    its ``version`` is managed by the repository, an event's ``seq`` by the database."""
    row: JsonDict = converter().unstructure(value)
    if isinstance(value, Order):
        row["awaits_agreement"] = value.awaits_agreement
    return row


def from_row(row: Row, cl: type[T]) -> T:
    """The entity ``row`` holds (columns that are no field of ``cl`` are ignored)."""
    return converter().structure(row, cl)
