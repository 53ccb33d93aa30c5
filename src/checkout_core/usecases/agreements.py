"""The purchase agreement of an order: rendered, stored and kept with the order.

Where it happens is a policy (:attr:`Policy.agreements_by_worker`):

* by default, inside :func:`~checkout_core.usecases.orders.place_order`'s transaction — the
  order and its agreement commit together;
* with ``agreements_by_worker``, the order commits without it (status ``pending_documents``,
  :attr:`Order.awaits_agreement`) and a document worker renders it moments later
  (:func:`generate_due_agreements`, ``checkout documents generate --loop``): rendering the PDF
  and writing it durably costs more than the rest of the checkout, so the API process answers
  sooner and the rendering scales on its own processes. Whatever needs the agreement before a
  worker got to it (opening the signing envelope) renders it on the spot, under the same row
  lock, so it is never missing and never rendered twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from checkout_core.errors import NotFound
from checkout_core.events import PurchaseAgreementGenerated
from checkout_core.model.language import Language, agreement_language
from checkout_core.model.local_day import local_day
from checkout_core.model.order import DocumentKind, DocumentRecord, Order
from checkout_core.model.parties import Advisor
from checkout_core.model.vehicle import Vehicle
from checkout_core.ports.documents import AgreementInput
from checkout_core.ports.unit_of_work import UnitOfWork
from checkout_core.usecases.context import Context

log = logging.getLogger(__name__)


def attach_agreement(ctx: Context, order: Order, vehicle: Vehicle, advisor: Advisor, now: datetime) -> DocumentRecord:
    """Render the order's agreement, store the PDF, keep it with the order and raise
    ``PurchaseAgreementGenerated``. The caller saves the order in its unit of work.

    The agreement is dated the day the order was placed in the buyer's province (not the UTC
    day: 20:30 in Toronto on December 23 is a sale of December 23), whenever it is rendered."""
    pdf = ctx.renderer.render(agreement_input(ctx, order, vehicle, advisor))
    stored = ctx.documents.put(pdf, "application/pdf")
    agreement = DocumentRecord(
        id=ctx.ids.new("doc"),
        kind=DocumentKind.PURCHASE_AGREEMENT,
        storage_key=stored.key,
        sha256=stored.sha256,
        content_type="application/pdf",
        size=stored.size,
        created_at=now,
    )
    order.add_document(agreement, now)
    order.raise_event(PurchaseAgreementGenerated(occurred_at=now, order_id=order.id, agreement_id=agreement.id))
    return agreement


def agreement_input(ctx: Context, order: Order, vehicle: Vehicle, advisor: Advisor) -> AgreementInput:
    """What the renderer prints for ``order``: dated on the buyer's local day, in the buyer's
    language (French in Quebec), with English beside it when the policy asks for both."""
    language = agreement_language(order)
    languages: tuple[Language, ...] = (language,)
    if language != "en" and ctx.policy.agreement_with_english:
        languages = (language, "en")
    return AgreementInput(
        order=order,
        vehicle=vehicle,
        advisor=advisor,
        dealer=ctx.policy.dealer,
        sale_date=local_day(order.created_at, order.pricing.province),
        languages=languages,
    )


def ensure_agreement(ctx: Context, uow: UnitOfWork, order: Order, now: datetime) -> DocumentRecord | None:
    """The order's agreement, rendered now if the order still awaits it (``order`` must have
    been read ``for_update`` in ``uow``, which then has to save it); None if it has none and
    awaits none (an order that left ``pending_documents`` unsigned)."""
    agreement = order.document(DocumentKind.PURCHASE_AGREEMENT)
    if agreement is not None or not order.awaits_agreement:
        return agreement
    vehicle = uow.vehicles.get(order.vehicle_id)
    advisor = uow.advisors.get(order.advisor_id)
    return attach_agreement(ctx, order, *_parties(order, vehicle, advisor), now)


def generate_due_agreements(ctx: Context, *, batch_size: int = 20) -> int:
    """Render the agreements of every order placed without one; return how many (a job, safe
    to run in parallel: each order is claimed by one worker, others skip it).

    An order whose agreement cannot be rendered or stored is logged and left waiting — it is
    retried on the next pass, and skipped for the rest of this one — so that one bad order
    never holds up everyone else's agreement."""
    generated = 0
    failed: set[str] = set()
    while True:
        now = ctx.clock.now()
        with ctx.uow() as uow:
            due = list(uow.orders.claim_awaiting_agreement(batch_size, skip=frozenset(failed)))
            done = 0
            for order, vehicle, advisor in due:
                try:
                    attach_agreement(ctx, order, *_parties(order, vehicle, advisor), now)
                except Exception:
                    log.exception("order %s: agreement not generated; retried on the next pass", order.id)
                    failed.add(order.id)
                    continue
                uow.orders.save(order)
                done += 1
            uow.commit()
        generated += done
        if len(due) < batch_size:
            return generated


def _parties(order: Order, vehicle: Vehicle | None, advisor: Advisor | None) -> tuple[Vehicle, Advisor]:
    # Foreign keys keep both; a miss means the records were damaged by hand.
    if vehicle is None:
        raise NotFound(f"vehicle {order.vehicle_id} of order {order.id} not found")
    if advisor is None:
        raise NotFound(f"advisor {order.advisor_id} of order {order.id} not found")
    return vehicle, advisor
