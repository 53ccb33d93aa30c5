"""The Dropbox Sign adapter of the :class:`~checkout_core.ports.documents.SigningService` port
(the official ``dropbox-sign`` SDK). Callbacks are believed only after their HMAC, their age and —
for "signed" and "declined" — the signature request read back from the API; every failure is a
:class:`~checkout_core.errors.SigningNotAvailable` with a ``reason``. Nothing here logs the API
key, a signer's e-mail or a signing URL. Method by method: docs/signing.md, "Dropbox Sign"."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, NoReturn
from urllib.parse import parse_qs

import attrs
import urllib3

# Imported from their defining modules: the package root re-exports them implicitly, which
# mypy --strict does not accept (the SDK ships py.typed, so its annotations are checked).
from dropbox_sign.api.embedded_api import EmbeddedApi
from dropbox_sign.api.signature_request_api import SignatureRequestApi
from dropbox_sign.api_client import ApiClient
from dropbox_sign.configuration import Configuration
from dropbox_sign.exceptions import ApiException
from dropbox_sign.models.signature_request_create_embedded_request import SignatureRequestCreateEmbeddedRequest
from dropbox_sign.models.signature_request_send_request import SignatureRequestSendRequest
from dropbox_sign.models.sub_signature_request_signer import SubSignatureRequestSigner
from pydantic import ValidationError

from adapters.system.clock import SystemClock
from checkout_core.errors import SigningNotAvailable
from checkout_core.ports.clock import Clock
from checkout_core.ports.documents import Envelope, EnvelopeState, SigningCallback

log = logging.getLogger("checkout.signing.dropbox_sign")

PROVIDER = "dropbox_sign"

#: How far a callback's ``event_time`` may be from our clock (either way). Dropbox Sign signs only
#: ``event_time + event_type``, so without this window one captured callback could be replayed
#: forever; five minutes is the tolerance Stripe and others use for the same purpose.
CALLBACK_TOLERANCE = timedelta(seconds=300)

#: What our endpoint must answer for Dropbox Sign to consider a callback delivered.
CALLBACK_ACKNOWLEDGEMENT = "Hello API Event Received"

#: Dropbox Sign accepts ``expires_at`` between 1 and 90 days ahead and rounds it down to the hour.
MIN_EXPIRY = timedelta(days=1)
MAX_EXPIRY = timedelta(days=90)
#: Slack on the one-day minimum: the provider checks it on its own clock, a moment after ours.
_EXPIRY_SLACK = timedelta(minutes=5)

#: The file name the agreement is uploaded under (the SDK derives the part's content type from it).
AGREEMENT_FILE_NAME = "purchase-agreement.pdf"

#: Dropbox Sign event type → ours. The port's events are "viewed", "signed" and "declined";
#: the others are passed on (for the audit trail or to be acknowledged and ignored).
#: "signed" is ``signature_request_all_signed`` — the request is complete — and not the
#: per-signer ``signature_request_signed`` (our requests have one signer, and both arrive).
EVENT_MAP: Mapping[str, str] = {
    "signature_request_viewed": "viewed",
    "signature_request_signed": "signer_signed",
    "signature_request_all_signed": "signed",
    "signature_request_declined": "declined",
    "signature_request_sent": "sent",
    "signature_request_downloadable": "downloadable",
    "signature_request_expired": "expired",
    "signature_request_canceled": "canceled",
    "signature_request_remind": "reminded",
    "signature_request_email_bounce": "email_bounced",
    "signature_request_invalid": "invalid",
    "callback_test": "callback_test",
}

#: Events that change an order: their payload is re-read from the API before it is trusted.
_CONFIRMED_EVENTS = frozenset({"signed", "declined"})

_EVENT_TIME = re.compile(r"[0-9]{1,10}")  # Unix seconds (10 digits last until 2286)
_EVENT_TYPE = re.compile(r"[a-z_]{1,64}")


def callback_fingerprint(callback: SigningCallback) -> str:
    """A stable id of one provider event, for dropping duplicates (retries carry the same event).

    Built from the port's fields only (envelope, event, time, signer), so it works for any
    provider; the same event delivered twice gets the same fingerprint."""
    material = "\x1f".join(
        (callback.envelope_id, callback.event, callback.occurred_at.isoformat(), callback.signer_email.casefold())
    )
    return hashlib.sha256(material.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class DropboxSignEvent:
    """A verified callback: the port's view, the provider's event type and a duplicate key."""

    callback: SigningCallback
    event_type: str
    fingerprint: str


class _NamedBytes(io.BytesIO):
    """In-memory file with a name: the SDK reads ``.name`` for the part's file name and type."""

    def __init__(self, content: bytes, name: str) -> None:
        super().__init__(content)
        self.name = name


