"""The one place that turns errors into HTTP answers: RFC 9457 ``application/problem+json``.

Every error body has ``type``, ``title``, ``status``, ``detail`` and a stable machine ``code``,
plus extension members where they help the client (``field``, ``declineCode``, ``errors``,
``currentStatus`` …). Domain errors are mapped by their ``code``; Litestar's own exceptions
(validation, routing, body size) by their status; anything unexpected becomes a 500
``internal_error`` whose body says nothing about the cause (the cause goes to the log, where
card numbers and secrets are masked)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from checkout_core.errors import DomainError
from entrypoints.observability.metrics import count_problem
from entrypoints.observability.request_context import current_request_id

PROBLEM_JSON = "application/problem+json"

#: Problem ``type`` URIs are identifiers (RFC 9457 §3.1.1); ``docs/http-api.md`` lists them.
TYPE_BASE = "https://api.clutchclone.ca/problems/"

log = logging.getLogger("checkout.http")

#: Domain error ``code`` → (HTTP status, title). The codes are stable API: clients switch on them.
DOMAIN_STATUS: Mapping[str, tuple[int, str]] = {
    "validation_error": (400, "The request is not valid"),
    "not_found": (404, "Not found"),
    "forbidden": (403, "Forbidden"),
    "vehicle_unavailable": (409, "Vehicle unavailable"),
    "reservation_limit_reached": (409, "Reservation limit reached"),
    "reservation_not_usable": (409, "Reservation cannot be used"),
    "reservation_mismatch": (422, "Reservation is for another vehicle"),
    "payment_declined": (402, "Payment declined"),
    "payment_gateway_unavailable": (503, "Payment gateway unavailable"),
    "amount_mismatch": (422, "Amount does not match our records"),
    "illegal_transition": (409, "Not allowed in the order's current status"),
    "conflict": (409, "Conflict"),
    "refund_not_allowed": (409, "Refund not allowed"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "payload_too_large": (413, "Payload too large"),
    "signing_not_available": (409, "Signing not available"),
    "too_many_attempts": (429, "Too many attempts"),
    "document_damaged": (422, "The file is damaged"),
    "image_too_large": (422, "The image is too large"),
    "active_content_not_accepted": (422, "Active content not accepted"),
    "insurance_proof_limit_reached": (409, "Insurance proof limit reached"),
    # Our stored copy is damaged: the server's fault, and no retry helps until it is restored.
    "document_integrity_failed": (500, "Document failed its integrity check"),
}

#: Finer statuses for a code by ``details["reason"]`` (the signing provider adapters, see
#: docs/signing.md): the code stays the same, the status tells the client what to do.
DOMAIN_REASON_STATUS: Mapping[tuple[str, str], tuple[int, str]] = {
    ("signing_not_available", "provider_unavailable"): (503, "Signing provider unavailable"),
    ("signing_not_available", "provider_refused"): (502, "Signing provider refused the request"),
    ("signing_not_available", "malformed"): (400, "Signing callback not accepted"),
    ("signing_not_available", "forged"): (400, "Signing callback not accepted"),
    ("signing_not_available", "stale"): (400, "Signing callback not accepted"),
    ("signing_not_available", "unconfirmed"): (400, "Signing callback not accepted"),
}

#: Status → (code, title) for errors raised by the HTTP layer or by Litestar itself.
HTTP_STATUS_CODES: Mapping[int, tuple[str, str]] = {
    400: ("validation_error", "The request is not valid"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("too_many_requests", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}

#: Seconds a client should wait before retrying, for the retryable problems.
_RETRY_AFTER: Mapping[str, str] = {"payment_gateway_unavailable": "5", "idempotency_in_progress": "1"}
_RETRY_AFTER_STATUS: Mapping[int, str] = {503: "5"}

_INTERNAL_DETAIL = "An unexpected error occurred. It has been logged; quote the instance id when reporting it."


class HttpProblem(Exception):
    """An error the HTTP layer raises itself (authentication, idempotency, card data, media type)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTP_STATUS_CODES.get(status, ("", HTTPStatus(status).phrase))[1]
        self.headers = dict(headers or {})
        self.extensions = extensions


