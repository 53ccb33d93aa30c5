"""``Idempotency-Key`` on POST requests, so that a client may retry a POST safely: required on
routes that create or charge, optional elsewhere, exempt for provider webhooks. The first request
claims the key and stores its answer before sending it; a retry replays it. The rules (scope,
body digest, 409/422, release on 5xx): docs/http-api.md, "Idempotency".

Two halves, so that a request costs one hop to a worker thread and no transaction of its own:

- :class:`IdempotencyMiddleware`, on the event loop, does what needs no I/O: checks the header,
  digests the key and the body, names the scope, and hands a :class:`PendingRequest` to the
  handler through a context variable (Litestar copies the context into the worker thread).
- :func:`install_idempotent_handlers` wraps every POST handler that runs in a worker thread when
  the app is built. In that thread the wrapper claims the key (``IdempotencyStore.begin``: on SQL,
  the first statement of the use case's first transaction), runs the handler, renders its answer
  (or its problem) to bytes, and stores them (on SQL, in the use case's last transaction, before
  its COMMIT), then returns exactly those bytes.

A request refused before its handler ran (Litestar's own 400 for a body that does not parse) is
stored by the middleware afterwards, in a thread of its own: that path is rare and did nothing.

The middleware also marks GET and HEAD requests with ``reads_expected()``: their units of work
send reads outside any transaction (no BEGIN, no ROLLBACK) until a first write, if any."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import anyio
import anyio.to_thread
import attrs
from litestar import Litestar, Request, Response
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.params import HeaderParameter
from litestar.routes import HTTPRoute
from litestar.serialization import get_serializer
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from litestar.utils.sync import AsyncCallable

from checkout_core.ports.clock import Clock
from checkout_core.ports.idempotency import IdempotencyRecord, IdempotencyStore, KeyTaken, StoredAnswer
from checkout_core.ports.unit_of_work import reads_expected
from checkout_core.usecases.context import Actor
from entrypoints.http.problems import PROBLEM_JSON, HttpProblem, describe, encode_problem
from entrypoints.observability.metrics import count_problem

log = logging.getLogger("checkout.http.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_OPT = "idempotency"
#: Set by :func:`install_idempotent_handlers` on the handlers it wrapped.
_WRAPPED_OPT = "idempotency_in_handler_thread"
REQUIRED = "required"
#: Provider webhooks: never claimed, stored or replayed. The provider has its own delivery ids
#: (handled once by the core), and a stored answer would be replayed to its redeliveries, e.g.
#: keeping a deferred Stripe event deferred for ever.
EXEMPT = "exempt"
MAX_KEY_LENGTH = 255
#: Handler option: the key's claim may ride in the use case's first statement
#: (``IdempotencyStore.begin(claim_with_first_statement=True)``, a round trip less). Only for a
#: handler whose use case does nothing before its first statement that a replay must not do.
CLAIM_OPT = "idempotency_claim"
WITH_FIRST_STATEMENT = "with_first_statement"
#: Handler option: the function that turns its use case's result into the handler's return
#: value — so that an outcome the use case announces before its last commit
#: (``UnitOfWork.mark_final(outcome=…)``) can be rendered and stored with that commit's writes.
ANSWER_OPT = "idempotency_answer"

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


def storable(status: int) -> bool:
    """Whether an answer is stored under its key: not a 5xx (the outcome was unexpected or
    retryable) nor a 429 (refused for now by a rate limit): then the same key may be tried again."""
    return status < 500 and status != 429


@attrs.define
class PendingRequest:
    """A POST under an ``Idempotency-Key``, as the middleware hands it to the handler's thread."""

    store: IdempotencyStore
    scope: str
    #: The SHA-256 of the key (the key itself is never stored).
    key: str
    request_hash: str
    #: The digest of the raw body: records stored before JSON was canonicalised hold it.
    raw_hash: str
    now: datetime
    #: Set in the handler's thread once it has taken the request over (claimed, or answered).
    taken: bool = False

    def same_request(self, record: IdempotencyRecord) -> bool:
        """Whether ``record`` was made by a request with this body."""
        return record.request_hash in (self.request_hash, self.raw_hash)


_PENDING: ContextVar[PendingRequest | None] = ContextVar("checkout_idempotent_request", default=None)


def existing_answer(record: IdempotencyRecord, same_request: bool) -> Response[bytes]:
    """The answer to a request whose key was used first by ``record``: its stored response
    again, or 422 (another body) / 409 (still running) as an HttpProblem."""
    if not same_request:
        raise HttpProblem(
            422,
            "idempotency_key_reused",
            f"This {HEADER} was already used with a different request body; use a new key for a new request.",
            title="Idempotency key reused",
            field=HEADER,
        )
    if record.status_code is None:
        raise HttpProblem(
            409,
            "idempotency_in_progress",
            f"A request with this {HEADER} is still being processed; retry shortly.",
            title="Request in progress",
        )
    media_type, _, charset = record.content_type.partition("; charset=")
    return Response(
        content=record.body,
        status_code=record.status_code,
        # Litestar adds "; charset=" to text types itself.
        media_type=media_type if media_type.startswith("text/") else record.content_type,
        encoding=charset or "utf-8",
        headers={REPLAYED_HEADER: "true"},
    )


