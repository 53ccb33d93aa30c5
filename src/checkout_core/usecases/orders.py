"""Placing an order and everything that happens to it afterwards (signing, insurance, payment,
delivery, completion, cancellation, return). Amounts never come from the client: trade-in
credit and financing are read from their stored records, the deposit from our ledger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import attrs

from checkout_core.errors import (
    AmountMismatch,
    Conflict,
    IllegalTransition,
    InsuranceProofLimitReached,
    NotFound,
    ReservationMismatch,
    SigningNotAvailable,
    ValidationFailed,
)
from checkout_core.events import AdvisorAssigned, OrderPlaced
from checkout_core.model.audit import AuditAction
from checkout_core.model.order import (
    Delivery,
    DeliveryMethod,
    DocumentKind,
    DocumentRecord,
    Insurance,
    InsuranceStatus,
    Order,
    OrderStatus,
    PaymentChoice,
    PaymentPlan,
    SigningEnvelope,
    TradeIn,
)
from checkout_core.model.parties import Advisor, ContactInfo, FinancingStatus
from checkout_core.model.payments import PaymentPurpose
from checkout_core.model.vehicle import Vehicle, VehicleStatus
from checkout_core.money import Money
from checkout_core.ports.documents import SignatureEvidence, SigningCallback
from checkout_core.ports.repositories import StoredEvent
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.pricing.financing import financed_amount, monthly_payment
from checkout_core.pricing.quote import price_purchase
from checkout_core.usecases.agreements import attach_agreement, ensure_agreement
from checkout_core.usecases.context import SYSTEM, Actor, Context
from checkout_core.usecases.document_integrity import reporting_damage
from checkout_core.usecases.file_types import sniff_document_type
from checkout_core.usecases.rate_limits import check_insurance_upload, check_signing_request
from checkout_core.usecases.refunds import open_refunds, send_refunds
from checkout_core.usecases.signing_audit import append_audit


@attrs.frozen(kw_only=True)
class PlaceOrder:
    """The checkout form, validated into domain values."""

    reservation_id: str
    vehicle_id: str
    contact: ContactInfo
    trade_in_id: str | None = None
    claimed_trade_in_credit: int | None = None
    payment_method: PaymentChoice = PaymentChoice.CASH
    financing_application_id: str | None = None
    down_payment: Money = attrs.field(factory=Money.zero)
    delivery: Delivery


@attrs.frozen(kw_only=True)
class PlacedOrder:
    """What placing an order wrote: the order, its car and advisor, and the order's events as
    stored with it — everything the order view shows, without reading it back."""

    order: Order
    vehicle: Vehicle
    advisor: Advisor
    events: tuple[StoredEvent, ...]


def place_order(ctx: Context, actor: Actor, command: PlaceOrder) -> Order:
    """Turn a confirmed reservation into an order: price it, assign an advisor, generate and
    store the purchase agreement (or, with ``Policy.agreements_by_worker``, leave it to a
    document worker: see :mod:`checkout_core.usecases.agreements`). Status ``pending_documents``."""
    return place_order_and_report(ctx, actor, command).order


def place_order_and_report(ctx: Context, actor: Actor, command: PlaceOrder) -> PlacedOrder:
    """:func:`place_order`, returning what it wrote (the HTTP answer is built from it)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        found = uow.reservations.get_with_vehicle(command.reservation_id, for_update=True)
        if found is None or found[0].customer_id != actor.id:
            raise NotFound(f"reservation {command.reservation_id} not found")
        reservation, vehicle = found
        if reservation.vehicle_id != command.vehicle_id:
            raise ReservationMismatch(
                f"reservation {reservation.id} is for vehicle {reservation.vehicle_id}, not {command.vehicle_id}"
            )
        reservation.ensure_usable_for_order(customer_id=actor.id, now=now)
        if vehicle is None:
            raise NotFound(f"vehicle {reservation.vehicle_id} not found")
        trade_in = _trade_in(uow, actor, command, now)
        pricing = price_purchase(
            vehicle_price=vehicle.price,
            trade_in_credit=trade_in.credit if trade_in else Money.zero(),
            province=command.contact.address.province,
            on=now.date(),
            fees=ctx.policy.fees,
        )
        plan = _payment_plan(uow, actor, command, pricing.total_due, reservation.deposit)
        advisor = _pick_advisor(uow)
        order_id = ctx.ids.new("ord")
        deposit = uow.ledger.assign_to_order(reservation.deposit_idempotency_key, order_id, now)
        reservation.convert(order_id=order_id, now=now)
        uow.reservations.save(reservation)
        uow.vehicles.set_status(vehicle.id, VehicleStatus.SALE_PENDING, expected=VehicleStatus.RESERVED)
        # The number is taken last: its counter row stays locked until commit, and every
        # concurrent checkout of the year waits for it, so the less that follows, the better.
        order = Order(
            id=order_id,
            number=uow.orders.next_number(now.year),
            status=OrderStatus.PENDING_DOCUMENTS,
            vehicle_id=vehicle.id,
            customer_id=actor.id,
            reservation_id=reservation.id,
            contact=command.contact,
            pricing=pricing,
            payment=plan,
            trade_in=trade_in,
            delivery=command.delivery,
            advisor_id=advisor.id,
            created_at=now,
            updated_at=now,
        )
        if deposit is not None:
            order.paid = deposit.amount  # the deposit counts toward the order
        order.raise_event(
            OrderPlaced(
                occurred_at=now,
                order_id=order.id,
                order_number=order.number,
                reservation_id=reservation.id,
                vehicle_id=vehicle.id,
                customer_id=actor.id,
                total_due=pricing.total_due.cents,
            )
        )
        order.raise_event(AdvisorAssigned(occurred_at=now, order_id=order.id, advisor_id=advisor.id))
        if not ctx.policy.agreements_by_worker:
            attach_agreement(ctx, order, vehicle, advisor, now)
        uow.orders.add(order)
        uow.commit()
        events = tuple(e for e in uow.committed_events if e.aggregate_id == order.id)
    return PlacedOrder(order=order, vehicle=vehicle, advisor=advisor, events=events)