def _failure(reason: str, message: str, **details: object) -> SigningNotAvailable:
    """The one error this adapter raises; ``details["reason"]`` tells the caller what to answer."""
    return SigningNotAvailable(message, provider=PROVIDER, reason=reason, **details)


def _refuse(reason: str, message: str, **details: object) -> NoReturn:
    raise _failure(reason, message, **details)


def _error_name(error: ApiException) -> str:
    """Dropbox Sign's ``error.error_name`` (a fixed code, never personal data), if any."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return ""
    name = body.get("error", {}).get("error_name") if isinstance(body, dict) else None
    return name if isinstance(name, str) and re.fullmatch(r"[a-z_]{1,64}", name) else ""


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by case-insensitive name (frameworks differ in how they case them)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")


def _ceil_to_hour(moment: datetime) -> datetime:
    seconds = math.ceil(moment.timestamp() / 3600) * 3600
    return datetime.fromtimestamp(seconds, UTC)


class DropboxSignSigner:
    """Signature requests at Dropbox Sign; thread-safe (the SDK's urllib3 pool is)."""

    provider = PROVIDER

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        client_id: str = "",
        test_mode: bool = True,
        clock: Clock | None = None,
        timeout: float = 30.0,
        title: str = "Vehicle purchase agreement",
    ) -> None:
        if not api_key:
            raise ValueError("a Dropbox Sign API key is required")
        self._api_key = api_key.encode()
        self._client_id = client_id
        self._test_mode = test_mode
        self._clock: Clock = clock or SystemClock()
        # (connect, read) per call. A POST is never retried after a read timeout (it may have
        # created a request), so this bounds how long a buyer waits for a link.
        self._timeout = (float(min(timeout, 10.0)), float(timeout))
        self._title = title
        configuration = Configuration(username=api_key, host=api_base or None)
        # Retry only failures to connect: the request never reached Dropbox Sign, so nothing was
        # created. Dropbox Sign has no idempotency keys, so a POST that may have arrived is not
        # repeated here; the core asks again (a new envelope) if the buyer does.
        configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2)
        self._client = ApiClient(configuration)
        self._requests = SignatureRequestApi(self._client)
        self._embedded = EmbeddedApi(self._client)

    def __repr__(self) -> str:
        return f"DropboxSignSigner(embedded={bool(self._client_id)}, test_mode={self._test_mode})"

    # -- calling the API --------------------------------------------------------------------

    @contextmanager
    def _api(self, action: str) -> Iterator[None]:
        """Turn SDK and network failures into SigningNotAvailable (no secrets, no PII).

        The SDK's exception is not chained (``from None``): its text quotes response headers and
        bodies, which can hold signers' names and addresses, and tracebacks end up in logs."""
        try:
            yield
            return
        except ApiException as error:
            status = int(error.status or 0)
            name = _error_name(error)
            if status == 0 or status == 429 or status >= 500:
                log.warning("Dropbox Sign failed to %s: HTTP %s %s", action, status, name)
                failure = _failure(
                    "provider_unavailable",
                    f"Dropbox Sign is not available to {action}; try again shortly",
                    status=status,
                )
            else:
                log.error("Dropbox Sign refused to %s: HTTP %s %s", action, status, name)
                failure = _failure(
                    "provider_refused",
                    f"Dropbox Sign refused to {action} (HTTP {status}{' ' + name if name else ''})",
                    status=status,
                    error_name=name,
                )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # The exception text can hold the URL and proxy details; its type is enough.
            log.warning("Dropbox Sign unreachable to %s: %s", action, type(error).__name__)
            failure = _failure(
                "provider_unavailable", f"Dropbox Sign could not be reached to {action}; try again shortly"
            )
        except ValidationError:
            log.error("Dropbox Sign answered %s with an unexpected shape", action)
            failure = _failure("provider_unavailable", f"Dropbox Sign gave an unexpected answer to {action}")
        raise failure from None

    def _provider_expiry(self, expires_at: datetime) -> datetime:
        """The ``expires_at`` to send: on the hour (the provider rounds down, we round up so the
        link never dies before the time we give the buyer) and at least a day ahead (its minimum)."""
        now = self._clock.now()
        expiry = _ceil_to_hour(max(expires_at, now + MIN_EXPIRY + _EXPIRY_SLACK))
        if expiry > now + MAX_EXPIRY:
            _refuse("provider_refused", "Dropbox Sign signing links can last at most 90 days")
        return expiry

    def _get(self, envelope_id: str, action: str) -> Any:
        """The signature request (the SDK's ``SignatureRequestResponse``)."""
        with self._api(action):
            response = self._requests.signature_request_get(envelope_id, _request_timeout=self._timeout)
        request = response.signature_request
        if request is None or request.signature_request_id != envelope_id:
            _refuse("provider_unavailable", f"Dropbox Sign gave an unexpected answer to {action}")
        return request

    # -- the port ---------------------------------------------------------------------------

    def create_envelope(
        self,
        *,
        order_id: str,
        document: bytes,
        signer_name: str,
        signer_email: str,
        expires_at: datetime,
    ) -> Envelope:
        """A signature request for the buyer; the envelope id is Dropbox Sign's request id.

        ``expires_at`` of the envelope is the provider's own deadline: the requested time
        rounded up to the hour, and at least a day ahead (see :meth:`_provider_expiry`), so
        that our record and Dropbox Sign agree on when the link dies."""
        expiry = self._provider_expiry(expires_at)
        signer = SubSignatureRequestSigner(name=signer_name, email_address=signer_email)
        fields: dict[str, Any] = {
            "title": self._title,
            "subject": self._title,
            "message": "Please review and sign your vehicle purchase agreement.",
            "signers": [signer],
            "files": [_NamedBytes(document, AGREEMENT_FILE_NAME)],
            "metadata": {"order_id": order_id},
            "expires_at": int(expiry.timestamp()),
            "test_mode": self._test_mode,
            "allow_decline": True,  # a refusal is an audit event, not a link left to expire
        }
        model: SignatureRequestCreateEmbeddedRequest | SignatureRequestSendRequest
        try:  # the SDK's models check lengths and types before anything is sent
            if self._client_id:
                model = SignatureRequestCreateEmbeddedRequest(client_id=self._client_id, **fields)
            else:
                model = SignatureRequestSendRequest(**fields)
        except ValidationError:
            _refuse("provider_refused", "the signature request does not meet Dropbox Sign's limits")
        with self._api("create a signature request"):
            if isinstance(model, SignatureRequestCreateEmbeddedRequest):
                response = self._requests.signature_request_create_embedded(model, _request_timeout=self._timeout)
            else:
                response = self._requests.signature_request_send(model, _request_timeout=self._timeout)
        request = response.signature_request
        envelope_id = request.signature_request_id if request is not None else None
        if not envelope_id:
            _refuse("provider_unavailable", "Dropbox Sign gave no signature request id")
        if self._client_id:
            url = self._embedded_url(request, signer_email)
        else:
            url = request.signing_url or request.details_url or ""
        if not url:
            _refuse("provider_unavailable", "Dropbox Sign gave no signing link")
        log.info("Dropbox Sign request %s opened for order %s", envelope_id, order_id)
        return Envelope(
            id=envelope_id,
            signature_url=url,
            expires_at=datetime.fromtimestamp(request.expires_at, UTC) if request.expires_at else expiry,
            provider=self.provider,
        )

    def sign_url(self, envelope_id: str) -> str:
        """A fresh embedded signing URL for an open request.

        Dropbox Sign's embedded ``sign_url`` lasts 60 minutes and works once, while an envelope
        lasts a day: a signing page should ask for a fresh one each time it is shown."""
        if not self._client_id:
            _refuse("provider_refused", "embedded signing needs a Dropbox Sign client id")
        request = self._get(envelope_id, "read the signature request")
        return self._embedded_url(request, "")

    def _embedded_url(self, request: Any, signer_email: str) -> str:
        signatures = list(request.signatures or [])
        wanted = signer_email.casefold()
        signature = next(
            (s for s in signatures if wanted and (s.signer_email_address or "").casefold() == wanted),
            signatures[0] if signatures else None,
        )
        if signature is None or not signature.signature_id:
            _refuse("provider_unavailable", "Dropbox Sign gave no signature for the buyer")
        with self._api("create an embedded signing link"):
            response = self._embedded.embedded_sign_url(signature.signature_id, _request_timeout=self._timeout)
        embedded = response.embedded
        if embedded is None or not embedded.sign_url:
            _refuse("provider_unavailable", "Dropbox Sign gave no embedded signing link")
        return str(embedded.sign_url)

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> SigningCallback:
        """Check a callback (HMAC, freshness, and for "signed"/"declined" the API's own state)."""
        return self.verify_event(body, headers).callback

    def verify_event(self, body: bytes, headers: Mapping[str, str]) -> DropboxSignEvent:
        """:meth:`verify_callback` with the provider's event type and a duplicate key."""
        payload = _callback_payload(body, headers)
        event = payload.get("event")
        if not isinstance(event, dict):
            _refuse("malformed", "the callback has no event")
        event_time, event_type, event_hash = (event.get(k) for k in ("event_time", "event_type", "event_hash"))
        if not (isinstance(event_time, str | int) and isinstance(event_type, str) and isinstance(event_hash, str)):
            _refuse("malformed", "the callback's event is incomplete")
        event_time = str(event_time)
        if not (_EVENT_TIME.fullmatch(event_time) and _EVENT_TYPE.fullmatch(event_type)):
            _refuse("malformed", "the callback's event is malformed")
        expected = hmac.new(self._api_key, (event_time + event_type).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), event_hash.encode()):
            log.warning("Dropbox Sign callback with a wrong event hash refused (event %s)", event_type)
            _refuse("forged", "the callback's event hash does not match")
        occurred_at = datetime.fromtimestamp(int(event_time), UTC)
        if abs(self._clock.now() - occurred_at) > CALLBACK_TOLERANCE:
            log.warning("Dropbox Sign callback from %s refused as stale (event %s)", occurred_at, event_type)
            _refuse("stale", "the callback is too old (or from the future) to be accepted")
        ours = EVENT_MAP.get(event_type, event_type)
        request = payload.get("signature_request")
        request = request if isinstance(request, dict) else {}
        envelope_id = _text(request.get("signature_request_id"))
        metadata = request.get("metadata")
        order_id = _text(metadata.get("order_id")) if isinstance(metadata, dict) else ""
        metadata_event = event.get("event_metadata")
        signature_id = _text(metadata_event.get("related_signature_id")) if isinstance(metadata_event, dict) else ""
        signer_email = _signer_email(request.get("signatures"), signature_id)
        if ours in _CONFIRMED_EVENTS:
            order_id, signer_email = self._confirm(ours, envelope_id, order_id, signer_email)
        callback = SigningCallback(
            envelope_id=envelope_id,
            order_id=order_id,
            event=ours,
            occurred_at=occurred_at,
            signer_email=signer_email,
            # Dropbox Sign's callbacks carry neither; its own audit trail (in the final PDF) does.
            ip_address="",
            user_agent="",
        )
        return DropboxSignEvent(callback=callback, event_type=event_type, fingerprint=callback_fingerprint(callback))

    def _confirm(self, event: str, envelope_id: str, order_id: str, signer_email: str) -> tuple[str, str]:
        """Re-read the request: the event hash does not cover the payload, so a captured genuine
        callback could otherwise be replayed, within the tolerance, with another request's id."""
        if not envelope_id:
            _refuse("malformed", "the callback names no signature request")
        try:
            request = self._get(envelope_id, "confirm a callback")
        except SigningNotAvailable as error:
            if error.details.get("status") in (403, 404):  # not a request of this account: not ours
                _refuse("unconfirmed", "the callback's signature request is unknown to Dropbox Sign")
            raise
        real_order = _text((request.metadata or {}).get("order_id"))
        done = request.is_complete if event == "signed" else request.is_declined
        if not done or real_order != order_id:
            log.warning("Dropbox Sign callback %s for request %s not confirmed by the API", event, envelope_id)
            _refuse("unconfirmed", "the callback does not match the signature request's state")
        status = "signed" if event == "signed" else "declined"
        confirmed = next(
            (s.signer_email_address for s in request.signatures or [] if s.status_code == status), signer_email
        )
        return real_order, confirmed or ""

    def envelope_state(self, envelope_id: str) -> EnvelopeState | None:
        """The signature request as the API has it now: complete (``signed``, at the latest
        signature's time), declined, or still ``open``."""
        request = self._get(envelope_id, "read the signature request")
        order_id = _text((request.metadata or {}).get("order_id"))
        signatures = list(request.signatures or [])
        if request.is_complete:
            times = [s.signed_at for s in signatures if isinstance(s.signed_at, int)]
            decided = datetime.fromtimestamp(max(times), UTC) if times else None
            email = next((s.signer_email_address for s in signatures if s.status_code == "signed"), "")
            return EnvelopeState(
                envelope_id=envelope_id,
                order_id=order_id,
                outcome="signed",
                decided_at=decided,
                signer_email=email or "",
            )
        if request.is_declined:
            email = next((s.signer_email_address for s in signatures if s.status_code == "declined"), "")
            return EnvelopeState(
                envelope_id=envelope_id, order_id=order_id, outcome="declined", signer_email=email or ""
            )
        return EnvelopeState(envelope_id=envelope_id, order_id=order_id, outcome="open")

    def signed_document(self, envelope_id: str) -> bytes | None:
        """The signed PDF (Dropbox Sign's copy with its audit page) once every signer signed."""
        request = self._get(envelope_id, "read the signature request")
        if not request.is_complete:
            return None  # the files endpoint would return the unsigned document
        try:
            with self._api("download the signed agreement"):
                content = self._requests.signature_request_files(
                    envelope_id, file_type="pdf", _request_timeout=self._timeout
                ).read()
        except SigningNotAvailable as error:
            if error.details.get("status") == 409:
                return None  # "files are being prepared": the downloadable callback follows
            raise
        if not isinstance(content, bytes) or not content.startswith(b"%PDF-"):
            _refuse("provider_unavailable", "Dropbox Sign's signed agreement is not a PDF")
        return content

    def close(self) -> None:
        """Release the connection pool."""
        self._client.rest_client.pool_manager.clear()


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _signer_email(signatures: object, signature_id: str) -> str:
    """The e-mail address of the signature the event is about (or of the only signer)."""
    if not isinstance(signatures, list):
        return ""
    entries = [s for s in signatures if isinstance(s, dict)]
    match = next((s for s in entries if signature_id and s.get("signature_id") == signature_id), None)
    if match is None and len(entries) == 1:
        match = entries[0]
    return _text(match.get("signer_email_address")) if match else ""


