"""The built-in signer's signing page: ``/sign/{order_id}/{envelope_id}``.

The buyer opens the link from ``POST /api/v1/orders/{id}/documents/sign``, reads the agreement
(embedded, and downloadable from ``…/agreement.pdf``), ticks the consent box, types their full
name and submits; the core stamps the signed copy and moves the order to ``pending_insurance``.
Each opening of the page is a ``viewed`` entry of the audit trail (with the client's IP address
and user agent). The buyer may instead press "Decline" (``POST …/decline``): the envelope is
closed, and asking for the signing link again opens a new one.

* No bearer token: the unguessable envelope id in the link is the credential. It is never
  logged (the log redaction masks ``env_…``) and never leaked through a ``Referer``.
* CSRF: no cookies are involved, and in addition the form must carry ``csrfToken`` equal to
  the envelope id and must not come from another site (``Sec-Fetch-Site``/``Origin``), the
  protection ``SameSite`` cookies would give.
* Every value written into the HTML is escaped; the page forbids scripts and framing by others.
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, URLEncodedBody

from checkout_core.errors import DomainError, ValidationFailed
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

TAGS = ["signing"]
PAGE = "/{order_id:str}/{envelope_id:str}"

_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; "
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


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "iframe{width:100%;height:32rem;border:1px solid #ccc}.error{color:#a00;font-weight:600}"
        "label{display:block;margin:.8rem 0}input[type=text]{font-size:1.1rem;padding:.3rem;width:20rem}"
        "button{font-size:1.1rem;padding:.5rem 1.5rem}</style></head><body>"
        f"{body}</body></html>"
    )


def _html(content: str, status: int) -> Response[str]:
    return Response(content=content, status_code=status, media_type=MediaType.HTML, headers=_PAGE_HEADERS)


def _error_page(status: int, message: str) -> Response[str]:
    return _html(
        _document("Signing", f'<h1>Purchase agreement</h1><p class="error">{escape(message)}</p>'),
        status,
    )


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def _sign_page(checkout: NamedDependency[App], order_id: str, envelope_id: str, *, error: str | None = None) -> str:
    # The envelope was checked by the caller; it is what entitles this page to read the order.
    details = order_details(checkout.ctx, SYSTEM, order_id)
    order = details.order
    vehicle = details.vehicle
    car = f"{vehicle.year} {vehicle.make} {vehicle.model}" if vehicle else order.vehicle_id
    page = f"/sign/{quote(order.id, safe='')}/{quote(envelope_id, safe='')}"
    pdf = f"{page}/agreement.pdf"
    problem = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        "<h1>Purchase agreement</h1>"
        f"<p>Order <strong>{escape(order.number)}</strong> · {escape(car)} · "
        f"total {escape(_money(order.pricing.total_due.cents))}</p>"
        f"<p>Buyer: <strong>{escape(order.contact.full_name)}</strong></p>"
        f'<iframe src="{escape(pdf)}" title="Purchase agreement"></iframe>'
        f'<p><a href="{escape(pdf)}" target="_blank" rel="noopener noreferrer">Open the agreement (PDF)</a></p>'
        f"{problem}"
        '<form method="post">'
        f'<input type="hidden" name="csrfToken" value="{escape(envelope_id)}">'
        '<label><input type="checkbox" name="consent" value="yes" required> '
        "I have read the agreement and I agree to sign it electronically.</label>"
        '<label>Type your full name to sign: <input type="text" name="typedName" autocomplete="name" '
        'maxlength="200" required></label>'
        '<button type="submit">Sign</button></form>'
        f'<form method="post" action="{escape(page)}/decline">'
        f'<input type="hidden" name="csrfToken" value="{escape(envelope_id)}">'
        "<p>Not ready to sign, or something on the agreement is wrong? Decline, and ask your advisor "
        'for a corrected agreement or a new link. <button type="submit">Decline</button></p></form>'
    )
    return _document(f"Sign the purchase agreement {order.number}", body)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_cross_site(request: Request[Any, Any, Any], public_url: str) -> bool:
    """Whether a form post comes from another site (what SameSite cookies would refuse)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
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
        return _error_page(status_for(error), error.message)
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
        return _error_page(403, _FOREIGN_FORM)
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
            return _error_page(status_for(other), other.message)
        return _html(_sign_page(checkout, order_id, envelope_id, error=error.message), 400)
    except DomainError as error:
        return _error_page(status_for(error), error.message)
    body = (
        "<h1>Thank you</h1>"
        f"<p>You signed the purchase agreement for order <strong>{escape(order.number)}</strong>. "
        "A signed copy is in your order's documents. Next step: upload your proof of insurance.</p>"
    )
    return _html(_document("Agreement signed", body), 200)


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
        return _error_page(403, _FOREIGN_FORM)
    try:
        order = decline_signing_link(
            checkout.ctx,
            order_id=order_id,
            envelope_id=envelope_id,
            ip_address=client_ip(request),
            user_agent=_user_agent(request),
        )
    except DomainError as error:
        return _error_page(status_for(error), error.message)
    body = (
        "<h1>You declined to sign</h1>"
        f"<p>The purchase agreement for order <strong>{escape(order.number)}</strong> was not signed, and this "
        "link no longer works. When you are ready, ask for a new signing link from your order "
        "(or contact your advisor if something on the agreement needs correcting).</p>"
    )
    return _html(_document("Signing declined", body), 200)


#: Under ``/sign``. Registered through a Router, not on the app directly: Litestar 2.25 wraps a
#: sync handler for the thread pool a second time when another method is added to the same
#: app-level path (GET and POST of the page), and the doubly wrapped handler returns a coroutine.
ROUTER = Router(path="/sign", route_handlers=[signing_page, agreement_pdf, sign, decline])