# -- the documented shape ---------------------------------------------------------------


class FieldError(msgspec.Struct, kw_only=True):
    """One invalid input."""

    field: Annotated[str, msgspec.Meta(description="Dotted path of the input, e.g. `paymentMethod.token`.")]
    message: str
    source: Annotated[str, msgspec.Meta(description="Where the input was: body, query, path, header.")] = "body"


class Problem(msgspec.Struct, kw_only=True, rename="camel"):
    """An RFC 9457 problem detail. Further extension members may appear; clients must ignore unknown ones."""

    type: Annotated[str, msgspec.Meta(description="URI identifying the problem type.")]
    title: Annotated[str, msgspec.Meta(description="Short human-readable summary of the problem type.")]
    status: Annotated[int, msgspec.Meta(description="The HTTP status code.")]
    detail: Annotated[str, msgspec.Meta(description="Explanation specific to this occurrence.")]
    code: Annotated[str, msgspec.Meta(description="Stable machine-readable error code.")]
    instance: Annotated[str | None, msgspec.Meta(description="Identifier of this occurrence (500s).")] = None
    request_id: Annotated[
        str | None, msgspec.Meta(description="The request's id (`X-Request-ID`): quote it to support.")
    ] = None
    field: Annotated[str | None, msgspec.Meta(description="The input the problem is about, if one.")] = None
    decline_code: Annotated[str | None, msgspec.Meta(description="The card issuer's decline reason (402).")] = None
    current_status: Annotated[str | None, msgspec.Meta(description="The order's status (illegal_transition).")] = None
    attempted: Annotated[str | None, msgspec.Meta(description="The step that was attempted.")] = None
    errors: list[FieldError] | None = None


#: What each status means across the API (the ``code`` values a client can meet).
_DESCRIPTIONS: Mapping[int, str] = {
    400: "Invalid request: `validation_error` (see `errors`/`field`), `card_data_not_accepted`, "
    "`idempotency_key_required`; a provider webhook whose signature does not verify: `webhook_rejected`.",
    401: "Missing, malformed or expired bearer token: `unauthorized`.",
    402: "The card was declined: `payment_declined` (see `declineCode`).",
    403: "The caller's role may not do this: `forbidden`.",
    404: "No such resource, or not the caller's: `not_found`.",
    409: "Conflicts with the current state: `vehicle_unavailable`, `reservation_limit_reached`, "
    "`reservation_not_usable`, `illegal_transition`, `signing_not_available`, `refund_not_allowed`, "
    "`conflict`, `idempotency_in_progress`, `insurance_proof_limit_reached`; a webhook to deliver again "
    "later: `webhook_deferred`.",
    413: "The request body or the uploaded file is too large: `payload_too_large`.",
    415: "The body's media type (or the uploaded file's actual type) is not accepted: `unsupported_media_type`.",
    422: "Semantically invalid: `reservation_mismatch`, `amount_mismatch`, `idempotency_key_reused`; an "
    "uploaded file that is damaged or fake (`document_damaged`), an image with too many pixels "
    "(`image_too_large`), a PDF with scripts, launch actions or attached files (`active_content_not_accepted`).",
    429: "A rate limit refuses the attempt for now (card testing, floods of attempts or of bad tokens): "
    "`too_many_attempts`; `Retry-After` says how many seconds to wait.",
    500: "Unexpected error: `internal_error` (no details; quote `instance`). A stored document that "
    "failed its integrity check: `document_integrity_failed` (advisors are notified; no retry helps "
    "until it is restored).",
    502: "The signing provider refused the request (a configuration problem): `signing_not_available`.",
    503: "A dependency is down; retry later (`Retry-After`): `payment_gateway_unavailable`, "
    "`signing_not_available`, `service_unavailable`, `webhooks_not_configured`.",
}

#: Statuses any route can answer: a card number anywhere (400), a body over the size limit
#: (413), an unexpected error (500).
ALWAYS = (400, 413, 500)


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for a route's error statuses (plus :data:`ALWAYS`). A route that can
    answer 401 can also answer 429: too many bad tokens from one address."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted({*statuses, *ALWAYS, *((429,) if 401 in statuses else ())})
    }


