"""Section 3: the purchase agreement PDF (reportlab) and its signed copy (stamped, PAdES seal).

The input is the spec's order, placed through the core's use cases on an in-memory app, so the
renderer gets exactly what it gets in production. Timings are wall-clock per call in this
process after a short warm-up (fonts, imports, caches), one call at a time."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer
from adapters.documents.certificates import ensure_self_signed
from adapters.documents.signed_copy import StampedSignedCopyMaker
from adapters.system.clock import FixedClock
from adapters.system.ids import SequentialIds
from bench.report import Section, mark, percentile
from bench.statements import JOHN, SPEC_NOW, TEST_CARD, spec_order
from checkout_core.demo import load_demo
from checkout_core.ports.documents import AgreementInput, SignatureEvidence
from checkout_core.usecases.agreements import agreement_input
from checkout_core.usecases.orders import place_order
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap_in_memory

RENDER_TARGET_MS = 15.0


def spec_agreement() -> AgreementInput:
    """What the renderer receives for the spec's order (financed, trade-in, delivery, ON)."""
    app = bootstrap_in_memory(clock=FixedClock(SPEC_NOW), ids=SequentialIds())
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, JOHN, vehicle_id="veh_abc123", payment_token=TEST_CARD).reservation
        order = place_order(app.ctx, JOHN, spec_order(reservation.id))
        with app.ctx.uow() as uow:
            vehicle = uow.vehicles.get(order.vehicle_id)
            advisor = uow.advisors.get(order.advisor_id)
        if vehicle is None or advisor is None:
            raise RuntimeError("the demo data lacks the spec's car or advisor")
        # What the use case hands the renderer (the buyer's local day, the order's language).
        return agreement_input(app.ctx, order, vehicle, advisor)
    finally:
        app.close()


def _time(call: Callable[[], bytes], runs: int, warmup: int) -> tuple[list[float], int]:
    """Milliseconds per call, and the size of the last output."""
    size = 0
    for _ in range(warmup):
        call()
    times: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        size = len(call())
        times.append((time.perf_counter() - started) * 1000)
    return times, size


def _timestamped(
    tmp: Path, cert: Path, key: Path, pdf: bytes, evidence: SignatureEvidence, runs: int
) -> tuple[list[float], int, list[float], int]:
    """The signed copy with the seal's RFC 3161 timestamp from a real TSA on this machine
    (certomancer's, as in the tests: an HTTP round trip, no network latency), without and with
    the TSA's trust anchors (B-T; B-LT, which also fetches the TSA certificate's CRL)."""
    from cryptography import x509
    from tests.signing.tsa import LocalTsa

    from adapters.documents.signed_copy import TimestampAuthority

    tsa = LocalTsa(tmp / "tsa")
    try:
        roots = tuple(x509.load_pem_x509_certificates(tsa.root_pem.read_bytes()))
        stamped = StampedSignedCopyMaker(cert, key, tsa=TimestampAuthority(url=tsa.url))
        ltv = StampedSignedCopyMaker(cert, key, tsa=TimestampAuthority(url=tsa.url, trust_roots=roots))
        stamped_times, stamped_size = _time(lambda: stamped.make_signed_copy(pdf, evidence), runs, warmup=2)
        ltv_times, ltv_size = _time(lambda: ltv.make_signed_copy(pdf, evidence), runs, warmup=2)
    finally:
        tsa.close()
    return stamped_times, stamped_size, ltv_times, ltv_size


def run(quick: bool) -> Section:
    """Render and sign; rendering is judged by its mean time per agreement."""
    runs, sign_runs = (30, 10) if quick else (300, 60)
    section = Section(
        "pdf",
        "3. Agreement PDF",
        ["operation", "runs", "mean ms", "p50 ms", "p99 ms", "max ms", "size KiB", "target", "verdict"],
    )
    agreement = spec_agreement()
    renderer = ReportlabAgreementRenderer()
    render_times, pdf_size = _time(lambda: renderer.render(agreement), runs, warmup=3)
    pdf = renderer.render(agreement)
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        cert, key = ensure_self_signed(Path(tmp), organization=agreement.dealer.name)
        maker = StampedSignedCopyMaker(cert, key)
        evidence = SignatureEvidence(
            signer_name="John Doe",
            signer_email="john@example.com",
            signed_at=datetime(2025, 12, 23, 11, 0, tzinfo=UTC),
            ip_address="203.0.113.7",
            user_agent="Mozilla/5.0 (bench)",
        )
        sign_times, signed_size = _time(lambda: maker.make_signed_copy(pdf, evidence), sign_runs, warmup=2)
        stamped_times, stamped_size, ltv_times, ltv_size = _timestamped(Path(tmp), cert, key, pdf, evidence, sign_runs)
    for label, times, size, target in (
        ("render purchase agreement (reportlab)", render_times, pdf_size, RENDER_TARGET_MS),
        ("signed copy (signature page + PAdES seal)", sign_times, signed_size, None),
        ("signed copy, RFC 3161 timestamp (B-T, local TSA)", stamped_times, stamped_size, None),
        ("signed copy, timestamp + validation data (B-LT)", ltv_times, ltv_size, None),
    ):
        p50 = percentile(times, 50)
        section.rows.append(
            [
                label,
                len(times),
                statistics.fmean(times),
                p50,
                percentile(times, 99),
                max(times),
                size / 1024,
                f"<= {target:g} ms" if target else "-",
                mark(statistics.fmean(times) <= target) if target else "-",
            ]
        )
        if target and statistics.fmean(times) > target:
            section.notes.append(f"{label}: mean {statistics.fmean(times):.1f} ms > {target:g} ms")
    section.data = {
        "render_ms": render_times,
        "sign_ms": sign_times,
        "pdf_bytes": pdf_size,
        "signed_bytes": signed_size,
        "timestamped_ms": stamped_times,
        "timestamped_bytes": stamped_size,
        "ltv_ms": ltv_times,
        "ltv_bytes": ltv_size,
    }
    return section
