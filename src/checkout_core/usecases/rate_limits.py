"""Rate limits on attempts against card testing and floods (OWASP API4, API6): what is counted,
per customer or client address, and what happens at the limit. The counting is the
:class:`~checkout_core.ports.rate_limits.RateLimiter` port; the limits are :class:`RateLimits`.
Advisors and system jobs are never limited. See docs/http-api.md, "Rate limits"."""

from __future__ import annotations

import enum
import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING, cast

import attrs

from checkout_core.errors import TooManyAttempts
from checkout_core.events import CardTestingSuspected
from checkout_core.ports.rate_limits import Decision

if TYPE_CHECKING:
    from checkout_core.ports.repositories import StoredEvent
    from checkout_core.usecases.context import Actor, Context

log = logging.getLogger("checkout.abuse")


class Limit(enum.StrEnum):
    """The limits; each value is the name of its :class:`RateLimits` field and its key prefix."""

    RESERVATIONS_PER_CUSTOMER = "reservations_per_customer"
    RESERVATIONS_PER_IP = "reservations_per_ip"
    DECLINES_PER_CUSTOMER = "declines_per_customer"
    DECLINES_PER_IP = "declines_per_ip"
    INSURANCE_UPLOADS_PER_CUSTOMER = "insurance_uploads_per_customer"
    SIGNING_REQUESTS_PER_CUSTOMER = "signing_requests_per_customer"
    BAD_TOKENS_PER_IP = "bad_tokens_per_ip"
    BAD_WEBHOOKS_PER_IP = "bad_webhooks_per_ip"


@attrs.frozen
class Rate:
    """At most ``limit`` in any ``window`` (sliding); ``limit`` 0 means no limit."""

    limit: int = attrs.field(validator=attrs.validators.ge(0))
    window: timedelta = attrs.field(validator=lambda _i, _a, v: _positive(v))

    @property
    def enabled(self) -> bool:
        """Whether anything is limited."""
        return self.limit > 0


def _positive(window: timedelta) -> None:
    if window.total_seconds() < 1:
        raise ValueError("a rate limit window is at least one second")


@attrs.frozen(kw_only=True)
class RateLimits:
    """Every limit (settings ``CHECKOUT_RATE_LIMIT_*``, see docs/operations.md)."""

    reservations_per_customer: Rate = Rate(10, timedelta(minutes=10))
    reservations_per_ip: Rate = Rate(30, timedelta(minutes=10))
    declines_per_customer: Rate = Rate(5, timedelta(hours=1))
    declines_per_ip: Rate = Rate(10, timedelta(hours=1))
    insurance_uploads_per_customer: Rate = Rate(10, timedelta(hours=1))
    signing_requests_per_customer: Rate = Rate(20, timedelta(hours=1))
    bad_tokens_per_ip: Rate = Rate(30, timedelta(minutes=1))
    bad_webhooks_per_ip: Rate = Rate(20, timedelta(minutes=10))

    def rate(self, limit: Limit) -> Rate:
        """The rate of ``limit``."""
        return cast(Rate, getattr(self, limit.value))

    @classmethod
    def off(cls) -> RateLimits:
        """Nothing limited (benchmarks, or a deployment that limits at its proxy)."""
        return cls(**{limit.value: Rate(0, timedelta(minutes=1)) for limit in Limit})


#: What each limit refuses, for the problem's ``detail``.
_WHAT: dict[Limit, str] = {
    Limit.RESERVATIONS_PER_CUSTOMER: "too many reservation attempts",
    Limit.RESERVATIONS_PER_IP: "too many reservation attempts from this address",
    Limit.DECLINES_PER_CUSTOMER: "too many declined payments",
    Limit.DECLINES_PER_IP: "too many declined payments from this address",
    Limit.INSURANCE_UPLOADS_PER_CUSTOMER: "too many insurance uploads",
    Limit.SIGNING_REQUESTS_PER_CUSTOMER: "too many signing requests",
    Limit.BAD_TOKENS_PER_IP: "too many requests with an invalid token from this address",
    Limit.BAD_WEBHOOKS_PER_IP: "too many webhook deliveries that failed verification from this address",
}