def _callback_payload(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The callback's JSON: the ``json`` field of a multipart or urlencoded form, or the body."""
    content_type = _header(headers, "content-type")
    kind = content_type.split(";", 1)[0].strip().lower()
    raw: bytes | str | None
    if kind == "multipart/form-data":
        raw = _multipart_field(body, content_type, "json")
    elif kind == "application/x-www-form-urlencoded":
        try:
            values = parse_qs(body.decode(), strict_parsing=False).get("json")
        except UnicodeDecodeError:
            values = None
        raw = values[0] if values else None
    else:
        raw = body
    if raw is None:
        _refuse("malformed", "the callback has no json field")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: nested too deep
        _refuse("malformed", "the callback's json is not valid JSON")
    if not isinstance(payload, dict):
        _refuse("malformed", "the callback's json is not an object")
    return payload


def _multipart_field(body: bytes, content_type: str, name: str) -> bytes | None:
    """One form field of a multipart/form-data body (stdlib ``email``; ``cgi`` is gone)."""
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return None
    for part in message.iter_parts():
        if isinstance(part, EmailMessage) and part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


__all__ = [
    "CALLBACK_ACKNOWLEDGEMENT",
    "CALLBACK_TOLERANCE",
    "EVENT_MAP",
    "DropboxSignEvent",
    "DropboxSignSigner",
    "callback_fingerprint",
]
