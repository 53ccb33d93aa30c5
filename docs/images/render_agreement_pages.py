"""Render the first and last page of the demo agreement, in English and in French, as the PNGs
shown in docs/documents.md: ``uv run python docs/images/render_agreement_pages.py``.

The English one is the spec's order (Ontario, financed, trade-in); the French one the same
purchase by a buyer in Montréal, paid in cash and picked up — signed by the buyer and
countersigned by the dealer, so its last page shows both signatures on their lines."""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.documents.conftest import cash_agreement, financed_agreement  # noqa: E402

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer  # noqa: E402
from adapters.documents.certificates import ensure_self_signed  # noqa: E402
from adapters.documents.signed_copy import StampedSignedCopyMaker  # noqa: E402
from checkout_core.ports.documents import SignatureEvidence  # noqa: E402

OUT = Path(__file__).resolve().parent
SCALE = 1.1  # about 940 px wide: readable in a browser, small in the repository


def _png(pdf: bytes, page: int, name: str) -> None:
    document = pypdfium2.PdfDocument(pdf)
    index = page if page >= 0 else len(document) + page
    document[index].render(scale=SCALE).to_pil().convert("RGB").quantize(colors=64).save(OUT / name, optimize=True)


def main() -> None:
    renderer = ReportlabAgreementRenderer()
    english = renderer.render(financed_agreement.__wrapped__())  # type: ignore[attr-defined]
    _png(english, 0, "agreement-en-page-1.png")
    quebec = cash_agreement.__wrapped__()  # type: ignore[attr-defined]
    french = renderer.render(quebec)
    _png(french, 0, "agreement-fr-page-1.png")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = ensure_self_signed(Path(tmp), organization=quebec.dealer.name)
        zone = "America/Toronto"
        buyer = SignatureEvidence(
            signer_name="Zoë Lefèvre",
            signer_email="zoe@example.com",
            signed_at=datetime(2025, 12, 24, 1, 30, tzinfo=UTC),
            time_zone=zone,
        )
        dealer = SignatureEvidence(
            signer_name="Sarah Johnson",
            signer_email="sarah@clutchclone.ca",
            signed_at=datetime(2025, 12, 24, 15, 0, tzinfo=UTC),
            role="dealer",
            signer_title="Conseillère aux ventes",
            time_zone=zone,
        )
        signed = StampedSignedCopyMaker(cert, key).make_signed_copy(french, buyer, dealer)
    _png(signed, -2, "agreement-fr-signed-signatures.png")


if __name__ == "__main__":
    main()