def _trade_in(uow: UnitOfWork, actor: Actor, command: PlaceOrder, now: datetime) -> TradeIn | None:
    if command.trade_in_id is None:
        if command.claimed_trade_in_credit not in (None, 0):
            raise ValidationFailed("creditAmount given without a tradeInId", field="tradeIn.tradeInId")
        return None
    offer = uow.trade_ins.get(command.trade_in_id)
    if offer is None or offer.customer_id != actor.id:
        raise NotFound(f"trade-in offer {command.trade_in_id} not found")
    if offer.expires_at is not None and now >= offer.expires_at:
        raise ValidationFailed(f"trade-in offer {offer.id} expired", field="tradeIn.tradeInId")
    if command.claimed_trade_in_credit is not None and command.claimed_trade_in_credit != offer.credit.cents:
        raise AmountMismatch(
            f"creditAmount {command.claimed_trade_in_credit} does not match the offer's {offer.credit.cents}",
            field="tradeIn.creditAmount",
            expected=offer.credit.cents,
        )
    return TradeIn(offer_id=offer.id, credit=offer.credit, description=offer.description)


def _payment_plan(uow: UnitOfWork, actor: Actor, command: PlaceOrder, total_due: Money, deposit: Money) -> PaymentPlan:
    if command.down_payment.is_negative:
        raise ValidationFailed("downPayment must not be negative", field="payment.downPayment")
    if command.payment_method is PaymentChoice.CASH:
        if command.financing_application_id is not None:
            raise ValidationFailed("a cash purchase takes no financing application", field="payment")
        return PaymentPlan(
            method=PaymentChoice.CASH, deposit=deposit, down_payment=Money.zero(), financed_amount=Money.zero()
        )
    if command.financing_application_id is None:
        raise ValidationFailed("financing needs a financingApplicationId", field="payment.financingApplicationId")
    application = uow.financing.get(command.financing_application_id)
    if application is None or application.customer_id != actor.id:
        raise NotFound(f"financing application {command.financing_application_id} not found")
    if application.status is not FinancingStatus.APPROVED:
        raise ValidationFailed(
            f"financing application {application.id} is {application.status.value}, not approved",
            field="payment.financingApplicationId",
        )
    principal = financed_amount(total_due, deposit, command.down_payment)
    if application.max_amount is not None and principal.cents > application.max_amount.cents:
        raise AmountMismatch(
            f"the amount to finance {principal.format()} exceeds the approved {application.max_amount.format()}",
            field="payment.downPayment",
            approved=application.max_amount.cents,
        )
    return PaymentPlan(
        method=PaymentChoice.FINANCE,
        deposit=deposit,
        down_payment=command.down_payment,
        financed_amount=principal,
        financing_application_id=application.id,
        apr_percent=application.apr_percent,
        term_months=application.term_months,
        monthly_payment=monthly_payment(principal, application.apr_percent, application.term_months),
        lender=application.lender,
    )


