"""``Idempotency-Key`` on POST requests, so that a client may retry a POST safely: required on
routes that create or charge, optional elsewhere, exempt for provider webhooks. The first request
claims the key and stores its answer before sending it; a retry replays it. The rules (scope,
body digest, 409/422, release on 5xx): docs/http-api.md, "Idempotency"."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import anyio
import anyio.to_thread
from litestar import Request
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from checkout_core.ports.clock import Clock
from checkout_core.ports.idempotency import IdempotencyRecord, IdempotencyStore
from checkout_core.usecases.context import Actor
from entrypoints.http.problems import HttpProblem

log = logging.getLogger("checkout.http.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_OPT = "idempotency"
REQUIRED = "required"
#: Provider webhooks: never claimed, stored or replayed. The provider has its own delivery ids
#: (handled once by the core), and a stored answer would be replayed to its redeliveries, e.g.
#: keeping a deferred Stripe event deferred for ever.
EXEMPT = "exempt"
MAX_KEY_LENGTH = 255

# Visible ASCII only: keys end up in a database column and in log lines.
_VALID_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}$")
_HEADER_NAME = HEADER.lower()
_REPLAYED = (REPLAYED_HEADER.lower().encode(), b"true")

_KEY_DESCRIPTION = (
    "A unique value per logical request (e.g. a UUID). Retrying with the same key and body replays the "
    "first response (`Idempotent-Replayed: true`); the same key with another body is 422."
)

#: Handler parameters that document the header in OpenAPI; the middleware enforces it.
RequiredIdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Required. " + _KEY_DESCRIPTION,
    ),
]
OptionalIdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=False,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Optional. " + _KEY_DESCRIPTION,
    ),
]


def request_scope(caller: str, method: str, path: str) -> str:
    """The namespace of a key: the same key from another caller or on another URL is another key."""
    return f"{caller} {method} {path}"


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def request_hash(body: bytes, media_type: str) -> str:
    """Identifies the request a key was first used with: the SHA-256 of a JSON body's canonical
    form (sorted keys, no whitespace, ASCII escapes), else of the raw bytes."""
    if _is_json(media_type):
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        except (ValueError, RecursionError):
            pass  # not JSON after all (or absurdly deep): the bytes are all we can compare
        else:
            return hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return hashlib.sha256(body).hexdigest()


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class IdempotencyMiddleware(ASGIMiddleware):
    """Claims, replays and stores POST responses by ``Idempotency-Key``."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, store: IdempotencyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def _run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        # The store may be a database: never block the event loop on it.
        return await anyio.to_thread.run_sync(lambda: fn(**kwargs))

    async def _release(self, scope_id: str, key: str) -> None:
        # Shielded: a client that disconnects must not leave the key claimed for ever.
        with anyio.CancelScope(shield=True):
            try:
                await self._run(self._store.release, scope=scope_id, key=key)
            except Exception:
                log.exception("could not release idempotency key for %s", scope_id)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Replay, refuse, or run and remember."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
            await next_app(scope, receive, send)
            return
        policy = scope["route_handler"].opt.get(IDEMPOTENCY_OPT)
        if policy == EXEMPT:
            await next_app(scope, receive, send)
            return
        key = Headers.from_scope(scope).get(_HEADER_NAME)
        if key is None:
            if policy == REQUIRED:
                raise HttpProblem(
                    400,
                    "idempotency_key_required",
                    f"This request creates or charges something: send an {HEADER} header "
                    "(a unique value such as a UUID) so that it can be retried safely.",
                    title="Idempotency key required",
                    field=HEADER,
                )
            await next_app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            raise HttpProblem(
                400,
                "validation_error",
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters.",
                field=HEADER,
            )
        # Only a digest of the key is stored: whatever a client puts in the header (even a
        # card number by mistake) never reaches the database, and the card guard does not
        # have to refuse UUIDs whose digit runs happen to pass the Luhn check.
        key = hashlib.sha256(key.encode()).hexdigest()
        request: Request[Any, Any, Any] = Request(scope, receive)
        body = await request.body()
        user = scope.get("user")
        caller = user.id if isinstance(user, Actor) else "anonymous"
        scope_id = request_scope(caller, "POST", scope["path"])
        digest = request_hash(body, request.content_type[0])
        existing: IdempotencyRecord | None = await self._run(
            self._store.claim, scope=scope_id, key=key, request_hash=digest, now=self._clock.now()
        )
        if existing is not None:
            # Records stored before JSON bodies were canonicalised hold the digest of the raw bytes.
            same = existing.request_hash in (digest, hashlib.sha256(body).hexdigest())
            await self._answer_existing(existing, same, send)
            return
        await self._run_and_store(scope, receive, send, next_app, scope_id, key)

    async def _answer_existing(self, existing: IdempotencyRecord, same_request: bool, send: Send) -> None:
        if not same_request:
            raise HttpProblem(
                422,
                "idempotency_key_reused",
                f"This {HEADER} was already used with a different request body; use a new key for a new request.",
                title="Idempotency key reused",
                field=HEADER,
            )
        if existing.status_code is None:
            raise HttpProblem(
                409,
                "idempotency_in_progress",
                f"A request with this {HEADER} is still being processed; retry shortly.",
                title="Request in progress",
            )
        await send(
            {
                "type": "http.response.start",
                "status": existing.status_code,
                "headers": [
                    (b"content-type", existing.content_type.encode("latin-1")),
                    (b"content-length", str(len(existing.body)).encode()),
                    _REPLAYED,
                ],
            }
        )
        await send({"type": "http.response.body", "body": existing.body, "more_body": False})

    async def _run_and_store(
        self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp, scope_id: str, key: str
    ) -> None:
        # The response is held back until it is stored, so a client that retries the moment it
        # has an answer gets a replay, never "in progress".
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        try:
            await next_app(scope, receive, capture)
        except BaseException:
            await self._release(scope_id, key)
            raise
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        status = int(start["status"]) if start is not None else 500
        if status >= 500 or status == 429:
            # Unknown outcome, or refused for now by a rate limit: the same key may be tried again.
            await self._release(scope_id, key)
        else:
            body = b"".join(bytes(m.get("body", b"")) for m in messages if m["type"] == "http.response.body")
            content_type = _header(start["headers"], b"content-type") if start is not None else None
            try:
                await self._run(
                    self._store.complete,
                    scope=scope_id,
                    key=key,
                    status_code=status,
                    body=body,
                    content_type=content_type or "application/json",
                )
            except Exception:
                log.exception("could not store the idempotent response for %s", scope_id)
                await self._release(scope_id, key)
        for message in messages:
            await send(message)
