"""The request id of the request (or worker pass) being handled, for logs and problem bodies.

A context variable, so it follows the request into ``sync_to_thread`` handlers (anyio copies the
context) and never leaks between concurrent requests."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

#: The id of the current request; "" outside one.
REQUEST_ID: ContextVar[str] = ContextVar("checkout_request_id", default="")
#: The caller of the current request (an id, never personal data); "" when anonymous.
ACTOR_ID: ContextVar[str] = ContextVar("checkout_actor_id", default="")

#: What we accept from a client's ``X-Request-ID``: short, and nothing a log line could be forged with.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def accept_request_id(header: str | None) -> str:
    """The caller's request id if it is acceptable, else a fresh one."""
    if header and _ACCEPTABLE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind_request_id(request_id: str) -> Token[str]:
    """Make ``request_id`` current; pass the token to :func:`reset_request_id` when done."""
    return REQUEST_ID.set(request_id)


def reset_request_id(token: Token[str]) -> None:
    """Restore the request id that was current before :func:`bind_request_id`."""
    REQUEST_ID.reset(token)


def current_request_id() -> str:
    """The current request id ("" outside a request)."""
    return REQUEST_ID.get()
