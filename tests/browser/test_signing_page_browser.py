"""The built-in signing page in a real headless Chromium, against a real ``checkout serve``.

Buyers sign on phones: the agreement's pages must be readable where no PDF viewer exists
(headless Chromium has none either, which is why the page shows server-rendered page images),
at 1280 px, at 390 px and at 360 px, with the keyboard alone, in French for a Quebec buyer.
A screenshot is kept per step under the test's temporary directory; the assertions are on the
DOM (and on the server's answers), never on pixels."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select, update

from adapters.sql import tables
from adapters.sql.engine import make_engine
from tests.browser.conftest import BRAND_COLOR, QUEBEC, Browser, Server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class Steps:
    """Numbered screenshots of one test's steps."""

    def __init__(self, driver: webdriver.Chrome, directory: Path) -> None:
        self.driver = driver
        self.directory = directory
        self.count = 0

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        # The whole page, not just the viewport: Chromium's CDP capture beyond the viewport.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.execute_script("return document.documentElement.clientWidth")
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(height, 8000), "deviceScaleFactor": 1, "mobile": width < 600},
        )
        try:
            assert self.driver.save_screenshot(str(path))
        finally:
            self.restore()
        return path

    def restore(self) -> None:
        """Back to the browser's own screen (the phone's, under mobile emulation)."""
        phone = getattr(self.driver, "phone_metrics", None)
        if phone is None:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        else:
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": phone["width"], "height": phone["height"], "deviceScaleFactor": 3, "mobile": True},
            )


