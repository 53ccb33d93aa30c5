"""Card data never reaches us (PCI DSS scope): a request carrying something that looks like a
card number is refused, and such a number never reaches a log.

* :class:`CardGuardMiddleware` is the outermost middleware of every route: before anything
  is parsed for the handler, logged or stored, it scans the path, the query string, the headers
  we keep (``User-Agent``), the JSON body (every key and value at any
  depth), form fields (not file contents) and any other body as text, and
  answers 400 ``card_data_not_accepted`` if it finds a 13–19 digit sequence (digits optionally
  separated by single spaces or dashes) that passes the Luhn check.
* :func:`install_log_redaction` makes every log record of the process pass through
  :func:`redact` (card numbers, bearer tokens, JWTs, API keys, signing links), whichever logger
  created it and whichever handler prints it. :class:`RedactingFilter` does the same for
  logging configurations that prefer to attach a filter to their handlers.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import msgspec
from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from entrypoints.http.problems import HttpProblem

CARD_DATA_CODE = "card_data_not_accepted"

# A run of digit groups separated by single spaces or dashes ("4242 4242 4242 4242",
# "4242-4242-4242-4242", "4242424242424242", "3782 822463 10005").
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_SEPARATOR = re.compile(r"[ -]")
# Every card-number-like stretch holds 13 digits with at most one separator between two of
# them. Almost all text has no such stretch, and one search in C rules it out before the
# exact (Python) scan runs: the guard scans every request and the redaction every log record.
_CANDIDATE = re.compile(r"[0-9](?:[ -]?[0-9]){12}")
_MIN_DIGITS, _MAX_DIGITS = 13, 19
_CARD_MASK = "[REDACTED-PAN]"


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that look like card numbers.

    Within a run of digit groups, any stretch of whole groups joined by one and the same
    separator counts (so "4242 4242 4242 4242 12/27" is caught by its first four groups),
    but a stretch that mixes separators does not (so two phone numbers written
    "416-555-1234 416-555-9876" are not mistaken for a card)."""
    for run in _DIGIT_RUN.finditer(text):
        token = run.group()
        if len(token) < _MIN_DIGITS:
            continue
        groups = [(m.start(), m.end()) for m in _DIGIT_GROUP.finditer(token)]
        separators = [token[groups[i][1]] for i in range(len(groups) - 1)]
        for first in range(len(groups)):
            digits = 0
            for last in range(first, len(groups)):
                if last > first and separators[last - 1] != separators[first]:
                    break
                digits += groups[last][1] - groups[last][0]
                if digits > _MAX_DIGITS:
                    break
                if digits >= _MIN_DIGITS:
                    start, end = groups[first][0], groups[last][1]
                    if luhn_valid(_SEPARATOR.sub("", token[start:end])):
                        yield run.start() + start, run.start() + end


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds something that looks like a payment card number."""
    if _CANDIDATE.search(text) is None:
        return False
    return next(_card_spans(text), None) is not None


def mask_card_numbers(text: str) -> str:
    """``text`` with every card-number-like sequence replaced by a mask."""
    if _CANDIDATE.search(text) is None:
        return text
    spans = list(_card_spans(text))
    if not spans:
        return text
    out, cursor = [], 0
    for start, end in sorted(spans):
        if start < cursor:  # overlapping stretches of one run: already masked
            continue
        out.append(text[cursor:start])
        out.append(_CARD_MASK)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


# -- secrets in logs ----------------------------------------------------------------------

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 [REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[REDACTED-JWT]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{6,}"), r"\1_\2_[REDACTED]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{6,}"), "whsec_[REDACTED]"),
    # The envelope id in a signing link is the signer's credential.
    (re.compile(r"\benv_[A-Za-z0-9_-]{12,}"), "env_[REDACTED]"),
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|jwt[_-]?secret"
            r"|authorization|client[_-]?secret)(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;]+)"
        ),
        r"\1\2[REDACTED]",
    ),
)


def redact(text: str) -> str:
    """``text`` with card numbers and secrets masked (idempotent)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return mask_card_numbers(text)


_STANDARD_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact_record(record: logging.LogRecord) -> None:
    """Mask card numbers and secrets in a log record, in place.

    Arguments are masked one by one where that is enough, so formatters that read
    ``record.args`` themselves (uvicorn's access log does) keep working; otherwise the message
    is collapsed into an already-formatted, masked string."""
    if getattr(record, "_checkout_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it itself; we mask what we can
        message = str(record.msg)
    masked = redact(message)
    if masked != message:
        if isinstance(record.args, tuple):
            record.msg = redact(str(record.msg)) if isinstance(record.msg, str) else record.msg
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        try:
            retry = record.getMessage()
        except Exception:
            retry = None
        if retry is None or redact(retry) != retry:
            record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for name, value in list(vars(record).items()):
        if name not in _STANDARD_RECORD_ATTRS and isinstance(value, str):
            setattr(record, name, redact(value))
    record.__dict__["_checkout_redacted"] = True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        text = str(arg)
        return arg if redact(text) == text else redact(text)
    return arg


class RedactingFilter(logging.Filter):
    """A logging filter that masks card numbers and secrets in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask, never drop."""
        redact_record(record)
        return True


_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Mask every log record created in this process from now on (idempotent).

    Done in the record factory rather than on a logger or handler, so that records of every
    logger (uvicorn's access log, litestar, libraries, ours) are masked before any handler,
    formatter or test capture sees them."""
    with _install_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "_checkout_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            redact_record(record)
            return record

        factory.__dict__["_checkout_redacting"] = True  # a marker, so the factory is wrapped once
        logging.setLogRecordFactory(factory)


# -- the request guard --------------------------------------------------------------------


def _refuse(where: str) -> HttpProblem:
    return HttpProblem(
        400,
        CARD_DATA_CODE,
        "Card numbers are not accepted. Send a payment token (for example from Stripe Elements) instead.",
        title="Card data not accepted",
        field=where,
    )


def _scan_json(document: Any) -> str | None:
    """The dotted path of the first key or value holding a card number, or None."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if contains_card_number(str(key)):
                    return path or "(body)"
                stack.append((child, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str | int | float) and not isinstance(value, bool) and contains_card_number(str(value)):
            return path or "(body)"
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
    details that name an unknown id, in access logs."""
    if contains_card_number(scope.get("path", "")):
        return "(path)"
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


async def scan_request(request: Request[Any, Any, Any]) -> tuple[str | None, FormMultiDict | None]:
    """Where in the request a card number is (``field`` of the problem), or None; and the
    parsed form, if the body was one (its uploaded files must be closed after the request).

    Reads the body through ``request`` so it is cached in the connection state and the
    handler's own parsing reuses it (and the body size limit applies here first)."""
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
        form = await request.form()
        for name, value in form.multi_items():
            text = value.filename if isinstance(value, UploadFile) else str(value)
            if contains_card_number(name) or contains_card_number(text or ""):
                return name, form
        return None, form
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", errors="replace")
        return ("(body)" if contains_card_number(text) else None), None
    return _scan_json(document), None


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
    anything reads it, and it is full of random identifiers (Dropbox Sign's are 40 hex digits;
    about one in 400 holds a Luhn-valid run of 13+ digits). Refusing such a delivery would refuse
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
