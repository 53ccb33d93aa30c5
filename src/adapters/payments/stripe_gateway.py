"""The Stripe adapter of the :class:`~checkout_core.ports.payments.PaymentGateway` port: a
decline is a FAILED :class:`ChargeResult`, an outage :class:`PaymentGatewayUnavailable` after the
SDK's retries (safe to repeat with the same key); the ledger is never written here. Only tokens
go out and only brand and last 4 come back; nothing logs a token, key or Stripe message. How each
method maps to Stripe, and localstripe's dialect: docs/payments.md, "Sandbox and Stripe"."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import stripe

from checkout_core.errors import PaymentGatewayUnavailable, RefundNotAllowed, ValidationFailed
from checkout_core.money import CAD, Money
from checkout_core.ports.gateway_events import GatewayEventRejected
from checkout_core.ports.payments import (
    ChargeResult,
    ChargeStatus,
    GatewayRecord,
    RefundOutcome,
    RefundResult,
)
from checkout_core.usecases.payment_events import GatewayEvent, GatewayRefund

if TYPE_CHECKING:
    from stripe.params import PaymentIntentCreateParams, RefundCreateParams

log = logging.getLogger("checkout.payments.stripe")

#: Stripe's recommended (and the SDK's default) tolerance for webhook timestamps.
WEBHOOK_TOLERANCE_SECONDS = 300

#: ``ChargeResult.ref`` for a charge Stripe refused before any PaymentIntent existed (an unknown
#: or used token): unique per attempt, and recognisably not a Stripe id.
REJECTED_PREFIX = "rejected:"

#: What a gateway token or PaymentMethod id looks like. Anything else is refused without a call.
_SOURCE = re.compile(r"(?:tok|pm|card|src)_[A-Za-z0-9_]{1,200}")

#: InvalidRequestError codes on a charge that mean "this token / PaymentMethod cannot be used".
_SOURCE_ERROR_CODES = frozenset(
    {
        "resource_missing",
        "token_already_used",
        "payment_method_unexpected_state",
        "payment_method_invalid_parameter",
        "payment_method_not_available",
        "payment_intent_incompatible_payment_method",
    }
)

#: PaymentIntent status → ours. Everything else is FAILED for us: after a decline Stripe goes
#: back to ``requires_payment_method``; ``requires_action`` (3-D Secure) cannot be completed by a
#: server-side confirmation with no customer present; ``canceled`` is final.
_INTENT_STATUS = {
    "succeeded": ChargeStatus.SUCCEEDED,
    "processing": ChargeStatus.PENDING,
    "requires_capture": ChargeStatus.PENDING,
}
_INTENT_FAILURE_CODES = {
    "requires_action": "authentication_required",
    "canceled": "canceled",
    "requires_confirmation": "not_confirmed",
}

_CHARGE_STATUS = {"succeeded": "succeeded", "pending": "pending", "failed": "failed"}

#: Refund status → ours (``requires_action`` waits for the customer's bank details: pending).
_REFUND_STATUS = {
    "succeeded": RefundOutcome.SUCCEEDED,
    "pending": RefundOutcome.PENDING,
    "requires_action": RefundOutcome.PENDING,
    "failed": RefundOutcome.FAILED,
    "canceled": RefundOutcome.FAILED,
}

#: Balance transaction types that move a customer's money outside the charges and refunds we list
#: (chargebacks are ``adjustment``s). Payouts, fees and transfers are not in our ledger by design.
_BALANCE_TYPES = frozenset({"adjustment", "payment_failure_refund", "refund_failure", "payment_reversal"})


# -- reading Stripe's JSON (we work on plain dicts: ``StripeObject.to_dict()``) ----------------


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: object) -> str | None:
    """An expandable field: an id, or the expanded object."""
    return _str(value) or _str(_dict(value).get("id"))


def _money(cents: object, currency: object) -> Money | None:
    """CAD cents, or None for anything else (we only ever charge CAD)."""
    if isinstance(cents, int) and not isinstance(cents, bool) and isinstance(currency, str) and currency.upper() == CAD:
        return Money(cents, CAD)
    return None


def _when(value: object) -> datetime:
    return datetime.fromtimestamp(value if isinstance(value, int) else 0, UTC)


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(obj.get("metadata")).items()}


def _card(card: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Brand and last 4 digits: the only card data we keep (and only if it really is 4 digits)."""
    last4 = _str(card.get("last4"))
    return _str(card.get("brand")), last4 if last4 is not None and len(last4) == 4 and last4.isdigit() else None