def heading(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def wait_for_heading(driver: webdriver.Chrome, text: str) -> None:
    try:
        WebDriverWait(driver, 30).until(
            # Read in one go: the page is replaced under the wait when the form is posted.
            lambda d: text in d.execute_script("return [...document.querySelectorAll('h1')].map(h => h.textContent)")
        )
    except TimeoutException:
        raise AssertionError(f"no heading {text!r} on {driver.current_url}: {driver.page_source[-1500:]}") from None


def loaded_width(driver: webdriver.Chrome, image: WebElement) -> int:
    """The image's intrinsic width once loaded (0 while loading or when broken)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return arguments[0].complete", image))
    return int(driver.execute_script("return arguments[0].naturalWidth", image))


def page_images(driver: webdriver.Chrome) -> list[WebElement]:
    return list(driver.find_elements(By.CSS_SELECTOR, "ol.pages img"))


def no_horizontal_scroll(driver: webdriver.Chrome, width: int) -> None:
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide on a {width} px screen"


def reads_the_agreement(driver: webdriver.Chrome, width: int) -> None:
    """Every page of the agreement is an image that loaded, as wide as the screen allows."""
    images = page_images(driver)
    assert len(images) >= 2
    for number, image in enumerate(images, start=1):
        assert loaded_width(driver, image) >= 1000, f"page {number} did not load"
        shown = image.size["width"]
        assert 0.6 * min(width, 900) <= shown <= width, (number, shown)
    assert not driver.find_elements(By.CSS_SELECTOR, "iframe, embed, object")  # no empty PDF box


def order_of(url: str) -> str:
    return urlsplit(url).path.split("/")[2]


def test_sign_at_1280px_then_the_used_link_shows_a_clear_page(server: Server, browser: Browser, tmp_path: Path) -> None:
    url = server.signing_link(first="Jeanne", last="Tremblay")
    driver = browser(1280)
    steps = Steps(driver, tmp_path)
    driver.get(url)
    steps.shot("opened")

    assert heading(driver) == "Purchase agreement"
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en-CA"
    header = driver.find_element(By.CSS_SELECTOR, "header.brand")
    assert "Maple Motors" in header.text
    red, green, blue = (int(BRAND_COLOR[i : i + 2], 16) for i in (1, 3, 5))
    assert header.value_of_css_property("background-color") == f"rgba({red}, {green}, {blue}, 1)"
    assert loaded_width(driver, header.find_element(By.TAG_NAME, "img")) > 0  # the logo slot, filled
    facts = driver.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "Jeanne Tremblay" in facts and "$" in facts

    reads_the_agreement(driver, 1280)
    pdf_link = driver.find_element(By.CSS_SELECTOR, "a.pdf")
    assert pdf_link.text == "Download the agreement (PDF)"
    pdf = httpx.get(str(pdf_link.get_attribute("href")), timeout=30)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    first_page = httpx.get(str(page_images(driver)[0].get_attribute("src")), timeout=30)
    assert first_page.headers["content-type"] == "image/png" and first_page.content.startswith(b"\x89PNG")
    steps.shot("read")

    driver.find_element(By.ID, "typed-name").send_keys("Jeanne Tremblay")
    driver.find_element(By.ID, "consent").click()
    steps.shot("filled")
    driver.find_element(By.ID, "sign-button").click()
    wait_for_heading(driver, "Thank you, you signed the agreement")
    assert "upload your proof of insurance" in driver.find_element(By.CSS_SELECTOR, "[role=status]").text
    steps.shot("signed")

    driver.get(url)  # the same link again: used
    assert heading(driver) == "This agreement is already signed"
    assert "already signed" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not driver.find_elements(By.TAG_NAME, "form")
    steps.shot("reused")
    assert httpx.get(url, timeout=30).status_code == 409


def test_a_quebec_buyer_signs_in_french_on_a_390px_phone(server: Server, browser: Browser, tmp_path: Path) -> None:
    url = server.signing_link(address=QUEBEC, first="Élodie", last="Gagnon")
    driver = browser(390, 844)
    steps = Steps(driver, tmp_path)
    driver.get(url)
    steps.shot("ouvert")

    assert driver.execute_script("return window.innerWidth") == 390
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr-CA"
    assert heading(driver) == "Contrat d'achat"
    facts = driver.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "Total à payer" in facts and "Élodie Gagnon" in facts
    total = str(driver.find_elements(By.CSS_SELECTOR, "dl.facts dd")[2].get_attribute("textContent"))
    assert re.fullmatch(r"\d{1,3}(\u00a0\d{3})*,\d\d\u00a0\$", total), total  # 12 345,67 $
    assert driver.find_element(By.CSS_SELECTOR, "a.pdf").text == "Télécharger le contrat (PDF)"
    no_horizontal_scroll(driver, 390)
    reads_the_agreement(driver, 390)
    alt = page_images(driver)[0].get_attribute("alt")
    assert alt is not None and alt.startswith("Page 1 sur ")
    steps.shot("lu")

    driver.find_element(By.ID, "typed-name").send_keys("Élodie Gagnon")
    driver.find_element(By.CSS_SELECTOR, "label.consent").click()  # the label is the touch target
    assert driver.find_element(By.ID, "consent").is_selected()
    button = driver.find_element(By.ID, "sign-button")
    assert button.text == "Signer le contrat" and button.size["height"] >= 44
    steps.shot("rempli")
    button.click()
    wait_for_heading(driver, "Merci, vous avez signé le contrat")
    steps.shot("signe")


def test_keyboard_alone_signs_on_a_360px_screen(server: Server, browser: Browser, tmp_path: Path) -> None:
    url = server.signing_link(first="Kim", last="Nguyen")
    driver = browser(360, 780)
    steps = Steps(driver, tmp_path)
    driver.get(url)
    no_horizontal_scroll(driver, 360)
    keys = ActionChains(driver)

    def active() -> dict[str, Any]:
        described: dict[str, Any] = driver.execute_script(
            "const e = document.activeElement, s = getComputedStyle(e);"
            "return {id: e.id, tag: e.tagName, cls: e.className, outline: s.outlineStyle, width: s.outlineWidth};"
        )
        return described

    keys.send_keys(Keys.TAB).perform()
    assert active()["cls"] == "skip"  # first: skip to signing
    assert driver.switch_to.active_element.is_displayed()
    steps.shot("skip-link")
    keys.send_keys(Keys.TAB).perform()
    assert active()["cls"] == "pdf"  # then the PDF link, beside the page images
    keys.send_keys(Keys.TAB).perform()
    focused = active()
    assert focused["id"] == "typed-name"
    assert focused["outline"] == "solid" and focused["width"] == "3px"  # a visible focus ring
    keys.send_keys("Kim Nguyen").send_keys(Keys.TAB).perform()
    assert active()["id"] == "consent"
    keys.send_keys(Keys.SPACE).perform()
    assert driver.find_element(By.ID, "consent").is_selected()
    keys.send_keys(Keys.TAB).perform()
    assert active()["id"] == "sign-button"
    steps.shot("keyboard-ready")
    keys.send_keys(Keys.ENTER).perform()
    wait_for_heading(driver, "Thank you, you signed the agreement")
    no_horizontal_scroll(driver, 360)
    steps.shot("keyboard-signed")


def _expire(server: Server, order_id: str) -> None:
    """Move the order's signing link's expiry into the past, behind the application's back."""
    engine = make_engine(f"sqlite:///{server.data_dir / 'checkout.sqlite3'}")
    try:
        orders = tables.orders
        with engine.begin() as connection:
            envelope = dict(connection.execute(select(orders.c.envelope).where(orders.c.id == order_id)).scalar_one())
            past = datetime.now(UTC) - timedelta(minutes=5)
            envelope["expires_at"] = past.isoformat() if isinstance(envelope["expires_at"], str) else past
            connection.execute(update(orders).where(orders.c.id == order_id).values(envelope=envelope))
    finally:
        engine.dispose()


def test_expired_unknown_and_declined_links_show_a_clear_page(server: Server, browser: Browser, tmp_path: Path) -> None:
    driver = browser(390, 844)
    steps = Steps(driver, tmp_path)

    expired = server.signing_link()
    _expire(server, order_of(expired))
    driver.get(expired)
    assert heading(driver) == "This signing link has expired"
    assert "ask for a new one" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not driver.find_elements(By.TAG_NAME, "form")
    no_horizontal_scroll(driver, 390)
    steps.shot("expired")
    assert httpx.get(expired, timeout=30).status_code == 409

    unknown = f"{expired.rsplit('/', 1)[0]}/env_{secrets.token_urlsafe(24)}"
    driver.get(unknown)
    headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h1")]
    assert headings == ["Signing link not found", "Lien de signature introuvable"]  # language unknown: both
    steps.shot("unknown")
    assert httpx.get(unknown, timeout=30).status_code == 404

    declined = server.signing_link()
    driver.get(declined)
    # Every page image holds its US Letter box before it loads (the lazy ones have not): nothing
    # below them moves when they arrive, so a tap aimed at a button lands on it. Without the
    # reserved box this very click once missed, the layout shifting under it.
    boxes = driver.execute_script(
        "return [...document.querySelectorAll('ol.pages img')].map(i => [i.complete, i.clientWidth, i.clientHeight])"
    )
    assert boxes and all(abs(h / w - 11 / 8.5) < 0.02 for _, w, h in boxes), boxes
    driver.find_element(By.ID, "decline-button").click()
    wait_for_heading(driver, "You declined to sign")
    steps.shot("declined")
    driver.get(declined)
    assert heading(driver) == "Signing was declined on this link"
    steps.shot("declined-reopened")
