"""A tiny threaded HTTP server for the gateway tests: it records every request and answers with
a function of it. Used to show what the real SDK puts on the wire, to return 5xx/429 on demand,
and, as a proxy in front of localstripe, to lose a response after the emulator acted on it."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: str

    @property
    def form(self) -> dict[str, list[str]]:
        """The form-encoded body (how the Stripe SDK sends parameters)."""
        return urllib.parse.parse_qs(self.body, keep_blank_values=True)


#: (status, headers, body) to answer, or None to close the connection without an answer.
Answer = tuple[int, dict[str, str], bytes] | None
Responder = Callable[[Recorded], Answer]


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer."""
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


class HttpStub:
    """Serve ``responder`` on 127.0.0.1 (a free port) until :meth:`close`."""

    def __init__(self, responder: Responder) -> None:
        self.requests: list[Recorded] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorded = Recorded(self.command, self.path, dict(self.headers.items()), body)
                stub.requests.append(recorded)
                answer = responder(recorded)
                if answer is None:
                    self.close_connection = True  # the client sees the connection drop: a lost answer
                    return
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The base URL to give the SDK as ``api_base``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def forward(upstream: str, request: Recorded) -> Answer:
    """Send ``request`` on to ``upstream`` and return its answer (a transparent proxy)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "connection")}
    outgoing = urllib.request.Request(  # noqa: S310 - the local emulator's URL
        upstream + request.path,
        data=request.body.encode() if request.method == "POST" else None,
        headers=headers,
        method=request.method,
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=30) as response:  # noqa: S310 - the local emulator's URL
            return response.status, {"Content-Type": "application/json"}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {"Content-Type": "application/json"}, error.read()


class LosingProxy:
    """A proxy in front of localstripe that forwards everything, but for the first ``lose``
    requests matching ``method`` and ``path`` drops the connection *after* localstripe acted:
    the charge exists, its answer never arrives."""

    def __init__(self, upstream: str, *, method: str = "POST", path: str = "/v1/payment_intents", lose: int = 1):
        self.upstream = upstream
        self._to_lose = lose
        self._method = method
        self._path = path
        self._lock = threading.Lock()
        self.stub = HttpStub(self._answer)

    def _answer(self, request: Recorded) -> Answer:
        answer = forward(self.upstream, request)
        with self._lock:
            if self._to_lose > 0 and request.method == self._method and request.path.split("?")[0] == self._path:
                self._to_lose -= 1
                return None
        return answer

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return self.stub.url

    def close(self) -> None:
        """Stop the proxy."""
        self.stub.close()