def _pick_advisor(uow: UnitOfWork) -> Advisor:
    """The active advisor with the fewest open orders (ties: lowest id, for determinism)."""
    advisor = uow.advisors.least_loaded()
    if advisor is None:
        raise Conflict("no advisor is available to take the order")
    return advisor


# -- reading ----------------------------------------------------------------------------


def load_order(uow: UnitOfWork, actor: Actor, order_id: str, *, for_update: bool = False) -> Order:
    """The order if the caller may see it; NotFound otherwise (never reveal others' orders)."""
    return visible_order(uow.orders.get(order_id, for_update=for_update), actor, order_id)


def visible_order(order: Order | None, actor: Actor, order_id: str) -> Order:
    """``order`` if the caller may see it; NotFound otherwise, the same for a missing order and
    another customer's (never reveal that it exists)."""
    if order is None or not actor.may_see(order.customer_id):
        raise NotFound(f"order {order_id} not found")
    return order


def list_orders(
    ctx: Context,
    actor: Actor,
    *,
    status: OrderStatus | None = None,
    advisor_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Order]:
    """Orders the caller may see, newest first."""
    with ctx.uow() as uow:
        return uow.orders.list(
            customer_id=None if actor.is_staff else actor.id,
            status=status,
            advisor_id=advisor_id,
            limit=limit,
            offset=offset,
        )


def document_bytes(ctx: Context, actor: Actor, order_id: str, document_id: str) -> tuple[DocumentRecord, bytes]:
    """A stored document of an order, for its owner and advisors only."""
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    record = next((d for d in order.documents if d.id == document_id), None)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    with reporting_damage(ctx, order.id):
        return record, ctx.documents.get(record.storage_key)


# -- signing ----------------------------------------------------------------------------


def start_signing(ctx: Context, actor: Actor, order_id: str) -> SigningEnvelope:
    """Open (or reuse, while it is valid) a signing envelope for the agreement. Rate limited
    per customer (TooManyAttempts): each new envelope is a call to the signing provider."""
    check_signing_request(ctx, actor)
    now = ctx.clock.now()
    # The unit of work is closed (rolled back) before a damaged agreement is reported.
    with reporting_damage(ctx, order_id), ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        if order.status is not OrderStatus.PENDING_DOCUMENTS:
            raise IllegalTransition(order.status.value, "sign_documents")
        if order.envelope is not None and order.envelope.status == "sent" and now < order.envelope.expires_at:
            return order.envelope
        agreement = ensure_agreement(ctx, uow, order, now)
        if agreement is None:
            raise SigningNotAvailable("the order has no purchase agreement to sign")
        envelope = ctx.signer.create_envelope(
            order_id=order.id,
            document=ctx.documents.get(agreement.storage_key),
            signer_name=order.contact.full_name,
            signer_email=order.contact.email,
            expires_at=(now + ctx.policy.signing_link_ttl).replace(microsecond=0),
        )
        record = SigningEnvelope(
            id=envelope.id,
            provider=envelope.provider,
            signature_url=envelope.signature_url,
            expires_at=envelope.expires_at,
        )
        order.start_signing(record, now)
        append_audit(uow, order, AuditAction.CREATED, now=now, envelope_id=record.id)
        append_audit(uow, order, AuditAction.SENT, now=now, envelope_id=record.id)
        uow.orders.save(order)
        uow.commit()
    return record


def _ensure_signable(order: Order | None, envelope_id: str, now: datetime) -> Order:
    """The order if ``envelope_id`` is its current, open, unexpired signing link."""
    if order is None or order.envelope is None or order.envelope.id != envelope_id:
        raise NotFound("signing link not found")
    if order.envelope.status == "declined":
        raise SigningNotAvailable("signing was declined on this link; ask for a new signing link")
    if order.envelope.status != "sent":
        raise SigningNotAvailable("this agreement is already signed")
    if now >= order.envelope.expires_at:
        raise SigningNotAvailable("this signing link has expired; ask for a new one")
    if order.document(DocumentKind.PURCHASE_AGREEMENT) is None:
        raise SigningNotAvailable("the order has no purchase agreement")
    return order


def signing_link_order(ctx: Context, order_id: str, envelope_id: str) -> Order:
    """The order behind a valid, open signing link (one read, no document I/O).

    The envelope id is the secret in the signing link, so this needs no other credential."""
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
    return _ensure_signable(order, envelope_id, ctx.clock.now())


