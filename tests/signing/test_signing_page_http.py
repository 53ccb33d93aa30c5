"""The signing page over HTTP on the embedded default (SQLite, reportlab agreements, pypdfium2
page images): the agreement's pages as PNG behind the link, the dealer's look from the
settings, French for a Quebec buyer, and the settings' validation. The real browser run is
``tests/browser``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.auth.jwt_tokens import JwtTokens
from checkout_core.demo import load_demo
from checkout_core.usecases.context import Role
from entrypoints.bootstrap import App, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings, SettingsError, load_settings
from tests.http.conftest import new_key, order_request, path_of, reserve

Client = TestClient[Litestar]
QUEBEC = {"street": "1200 Rue Sainte-Catherine O", "city": "Montréal", "province": "QC", "postalCode": "H3B 1K9"}
LOGO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def logo(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(LOGO)
    return path


@pytest.fixture
def core(tmp_path: Path, logo: Path) -> Iterator[App]:
    settings = Settings(
        data_dir=tmp_path / "data",
        jwt_secret="signing-page-jwt-secret-" + "s" * 24,
        brand_name="Maple Motors",
        brand_color="#5b2a86",
        brand_logo_file=str(logo),
    )
    app = bootstrap(settings)
    load_demo(app.ctx.uow)
    yield app
    app.close()


@pytest.fixture
def client(core: App) -> Iterator[Client]:
    with TestClient(create_app(core), raise_server_exceptions=False) as test_client:
        yield test_client


def _customer(core: App) -> dict[str, str]:
    token = JwtTokens(core.jwt_secret).issue("cus_demo", Role.CUSTOMER, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


def _signing_page(client: Client, core: App, **changes: Any) -> str:
    """Place the spec's order (with ``changes``) and return its signing page's path."""
    headers = _customer(core)
    reservation = reserve(client, headers)
    placed = client.post(
        "/api/v1/orders",
        json=order_request(reservation["reservationId"], **changes),
        headers={**headers, "Idempotency-Key": new_key()},
    )
    assert placed.status_code == 201, placed.text
    link = client.post(f"/api/v1/orders/{placed.json()['orderId']}/documents/sign", headers=headers)
    assert link.status_code == 200, link.text
    return path_of(link.json()["signatureUrl"])


def _images(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+/pages/\d+)"', html)


def test_the_page_shows_the_agreements_pages_as_images_in_the_dealers_colours(client: Client, core: App) -> None:
    page = _signing_page(client, core)
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    csp = response.headers["content-security-policy"]
    assert "img-src 'self'" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "<iframe" not in html and "<embed" not in html
    assert "--brand:#5b2a86" in html and "Maple Motors" in html and '<img src="/sign/brand/logo" alt="">' in html
    images = _images(html)
    assert images == [f"{page}/pages/{n}" for n in range(1, len(images) + 1)] and len(images) >= 2
    assert f'href="{page}/agreement.pdf"' in html

    for n, src in enumerate(images, start=1):
        png = client.get(src)
        assert png.status_code == 200, png.text
        assert png.headers["content-type"] == "image/png"
        assert png.headers["cache-control"] == "no-store" and png.headers["referrer-policy"] == "no-referrer"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
        width = int.from_bytes(png.content[16:20], "big")
        assert width >= 1000, (n, width)
    assert client.get(images[0]).content == client.get(images[0]).content  # the same bytes (cached)

    logo = client.get("/sign/brand/logo")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png" and logo.content == LOGO


def test_page_images_need_the_open_link_and_a_page_that_exists(client: Client, core: App) -> None:
    page = _signing_page(client, core)
    order, envelope = page.split("/")[2:4]
    assert client.get(f"{page}/pages/99").status_code == 404
    assert client.get(f"{page}/pages/0").status_code == 404
    assert client.get(f"{page}/pages/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert client.get(f"/sign/{order}/env_wrong/pages/1").status_code == 404
    done = client.post(page, data={"consent": "yes", "typedName": "John Doe", "csrfToken": envelope})
    assert done.status_code == 200, done.text
    assert "Thank you, you signed the agreement" in done.text
    used = client.get(f"{page}/pages/1")
    assert used.status_code == 409  # the link is used: its images are gone with it
    again = client.get(page)
    assert again.status_code == 409 and "This agreement is already signed" in again.text


def test_a_quebec_buyer_gets_the_page_in_french(client: Client, core: App) -> None:
    contact = {
        "firstName": "Élodie",
        "lastName": "Gagnon",
        "email": "elodie@example.com",
        "phone": "514-555-0100",
        "address": QUEBEC,
    }
    page = _signing_page(client, core, contactInfo=contact, delivery={"method": "pickup"})
    html = client.get(page).text
    assert '<html lang="fr-CA">' in html
    assert "<h1>Contrat d&#x27;achat</h1>" in html and "Signer le contrat" in html
    assert re.search(r"<dd>\d{1,3}(\u00a0\d{3})*,\d\d\u00a0\$</dd>", html)  # 30 303,55 $
    assert 'alt="Page 1 sur ' in html
    envelope = page.rsplit("/", 1)[1]
    wrong = client.post(page, data={"consent": "yes", "typedName": "Someone Else", "csrfToken": envelope})
    assert wrong.status_code == 400
    assert "Tapez votre nom complet exactement comme il figure au contrat." in wrong.text
    done = client.post(page, data={"consent": "yes", "typedName": "Élodie Gagnon", "csrfToken": envelope})
    assert done.status_code == 200 and "Merci, vous avez signé le contrat" in done.text
    used = client.get(page)
    assert used.status_code == 409 and "Ce contrat est déjà signé" in used.text


def test_an_unknown_link_says_so_in_both_languages(client: Client, core: App) -> None:
    page = _signing_page(client, core)
    order = page.split("/")[2]
    response = client.get(f"/sign/{order}/env_unknown")
    assert response.status_code == 404
    assert "Signing link not found" in response.text and "Lien de signature introuvable" in response.text


def test_no_logo_configured_is_a_404_and_no_logo_slot(tmp_path: Path) -> None:
    app = bootstrap(Settings(data_dir=tmp_path / "data", jwt_secret="x" * 40))
    try:
        with TestClient(create_app(app), raise_server_exceptions=False) as client:
            assert client.get("/sign/brand/logo").status_code == 404
    finally:
        app.close()


def test_brand_settings_are_validated(tmp_path: Path, logo: Path) -> None:
    settings = load_settings({"CHECKOUT_BRAND_COLOR": "#0B3D91", "CHECKOUT_BRAND_LOGO_FILE": str(logo)})
    assert settings.brand_color == "#0b3d91" and settings.brand_logo_file == str(logo.resolve())
    assert load_settings({}).brand_color == "#1f4e79"
    for bad in ("red", "#fff", "#12345g", "#0b3d91;}body{display:none", "url(x)"):
        with pytest.raises(SettingsError, match="CHECKOUT_BRAND_COLOR must be a colour"):
            load_settings({"CHECKOUT_BRAND_COLOR": bad})
    with pytest.raises(SettingsError, match="contrast"):
        load_settings({"CHECKOUT_BRAND_COLOR": "#ffdd00"})  # white text on yellow cannot be read
    with pytest.raises(SettingsError, match="CHECKOUT_BRAND_LOGO_FILE cannot be read"):
        load_settings({"CHECKOUT_BRAND_LOGO_FILE": str(tmp_path / "missing.png")})
    text = tmp_path / "logo.txt"
    text.write_text("not an image")
    with pytest.raises(SettingsError, match="PNG, JPEG or SVG"):
        load_settings({"CHECKOUT_BRAND_LOGO_FILE": str(text)})
    big = tmp_path / "big.png"
    big.write_bytes(LOGO + b"\x00" * 300_000)
    with pytest.raises(SettingsError, match="larger than 256 KiB"):
        load_settings({"CHECKOUT_BRAND_LOGO_FILE": str(big)})


def test_a_browser_post_under_no_referrer_is_judged_by_fetch_metadata(client: Client, core: App) -> None:
    """Chromium sends ``Origin: null`` for the page's own form under ``Referrer-Policy:
    no-referrer``; ``Sec-Fetch-Site`` tells a same-origin post from another site's."""
    page = _signing_page(client, core)
    envelope = page.rsplit("/", 1)[1]
    form = {"consent": "yes", "typedName": "John Doe", "csrfToken": envelope}
    refused = client.post(page, data=form, headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    signed = client.post(page, data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert signed.status_code == 200, signed.text