def _card_of_intent(intent: Mapping[str, Any]) -> tuple[str | None, str | None]:
    brand, last4 = _card(_dict(_dict(intent.get("payment_method")).get("card")))
    if brand is None and last4 is None:
        charge = _dict(intent.get("latest_charge"))
        brand, last4 = _card(_dict(_dict(charge.get("payment_method_details")).get("card")))
    return brand, last4


def _charge_result(intent: Mapping[str, Any]) -> ChargeResult:
    """Our view of a PaymentIntent."""
    word = str(intent.get("status") or "")
    status = _INTENT_STATUS.get(word, ChargeStatus.FAILED)
    error = _dict(intent.get("last_payment_error"))
    amount = _money(intent.get("amount"), intent.get("currency"))
    if amount is None:
        raise PaymentGatewayUnavailable(f"PaymentIntent {intent.get('id')} is not in CAD")
    brand, last4 = _card_of_intent(intent)
    failed = status is ChargeStatus.FAILED
    return ChargeResult(
        ref=str(intent.get("id")),
        status=status,
        amount=amount,
        decline_code=(
            (
                _str(error.get("decline_code"))
                or _str(error.get("code"))
                or _INTENT_FAILURE_CODES.get(word, "card_declined")
            )
            if failed
            else None
        ),
        message=_str(error.get("message")) if failed else None,
        card_brand=brand,
        card_last4=last4,
        charge_id=_id(intent.get("latest_charge")),
    )


def _refund_result(refund: Mapping[str, Any]) -> RefundResult:
    amount = _money(refund.get("amount"), refund.get("currency"))
    if amount is None:
        raise PaymentGatewayUnavailable(f"refund {refund.get('id')} is not in CAD")
    return RefundResult(
        ref=str(refund.get("id")),
        status=_REFUND_STATUS.get(str(refund.get("status")), RefundOutcome.PENDING),
        amount=amount,
        failure_code=_str(refund.get("failure_reason")),
    )


def _rejected(amount: Money, idempotency_key: str) -> ChargeResult:
    return ChargeResult(
        ref=REJECTED_PREFIX + idempotency_key,
        status=ChargeStatus.FAILED,
        amount=amount,
        decline_code="invalid_token",
        message="The payment token is not valid.",
    )


def _unavailable(operation: str, exc: stripe.StripeError) -> PaymentGatewayUnavailable:
    # Type, HTTP status, code and request id only: Stripe's message may quote the token.
    log.warning(
        "stripe %s failed: %s (status %s, code %s, request %s)",
        operation,
        type(exc).__name__,
        exc.http_status,
        exc.code,
        exc.request_id,
    )
    return PaymentGatewayUnavailable(f"the payment gateway did not complete the {operation}; try again")


class _SdkBelowWarning(logging.Filter):
    """Drops the SDK's own DEBUG and INFO records: at DEBUG it logs every request body (tokens,
    PaymentMethod ids) and response body (card details), at INFO Stripe's error messages (which
    can quote the token). Warnings and errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _keep_sdk_logs_clean() -> None:
    sdk = logging.getLogger("stripe")
    if not any(isinstance(f, _SdkBelowWarning) for f in sdk.filters):
        sdk.addFilter(_SdkBelowWarning())
    if os.environ.get("STRIPE_LOG") or stripe.log:
        # The SDK then also prints those lines to stderr, past the logging module.
        log.warning("STRIPE_LOG / stripe.log is set: the Stripe SDK prints request bodies to stderr; unset it")


def _quote(value: str) -> str:
    """A value for Stripe's search query language (single-quoted)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