def envelope_for_signing(ctx: Context, order_id: str, envelope_id: str) -> tuple[Order, bytes]:
    """The order and agreement bytes behind a valid, open envelope (the signing page shows them)."""
    order = signing_link_order(ctx, order_id, envelope_id)
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    assert agreement is not None  # checked by _ensure_signable
    with reporting_damage(ctx, order.id):
        return order, ctx.documents.get(agreement.storage_key)


def complete_signing(
    ctx: Context, *, order_id: str, envelope_id: str, typed_name: str, consent: bool, ip_address: str, user_agent: str
) -> Order:
    """The buyer signed through the built-in signing page: consent given, full name typed."""
    if not consent:
        raise ValidationFailed("consent to sign electronically is required", field="consent")
    order = signing_link_order(ctx, order_id, envelope_id)
    expected = " ".join(order.contact.full_name.split()).casefold()
    if " ".join(typed_name.split()).casefold() != expected:
        raise ValidationFailed("type your full name exactly as it appears on the agreement", field="typedName")
    return _finish_signing(
        ctx,
        order_id=order_id,
        envelope_id=envelope_id,
        ip_address=ip_address,
        user_agent=user_agent,
        signed_pdf=None,
        signed_at=ctx.clock.now(),
    )


def _finish_signing(
    ctx: Context,
    *,
    order_id: str,
    envelope_id: str,
    ip_address: str,
    user_agent: str,
    signed_pdf: bytes | None,
    signed_at: datetime,
) -> Order:
    """Store the signed copy (the provider's, or our stamped and sealed one), record consent and
    signature in the audit trail and move the order on — once, whoever reports it first."""
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id)
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    if agreement is None:
        raise SigningNotAvailable("the order has no purchase agreement")
    if signed_pdf is None:
        evidence = SignatureEvidence(
            signer_name=order.contact.full_name,
            signer_email=order.contact.email,
            signed_at=signed_at,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        with reporting_damage(ctx, order.id):
            agreement_pdf = ctx.documents.get(agreement.storage_key)
        signed_pdf = ctx.signed_copies.make_signed_copy(agreement_pdf, evidence)
    stored = ctx.documents.put(signed_pdf, "application/pdf")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id, for_update=True)
        if order.envelope is None or order.envelope.id != envelope_id or order.envelope.status != "sent":
            raise SigningNotAvailable("this agreement is already signed")
        for action in (AuditAction.CONSENTED, AuditAction.SIGNED):
            append_audit(
                uow, order, action, now=now, envelope_id=envelope_id, ip_address=ip_address, user_agent=user_agent
            )
        order.sign_documents(
            signed_copy=DocumentRecord(
                id=ctx.ids.new("doc"),
                kind=DocumentKind.SIGNED_AGREEMENT,
                storage_key=stored.key,
                sha256=stored.sha256,
                content_type="application/pdf",
                size=stored.size,
                created_at=now,
                status="signed",
                signed_at=signed_at,
            ),
            signed_at=signed_at,
        )
        uow.orders.save(order)
        uow.commit()
    return order


def record_signing_view(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> None:
    """The buyer opened the signing page: a ``viewed`` entry in the audit trail."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = _ensure_signable(uow.orders.get(order_id), envelope_id, now)  # valid, open, unexpired only
        append_audit(
            uow,
            order,
            AuditAction.VIEWED,
            now=now,
            envelope_id=envelope_id,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        uow.commit()


def decline_signing(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> Order:
    """The buyer declined to sign through the signing page (or the provider told us so)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, SYSTEM, order_id, for_update=True)
        if order.envelope is None or order.envelope.id != envelope_id:
            raise NotFound("signing link not found")
        order.decline_signing(now)
        append_audit(
            uow,
            order,
            AuditAction.DECLINED,
            now=now,
            envelope_id=envelope_id,
            ip_address=ip_address,
            user_agent=user_agent,
        )
        uow.orders.save(order)
        uow.commit()
    return order


def decline_signing_link(ctx: Context, *, order_id: str, envelope_id: str, ip_address: str, user_agent: str) -> Order:
    """The buyer pressed "Decline" on the built-in signing page.

    Only a link that could still be signed can be declined (the signing page's own check: the
    order's current envelope, open and unexpired), so an expired, signed or replaced link changes
    nothing and its holder is told why. Asking for the signing link again then opens a new
    envelope."""
    signing_link_order(ctx, order_id, envelope_id)
    return decline_signing(
        ctx, order_id=order_id, envelope_id=envelope_id, ip_address=ip_address, user_agent=user_agent
    )


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


