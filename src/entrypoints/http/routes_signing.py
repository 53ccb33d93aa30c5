"""The built-in signer's signing page: ``/sign/{order_id}/{envelope_id}``.

The buyer opens the link from ``POST /api/v1/orders/{id}/documents/sign`` and reads the
agreement on the page itself: its pages are rendered as images on the server (phones and
headless browsers have no PDF viewer, so an embedded PDF showed an empty box there), beside a
link to the PDF. They type their full name, tick the consent box and sign; the core stamps the
signed copy and moves the order to ``pending_insurance``. Each opening of the page is a
``viewed`` entry of the audit trail (with the client's IP address and user agent). The buyer
may instead press "Decline" (``POST …/decline``): the envelope is closed, and asking for the
signing link again opens a new one.

The page looks like the dealer's (``CHECKOUT_BRAND_NAME``, ``CHECKOUT_BRAND_COLOR``,
``CHECKOUT_BRAND_LOGO_FILE``, served at ``/sign/brand/logo``) and speaks the buyer's language:
French for a buyer in Quebec (:func:`~checkout_core.model.language.agreement_language`), as
the agreement does. Its HTML is :mod:`entrypoints.http.signing_html`.

* No bearer token: the unguessable envelope id in the link is the credential, for the page,
  the PDF and the page images alike. It is never logged (the log redaction masks ``env_…``)
  and never leaked through a ``Referer``.
* CSRF: no cookies are involved, and in addition the form must carry ``csrfToken`` equal to
  the envelope id and must not come from another site (``Sec-Fetch-Site``/``Origin``), the
  protection ``SameSite`` cookies would give.
* Every value written into the HTML is escaped; the page forbids scripts, framing, and any
  resource from another site (CSP).
"""

from __future__ import annotations

import functools
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, URLEncodedBody

from checkout_core.errors import DomainError, NotFound, ValidationFailed
from checkout_core.model.language import Language, agreement_language
from checkout_core.usecases.context import SYSTEM
from checkout_core.usecases.order_view import order_details
from checkout_core.usecases.orders import (
    complete_signing,
    decline_signing_link,
    envelope_for_signing,
    record_signing_view,
    signing_link_order,
)
from entrypoints.bootstrap import App
from entrypoints.http.problems import problem_responses, status_for
from entrypoints.http.schemas import BODY_OPT, FORM_BODY, DeclineForm, SignForm, documented_operation
from entrypoints.http.signing_html import (
    Brand,
    SignPageContent,
    declined_page,
    done_page,
    error_page,
    sign_page,
)
from entrypoints.settings import Settings

TAGS = ["signing"]
PAGE = "/{order_id:str}/{envelope_id:str}"
LOGO_PATH = "/sign/brand/logo"

_PAGE_HEADERS = {
    # Its own images only (the agreement's pages, the logo); no script, no frame, no other site.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The link is a credential: never send it to another site as a Referer, never cache it.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_CONSENT_VALUES = frozenset({"yes", "on", "true", "1"})


def _html_spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=str, media_type=MediaType.HTML, description=description, generate_examples=False)


_PAGE_ERRORS = {
    404: _html_spec("Unknown signing link (HTML page)."),
    409: _html_spec("The link has expired or the agreement is already signed (HTML page)."),
}


def brand(settings: Settings) -> Brand:
    """The dealer's look, from the settings (validated there)."""
    return Brand(
        name=settings.brand_name or settings.dealer_name,
        color=settings.brand_color,
        logo_url=LOGO_PATH if settings.brand_logo_file else "",
    )


def _html(content: str, status: int) -> Response[str]:
    return Response(content=content, status_code=status, media_type=MediaType.HTML, headers=_PAGE_HEADERS)


def _link_language(checkout: App, order_id: str, envelope_id: str) -> Language | None:
    """The buyer's language for a page about this link (expired, used, declined), when the link
    is (or was) the order's envelope; None for an unknown link, which must reveal nothing."""
    try:
        order = order_details(checkout.ctx, SYSTEM, order_id).order
    except NotFound:
        return None
    if order.envelope is None or not hmac.compare_digest(order.envelope.id.encode(), envelope_id.encode()):
        return None
    return agreement_language(order)


def _error_page(checkout: App, order_id: str, envelope_id: str, status: int, text: str) -> Response[str]:
    language = _link_language(checkout, order_id, envelope_id)
    return _html(error_page(language, brand(checkout.settings), text), status)


def _page_count(checkout: App, pdf: bytes) -> int:
    """How many page images the page shows (none without a renderer or for an unreadable file:
    the PDF link remains)."""
    if checkout.page_images is None:
        return 0
    try:
        return checkout.page_images.page_count(pdf)
    except ValueError:
        return 0


