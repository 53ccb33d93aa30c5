"""A local fake of the Dropbox Sign HTTP API (v3): just the endpoints the adapter uses.

It runs on 127.0.0.1 (a free port) in a thread and is driven by the official SDK through
``DropboxSignSigner(api_base=fake.url)``. It checks what the real API requires — HTTP basic
auth with the API key as user name, multipart bodies with ``files[n]``, ``signers`` and the
other fields the SDK sends, a known ``client_id`` for embedded requests, the ``expires_at``
window (1 to 90 days ahead, rounded down to the hour), the metadata limits — keeps its
signature requests in memory, and answers in the API's JSON shapes (errors as
``{"error": {"error_msg", "error_name"}}``).

Test helpers play the buyer and Dropbox Sign's side: :meth:`FakeDropboxSign.view`,
:meth:`~FakeDropboxSign.sign`, :meth:`~FakeDropboxSign.decline`, and
:meth:`~FakeDropboxSign.callback`, which builds a callback exactly as Dropbox Sign posts it
(``multipart/form-data`` with one ``json`` field) with a correct or forged ``event_hash``.

Endpoints (under ``/v3``):

- ``POST /signature_request/create_embedded`` and ``POST /signature_request/send``
- ``GET /signature_request/{id}``
- ``GET /signature_request/files/{id}?file_type=pdf`` (409 while files are "being prepared")
- ``GET /embedded/sign_url/{signature_id}``
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
import urllib3

from checkout_core.ports.clock import Clock

API_KEY = "fake-dropbox-sign-api-key-5f0c2a9e41d7"
CLIENT_ID = "fakeclientid0123456789abcdef"
ACCOUNT_ID = "fakeaccount0123456789"

_DAY = int(timedelta(days=1).total_seconds())
_TRUE = frozenset({"true", "1"})
_BOOLS = _TRUE | {"false", "0"}


@attrs.frozen
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    content: bytes


@attrs.frozen
class Received:
    """One request as the fake saw it (after authentication)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, str]
    files: list[UploadedFile]


@attrs.define
class FakeSignature:
    """One signer's signature on a request."""

    signature_id: str
    signer_name: str
    signer_email_address: str
    status_code: str = "awaiting_signature"
    signed_at: int | None = None
    last_viewed_at: int | None = None
    decline_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's signature object."""
        return {
            "signature_id": self.signature_id,
            "signer_group_guid": None,
            "signer_email_address": self.signer_email_address,
            "signer_name": self.signer_name,
            "signer_role": None,
            "order": None,
            "status_code": self.status_code,
            "decline_reason": self.decline_reason,
            "signed_at": self.signed_at,
            "last_viewed_at": self.last_viewed_at,
            "last_reminded_at": None,
            "has_pin": False,
            "has_sms_auth": False,
            "has_sms_delivery": False,
            "sms_phone_number": None,
            "reassigned_by": None,
            "reassignment_reason": None,
            "reassigned_from": None,
            "error": None,
        }


@attrs.define
class FakeRequest:
    """A signature request the fake keeps."""

    signature_request_id: str
    embedded: bool
    client_id: str | None
    title: str
    subject: str | None
    message: str | None
    metadata: dict[str, Any]
    expires_at: int | None
    test_mode: bool
    allow_decline: bool
    document: UploadedFile
    signatures: list[FakeSignature]
    created_at: int
    is_complete: bool = False
    is_declined: bool = False
    signed_pdf: bytes | None = None
    files_ready: bool = True

    def to_json(self) -> dict[str, Any]:
        """The API's signature request object."""
        rid = self.signature_request_id
        return {
            "test_mode": self.test_mode,
            "signature_request_id": rid,
            "requester_email_address": "dealer@example.com",
            "title": self.title,
            "original_title": self.title,
            "subject": self.subject,
            "message": self.message,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "is_complete": self.is_complete,
            "is_declined": self.is_declined,
            "has_error": False,
            "files_url": f"https://api.hellosign.com/v3/signature_request/files/{rid}",
            # Embedded requests can only be signed in the iFrame: no signing_url for them.
            "signing_url": None if self.embedded else f"https://app.hellosign.com/sign/{rid}",
            "details_url": f"https://app.hellosign.com/home/manage?guid={rid}",
            "cc_email_addresses": [],
            "signing_redirect_url": None,
            "final_copy_uri": f"/v3/signature_request/final_copy/{rid}",
            "template_ids": None,
            "custom_fields": [],
            "attachments": [],
            "response_data": [],
            "signatures": [s.to_json() for s in self.signatures],
            "bulk_send_job_id": None,
        }