# -- insurance --------------------------------------------------------------------------


def submit_insurance(
    ctx: Context, actor: Actor, order_id: str, *, content: bytes, policy_number: str, provider: str
) -> Insurance:
    """The buyer uploads proof of insurance (PDF, JPEG or PNG, checked by content and structure:
    images by their pixel dimensions, PDFs for active content; see ``file_types``). Rate
    limited per customer (TooManyAttempts), and an order keeps at most
    ``policy.max_insurance_proofs`` proofs (InsuranceProofLimitReached)."""
    check_insurance_upload(ctx, actor)
    policy_number = policy_number.strip()
    provider = provider.strip()
    if not policy_number or len(policy_number) > 64:
        raise ValidationFailed("policyNumber is required (at most 64 characters)", field="policyNumber")
    if not provider or len(provider) > 120:
        raise ValidationFailed("provider is required (at most 120 characters)", field="provider")
    content_type = sniff_document_type(
        content, max_bytes=ctx.policy.max_upload_bytes, max_pixels=ctx.policy.max_image_pixels
    )
    with ctx.uow() as uow:  # check access, status and the number of proofs before storing anything
        _check_proof_room(ctx, load_order(uow, actor, order_id))
    stored = ctx.documents.put(content, content_type)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        _check_proof_room(ctx, order)
        document = DocumentRecord(
            id=ctx.ids.new("doc"),
            kind=DocumentKind.INSURANCE_PROOF,
            storage_key=stored.key,
            sha256=stored.sha256,
            content_type=content_type,
            size=stored.size,
            created_at=now,
            status="submitted",
        )
        insurance = Insurance(
            id=ctx.ids.new("ins"),
            policy_number=policy_number,
            provider=provider,
            document_id=document.id,
            status=InsuranceStatus.PENDING_VERIFICATION,
            submitted_at=now,
        )
        order.submit_insurance(insurance, document, now)
        uow.orders.save(order)
        uow.commit()
    return insurance


def _check_proof_room(ctx: Context, order: Order) -> None:
    """InsuranceProofLimitReached when the order already holds the most proofs it may."""
    held = sum(1 for d in order.documents if d.kind is DocumentKind.INSURANCE_PROOF)
    if held >= ctx.policy.max_insurance_proofs:
        raise InsuranceProofLimitReached(
            f"this order already holds {held} proofs of insurance, the most it may; ask your advisor for help",
            limit=ctx.policy.max_insurance_proofs,
        )


def verify_insurance(ctx: Context, actor: Actor, order_id: str) -> Order:
    """An advisor accepts the proof of insurance; the order moves on."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda order, now: order.verify_insurance(now))


def reject_insurance(ctx: Context, actor: Actor, order_id: str, reason: str) -> Order:
    """An advisor rejects the proof; the buyer is asked for a new upload."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda order, now: order.reject_insurance(reason, now))


# -- paying the balance -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BankTransferInstructions:
    """What the buyer needs to send a bank transfer for the balance."""

    order_id: str
    reference: str
    amount: Money
    due_date: date
    beneficiary: str
    institution: str
    institution_number: str
    transit_number: str
    account_number: str
    swift: str


def bank_transfer_instructions(ctx: Context, actor: Actor, order_id: str) -> BankTransferInstructions:
    """Instructions for paying what is still due by bank transfer (reference = order number)."""
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    if (
        order.status
        not in (
            OrderStatus.PENDING_DOCUMENTS,
            OrderStatus.PENDING_INSURANCE,
            OrderStatus.PENDING_PAYMENT,
        )
        or order.balance_due.cents == 0
    ):
        raise IllegalTransition(order.status.value, "pay_balance")
    bank = ctx.policy.bank
    return BankTransferInstructions(
        order_id=order.id,
        reference=order.number,
        amount=order.balance_due,
        due_date=ctx.clock.now().date() + timedelta(days=bank.due_days),
        beneficiary=bank.beneficiary,
        institution=bank.institution,
        institution_number=bank.institution_number,
        transit_number=bank.transit_number,
        account_number=bank.account_number,
        swift=bank.swift,
    )


# -- delivery and the end of the order ----------------------------------------------------