def _sign_page(checkout: App, order_id: str, envelope_id: str, *, error: str = "") -> str:
    # The envelope is checked here again; it is what entitles this page to read the order.
    _, pdf = envelope_for_signing(checkout.ctx, order_id, envelope_id)
    details = order_details(checkout.ctx, SYSTEM, order_id)
    order = details.order
    vehicle = details.vehicle
    content = SignPageContent(
        order_number=order.number,
        vehicle=f"{vehicle.year} {vehicle.make} {vehicle.model}" if vehicle else order.vehicle_id,
        total=order.pricing.total_due,
        buyer_name=order.contact.full_name,
        page_path=f"/sign/{quote(order.id, safe='')}/{quote(envelope_id, safe='')}",
        csrf_token=envelope_id,
        page_count=_page_count(checkout, pdf),
        error=error,
    )
    return sign_page(agreement_language(order), brand(checkout.settings), content)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_cross_site(request: Request[Any, Any, Any], public_url: str) -> bool:
    """Whether a form post comes from another site (what SameSite cookies would refuse)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        # A browser that sends Fetch Metadata says where the form came from; its Origin is no
        # help here: under the page's ``Referrer-Policy: no-referrer`` Chromium sends ``null``.
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False  # older browsers and non-browser clients: the form token still applies
    own = {_origin(public_url), f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    return origin.lower() not in own


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The peer address (uvicorn's --proxy-headers puts the real client here behind a proxy)."""
    return request.client.host if request.client else "unknown"


def _user_agent(request: Request[Any, Any, Any]) -> str:
    # Bounded: it goes into the audit trail and the signature page as evidence, not as a payload.
    return request.headers.get("user-agent", "")[:500]


def _foreign_form(request: Request[Any, Any, Any], public_url: str, token: str, envelope_id: str) -> bool:
    """A form post that did not come from its own signing page (another site, or no/wrong token)."""
    return is_cross_site(request, public_url) or not hmac.compare_digest(token.encode(), envelope_id.encode())


_FOREIGN_FORM = "This form can only be submitted from its own signing page. Reload it and try again."


@get(
    PAGE,
    sync_to_thread=True,
    media_type=MediaType.HTML,
    tags=TAGS,
    summary="Signing page",
    responses={**problem_responses(), **_PAGE_ERRORS},
)
def signing_page(
    order_id: FromPath[str],
    envelope_id: FromPath[str],
    request: Request[Any, Any, Any],
    checkout: NamedDependency[App],
) -> Response[str]:
    """The agreement, a consent checkbox and a typed-name field, and a "Decline" button (HTML).
    Opening it is recorded in the order's signing audit trail (``viewed``). An expired link is a
    409 page saying so: asking for the signing link again gives a new one."""
    try:
        record_signing_view(
            checkout.ctx,
            order_id=order_id,
            envelope_id=envelope_id,
            ip_address=client_ip(request),
            user_agent=_user_agent(request),
        )
    except DomainError as error:
        return _error_page(checkout, order_id, envelope_id, status_for(error), error.message)
    return _html(_sign_page(checkout, order_id, envelope_id), 200)


@get(
    PAGE + "/agreement.pdf",
    sync_to_thread=True,
    media_type="application/pdf",
    tags=TAGS,
    summary="The agreement to sign (PDF)",
    responses=problem_responses(404, 409),
)
def agreement_pdf(
    order_id: FromPath[str], envelope_id: FromPath[str], checkout: NamedDependency[App]
) -> Response[bytes]:
    """The purchase agreement behind an open signing link."""
    order, pdf = envelope_for_signing(checkout.ctx, order_id, envelope_id)
    return Response(
        content=pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="purchase-agreement-{order.number}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            # Only our own signing page may embed it.
            "Content-Security-Policy": "frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


_IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Behind the link's credential like the page; the server keeps the rendered images instead.
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'; sandbox",
}


@get(
    PAGE + "/pages/{page:int}",
    sync_to_thread=True,
    media_type="image/png",
    tags=TAGS,
    summary="A page of the agreement to sign (PNG)",
    responses=problem_responses(404, 409),
)
def agreement_page_image(
    order_id: FromPath[str], envelope_id: FromPath[str], page: FromPath[int], checkout: NamedDependency[App]
) -> Response[bytes]:
    """Page ``page`` (1-based) of the agreement behind an open signing link, rendered as an
    image on the server (the signing page shows them: phones have no PDF viewer). 404 for a page
    the agreement does not have."""
    _, pdf = envelope_for_signing(checkout.ctx, order_id, envelope_id)
    images = checkout.page_images
    if images is None or not 1 <= page <= _page_count(checkout, pdf):
        raise NotFound(f"the agreement has no page {page}")
    return Response(content=images.page_png(pdf, page), media_type="image/png", headers=_IMAGE_HEADERS)


