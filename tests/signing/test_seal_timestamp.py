"""The seal of a signed copy carries a trusted RFC 3161 timestamp (``CHECKOUT_TSA_URL``).

A real time-stamping authority answers: certomancer's, started on a free port by the fixture
(``tests/signing/tsa.py``). Every signed copy is validated by pyHanko directly, with the TSA's
root as the only timestamp trust anchor — independently of our own ``check_seal`` — and then
by our check, ``checkout documents verify`` and its JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bench.servers import free_port
from click.testing import CliRunner
from cryptography import x509
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from adapters.documents.certificates import ensure_self_signed
from adapters.documents.signed_copy import (
    LEVEL_B_B,
    LEVEL_B_LT,
    LEVEL_B_T,
    SignedCopyError,
    StampedSignedCopyMaker,
    TimestampAuthority,
)
from checkout_core.demo import load_demo
from checkout_core.model.order import DocumentKind
from checkout_core.ports.documents import SignatureEvidence
from checkout_core.usecases.context import Actor
from checkout_core.usecases.orders import complete_signing, place_order, start_signing
from checkout_core.usecases.reservations import reserve_vehicle
from entrypoints.bootstrap import bootstrap
from entrypoints.cli.app_factory import CliState
from entrypoints.cli.main import cli
from entrypoints.settings import Settings, SettingsError, load_settings
from tests.core.spec_example import spec_order
from tests.signing.tsa import LocalTsa

EVIDENCE = SignatureEvidence(
    signer_name="John Doe",
    signer_email="john@example.com",
    signed_at=datetime(2025, 12, 23, 16, 0, tzinfo=UTC),
    ip_address="203.0.113.7",
    user_agent="Mozilla/5.0 (timestamp test)",
)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    server = LocalTsa(tmp_path_factory.mktemp("tsa"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def seal_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_self_signed(tmp_path_factory.mktemp("seal"), organization="Maple Motors")


@pytest.fixture(scope="module")
def agreement_pdf(seal_files: tuple[Path, Path]) -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, invariant=1)
    canvas.drawString(72, 720, "Purchase agreement")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _tsa_roots(tsa: LocalTsa) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(tsa.root_pem.read_bytes()))


def independent_validation(signed: bytes, seal_cert: Path, tsa: LocalTsa) -> tuple[PdfSignatureStatus, bool]:
    """pyHanko alone: the seal against its certificate, the timestamp against the TSA's root;
    and whether the file has a DSS (validation data)."""
    reader = PdfFileReader(io.BytesIO(signed))
    signature = reader.embedded_signatures[-1]
    status = validate_pdf_signature(
        signature,
        signer_validation_context=ValidationContext(trust_roots=[load_cert_from_pemder(str(seal_cert))]),
        ts_validation_context=ValidationContext(trust_roots=[load_cert_from_pemder(str(tsa.root_pem))]),
    )
    return status, reader.root.get("/DSS") is not None


def test_the_seal_carries_a_trusted_rfc3161_timestamp_pades_b_t(
    tsa: LocalTsa, seal_files: tuple[Path, Path], agreement_pdf: bytes
) -> None:
    maker = StampedSignedCopyMaker(*seal_files, tsa=TimestampAuthority(url=tsa.url))
    before = datetime.now(UTC)
    signed = maker.make_signed_copy(agreement_pdf, EVIDENCE)

    status, has_dss = independent_validation(signed, seal_files[0], tsa)
    assert status.bottom_line
    token = status.timestamp_validity
    assert token is not None
    assert token.intact and token.valid and token.trusted
    assert "Checkout Test Time Stamping Authority" in token.signing_cert.subject.human_friendly
    assert before - timedelta(seconds=5) <= token.timestamp <= datetime.now(UTC) + timedelta(seconds=5)
    assert not has_dss  # B-T: no validation data without the TSA's anchors

    check = maker.check(signed)  # no TSA anchors configured: sound, but not called trusted
    assert check.ok and check.level == LEVEL_B_T
    assert check.timestamp_at == token.timestamp
    assert check.timestamp_sound and not check.timestamp_trusted


def test_with_the_tsa_anchors_the_seal_embeds_its_validation_data_pades_b_lt(
    tsa: LocalTsa, seal_files: tuple[Path, Path], agreement_pdf: bytes
) -> None:
    maker = StampedSignedCopyMaker(*seal_files, tsa=TimestampAuthority(url=tsa.url, trust_roots=_tsa_roots(tsa)))
    signed = maker.make_signed_copy(agreement_pdf, EVIDENCE)

    status, has_dss = independent_validation(signed, seal_files[0], tsa)
    assert status.bottom_line and status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert has_dss
    dss = PdfFileReader(io.BytesIO(signed)).root["/DSS"]
    assert len(dss["/Certs"]) >= 2  # the TSA's certificate and its root at least
    assert len(dss["/CRLs"]) >= 1  # the TSA certificate's CRL, fetched from the TSA's repository

    report = maker.check_seal(signed)
    assert report.ok and report.level == LEVEL_B_LT and report.timestamp_trusted
    assert "Time Stamping Authority" in report.timestamp_authority


def test_a_changed_byte_breaks_the_timestamped_seal(
    tsa: LocalTsa, seal_files: tuple[Path, Path], agreement_pdf: bytes
) -> None:
    maker = StampedSignedCopyMaker(*seal_files, tsa=TimestampAuthority(url=tsa.url, trust_roots=_tsa_roots(tsa)))
    signed = bytearray(maker.make_signed_copy(agreement_pdf, EVIDENCE))
    at = signed.index(b"Purchase agreement")
    signed[at] = ord("p")
    report = maker.check_seal(bytes(signed))
    assert not report.ok
    assert "changed" in report.problem


def test_without_a_tsa_the_seal_is_pades_b_b_as_before(seal_files: tuple[Path, Path], agreement_pdf: bytes) -> None:
    maker = StampedSignedCopyMaker(*seal_files)
    check = maker.check(maker.make_signed_copy(agreement_pdf, EVIDENCE))
    assert check.ok and check.level == LEVEL_B_B and check.timestamp_at is None


def test_a_tsa_that_does_not_answer_fails_the_signed_copy_clearly(
    seal_files: tuple[Path, Path], agreement_pdf: bytes
) -> None:
    url = f"http://127.0.0.1:{free_port()}/tsa"
    maker = StampedSignedCopyMaker(*seal_files, tsa=TimestampAuthority(url=url, timeout=2))
    with pytest.raises(SignedCopyError, match="sealing the signed copy failed"):
        maker.make_signed_copy(agreement_pdf, EVIDENCE)


def test_tsa_settings_are_validated(tmp_path: Path) -> None:
    assert load_settings({"CHECKOUT_TSA_URL": "http://tsa.example/"}).tsa_url == "http://tsa.example/"
    assert load_settings({}).tsa_url == ""
    with pytest.raises(SettingsError, match="CHECKOUT_TSA_URL"):
        load_settings({"CHECKOUT_TSA_URL": "ftp://tsa.example"})
    with pytest.raises(SettingsError, match="CHECKOUT_TSA_URL"):
        bootstrap(Settings(data_dir=tmp_path, tsa_trust_file=str(tmp_path / "roots.pem")))
    not_pem = tmp_path / "roots.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(SettingsError, match="CHECKOUT_TSA_TRUST_FILE"):
        bootstrap(Settings(data_dir=tmp_path, tsa_url="http://tsa.example", tsa_trust_file=str(not_pem)))


def test_checkout_documents_verify_reports_the_timestamp(tsa: LocalTsa, tmp_path: Path) -> None:
    """The production wiring: settings → bootstrap → the core's signing → the CLI's verify."""
    settings = Settings(data_dir=tmp_path / "data", tsa_url=tsa.url, tsa_trust_file=str(tsa.root_pem))
    john = Actor("cus_demo")
    app = bootstrap(settings)
    try:
        load_demo(app.ctx.uow)
        reservation = reserve_vehicle(app.ctx, john, vehicle_id="veh_abc123", payment_token="tok_visa").reservation
        order = place_order(app.ctx, john, spec_order(reservation.id))
        envelope = start_signing(app.ctx, john, order.id)
        signed = complete_signing(
            app.ctx,
            order_id=order.id,
            envelope_id=envelope.id,
            typed_name="John Doe",
            consent=True,
            ip_address="198.51.100.7",
            user_agent="test",
        )
    finally:
        app.close()
    record = signed.document(DocumentKind.SIGNED_AGREEMENT)
    assert record is not None

    def verify(*extra: str) -> tuple[int, str]:
        result = CliRunner().invoke(
            cli, ["documents", "verify", order.id, *extra], obj=CliState(load_settings=lambda: settings)
        )
        return result.exit_code, result.output

    code, text = verify()
    assert code == 0, text
    assert f"seal of {record.id}: PAdES B-LT, valid, timestamp 20" in text
    assert "Checkout Test Time Stamping Authority" in text and "(trusted)" in text

    code, text = verify("--json")
    assert code == 0, text
    (seal,) = json.loads(text)["seals"]
    assert seal["documentId"] == record.id and seal["level"] == LEVEL_B_LT and seal["ok"]
    assert seal["timestamp"]["trusted"] is True and seal["timestamp"]["at"].endswith("Z")


def test_the_api_verification_reports_the_timestamp_to_advisors_only(tsa: LocalTsa, tmp_path: Path) -> None:
    """``GET /api/v1/orders/{id}/documents/verification`` after signing on the signing page."""
    from litestar.testing import TestClient

    from adapters.auth.jwt_tokens import JwtTokens
    from checkout_core.usecases.context import Role
    from entrypoints.http.app import create_app
    from tests.http.conftest import place_spec_order, sign_order

    settings = Settings(
        data_dir=tmp_path / "data",
        jwt_secret="verification-jwt-secret-" + "v" * 24,
        tsa_url=tsa.url,
        tsa_trust_file=str(tsa.root_pem),
    )
    app = bootstrap(settings)
    try:
        load_demo(app.ctx.uow)
        tokens = JwtTokens(app.jwt_secret)
        now = datetime.now(UTC)
        customer = {"Authorization": f"Bearer {tokens.issue('cus_demo', Role.CUSTOMER, now=now)}"}
        advisor = {"Authorization": f"Bearer {tokens.issue('adv_sarah', Role.ADVISOR, now=now)}"}
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            order = place_spec_order(client, customer)
            sign_order(client, customer, order["orderId"])
            url = f"/api/v1/orders/{order['orderId']}/documents/verification"
            assert client.get(url, headers=customer).status_code == 403
            response = client.get(url, headers=advisor)
    finally:
        app.close()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["documentProblems"] == []
    (seal,) = body["seals"]
    assert seal["level"] == LEVEL_B_LT and seal["ok"] is True
    assert seal["timestamp"]["trusted"] is True
    assert "Checkout Test Time Stamping Authority" in seal["timestamp"]["authority"]