class ApiError(Exception):
    """An error answer: status, error_name, error_msg."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], list[UploadedFile]]:
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ApiError(400, "bad_request", "Malformed multipart body")
    form: dict[str, str] = {}
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise ApiError(400, "bad_request", "Malformed multipart part")
        if isinstance(filename, str):
            files.append(UploadedFile(name, filename, part.get_content_type(), payload))
        else:
            form[name] = payload.decode()
    return form, files


def _json_field(form: dict[str, str], name: str, kind: type) -> Any:
    raw = form.get(name)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"Invalid parameter: {name}") from None
    if not isinstance(value, kind):
        raise ApiError(400, "bad_request", f"Invalid parameter: {name}")
    return value


def _bool_field(form: dict[str, str], name: str, default: bool) -> bool:
    raw = form.get(name)
    if raw is None:
        return default
    if raw.lower() not in _BOOLS:
        raise ApiError(400, "bad_request", f"Invalid parameter: {name}")
    return raw.lower() in _TRUE


class FakeDropboxSign:
    """The fake API, serving on 127.0.0.1 until :meth:`close`. Thread-safe."""

    def __init__(self, clock: Clock, *, api_key: str = API_KEY, client_id: str = CLIENT_ID) -> None:
        self.clock = clock
        self.api_key = api_key
        self.client_id = client_id
        self.received: list[Received] = []
        self.requests: dict[str, FakeRequest] = {}
        self.unauthorized = 0  # requests refused for bad credentials
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base to give the SDK (``Configuration(host=...)``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v3"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- test helpers ------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` API requests with ``status`` (e.g. 500, 503, 429)."""
        with self._lock:
            self._failures.extend([status] * count)

    def only(self) -> FakeRequest:
        """The one signature request created so far."""
        with self._lock:
            assert len(self.requests) == 1, f"{len(self.requests)} requests"
            return next(iter(self.requests.values()))

    def view(self, request_id: str) -> None:
        """The buyer opened the document."""
        with self._lock:
            self.requests[request_id].signatures[0].last_viewed_at = self._now()

    def sign(self, request_id: str, *, files_ready: bool = True) -> bytes:
        """The buyer signed: the request is complete and a final PDF exists (returned)."""
        with self._lock:
            request = self.requests[request_id]
            for signature in request.signatures:
                signature.status_code = "signed"
                signature.signed_at = self._now()
            request.is_complete = True
            request.files_ready = files_ready
            # The real final copy is always a PDF (uploads are converted) with Dropbox Sign's audit
            # trail page appended; a marker stands in for the page.
            original = request.document.content
            if not original.startswith(b"%PDF-"):
                original = b"%PDF-1.4\n% converted from " + request.document.filename.encode() + b"\n"
            request.signed_pdf = original + b"\n% Dropbox Sign (fake) audit trail\n%%EOF\n"
            return request.signed_pdf

    def decline(self, request_id: str, reason: str = "changed my mind") -> None:
        """The buyer declined."""
        with self._lock:
            request = self.requests[request_id]
            request.signatures[0].status_code = "declined"
            request.signatures[0].decline_reason = reason
            request.is_declined = True

    def files_ready(self, request_id: str) -> None:
        """The final PDF finished "being prepared"."""
        with self._lock:
            self.requests[request_id].files_ready = True

    def event_hash(self, event_time: str, event_type: str, api_key: str | None = None) -> str:
        """Dropbox Sign's ``event_hash``: hex HMAC-SHA256 of ``event_time + event_type``."""
        key = (api_key or self.api_key).encode()
        return hmac.new(key, (event_time + event_type).encode(), hashlib.sha256).hexdigest()

    def callback(
        self,
        request_id: str | None,
        event_type: str,
        *,
        at: datetime | None = None,
        api_key: str | None = None,
        event_hash: str | None = None,
        encoding: str = "multipart",
        mutate: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A callback as Dropbox Sign posts it: ``(body, headers)``.

        ``api_key`` (another key) or ``event_hash`` forge the hash; ``at`` sets ``event_time``
        (default: now); ``encoding`` is "multipart" (what Dropbox Sign sends), "form" or
        "json"; ``mutate`` edits the payload after the hash was computed (a tampered body)."""
        event_time = str(int((at or self.clock.now()).timestamp()))
        with self._lock:
            request = self.requests[request_id] if request_id else None
            signature_id = request.signatures[0].signature_id if request else None
            payload: dict[str, Any] = {
                "event": {
                    "event_time": event_time,
                    "event_type": event_type,
                    "event_hash": self.event_hash(event_time, event_type, api_key)
                    if event_hash is None
                    else event_hash,
                    "event_metadata": {
                        "related_signature_id": signature_id,
                        "reported_for_account_id": ACCOUNT_ID,
                        "reported_for_app_id": request.client_id if request else None,
                        "event_message": None,
                    },
                },
                "account_guid": ACCOUNT_ID,
                "client_id": request.client_id if request else None,
            }
            if request is not None:
                payload["signature_request"] = request.to_json()
        if mutate is not None:
            mutate(payload)
        text = json.dumps(payload)
        headers = {"User-Agent": "HelloSign API"}
        if encoding == "multipart":
            body, content_type = urllib3.encode_multipart_formdata([("json", text)])
        elif encoding == "form":
            body, content_type = urlencode({"json": text}).encode(), "application/x-www-form-urlencoded"
        else:
            body, content_type = text.encode(), "application/json"
        headers["Content-Type"] = content_type
        return body, headers

    # -- the API -------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _authorized(self, header: str) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()
        return hmac.compare_digest(header.encode(), expected.encode())

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            if not self._authorized(lower.get("authorization", "")):
                with self._lock:
                    self.unauthorized += 1
                raise ApiError(401, "unauthorized", "Unauthorized api key")
            form: dict[str, str] = {}
            files: list[UploadedFile] = []
            if method == "POST":
                content_type = lower.get("content-type", "")
                if not content_type.startswith("multipart/form-data"):
                    raise ApiError(400, "bad_request", "Files must be sent as multipart/form-data")
                form, files = _parse_multipart(body, content_type)
            with self._lock:
                self.received.append(Received(method, parts.path, query, headers, form, files))
                if self._failures:
                    status = self._failures.pop(0)
                    raise ApiError(status, "server_error" if status >= 500 else "rate_limited", "Simulated failure")
                return self._route(method, parts.path, query, form, files)
        except ApiError as error:
            payload = {"error": {"error_msg": error.message, "error_name": error.name}}
            return error.status, "application/json", json.dumps(payload).encode()

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], form: dict[str, str], files: list[UploadedFile]
    ) -> tuple[int, str, bytes]:
        if method == "POST" and path == "/v3/signature_request/create_embedded":
            return self._json({"signature_request": self._create(form, files, embedded=True).to_json(), "warnings": []})
        if method == "POST" and path == "/v3/signature_request/send":
            return self._json(
                {"signature_request": self._create(form, files, embedded=False).to_json(), "warnings": []}
            )
        if method == "GET" and (match := re.fullmatch(r"/v3/signature_request/files/([0-9a-f]+)", path)):
            return self._files(self._request(match.group(1)), query)
        if method == "GET" and (match := re.fullmatch(r"/v3/signature_request/([0-9a-f]+)", path)):
            return self._json({"signature_request": self._request(match.group(1)).to_json(), "warnings": []})
        if method == "GET" and (match := re.fullmatch(r"/v3/embedded/sign_url/([0-9a-f]+)", path)):
            return self._sign_url(match.group(1))
        raise ApiError(404, "not_found", "Not found")

    @staticmethod
    def _json(payload: dict[str, Any]) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(payload).encode()

    def _request(self, request_id: str) -> FakeRequest:
        request = self.requests.get(request_id)
        if request is None:
            raise ApiError(404, "not_found", "Not found")
        return request

    def _create(self, form: dict[str, str], files: list[UploadedFile], *, embedded: bool) -> FakeRequest:
        client_id = form.get("client_id")
        if embedded and not client_id:
            raise ApiError(400, "bad_request", "Missing parameter: client_id")
        if client_id is not None and client_id != self.client_id:
            raise ApiError(400, "bad_request", "Invalid parameter: client_id")
        documents = [f for f in files if re.fullmatch(r"files\[\d+\]", f.field)]
        if not documents or any(not f.content for f in documents):
            raise ApiError(400, "bad_request", "Missing parameter: files or file_urls")
        signers = _json_field(form, "signers", list)
        if not signers:
            raise ApiError(400, "bad_request", "Missing parameter: signers")
        for signer in signers:
            if not (
                isinstance(signer, dict)
                and isinstance(signer.get("name"), str)
                and signer["name"].strip()
                and isinstance(signer.get("email_address"), str)
                and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", signer["email_address"])
            ):
                raise ApiError(400, "bad_request", "Invalid parameter: signers")
        metadata = _json_field(form, "metadata", dict) or {}
        if len(metadata) > 10 or any(
            len(k) > 40 or not isinstance(v, str) or len(v) > 1000 for k, v in metadata.items()
        ):
            raise ApiError(400, "bad_request", "Invalid parameter: metadata")
        expires_at: int | None = None
        if "expires_at" in form:
            if not re.fullmatch(r"[0-9]{1,12}", form["expires_at"]):
                raise ApiError(400, "bad_request", "Invalid parameter: expires_at")
            value = int(form["expires_at"])
            now = self._now()
            if not now + _DAY <= value <= now + 90 * _DAY:
                raise ApiError(400, "bad_request", "expires_at must be between 1 and 90 days in the future")
            expires_at = value - value % 3600  # rounded down to the hour, as documented
        for name, limit in (("title", 255), ("subject", 255), ("message", 5000)):
            if len(form.get(name, "")) > limit:
                raise ApiError(400, "bad_request", f"Invalid parameter: {name}")
        request = FakeRequest(
            signature_request_id=secrets.token_hex(20),
            embedded=embedded,
            client_id=client_id,
            title=form.get("title", documents[0].filename),
            subject=form.get("subject"),
            message=form.get("message"),
            metadata=metadata,
            expires_at=expires_at,
            test_mode=_bool_field(form, "test_mode", False),
            allow_decline=_bool_field(form, "allow_decline", False),
            document=documents[0],
            signatures=[
                FakeSignature(secrets.token_hex(20), signer["name"], signer["email_address"]) for signer in signers
            ],
            created_at=self._now(),
        )
        self.requests[request.signature_request_id] = request
        return request

    def _files(self, request: FakeRequest, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        file_type = query.get("file_type", ["pdf"])[0]
        if file_type != "pdf":
            raise ApiError(400, "bad_request", "Only file_type=pdf is supported by this fake")
        if not request.files_ready:
            raise ApiError(409, "conflict", "Files are still being processed. Please try again later.")
        # Like the real API: the *current* documents, so the unsigned one before completion.
        return 200, "application/pdf", request.signed_pdf or request.document.content

    def _sign_url(self, signature_id: str) -> tuple[int, str, bytes]:
        for request in self.requests.values():
            for signature in request.signatures:
                if signature.signature_id == signature_id:
                    if not request.embedded:
                        raise ApiError(400, "bad_request", "Signature request is not embedded")
                    if signature.status_code != "awaiting_signature":
                        raise ApiError(409, "conflict", "This request has already been signed or declined")
                    if request.expires_at is not None and self._now() >= request.expires_at:
                        raise ApiError(409, "conflict", "This request has expired")
                    token = secrets.token_hex(16)
                    url = f"https://app.hellosign.com/editor/embeddedSign?signature_id={signature_id}&token={token}"
                    return self._json({"embedded": {"sign_url": url, "expires_at": self._now() + 3600}})
        raise ApiError(404, "not_found", "Not found")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, content_type, payload = fake._handle(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        return Handler