def _wait(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _refused(limit: Limit, decision: Decision) -> TooManyAttempts:
    retry_after = max(1, decision.retry_after)
    return TooManyAttempts(f"{_WHAT[limit]}; try again in {_wait(retry_after)}", retry_after=retry_after)


def _store_key(limit: Limit, subject: str) -> str:
    return f"{limit.value}:{subject}"


def _count(ctx: Context, limit: Limit, subject: str | None, *, peek: bool) -> tuple[Rate, Decision] | None:
    """Ask the store about one hit of ``limit`` for ``subject`` (None when nothing is limited)."""
    rate = ctx.policy.rate_limits.rate(limit)
    if ctx.rate_limiter is None or not subject or not rate.enabled:
        return None
    ask = ctx.rate_limiter.peek if peek else ctx.rate_limiter.hit
    return rate, ask(_store_key(limit, subject), rate.limit, rate.window, ctx.clock.now())


def take(ctx: Context, limit: Limit, subject: str | None) -> None:
    """Count one attempt of ``subject`` (a customer id or a client address); TooManyAttempts
    when it is over the limit (a refused attempt is not counted)."""
    counted = _count(ctx, limit, subject, peek=False)
    if counted is None:
        return
    rate, decision = counted
    if not decision.allowed:
        raise _refused(limit, decision)
    if decision.count == rate.limit:
        log.warning("rate limit %s reached by %s (%d in %ds)", limit.value, subject, rate.limit, _seconds(rate))


def ensure_open(ctx: Context, limit: Limit, subject: str | None) -> None:
    """TooManyAttempts if ``subject`` is at the limit already (counts nothing)."""
    counted = _count(ctx, limit, subject, peek=True)
    if counted is not None and not counted[1].allowed:
        raise _refused(limit, counted[1])


def note_failure(ctx: Context, limit: Limit, subject: str | None) -> None:
    """Count a failure of ``subject`` (a bad token, a webhook that did not verify). Returns if
    it is within the limit — the caller answers the failure as usual — and raises
    TooManyAttempts once it is over (the caller's answer becomes a 429)."""
    take(ctx, limit, subject)


def _seconds(rate: Rate) -> int:
    return int(rate.window.total_seconds())


# -- the business flows -----------------------------------------------------------------------


def check_charge_allowed(ctx: Context, actor: Actor) -> None:
    """Before any card charge for ``actor``: refused while the customer or the client address
    is at its limit of declines, so the gateway is not called for a card tester."""
    if actor.is_staff:
        return
    ensure_open(ctx, Limit.DECLINES_PER_CUSTOMER, actor.id)
    ensure_open(ctx, Limit.DECLINES_PER_IP, actor.client_ip)


def check_reservation_attempt(ctx: Context, actor: Actor) -> None:
    """Before a reservation claims a car: the decline limits, then count the attempt."""
    if actor.is_staff:
        return
    check_charge_allowed(ctx, actor)
    take(ctx, Limit.RESERVATIONS_PER_CUSTOMER, actor.id)
    take(ctx, Limit.RESERVATIONS_PER_IP, actor.client_ip)


def check_insurance_upload(ctx: Context, actor: Actor) -> None:
    """Count an insurance upload of a customer."""
    if not actor.is_staff:
        take(ctx, Limit.INSURANCE_UPLOADS_PER_CUSTOMER, actor.id)


def check_signing_request(ctx: Context, actor: Actor) -> None:
    """Count a request for a signing link of a customer."""
    if not actor.is_staff:
        take(ctx, Limit.SIGNING_REQUESTS_PER_CUSTOMER, actor.id)


def record_decline(ctx: Context, actor: Actor) -> None:
    """The gateway declined a charge attempt of ``actor``: count it against the customer and
    the client address. The decline that reaches a limit emits ``CardTestingSuspected`` (its
    own short transaction: the decline itself is already committed) and logs a warning."""
    if actor.is_staff:
        return
    for limit, subject, kind in (
        (Limit.DECLINES_PER_CUSTOMER, actor.id, "customer"),
        (Limit.DECLINES_PER_IP, actor.client_ip, "ip"),
    ):
        counted = _count(ctx, limit, subject, peek=False)
        if counted is None:
            continue
        rate, decision = counted
        if not (decision.allowed and decision.count == rate.limit):
            continue
        log.warning(
            "card testing suspected: %d declined charges in %ds for %s %s (customer %s); "
            "charges refused until the window passes",
            decision.count,
            _seconds(rate),
            kind,
            subject,
            actor.id,
        )
        try:
            with ctx.uow() as uow:
                uow.emit(
                    CardTestingSuspected(
                        occurred_at=ctx.clock.now(),
                        customer_id=actor.id,
                        subject=kind,
                        client_ip=actor.client_ip,
                        declines=decision.count,
                        window_seconds=_seconds(rate),
                    )
                )
                uow.commit()
        except Exception:
            # The decline is recorded and counted; losing the alert must not turn the caller's
            # 402 into a 500. The warning above still says it.
            log.exception("could not store the CardTestingSuspected alert for customer %s", actor.id)


def customer_alerts(ctx: Context, actor: Actor, customer_id: str) -> list[StoredEvent]:
    """Advisors: the abuse alerts (``CardTestingSuspected``) recorded for a customer, oldest first."""
    actor.require_staff()
    with ctx.uow() as uow:
        events = uow.outbox.for_aggregate(customer_id[:64])
    return [event for event in events if event.name == CardTestingSuspected.__name__]