# -- mapping ----------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _domain_status(error: DomainError) -> tuple[int, str]:
    """Status and title by code (refined by ``details["reason"]`` where the code has reasons),
    falling back along the class hierarchy (a new subclass that keeps its parent's meaning
    inherits the parent's status)."""
    reason = error.details.get("reason")
    if isinstance(reason, str) and (error.code, reason) in DOMAIN_REASON_STATUS:
        return DOMAIN_REASON_STATUS[(error.code, reason)]
    for cls in type(error).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in DOMAIN_STATUS:
            return DOMAIN_STATUS[code]
    return 422, "Request cannot be processed"


def status_for(error: DomainError) -> int:
    """The HTTP status a domain error maps to (also used by the HTML signing page)."""
    return _domain_status(error)[0]


def _extensions(details: Mapping[str, Any]) -> dict[str, Any]:
    """Domain error details as camelCase members; only JSON scalars (never objects that could
    carry more than the client should see)."""
    return {
        _camel(key): value
        for key, value in details.items()
        if value is not None and isinstance(value, str | int | float | bool)
    }


def _http_code(status: int) -> tuple[str, str]:
    if status in HTTP_STATUS_CODES:
        return HTTP_STATUS_CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_"), phrase


def _validation_errors(exc: HTTPException) -> list[dict[str, str]]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = []
    for item in extra:
        if isinstance(item, Mapping):
            key = str(item.get("key") or "")
            errors.append(
                {
                    "field": "" if key == "data" else key,  # Litestar names the whole body "data"
                    "message": str(item.get("message") or "invalid"),
                    "source": str(item.get("source") or "body"),
                }
            )
    return errors


def describe(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, problem body, extra headers) for any exception."""
    headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if isinstance(exc, HttpProblem):
        status, code, title, detail = exc.status, exc.code, exc.title, exc.detail
        headers.update(exc.headers)
        extensions.update(exc.extensions)
    elif isinstance(exc, DomainError):
        status, title = _domain_status(exc)
        code, detail = exc.code, exc.message
        extensions.update(_extensions(exc.details))
        retry_after = exc.details.get("retry_after")
        if isinstance(retry_after, int) and retry_after > 0:
            headers["Retry-After"] = str(retry_after)
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        code, title = _http_code(status)
        detail = exc.detail or title
        if isinstance(exc, ValidationException) or status == 400:
            errors = _validation_errors(exc)
            if errors:
                extensions["errors"] = errors
                if errors[0]["field"]:
                    extensions["field"] = errors[0]["field"]
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 405 and exc.headers and "allow" in {k.lower() for k in exc.headers}:
            headers["Allow"] = next(v for k, v in exc.headers.items() if k.lower() == "allow")
    else:
        # 5xx and anything unexpected: a generic answer; the cause is only logged.
        status = exc.status_code if isinstance(exc, HTTPException) and exc.status_code != 500 else 500
        code, title = _http_code(status)
        detail = _INTERNAL_DETAIL if status == 500 else title
        extensions["instance"] = f"urn:uuid:{uuid.uuid4()}"
    if code in _RETRY_AFTER or status in _RETRY_AFTER_STATUS:
        headers.setdefault("Retry-After", _RETRY_AFTER.get(code) or _RETRY_AFTER_STATUS[status])
    body: dict[str, Any] = {
        "type": TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extensions.items() if k not in body})
    request_id = current_request_id()
    if request_id:
        body["requestId"] = request_id
    return status, body, headers


def encode_problem(body: Mapping[str, Any]) -> bytes:
    """The JSON bytes of a problem body."""
    return msgspec.json.encode(body)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Litestar exception handler for every exception type (registered once in ``create_app``)."""
    status, body, headers = describe(exc)
    count_problem(status, body["code"])
    if status >= 500 and not isinstance(exc, DomainError | HttpProblem):
        # The instance id in the body lets support find this line; the redacting log filter
        # masks card numbers, tokens and signing links that a message or traceback may hold.
        log.error(
            "unhandled %s on %s %s (%s)",
            type(exc).__name__,
            request.method,
            request.url.path,
            body.get("instance"),
            exc_info=exc,
        )
    return Response(content=encode_problem(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)
