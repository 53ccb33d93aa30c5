"""What the signing provider tells us: its callbacks, and the job that asks it about open
envelopes when callbacks were lost."""

from __future__ import annotations

import attrs

from checkout_core.errors import SigningNotAvailable
from checkout_core.model.audit import AuditAction
from checkout_core.model.order import OrderStatus
from checkout_core.ports.documents import SigningCallback
from checkout_core.usecases.context import SYSTEM, Context
from checkout_core.usecases.orders.reading import load_order
from checkout_core.usecases.orders.signing import _finish_signing, decline_signing
from checkout_core.usecases.signing_audit import append_audit


@attrs.frozen(kw_only=True)
class EnvelopeSync:
    """What :func:`sync_open_envelopes` did: envelopes asked about, and what it applied."""

    asked: int
    signed: int
    declined: int
    unavailable: int


def sync_open_envelopes(ctx: Context, *, limit: int = 100) -> EnvelopeSync:
    """Ask the signing provider about the envelopes still open on orders waiting for documents
    (the ``limit`` oldest), and apply what callbacks would have said (signed, declined) through
    the same path as a callback: a provider's callbacks can be lost (an outage longer than their
    retries, a refused stale retry), and an order must not wait forever for them. Idempotent;
    for a cron job."""
    with ctx.uow() as uow:
        waiting = [
            (o.id, o.envelope.id)
            for o in uow.orders.awaiting_signature(ctx.signer.provider, limit)
            if o.envelope is not None
        ]
    asked = signed = declined = unavailable = 0
    for order_id, envelope_id in waiting:
        try:
            state = ctx.signer.envelope_state(envelope_id)
        except SigningNotAvailable:
            unavailable += 1
            continue
        if state is None:
            continue
        asked += 1
        if state.order_id != order_id or state.outcome not in ("signed", "declined"):
            continue
        callback = SigningCallback(
            envelope_id=envelope_id,
            order_id=order_id,
            event=state.outcome,
            occurred_at=state.decided_at or ctx.clock.now(),
            signer_email=state.signer_email,
        )
        try:
            done = apply_signing_callback(ctx, callback)
        except SigningNotAvailable:
            unavailable += 1
            continue
        signed += done == "signed"
        declined += done == "declined"
    return EnvelopeSync(asked=asked, signed=signed, declined=declined, unavailable=unavailable)


def apply_signing_callback(ctx: Context, callback: SigningCallback) -> str:
    """Apply a verified provider callback; returns what happened. Duplicates and callbacks for
    an envelope that is no longer the order's current one change nothing."""
    with ctx.uow() as uow:
        order = uow.orders.get(callback.order_id)
        if order is None or order.envelope is None or order.envelope.id != callback.envelope_id:
            return "ignored_unknown_envelope"
        envelope = order.envelope
        seen = {(e.action.value, e.envelope_id) for e in uow.audit.entries(order.id)}
    if callback.event == "viewed":
        if ("viewed", callback.envelope_id) in seen:
            return "duplicate"
        with ctx.uow() as uow:
            order = load_order(uow, SYSTEM, callback.order_id)
            append_audit(
                uow,
                order,
                AuditAction.VIEWED,
                now=callback.occurred_at,
                envelope_id=callback.envelope_id,
                ip_address=callback.ip_address,
                user_agent=callback.user_agent,
                signer_email=callback.signer_email or None,
            )
            uow.commit()
        return "viewed"
    if callback.event == "declined":
        if envelope.status != "sent":
            return "duplicate"
        decline_signing(
            ctx,
            order_id=order.id,
            envelope_id=callback.envelope_id,
            ip_address=callback.ip_address,
            user_agent=callback.user_agent,
        )
        return "declined"
    if callback.event == "signed":
        if envelope.status != "sent" or order.status is not OrderStatus.PENDING_DOCUMENTS:
            return "duplicate"
        provider_pdf = ctx.signer.signed_document(callback.envelope_id)
        _finish_signing(
            ctx,
            order_id=order.id,
            envelope_id=callback.envelope_id,
            ip_address=callback.ip_address,
            user_agent=callback.user_agent,
            signed_pdf=provider_pdf,
            signed_at=callback.occurred_at,
        )
        return "signed"
    return "ignored_event"
