"""Card data never reaches us (PCI DSS scope): :class:`CardGuardMiddleware`, outermost on every
route, answers 400 ``card_data_not_accepted`` to a request carrying something that looks like a
card number, and 400 ``validation_error`` to input the parsers would crash on (too deep, not
UTF-8, NUL); log records pass through :func:`redact`. What is scanned and what counts as a card
number: docs/http-api.md, "Card data guard and log redaction"."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import msgspec
from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from entrypoints.http.problems import HttpProblem
from entrypoints.redaction import (
    RedactingFilter,
    contains_card_number,
    install_log_redaction,
    luhn_valid,
    mask_card_numbers,
    redact,
    redact_record,
)

CARD_DATA_CODE = "card_data_not_accepted"

#: JSON bodies nested deeper than this are refused (ours are four levels deep at most; the
#: decoder itself would give up, with a RecursionError, somewhere near a thousand).
MAX_JSON_DEPTH = 64

__all__ = [
    "CARD_DATA_CODE",
    "CARD_GUARD_OPT",
    "MAX_JSON_DEPTH",
    "PROVIDER_SIGNED",
    "CardGuardMiddleware",
    "RedactingFilter",
    "contains_card_number",
    "install_log_redaction",
    "luhn_valid",
    "mask_card_numbers",
    "redact",
    "redact_record",
    "scan_envelope",
    "scan_request",
]


# -- the request guard --------------------------------------------------------------------


def _refuse(where: str) -> HttpProblem:
    return HttpProblem(
        400,
        CARD_DATA_CODE,
        "Card numbers are not accepted. Send a payment token (for example from Stripe Elements) instead.",
        title="Card data not accepted",
        field=where,
    )


def _malformed(detail: str, where: str) -> HttpProblem:
    """400 ``validation_error`` for input no parser should be handed."""
    return HttpProblem(400, "validation_error", detail, field=where)


_NUL = "\x00"
_NUL_DETAIL = "Text may not contain NUL characters."


def _scan_json(document: Any, *, nul_possible: bool) -> str | None:
    """The dotted path of the first key or value holding a card number, or None.

    Raises 400 ``validation_error`` for nesting deeper than :data:`MAX_JSON_DEPTH` and, when
    ``nul_possible`` (the body holds a ``\\u0000`` escape, the only way JSON text carries one),
    for a NUL character in a key or string."""
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
            raise _malformed(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", path or "(body)")
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if contains_card_number(str(key)):
                    return path or "(body)"
                if nul_possible and _NUL in key:
                    raise _malformed(_NUL_DETAIL, path or "(body)")
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            if contains_card_number(str(value)):
                return path or "(body)"
            if nul_possible and isinstance(value, str) and _NUL in value:
                raise _malformed(_NUL_DETAIL, path or "(body)")
    return None


def _scan_query(query: str) -> str | None:
    if not query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if contains_card_number(name) or contains_card_number(value):
            return name
    # Whatever parse_qsl made of it, the decoded text as a whole must not hold one either.
    return "(query)" if contains_card_number(unquote_plus(query)) else None


#: The request headers whose values we keep: the user agent (signing evidence: the audit trail
#: and the signed copy). The Idempotency-Key is kept only as a SHA-256 digest, so it needs no
#: scan (and scanning it refused about one random UUID in 360). Others are neither stored nor
#: logged, and scanning them all would refuse ordinary browsers (cookies often hold 13-digit
#: millisecond timestamps, a tenth of which pass the Luhn check).
_KEPT_HEADERS = {b"user-agent": "User-Agent"}


def scan_envelope(scope: Scope) -> str | None:
    """Where in the path, query string or kept headers a card number is, or None.

    The path matters because it is kept too: in the idempotency scope of a POST, in error
    details that name an unknown id, in access logs. A NUL character in the path (it names
    ids that are looked up in the database) is 400 ``validation_error``."""
    path = scope.get("path", "")
    if contains_card_number(path):
        return "(path)"
    if _NUL in path:
        raise _malformed(_NUL_DETAIL, "(path)")
    found = _scan_query(scope.get("query_string", b"").decode("latin-1"))
    if found:
        return found
    # Every occurrence of a kept header is scanned: a handler reads the first one, and
    # nothing stops a client from sending the header twice.
    for name, value in scope.get("headers", ()):
        label = _KEPT_HEADERS.get(name.lower())
        if label is not None and contains_card_number(value.decode("latin-1")):
            return label
    return None


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (HTTP/1.1: a non-zero Content-Length or a
    Transfer-Encoding; without either there is none). Most GETs have none, and reading an
    empty body through the ASGI channel still costs a round of the event loop."""
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == b"transfer-encoding" or (lowered == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


async def _scan_form(request: Request[Any, Any, Any]) -> tuple[str | None, FormMultiDict]:
    try:
        form = await request.form()
    except UnicodeDecodeError:
        raise _malformed("A form field is not valid UTF-8.", "(form)") from None
    for name, value in form.multi_items():
        text = (value.filename or "") if isinstance(value, UploadFile) else str(value)
        if contains_card_number(name) or contains_card_number(text):
            return name, form
        if _NUL in name or _NUL in text:
            await _close_uploads(form)
            raise _malformed(_NUL_DETAIL, "(form)" if _NUL in name else name)
    return None, form


async def scan_request(request: Request[Any, Any, Any]) -> tuple[str | None, FormMultiDict | None]:
    """Where in the request a card number is (``field`` of the problem), or None; and the
    parsed form, if the body was one (its uploaded files must be closed after the request).

    Reads the body through ``request`` so it is cached in the connection state and the
    handler's own parsing reuses it (and the body size limit applies here first). Raises the
    400 ``validation_error`` problems of the module's docstring."""
    found = scan_envelope(request.scope)
    if found:
        return found, None
    if not _has_body(request.scope):
        return None, None
    body = await request.body()
    if not body:
        return None, None
    media_type, _ = request.content_type
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _scan_form(request)
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        # Not JSON: the handler refuses it (400) or the route takes none (415). Scanned as text.
        text = body.decode("utf-8", errors="replace")
        return ("(body)" if contains_card_number(text) else None), None
    except RecursionError:
        raise _malformed(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", "(body)") from None
    except UnicodeDecodeError:
        raise _malformed("The JSON body is not valid UTF-8.", "(body)") from None
    return _scan_json(document, nul_possible=b"\\u0000" in body), None


async def _close_uploads(form: FormMultiDict | None) -> None:
    if form is None:
        return
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            await value.close()


#: Route ``opt`` key: ``{CARD_GUARD_OPT: PROVIDER_SIGNED}`` marks a provider's webhook, whose body
#: is not scanned (its path, query string and kept headers still are).
CARD_GUARD_OPT = "card_guard"
PROVIDER_SIGNED = "provider_signed"


class CardGuardMiddleware(ASGIMiddleware):
    """Refuses requests that carry card numbers, before anything else sees them.

    Provider webhooks (routes with ``opt={"card_guard": "provider_signed"}``) are the exception
    for their body: it is the provider's own document, authenticated by its signature before
    anything reads it, and it is full of random identifiers (Dropbox Sign's are 40 hex digits,
    and about one in 120 holds a Luhn-valid window of 13+ digits). Refusing such a delivery would refuse
    every retry of it too, so a genuine payment or signature would never reach us. Those handlers
    verify the signature first and neither log nor store the body."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Scan, then pass the request on (its body now cached for the handler)."""
        if scope["route_handler"].opt.get(CARD_GUARD_OPT) == PROVIDER_SIGNED:
            found = scan_envelope(scope)
            if found is not None:
                raise _refuse(found)
            await next_app(scope, receive, send)
            return
        request: Request[Any, Any, Any] = Request(scope, receive)
        where, form = await scan_request(request)
        try:
            if where is not None:
                raise _refuse(where)
            await next_app(scope, receive, send)
        finally:
            # Multipart files are spooled to temporary files; the form is parsed here, so it is
            # closed here too, whether or not a handler ever read it.
            await _close_uploads(form)