async def _send_existing(record: IdempotencyRecord, same_request: bool, send: Send) -> None:
    """:func:`existing_answer`, sent from the middleware."""
    existing_answer(record, same_request)  # raises unless there is an answer to replay
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": record.status_code or 500,
        "headers": [
            (b"content-type", record.content_type.encode("latin-1")),
            (b"content-length", str(len(record.body)).encode()),
            _REPLAYED,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": record.body, "more_body": False})


def _problem_answer(status: int, problem: dict[str, Any]) -> StoredAnswer:
    """A problem's stored answer (what the exception handler would send)."""
    return StoredAnswer(status_code=status, body=encode_problem(problem), content_type=PROBLEM_JSON)


def _media_type(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _content_type(response: Response[Any]) -> str:
    media_type = _media_type(response.media_type)
    # As Litestar writes the header for text (the signing page's HTML).
    return f"{media_type}; charset={response.encoding}" if media_type.startswith("text/") else media_type


def _idempotent(handler: HTTPRouteHandler, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a sync handler) claiming, running, rendering and storing in one thread call."""
    media_type = _media_type(handler.media_type)
    serializer = get_serializer(handler.resolve_type_encoders())
    status_code = handler.status_code
    claim_with_first_statement = handler.opt.get(CLAIM_OPT) == WITH_FIRST_STATEMENT
    to_value: Callable[[Any], Any] | None = handler.opt.get(ANSWER_OPT)

    def render(value: Any) -> Response[bytes]:
        response: Response[Any] = value
        if not isinstance(value, Response):
            response = Response(content=value, status_code=status_code, media_type=media_type)
        if type(response) is not Response:  # a file or a stream: not bytes we can keep
            raise TypeError(f"{handler.handler_name} answers an idempotent POST with a {type(response).__name__}")
        body = response.render(response.content, _content_type(response), serializer)
        return Response(
            content=body,
            status_code=response.status_code,
            media_type=response.media_type,
            headers=dict(response.headers),
            cookies=response.cookies,
            background=response.background,
            encoding=response.encoding,
        )

    def stored(response: Response[bytes]) -> StoredAnswer | None:
        status = response.status_code or status_code
        if not storable(status):
            return None
        return StoredAnswer(status_code=status, body=bytes(response.content), content_type=_content_type(response))

    def answer_of(outcome: object) -> StoredAnswer | None:
        """What the request will answer if its use case ends with ``outcome`` (the same bytes as
        below: the handler's value rendered, or the error's problem)."""
        if isinstance(outcome, Exception):
            status, problem, _headers = describe(outcome)
            return _problem_answer(status, problem) if storable(status) else None
        return None if to_value is None else stored(render(to_value(outcome)))

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        pending = _PENDING.get()
        if pending is None:
            return fn(*args, **kwargs)  # no key sent
        pending.taken = True
        with pending.store.begin(
            scope=pending.scope,
            key=pending.key,
            request_hash=pending.request_hash,
            now=pending.now,
            claim_with_first_statement=claim_with_first_statement,
            answer_of=answer_of,
        ) as call:
            if call.existing is not None:
                return existing_answer(call.existing, pending.same_request(call.existing))

            def refused(error: Exception) -> Response[Any]:
                """The error's problem, stored under the key (a 5xx releases it, and is raised)."""
                status, problem, headers = describe(error)
                if not storable(status):
                    call.finish(None)
                    # Refused before its first statement (a rate limit), a request whose claim
                    # rides there never learnt that it is a replay: the first answer wins.
                    earlier = call.earlier()
                    if earlier is not None:
                        return existing_answer(earlier, pending.same_request(earlier))
                    raise error
                answer = _problem_answer(status, problem)
                other = call.finish(answer)
                if other is not None:
                    return existing_answer(other, pending.same_request(other))
                count_problem(status, problem["code"])
                return Response(content=answer.body, status_code=status, media_type=PROBLEM_JSON, headers=headers)

            try:
                response = render(fn(*args, **kwargs))
            except KeyTaken as taken:
                # Our claim had rolled back with a failed transaction, and another request with
                # the key got in before we claimed again: answer as if we had come second.
                call.finish(None)
                return existing_answer(taken.record, pending.same_request(taken.record))
            except Exception as error:
                return refused(error)
            try:
                other = call.finish(stored(response))
            except Exception as error:
                # The use case left its last writes' errors to us (place order: the car or the
                # deposit moved under the hold): they went with the answer, which was not
                # stored, nor was anything of its transaction. Answer with the error instead.
                return refused(error)
            if other is not None:
                return existing_answer(other, pending.same_request(other))
            return response

    return run


def install_idempotent_handlers(app: Litestar) -> None:
    """Wrap every POST handler of ``app`` that runs in a worker thread (and is not exempt) so that
    claiming the key, the use case and storing the answer run in its one thread call (see the
    module docstring). Called once by ``create_app``, after Litestar registered the routes."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "POST" not in handler.http_methods or handler.opt.get(IDEMPOTENCY_OPT) == EXEMPT:
                continue
            if handler.opt.get(_WRAPPED_OPT) or not isinstance(handler.fn, AsyncCallable):
                continue  # wrapped already, or not run in a thread: the middleware claims first
            # The signature was parsed at registration; the wrapper keeps it (functools.wraps).
            handler(AsyncCallable(_idempotent(handler, handler.fn.func)))
            handler.opt[_WRAPPED_OPT] = True


class IdempotencyMiddleware(ASGIMiddleware):
    """Checks the ``Idempotency-Key`` of POSTs and hands the request to its handler's thread;
    stores the answers of requests refused before their handler ran."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, store: IdempotencyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def _run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        # The store may be a database: never block the event loop on it.
        return await anyio.to_thread.run_sync(lambda: fn(**kwargs))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Replay, refuse, or run and remember."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "POST":
            if scope["type"] == ScopeType.HTTP and scope["method"] in ("GET", "HEAD"):
                # A GET's units of work read outside transactions until a first write (if any).
                with reads_expected():
                    await next_app(scope, receive, send)
                return
            await next_app(scope, receive, send)
            return
        handler = scope["route_handler"]
        policy = handler.opt.get(IDEMPOTENCY_OPT)
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
        pending = PendingRequest(
            store=self._store,
            scope=request_scope(caller, "POST", scope["path"]),
            key=key,
            request_hash=request_hash(body, request.content_type[0]),
            raw_hash=hashlib.sha256(body).hexdigest(),
            now=self._clock.now(),
        )
        if handler.opt.get(_WRAPPED_OPT):
            await self._hand_over(scope, receive, send, next_app, pending)
        else:
            await self._claim_first(scope, receive, send, next_app, pending)

    async def _hand_over(
        self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp, pending: PendingRequest
    ) -> None:
        # The response is held back until we know whether the handler took the request over.
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        token = _PENDING.set(pending)
        try:
            await next_app(scope, receive, capture)
        finally:
            _PENDING.reset(token)
        status = _status(messages)
        if not pending.taken and storable(status):
            # Refused before the handler ran (e.g. a body that does not parse): remember that
            # answer too, unless the key has another story already.
            existing = await self._run(self._store_refusal, pending=pending, messages=messages, status=status)
            if existing is not None:
                await _send_existing(existing, pending.same_request(existing), send)
                return
        for message in messages:
            await send(message)

    def _store_refusal(self, pending: PendingRequest, messages: list[Message], status: int) -> IdempotencyRecord | None:
        answer = StoredAnswer(status_code=status, body=_body(messages), content_type=_content_type_of(messages))
        with self._store.begin(
            scope=pending.scope, key=pending.key, request_hash=pending.request_hash, now=pending.now
        ) as call:
            if call.existing is not None:
                return call.existing
            return call.finish(answer)

    async def _release(self, scope_id: str, key: str) -> None:
        # Shielded: a client that disconnects must not leave the key claimed for ever.
        with anyio.CancelScope(shield=True):
            try:
                await self._run(self._store.release, scope=scope_id, key=key)
            except Exception:
                log.exception("could not release idempotency key for %s", scope_id)

    async def _claim_first(
        self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp, pending: PendingRequest
    ) -> None:
        """A handler that does not run in a worker thread: claim, run, store, each on its own."""
        existing: IdempotencyRecord | None = await self._run(
            self._store.claim, scope=pending.scope, key=pending.key, request_hash=pending.request_hash, now=pending.now
        )
        if existing is not None:
            await _send_existing(existing, pending.same_request(existing), send)
            return
        # The response is held back until it is stored, so a client that retries the moment it
        # has an answer gets a replay, never "in progress".
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        try:
            await next_app(scope, receive, capture)
        except BaseException:
            await self._release(pending.scope, pending.key)
            raise
        status = _status(messages)
        if not storable(status):
            await self._release(pending.scope, pending.key)
        else:
            try:
                await self._run(
                    self._store.complete,
                    scope=pending.scope,
                    key=pending.key,
                    status_code=status,
                    body=_body(messages),
                    content_type=_content_type_of(messages),
                )
            except Exception:
                log.exception("could not store the idempotent response for %s", pending.scope)
                await self._release(pending.scope, pending.key)
        for message in messages:
            await send(message)


def _status(messages: list[Message]) -> int:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    return int(start["status"]) if start is not None else 500


def _body(messages: list[Message]) -> bytes:
    return b"".join(bytes(m.get("body", b"")) for m in messages if m["type"] == "http.response.body")


def _content_type_of(messages: list[Message]) -> str:
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    content_type = _header(start["headers"], b"content-type") if start is not None else None
    return content_type or "application/json"