def schedule_delivery(ctx: Context, actor: Actor, order_id: str, *, on: date, time_window: str) -> Order:
    """An advisor sets the delivery (or pickup) date and time window."""
    actor.require_staff()
    if not time_window.strip() or len(time_window) > 40:
        raise ValidationFailed("a time window like '10:00 AM - 2:00 PM' is required", field="timeWindow")
    return _mutate(
        ctx, actor, order_id, lambda o, now: o.schedule_delivery(scheduled_date=on, time_window=time_window, now=now)
    )


def dispatch_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """The car leaves for the buyer."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda o, now: o.dispatch(now))


def deliver_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """The buyer has the car (delivered, or picked up); the return window starts."""
    actor.require_staff()
    order = _mutate(ctx, actor, order_id, lambda o, now: o.deliver(now))
    with ctx.uow() as uow:
        uow.vehicles.set_status(order.vehicle_id, VehicleStatus.SOLD)
        uow.commit()
    return order


def complete_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """An advisor finalises a delivered order (before the return window closes, if the buyer waives it)."""
    actor.require_staff()
    return _mutate(ctx, actor, order_id, lambda o, now: o.complete(now))


def advance_order(ctx: Context, actor: Actor, order_id: str) -> Order:
    """Take the next operational step an advisor can take for the order's current status."""
    actor.require_staff()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id)
    if order.status is OrderStatus.PENDING_DELIVERY and order.delivery.method is DeliveryMethod.DELIVERY:
        return dispatch_order(ctx, actor, order_id)
    if order.status in (OrderStatus.IN_TRANSIT, OrderStatus.PENDING_DELIVERY):
        return deliver_order(ctx, actor, order_id)
    if order.status is OrderStatus.DELIVERED:
        return complete_order(ctx, actor, order_id)
    waiting = {
        OrderStatus.PENDING_DOCUMENTS: "the buyer's signature",
        OrderStatus.PENDING_INSURANCE: "insurance verification (checkout insurance verify)",
        OrderStatus.PENDING_PAYMENT: "the balance to be paid (checkout payments record-transfer)",
    }
    raise IllegalTransition(
        order.status.value + (f", waiting for {waiting[order.status]}" if order.status in waiting else ""),
        "advance",
    )


def complete_due_orders(ctx: Context, *, batch_size: int = 100) -> int:
    """Complete delivered orders whose return window has closed (a job; safe in parallel)."""
    completed = 0
    while True:
        now = ctx.clock.now()
        with ctx.uow() as uow:
            due = list(uow.orders.claim_due_for_completion(now - ctx.policy.return_window, batch_size))
            for order in due:
                order.complete(now)
                uow.orders.save(order)
            uow.commit()
        completed += len(due)
        if len(due) < batch_size:
            return completed


def cancel_order(ctx: Context, actor: Actor, order_id: str, reason: str = "cancelled_by_customer") -> Order:
    """Cancel before dispatch: refund everything paid (deposit included), put the car back on sale."""
    return _close(ctx, actor, order_id, lambda o, now: o.cancel(reason, now), "order_cancelled")


def return_order(ctx: Context, actor: Actor, order_id: str, reason: str = "returned_by_customer") -> Order:
    """Take the car back inside the return window: refund everything, put the car back on sale."""
    actor.require_staff()
    window = ctx.policy.return_window
    return _close(ctx, actor, order_id, lambda o, now: o.return_vehicle(reason, window, now), "order_returned")


def _close(ctx: Context, actor: Actor, order_id: str, change: _Change, refund_reason: str) -> Order:
    """Cancel or return in ONE transaction with what it makes owed (the money rule): the status,
    the car back on sale and a refund intent for everything still refundable. A crash after the
    commit leaves pending refunds that recovery sends with the same keys; a card payment still in
    flight is refunded when its answer is recorded (the order is closed by then)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        change(order, now)
        uow.vehicles.set_status(order.vehicle_id, VehicleStatus.AVAILABLE)
        payments = [p for p in uow.ledger.payments_for(order_id=order.id) if p.purpose is not PaymentPurpose.DUPLICATE]
        opened = open_refunds(ctx, uow, payments, refund_reason, now, order=order)
        uow.orders.save(order)
        uow.commit()
    send_refunds(ctx, opened)
    return order


_Change = Callable[[Order, datetime], None]


def _mutate(ctx: Context, actor: Actor, order_id: str, change: _Change) -> Order:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        order = load_order(uow, actor, order_id, for_update=True)
        change(order, now)
        uow.orders.save(order)
        uow.commit()
    return order
