"""Through the use cases with the real signed-copy maker: the buyer's signature (typed, or drawn
on the page) and the dealer's countersignature end up on their lines of the sealed copy."""

from __future__ import annotations

import io
from collections.abc import Iterator

import attrs
import pytest
from PIL import Image
from pypdf import PdfReader

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer
from adapters.documents.signed_copy import StampedSignedCopyMaker, check_seal
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from checkout_core.demo import load_demo
from checkout_core.errors import ValidationFailed
from checkout_core.model.order import DocumentKind
from checkout_core.usecases.context import Actor, Context, Role
from checkout_core.usecases.orders import complete_signing, countersign_agreement, place_order, start_signing
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap_in_memory
from tests.conftest import SPEC_NOW
from tests.core.spec_example import spec_order

JOHN = Actor("cus_demo")
SARAH = Actor("adv_sarah", Role.ADVISOR)


@pytest.fixture
def ctx(signed_copy_maker: StampedSignedCopyMaker) -> Iterator[Context]:
    """The in-memory core with the real reportlab renderer and PAdES maker."""
    app = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds())
    load_demo(app.ctx.uow)
    yield attrs.evolve(app.ctx, renderer=ReportlabAgreementRenderer(), signed_copies=signed_copy_maker)
    app.close()


def _png() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGBA", (240, 48), (0, 0, 0, 0))
    for x in range(20, 220):
        image.putpixel((x, 24 + (x % 9) - 4), (10, 30, 110, 255))
    image.save(out, "PNG")
    return out.getvalue()


def _sign(ctx: Context, order_id: str, image: bytes | None) -> None:
    envelope = start_signing(ctx, JOHN, order_id)
    complete_signing(
        ctx,
        order_id=order_id,
        envelope_id=envelope.id,
        typed_name="John Doe",
        consent=True,
        ip_address="203.0.113.7",
        user_agent="tests",
        signature_image=image,
    )


def _place(ctx: Context) -> str:
    reservation = reserve_vehicle(ctx, JOHN, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
    return place_order(ctx, JOHN, spec_order(reservation.id)).id


def _latest_copy(ctx: Context, order_id: str) -> bytes:
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    copy = order.document(DocumentKind.SIGNED_AGREEMENT)
    assert copy is not None
    return ctx.documents.get(copy.storage_key)


def test_a_drawn_signature_goes_on_the_buyers_line(ctx: Context, signed_copy_maker: StampedSignedCopyMaker) -> None:
    order_id = _place(ctx)
    _sign(ctx, order_id, _png())
    pdf = _latest_copy(ctx, order_id)
    reader = PdfReader(io.BytesIO(pdf))
    signature_page = reader.pages[len(reader.pages) - 2]
    assert len(signature_page.images) == 1
    assert "Signature drawn by the signer" in " ".join((reader.pages[-1].extract_text() or "").split())
    assert check_seal(pdf, [signed_copy_maker.certificate]).ok


def test_a_drawing_that_is_not_a_png_is_refused(ctx: Context) -> None:
    order_id = _place(ctx)
    with pytest.raises(ValidationFailed, match="signature") as refused:
        _sign(ctx, order_id, b"<svg onload=alert(1)>")
    assert refused.value.details["field"] == "signatureImage"


def test_the_countersigned_copy_carries_both_signatures_on_their_lines(
    ctx: Context, signed_copy_maker: StampedSignedCopyMaker
) -> None:
    order_id = _place(ctx)
    _sign(ctx, order_id, None)
    countersign_agreement(ctx, SARAH, order_id)
    pdf = _latest_copy(ctx, order_id)
    reader = PdfReader(io.BytesIO(pdf))
    signature_page = " ".join((reader.pages[len(reader.pages) - 2].extract_text() or "").split())
    assert signature_page.count("John Doe") == 2  # "Name: John Doe" under the line, and the signature on it
    assert "Sarah Johnson, Sales advisor" in signature_page
    assert "2025-12-23 05:30 EST" in signature_page  # the spec's 10:30 UTC, on Toronto's clock
    record = " ".join((reader.pages[-1].extract_text() or "").split())
    assert "SIGNED BY THE BUYER" in record and "COUNTERSIGNED FOR THE DEALER" in record
    assert "IP address 203.0.113.7" in record
    assert check_seal(pdf, [signed_copy_maker.certificate]).ok


def test_a_drawn_signature_is_drawn_again_on_the_countersigned_copy(
    ctx: Context, signed_copy_maker: StampedSignedCopyMaker
) -> None:
    drawn = _png()
    order_id = _place(ctx)
    _sign(ctx, order_id, drawn)
    with ctx.uow() as uow:
        order = uow.orders.get(order_id)
    assert order is not None
    buyer_copy = order.document(DocumentKind.SIGNED_AGREEMENT)
    assert buyer_copy is not None and buyer_copy.signature_image_key is not None
    assert ctx.documents.get(buyer_copy.signature_image_key) == drawn  # kept as drawn, content-addressed
    countersign_agreement(ctx, SARAH, order_id)
    pdf = _latest_copy(ctx, order_id)
    reader = PdfReader(io.BytesIO(pdf))
    signature_page = reader.pages[len(reader.pages) - 2]
    assert len(signature_page.images) == 1  # the buyer's drawing, not only the typed name
    text = " ".join((signature_page.extract_text() or "").split())
    assert "Sarah Johnson, Sales advisor" in text
    record = " ".join((reader.pages[-1].extract_text() or "").split())
    assert "Signature drawn by the signer" in record
    assert check_seal(pdf, [signed_copy_maker.certificate]).ok
