"""A real ``checkout serve`` on SQLite with the demo data, and a real headless Chromium.

Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
driven with selenium. Without them the browser tests are skipped — unless ``CI=true``, where a
missing browser is a failure (``.ci/run`` installs them)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.http_load import JWT_SECRET, Customers
from bench.seed import prepare_database
from bench.servers import ManagedProcess, checkout_env, checkout_server, free_port
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("CHECKOUT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHECKOUT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
BRAND_COLOR = "#7a1f2b"
ONTARIO = {"street": "123 Main St", "city": "Toronto", "province": "ON", "postalCode": "M5V 2T6"}
QUEBEC = {"street": "1200 Rue Sainte-Catherine O", "city": "Montréal", "province": "QC", "postalCode": "H3B 1K9"}


def _browser_available() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (Path(path).exists() or shutil.which(path))]
    if not missing:
        return
    message = f"headless Chromium is not installed ({', '.join(missing)} missing)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + ": CI must run the browser tests (.ci/run installs chromium and chromium-driver)")
    pytest.skip(message)


class Server:
    """The running server, its cars, and a way to get a signing link for a new order."""

    def __init__(self, process: ManagedProcess, cars: list[str], data_dir: Path) -> None:
        self.process = process
        self.base = process.base_url
        self.data_dir = data_dir
        self._cars = iter(cars)
        self._customers = Customers("browser")

    def signing_link(self, *, address: dict[str, str] = ONTARIO, first: str = "Jeanne", last: str = "Tremblay") -> str:
        """Reserve a car, place a cash order for a new customer at ``address``, ask for the link."""
        car = next(self._cars)
        customer = self._customers.new()
        auth = self._customers.auth(customer)
        with httpx.Client(base_url=self.base, timeout=60) as client:
            held = client.post(
                "/api/v1/reservations",
                json={"vehicleId": car, "paymentMethod": {"type": "card", "token": "tok_visa"}},
                headers={**auth, "Idempotency-Key": f"browser-res-{car}"},
            )
            assert held.status_code == 201, held.text
            contact = {
                "firstName": first,
                "lastName": last,
                "email": f"{customer}@example.com",
                "phone": "514-555-0100",
                "address": address,
            }
            body = {
                "reservationId": held.json()["reservationId"],
                "vehicleId": car,
                "contactInfo": contact,
                "payment": {"method": "cash"},
                "delivery": {"method": "pickup"},
            }
            placed = client.post("/api/v1/orders", json=body, headers={**auth, "Idempotency-Key": f"browser-ord-{car}"})
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["orderId"]
            link = client.post(f"/api/v1/orders/{order_id}/documents/sign", headers=auth)
            assert link.status_code == 200, link.text
            url: str = link.json()["signatureUrl"]
        assert url.startswith(self.base + "/sign/")
        return url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _browser_available()
    root = tmp_path_factory.mktemp("browser-server")
    data_dir = root / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'checkout.sqlite3'}"
    cars = prepare_database(url, vehicles=12, prefix="veh_br")
    logo = root / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
        f'<rect width="120" height="40" rx="6" fill="{BRAND_COLOR}"/>'
        '<text x="60" y="27" font-family="sans-serif" font-size="18" fill="#fff" text-anchor="middle">MM</text></svg>'
    )
    port = free_port()  # chosen first: the public URL (the signing links) names it
    env = checkout_env(
        database_url=url,
        data_dir=data_dir,
        jwt_secret=JWT_SECRET,
        extra={
            "CHECKOUT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CHECKOUT_BRAND_NAME": "Maple Motors",
            "CHECKOUT_BRAND_COLOR": BRAND_COLOR,
            "CHECKOUT_BRAND_LOGO_FILE": str(logo),
        },
    )
    process = checkout_server("api", env, root, port=port).start(timeout=90)
    try:
        yield Server(process, cars, data_dir)
    finally:
        process.stop()


Browser = Callable[..., webdriver.Chrome]


@pytest.fixture
def browser() -> Iterator[Browser]:
    """``browser(width)``: a headless Chromium; at phone widths with the phone's viewport
    (mobile emulation: touch, device pixel ratio 3, the page's viewport meta honoured)."""
    _browser_available()
    opened: list[webdriver.Chrome] = []

    def open_browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(argument)
        metrics: dict[str, Any] | None = None
        if width < 600:
            metrics = {"width": width, "height": height, "pixelRatio": 3.0, "touch": True}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
        else:
            options.add_argument(f"--window-size={width},{height}")
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        # The screenshots resize the screen to the page's height, then put the phone back.
        driver.phone_metrics = metrics if width < 600 else None  # type: ignore[attr-defined]  # our own note
        driver.set_page_load_timeout(60)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        driver.quit()