class StripeGateway:
    """:class:`~checkout_core.ports.payments.PaymentGateway` on Stripe (or an emulator at ``api_base``)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        max_network_retries: int = 2,
        timeout_seconds: float = 30.0,
        find_lookback: timedelta = timedelta(days=3),
        scan_limit: int = 2000,
        include_balance_transactions: bool = True,
        emulator: bool | None = None,
    ) -> None:
        """``max_network_retries``: the SDK retries connection errors, 409s and 5xx with the same
        idempotency key that many times before we give up. ``find_lookback`` / ``scan_limit``
        bound the strongly consistent list scan of :meth:`find_charge`. ``emulator``: speak the
        dialect localstripe understands (see :meth:`charge`); by default, whenever ``api_base``
        is set to a host other than Stripe's."""
        if not api_key:
            raise ValueError("a Stripe API key is required (STRIPE_API_KEY)")
        _keep_sdk_logs_clean()
        self._api_base = api_base.rstrip("/") if api_base else None
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self._api_base} if self._api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )
        self._find_lookback = find_lookback
        self._scan_limit = scan_limit
        self._include_balance_transactions = include_balance_transactions
        if emulator is None:
            emulator = self._api_base is not None and urlsplit(self._api_base).hostname != "api.stripe.com"
        self._emulator = emulator

    def __repr__(self) -> str:
        return f"StripeGateway(api_base={self._api_base or 'https://api.stripe.com'!r})"

    # -- charges ------------------------------------------------------------------------------

    def charge(
        self,
        *,
        amount: Money,
        source: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """Create and confirm a PaymentIntent for ``amount`` on ``source`` (see the module docstring)."""
        if amount.cents <= 0:
            raise ValidationFailed("amount must be positive", field="amount")
        if not _SOURCE.fullmatch(source):
            # Only gateway tokens and PaymentMethod ids ever leave this process: a card number
            # typed into the token field must not reach Stripe's request logs either.
            return _rejected(amount, idempotency_key)
        payment_method = source
        if source.startswith("tok_"):
            try:
                payment_method = self._payment_method_from_token(source, idempotency_key)
            except stripe.CardError as exc:
                return self._declined(exc, amount, idempotency_key)
            except stripe.InvalidRequestError:
                return _rejected(amount, idempotency_key)  # the token is all we sent
            except stripe.StripeError as exc:
                raise _unavailable("charge", exc) from None
        params: PaymentIntentCreateParams = {
            "amount": amount.cents,
            "currency": amount.currency.lower(),
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {
                **{str(k)[:40]: str(v)[:500] for k, v in metadata.items()},
                "idempotency_key": idempotency_key,
                "description": description[:500],
            },
            "expand": ["payment_method", "latest_charge"],
        }
        if self._emulator:
            # localstripe implements the older ``payment_method_types`` and refuses
            # ``allowed_payment_method_types`` and ``description``.
            cast(dict[str, Any], params)["payment_method_types"] = ["card"]
        else:
            # Cards only, so no redirect-based method and no ``return_url``. The SDK's pinned API
            # version (2026-10-28.endive) no longer accepts ``payment_method_types`` (400
            # ``payment_method_types_no_longer_supported``); this is its replacement.
            params["allowed_payment_method_types"] = ["card"]
            params["description"] = description[:1000]
        try:
            intent = self._client.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            return self._declined(exc, amount, idempotency_key)
        except stripe.IdempotencyError:
            raise ValidationFailed("idempotency key reused with different parameters") from None
        except stripe.InvalidRequestError as exc:
            if (
                (exc.param or "").startswith("payment_method")
                or exc.code in _SOURCE_ERROR_CODES
                or exc.http_status == 404
            ):
                # On a create, a 404 can only be the PaymentMethod we referenced (localstripe
                # answers an unknown ``pm_…`` that way; Stripe says ``resource_missing``).
                return _rejected(amount, idempotency_key)
            log.error("stripe refused our charge request (code %s, request %s)", exc.code, exc.request_id)
            raise _unavailable("charge", exc) from None
        except stripe.StripeError as exc:
            # Connection errors, 5xx and rate limits, after the SDK's retries with the same key. The
            # charge may or may not exist: the core keeps its ledger row pending and recovery asks
            # find_charge. ``from None``: the SDK's message must not reach a logged traceback.
            raise _unavailable("charge", exc) from None
        data = intent.to_dict()
        if data.get("status") == "requires_action":
            self._cancel_quietly(str(data.get("id")), idempotency_key)
        result = _charge_result(data)
        log.info("charge %s for ledger %s: %s", result.ref, metadata.get("ledger_id", "-"), result.status.value)
        return result

    def _payment_method_from_token(self, token: str, idempotency_key: str) -> str:
        """A legacy card token (``tok_…``) turned into a PaymentMethod, as Stripe documents for
        PaymentIntents. Its own idempotency key: Stripe ties a key to one endpoint."""
        method = self._client.v1.payment_methods.create(
            params={"type": "card", "card": {"token": token}},
            options={"idempotency_key": f"{idempotency_key}:payment_method"},
        )
        return str(method.id)

    def _declined(self, exc: stripe.CardError, amount: Money, idempotency_key: str) -> ChargeResult:
        """A card decline as a FAILED result, with Stripe's decline code and the PaymentIntent it left."""
        error = _dict(_dict(exc.json_body).get("error"))
        intent = _dict(error.get("payment_intent"))
        charge_id = _str(error.get("charge"))
        ref = _str(intent.get("id"))
        if ref is None and charge_id is not None:
            # Stripe returns the PaymentIntent in the error; localstripe only the charge id.
            ref = self._intent_of_charge(charge_id)
        brand, last4 = _card_of_intent(intent)
        if brand is None and last4 is None:
            brand, last4 = _card(_dict(_dict(error.get("payment_method")).get("card")))
        result = ChargeResult(
            ref=ref or charge_id or REJECTED_PREFIX + idempotency_key,
            status=ChargeStatus.FAILED,
            amount=amount,
            decline_code=_str(error.get("decline_code")) or _str(error.get("code")) or exc.code or "card_declined",
            message=_str(error.get("message")),
            card_brand=brand,
            card_last4=last4,
            charge_id=charge_id,
        )
        log.info("charge %s declined: %s", result.ref, result.decline_code)
        return result

    def _intent_of_charge(self, charge_id: str) -> str | None:
        try:
            return _id(self._client.v1.charges.retrieve(charge_id).to_dict().get("payment_intent"))
        except stripe.StripeError:
            return None  # the charge id is still a usable reference

    def _cancel_quietly(self, intent_id: str, idempotency_key: str) -> None:
        """A PaymentIntent waiting for 3-D Secure that no customer will complete: cancel it so it
        cannot succeed later behind our back. Best effort; it holds no money either way."""
        try:
            self._client.v1.payment_intents.cancel(intent_id, options={"idempotency_key": f"{idempotency_key}:cancel"})
        except stripe.StripeError as exc:
            log.warning("could not cancel PaymentIntent %s (%s)", intent_id, type(exc).__name__)

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """The PaymentIntent of an earlier attempt (ours carry the key and ledger id in their
        metadata), or None if Stripe has none. Prefers a succeeded one if a retry made several."""
        try:
            intents = self._intents_for(idempotency_key, ledger_id)
        except stripe.StripeError as exc:
            raise _unavailable("charge lookup", exc) from None
        if not intents:
            return None
        best = max(
            intents,
            key=lambda i: (
                i.get("status") == "succeeded",
                i.get("status") in ("processing", "requires_capture"),
                i.get("created") if isinstance(i.get("created"), int) else 0,
            ),
        )
        return _charge_result(best)

    def _intents_for(self, idempotency_key: str, ledger_id: str) -> list[dict[str, Any]]:
        def ours(intent: Mapping[str, Any]) -> bool:
            metadata = _metadata(intent)
            return metadata.get("idempotency_key") == idempotency_key or bool(
                ledger_id and metadata.get("ledger_id") == ledger_id
            )

        query = f"metadata['idempotency_key']:'{_quote(idempotency_key)}'"
        if ledger_id:
            query += f" OR metadata['ledger_id']:'{_quote(ledger_id)}'"
        search_available = True
        try:
            results = self._client.v1.payment_intents.search(
                params={"query": query, "limit": 100, "expand": ["data.payment_method"]}
            )
            found = [d for d in (i.to_dict() for i in results.auto_paging_iter()) if ours(d)]
            if found:
                return found
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
            # localstripe has no search endpoint (GET /v1/payment_intents/search is "PaymentIntent
            # 'search' not found"): list and filter by metadata instead.
            search_available = False
        # Search lags writes (Stripe: usually under a minute, up to an hour during incidents), and
        # recovery must not take "not found yet" for "never charged": confirm with the strongly
        # consistent list of recent PaymentIntents. (localstripe's list takes no ``created`` filter.)
        params: dict[str, Any] = {"limit": 100, "expand": ["data.payment_method"]}
        if search_available:
            params["created"] = {"gte": int(time.time() - self._find_lookback.total_seconds())}
        found = []
        listing = self._client.v1.payment_intents.list(params=params)  # type: ignore[arg-type]  # built as a plain dict: ``created`` is only sent to Stripe
        for seen, intent in enumerate(listing.auto_paging_iter()):
            if seen >= self._scan_limit:
                log.warning("find_charge: gave up after %d PaymentIntents for ledger %s", seen, ledger_id or "-")
                break
            data = intent.to_dict()
            if ours(data):
                found.append(data)
        return found

    # -- refunds ------------------------------------------------------------------------------

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Refund part or all of a charge; same key → same refund, never more than is left."""
        if amount.cents <= 0:
            raise RefundNotAllowed("a refund must be of a positive amount")
        target: dict[str, str] = {"charge" if charge_ref.startswith("ch_") else "payment_intent": charge_ref}
        try:
            # Our key is in every refund's metadata: a repeat finds the first refund even after
            # Stripe's 24-hour idempotency window (and on localstripe, which ignores the header).
            existing = self._refund_with_key(target, idempotency_key)
            if existing is not None:
                if existing.get("amount") != amount.cents:
                    raise ValidationFailed("idempotency key reused with different parameters")
                return _refund_result(existing)
            remaining = self._refundable(charge_ref)
            if amount.cents > remaining:
                # Stripe refuses this too; checking first gives a clear answer (and the emulator
                # does not check).
                raise RefundNotAllowed(
                    f"refund of {amount.format()} exceeds the {Money(remaining).format()} left on the charge",
                    refundable=remaining,
                )
            params: RefundCreateParams = {
                "amount": amount.cents,
                # Stripe's own ``reason`` only takes duplicate / fraudulent / requested_by_customer
                # (and localstripe refuses it): ours goes in the metadata.
                "metadata": {"idempotency_key": idempotency_key, "reason": reason[:500]},
            }
            if "charge" in target:
                params["charge"] = charge_ref
            else:
                params["payment_intent"] = charge_ref
            refund = self._client.v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.IdempotencyError:
            raise ValidationFailed("idempotency key reused with different parameters") from None
        except stripe.InvalidRequestError as exc:
            # No such charge, already refunded, failed charge, amount too large.
            log.info("stripe refused refund on %s (code %s, request %s)", charge_ref, exc.code, exc.request_id)
            raise RefundNotAllowed(f"the gateway refused the refund ({exc.code or 'invalid request'})") from None
        except stripe.StripeError as exc:
            raise _unavailable("refund", exc) from None
        result = _refund_result(refund.to_dict())
        log.info("refund %s on %s: %s", result.ref, charge_ref, result.status.value)
        return result

    def _refund_with_key(self, target: Mapping[str, str], idempotency_key: str) -> dict[str, Any] | None:
        params: dict[str, Any] = {**target, "limit": 100}
        for refund in self._client.v1.refunds.list(params=params).auto_paging_iter():  # type: ignore[arg-type]  # ``charge`` or ``payment_intent``, chosen at run time
            data = refund.to_dict()
            if _metadata(data).get("idempotency_key") == idempotency_key:
                return data
        return None

    def _refundable(self, charge_ref: str) -> int:
        """Cents still refundable on the charge (raises RefundNotAllowed if it did not succeed)."""
        if charge_ref.startswith("ch_"):
            charge = self._client.v1.charges.retrieve(charge_ref).to_dict()
        else:
            intent = self._client.v1.payment_intents.retrieve(charge_ref, params={"expand": ["latest_charge"]})
            charge = _dict(intent.to_dict().get("latest_charge"))
        if charge.get("status") != "succeeded":
            raise RefundNotAllowed(f"no succeeded charge {charge_ref} to refund")
        amount = charge.get("amount")
        refunded = charge.get("amount_refunded")
        return (amount if isinstance(amount, int) else 0) - (refunded if isinstance(refunded, int) else 0)

    def get_refund(self, refund_ref: str) -> RefundResult:
        """A refund's current status."""
        try:
            refund = self._client.v1.refunds.retrieve(refund_ref)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise RefundNotAllowed(f"no refund {refund_ref}") from None
            raise _unavailable("refund lookup", exc) from None
        except stripe.StripeError as exc:
            raise _unavailable("refund lookup", exc) from None
        return _refund_result(refund.to_dict())

    # -- reconciliation -------------------------------------------------------------------------

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Charges, refunds and money-moving balance transactions created in [since, until).

        Read in full before returning, so that an outage surfaces here as
        PaymentGatewayUnavailable rather than half-way through the caller's loop."""
        try:
            records = list(self._charge_records(since, until))
            records += self._refund_records(since, until)
            if self._include_balance_transactions:
                records += self._balance_records(since, until)
        except stripe.StripeError as exc:
            raise _unavailable("activity listing", exc) from None
        return records

    def _charge_records(self, since: datetime, until: datetime) -> Iterator[GatewayRecord]:
        # ``created[gt]`` is the one ``created`` filter localstripe implements for charges (a
        # second bound is a 500 there); ``until`` is applied here. The PaymentIntent is expanded
        # for its metadata (ours: ledger_id, idempotency_key) and because our ledger keeps its id.
        params: dict[str, Any] = {
            "limit": 100,
            "created": {"gt": int(since.timestamp()) - 1},
            "expand": ["data.payment_intent"],
        }
        by_payment: dict[str, dict[str, Any]] = {}
        for charge in self._client.v1.charges.list(params=params).auto_paging_iter():  # type: ignore[arg-type]  # plain dict, see above
            data = charge.to_dict()
            if not since <= _when(data.get("created")) < until:
                continue
            ref = _id(data.get("payment_intent")) or str(data.get("id"))
            previous = by_payment.get(ref)
            # A PaymentIntent retried after a decline has several charges: keep the one that counts.
            if previous is None or (data.get("status") == "succeeded" and previous.get("status") != "succeeded"):
                by_payment[ref] = data
        for ref, data in by_payment.items():
            amount = _money(data.get("amount"), data.get("currency"))
            if amount is None:
                log.warning("activity: charge %s is not in CAD; left out", data.get("id"))
                continue
            if data.get("captured") is False and data.get("status") == "succeeded":
                status = "pending"  # authorised, not captured: no money moved yet
            else:
                status = _CHARGE_STATUS.get(str(data.get("status")), "pending")
            metadata = {**_metadata(data), **_metadata(_dict(data.get("payment_intent")))}
            yield GatewayRecord(
                kind="charge",
                ref=ref,
                amount=amount,
                status=status,
                created_at=_when(data.get("created")),
                idempotency_key=metadata.get("idempotency_key"),
                ledger_id=metadata.get("ledger_id"),
            )

    def _refund_records(self, since: datetime, until: datetime) -> list[GatewayRecord]:
        # Both Stripe and localstripe list refunds newest first; localstripe takes no ``created``
        # filter on refunds (a 500), so we walk back until we pass ``since``.
        records: list[GatewayRecord] = []
        for refund in self._client.v1.refunds.list(params={"limit": 100}).auto_paging_iter():
            data = refund.to_dict()
            created = _when(data.get("created"))
            if created < since:
                break
            if created >= until:
                continue
            amount = _money(data.get("amount"), data.get("currency"))
            if amount is None:
                log.warning("activity: refund %s is not in CAD; left out", data.get("id"))
                continue
            records.append(
                GatewayRecord(
                    kind="refund",
                    ref=str(data.get("id")),
                    amount=amount,
                    status=_REFUND_STATUS.get(str(data.get("status")), RefundOutcome.PENDING).value,
                    created_at=created,
                    idempotency_key=_metadata(data).get("idempotency_key"),
                )
            )
        return records

    def _balance_records(self, since: datetime, until: datetime) -> list[GatewayRecord]:
        # Charges and refunds have their own balance transactions, already covered above; what
        # only the balance shows is money moved by disputes and failed refunds. Newest first on
        # Stripe and localstripe (which implements no filter here, and only charge/refund types).
        records: list[GatewayRecord] = []
        for txn in self._client.v1.balance_transactions.list(params={"limit": 100}).auto_paging_iter():
            data = txn.to_dict()
            created = _when(data.get("created"))
            if created < since:
                break
            if created >= until or data.get("type") not in _BALANCE_TYPES:
                continue
            amount = _money(data.get("amount"), data.get("currency"))
            if amount is None:
                continue
            records.append(
                GatewayRecord(
                    kind=str(data.get("type")),
                    ref=_id(data.get("source")) or str(data.get("id")),
                    amount=amount,
                    status=str(data.get("status") or "pending"),
                    created_at=created,
                )
            )
        return records


# -- webhooks ------------------------------------------------------------------------------------


class WebhookRejected(GatewayEventRejected):
    """A webhook delivery that is not a genuine, recent Stripe event. It keeps ValidationFailed's
    code (``validation_error``), which the HTTP layer already answers with 400."""


def parse_stripe_event(
    payload: bytes, sig_header: str, secret: str, *, tolerance: int = WEBHOOK_TOLERANCE_SECONDS
) -> GatewayEvent:
    """Verify a Stripe webhook delivery and turn it into a :class:`GatewayEvent`.

    ``payload`` must be the raw request body (the signature covers the exact bytes). Raises
    :class:`WebhookRejected` for a missing secret, a bad or stale (older than ``tolerance``
    seconds) signature, or a body that is not an event."""
    if not secret:
        raise WebhookRejected("no webhook secret is configured (STRIPE_WEBHOOK_SECRET)")
    try:
        event = stripe.Webhook.construct_event(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError:
        raise WebhookRejected("the Stripe-Signature header does not verify") from None
    except ValueError:
        raise WebhookRejected("the webhook body is not a Stripe event") from None
    return gateway_event_from_stripe(event.to_dict())


def gateway_event_from_stripe(data: Mapping[str, Any]) -> GatewayEvent:
    """A Stripe event (its JSON as a dict) as a :class:`GatewayEvent`. No verification: use
    :func:`parse_stripe_event` for anything that arrived over the network."""
    obj = _dict(_dict(data.get("data")).get("object"))
    kind = obj.get("object")
    common: dict[str, Any] = {
        "id": str(data.get("id") or ""),
        "type": str(data.get("type") or ""),
        "object_ref": str(obj.get("id") or ""),
        "status": _str(obj.get("status")),
        "created": _when(data.get("created")),
        "metadata": _metadata(obj),
    }
    if kind == "payment_intent":
        error = _dict(obj.get("last_payment_error"))
        brand, last4 = _card_of_intent(obj)
        return GatewayEvent(
            **common,
            amount=_money(obj.get("amount"), obj.get("currency")),
            payment_ref=_str(obj.get("id")),
            failure_code=_str(error.get("decline_code")) or _str(error.get("code")),
            card_brand=brand,
            card_last4=last4,
        )
    if kind == "charge":
        brand, last4 = _card(_dict(_dict(obj.get("payment_method_details")).get("card")))
        listed = _dict(obj.get("refunds")).get("data")
        refunds = tuple(
            GatewayRefund(
                ref=str(r.get("id")),
                amount=amount,
                status=str(r.get("status") or "pending"),
                idempotency_key=_metadata(r).get("idempotency_key"),
                failure_code=_str(r.get("failure_reason")),
            )
            for r in (listed if isinstance(listed, list) else [])
            if isinstance(r, dict) and (amount := _money(r.get("amount"), r.get("currency"))) is not None
        )
        return GatewayEvent(
            **common,
            amount=_money(obj.get("amount_refunded"), obj.get("currency")),
            payment_ref=_id(obj.get("payment_intent")) or _str(obj.get("id")),
            failure_code=_str(obj.get("failure_code")),
            card_brand=brand,
            card_last4=last4,
            refunds=refunds,
        )
    if kind in ("refund", "dispute"):
        return GatewayEvent(
            **common,
            amount=_money(obj.get("amount"), obj.get("currency")),
            payment_ref=_id(obj.get("payment_intent")) or _id(obj.get("charge")),
            # Refunds: why one failed (a refund's own ``reason`` is why it was asked, not a
            # failure); disputes: the cardholder's bank's reason (``fraudulent`` …).
            failure_code=_str(obj.get("reason") if kind == "dispute" else obj.get("failure_reason")),
        )
    return GatewayEvent(**common, amount=None)