_LOGO_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@functools.lru_cache(maxsize=4)
def _logo(path: str) -> tuple[bytes, str]:
    """The logo's bytes and content type (the file was checked when the settings were loaded)."""
    content = Path(path).read_bytes()
    kind = next((t for magic, t in _LOGO_TYPES.items() if content.startswith(magic)), "image/svg+xml")
    return content, kind


@get(
    "/brand/logo",
    sync_to_thread=True,
    media_type="image/png",
    tags=TAGS,
    summary="The dealer's logo on the signing page",
    responses=problem_responses(404),
)
def brand_logo(checkout: NamedDependency[App]) -> Response[bytes]:
    """``CHECKOUT_BRAND_LOGO_FILE`` (PNG, JPEG or SVG); 404 when none is configured. Public: it
    is the dealer's logo, and the same for every buyer."""
    path = checkout.settings.brand_logo_file
    if not path:
        raise NotFound("no logo is configured")
    content, kind = _logo(path)
    return Response(
        content=content,
        media_type=kind,
        # An SVG opened on its own must not run anything: sandboxed, no script.
        headers={**_IMAGE_HEADERS, "Cache-Control": "public, max-age=3600"},
    )


@post(
    PAGE,
    status_code=200,
    sync_to_thread=True,
    media_type=MediaType.HTML,
    tags=TAGS,
    summary="Sign",
    opt={BODY_OPT: FORM_BODY},
    operation_class=documented_operation(extra_media={400: (MediaType.HTML.value,)}),
    responses={
        **problem_responses(415),
        **_PAGE_ERRORS,
        403: _html_spec("The form was posted from another site or without its token (HTML page)."),
    },
)
def sign(
    order_id: FromPath[str],
    envelope_id: FromPath[str],
    data: URLEncodedBody[SignForm],
    request: Request[Any, Any, Any],
    checkout: NamedDependency[App],
) -> Response[str]:
    """Complete the signing: consent and the typed full name, as on the agreement."""
    if _foreign_form(request, checkout.settings.public_url, data.csrf_token, envelope_id):
        return _error_page(checkout, order_id, envelope_id, 403, _FOREIGN_FORM)
    try:
        order = complete_signing(
            checkout.ctx,
            order_id=order_id,
            envelope_id=envelope_id,
            typed_name=data.typed_name,
            consent=data.consent.strip().lower() in _CONSENT_VALUES,
            ip_address=client_ip(request),
            user_agent=_user_agent(request),
        )
    except ValidationFailed as error:
        try:
            signing_link_order(checkout.ctx, order_id, envelope_id)
        except DomainError as other:
            return _error_page(checkout, order_id, envelope_id, status_for(other), other.message)
        return _html(_sign_page(checkout, order_id, envelope_id, error=error.message), 400)
    except DomainError as error:
        return _error_page(checkout, order_id, envelope_id, status_for(error), error.message)
    return _html(done_page(agreement_language(order), brand(checkout.settings), order.number), 200)


@post(
    PAGE + "/decline",
    status_code=200,
    sync_to_thread=True,
    media_type=MediaType.HTML,
    tags=TAGS,
    summary="Decline to sign",
    opt={BODY_OPT: FORM_BODY},
    responses={
        **problem_responses(415),
        **_PAGE_ERRORS,
        403: _html_spec("The form was posted from another site or without its token (HTML page)."),
    },
)
def decline(
    order_id: FromPath[str],
    envelope_id: FromPath[str],
    data: URLEncodedBody[DeclineForm],
    request: Request[Any, Any, Any],
    checkout: NamedDependency[App],
) -> Response[str]:
    """Decline to sign: the link is closed (a ``declined`` audit entry); asking for the signing
    link again opens a new envelope."""
    if _foreign_form(request, checkout.settings.public_url, data.csrf_token, envelope_id):
        return _error_page(checkout, order_id, envelope_id, 403, _FOREIGN_FORM)
    try:
        order = decline_signing_link(
            checkout.ctx,
            order_id=order_id,
            envelope_id=envelope_id,
            ip_address=client_ip(request),
            user_agent=_user_agent(request),
        )
    except DomainError as error:
        return _error_page(checkout, order_id, envelope_id, status_for(error), error.message)
    return _html(declined_page(agreement_language(order), brand(checkout.settings), order.number), 200)


#: Under ``/sign``. Registered through a Router, not on the app directly: Litestar 2.25 wraps a
#: sync handler for the thread pool a second time when another method is added to the same
#: app-level path (GET and POST of the page), and the doubly wrapped handler returns a coroutine.
ROUTER = Router(
    path="/sign",
    route_handlers=[brand_logo, signing_page, agreement_pdf, agreement_page_image, sign, decline],
)
