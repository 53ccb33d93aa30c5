"""The Dropbox Sign adapter with the official SDK against the local fake of the API."""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.signing.dropbox_sign import (
    CALLBACK_TOLERANCE,
    DropboxSignSigner,
    callback_fingerprint,
)
from adapters.system.clock import FixedClock
from checkout_core.errors import SigningNotAvailable
from checkout_core.ports.documents import Envelope, SigningService
from tests.conftest import SPEC_NOW
from tests.signing.fake_dropbox_sign import API_KEY, CLIENT_ID, FakeDropboxSign

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _open(signer: DropboxSignSigner, *, expires_at: datetime | None = None, order_id: str = "ord_abc123") -> Envelope:
    return signer.create_envelope(
        order_id=order_id,
        document=PDF,
        signer_name="John Doe",
        signer_email="john@example.com",
        expires_at=expires_at or SPEC_NOW + timedelta(hours=24),
    )


def _reason(error: pytest.ExceptionInfo[SigningNotAvailable]) -> object:
    return error.value.details.get("reason")


# -- creating envelopes ------------------------------------------------------------------------


def test_the_adapter_is_a_signing_service(signer: DropboxSignSigner) -> None:
    service: SigningService = signer
    assert service.provider == "dropbox_sign"


def test_embedded_envelope_sends_file_signer_metadata_expiry_and_credentials(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    envelope = _open(signer)

    create, sign_url = fake.received
    assert (create.method, create.path) == ("POST", "/v3/signature_request/create_embedded")
    assert create.headers["Authorization"] == "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    (upload,) = create.files
    assert (upload.field, upload.filename, upload.content_type, upload.content) == (
        "files[0]",
        "purchase-agreement.pdf",
        "application/pdf",
        PDF,
    )
    assert json.loads(create.form["signers"]) == [{"name": "John Doe", "email_address": "john@example.com"}]
    assert json.loads(create.form["metadata"]) == {"order_id": "ord_abc123"}
    assert create.form["client_id"] == CLIENT_ID
    assert create.form["test_mode"].lower() == "true"
    assert create.form["allow_decline"].lower() == "true"
    # Asked for 10:30 tomorrow (24 h, the policy's TTL): that is under the provider's one-day
    # minimum by the time it arrives, and it rounds down to the hour, so the adapter sends 11:00.
    assert int(create.form["expires_at"]) == int(datetime(2025, 12, 24, 11, tzinfo=UTC).timestamp())

    request = fake.only()
    assert envelope.id == request.signature_request_id
    assert envelope.provider == "dropbox_sign"
    assert envelope.expires_at == datetime(2025, 12, 24, 11, tzinfo=UTC)
    assert envelope.expires_at >= SPEC_NOW + timedelta(hours=24)  # never shorter than asked
    assert (sign_url.method, sign_url.path) == ("GET", f"/v3/embedded/sign_url/{request.signatures[0].signature_id}")
    assert envelope.signature_url.startswith("https://app.hellosign.com/editor/embeddedSign?signature_id=")


def test_expiry_on_the_hour_and_over_a_day_ahead_is_sent_as_asked(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    wanted = datetime(2025, 12, 26, 15, tzinfo=UTC)
    envelope = _open(signer, expires_at=wanted)
    assert int(fake.received[0].form["expires_at"]) == int(wanted.timestamp())
    assert envelope.expires_at == wanted


def test_expiry_beyond_ninety_days_is_refused_without_a_request(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer, expires_at=SPEC_NOW + timedelta(days=91))
    assert _reason(error) == "provider_refused"
    assert fake.received == []


def test_without_a_client_id_the_request_is_sent_by_email(
    email_signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    envelope = _open(email_signer)
    (create,) = fake.received
    assert create.path == "/v3/signature_request/send"
    assert "client_id" not in create.form
    assert envelope.signature_url == f"https://app.hellosign.com/sign/{envelope.id}"


def test_a_fresh_embedded_url_can_be_asked_for(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    fresh = signer.sign_url(envelope.id)
    assert fresh.startswith("https://app.hellosign.com/editor/embeddedSign?")
    assert fresh != envelope.signature_url  # single-use links: each one is new
    fake.sign(envelope.id)
    with pytest.raises(SigningNotAvailable):
        signer.sign_url(envelope.id)


def test_sign_url_needs_embedded_mode(email_signer: DropboxSignSigner) -> None:
    envelope = _open(email_signer)
    with pytest.raises(SigningNotAvailable):
        email_signer.sign_url(envelope.id)


# -- the signed document -----------------------------------------------------------------------


def test_signed_document_only_once_signed(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    assert signer.signed_document(envelope.id) is None  # the files endpoint would give the unsigned PDF
    final = fake.sign(envelope.id)
    assert signer.signed_document(envelope.id) == final
    download = fake.received[-1]
    assert (download.path, download.query) == (f"/v3/signature_request/files/{envelope.id}", {"file_type": ["pdf"]})


def test_signed_document_is_none_while_files_are_being_prepared(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    envelope = _open(signer)
    final = fake.sign(envelope.id, files_ready=False)
    assert signer.signed_document(envelope.id) is None  # 409 from the API
    fake.files_ready(envelope.id)
    assert signer.signed_document(envelope.id) == final


# -- callbacks ---------------------------------------------------------------------------------


def test_valid_viewed_callback_is_accepted(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    fake.view(envelope.id)
    body, headers = fake.callback(envelope.id, "signature_request_viewed")
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    callback = signer.verify_callback(body, headers)
    assert (callback.envelope_id, callback.order_id, callback.event) == (envelope.id, "ord_abc123", "viewed")
    assert callback.occurred_at == SPEC_NOW
    assert callback.signer_email == "john@example.com"
    assert (callback.ip_address, callback.user_agent) == ("", "")


def test_signed_callback_is_confirmed_with_the_api(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    fake.sign(envelope.id)
    body, headers = fake.callback(envelope.id, "signature_request_all_signed")
    before = len(fake.received)
    event = signer.verify_event(body, headers)
    assert event.event_type == "signature_request_all_signed"
    assert (event.callback.event, event.callback.order_id, event.callback.signer_email) == (
        "signed",
        "ord_abc123",
        "john@example.com",
    )
    assert fake.received[before].path == f"/v3/signature_request/{envelope.id}"  # read back


def test_declined_callback_is_confirmed_with_the_api(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    body, headers = fake.callback(envelope.id, "signature_request_declined")
    with pytest.raises(SigningNotAvailable) as error:  # not declined at the provider (yet)
        signer.verify_callback(body, headers)
    assert _reason(error) == "unconfirmed"
    fake.decline(envelope.id)
    assert signer.verify_callback(body, headers).event == "declined"


def test_forged_hash_is_rejected(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    fake.sign(envelope.id)
    for body, headers in (
        fake.callback(envelope.id, "signature_request_all_signed", api_key="someone-elses-key"),
        fake.callback(envelope.id, "signature_request_all_signed", event_hash="0" * 64),
        fake.callback(envelope.id, "signature_request_all_signed", event_hash=""),
    ):
        with pytest.raises(SigningNotAvailable) as error:
            signer.verify_callback(body, headers)
        assert _reason(error) == "forged"


def test_a_genuine_hash_on_another_event_type_is_rejected(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)

    def promote(payload: dict[str, Any]) -> None:
        payload["event"]["event_type"] = "signature_request_all_signed"  # "viewed" becomes "signed"

    body, headers = fake.callback(envelope.id, "signature_request_viewed", mutate=promote)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "forged"


def test_a_genuine_signed_event_replayed_for_another_request_is_rejected(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    """The event hash covers only time and type: the request id in the payload can be swapped.
    The adapter reads the named request back and finds it unsigned."""
    signed = _open(signer, order_id="ord_signed")
    other = _open(signer, order_id="ord_other")
    fake.sign(signed.id)

    def retarget(payload: dict[str, Any]) -> None:
        payload["signature_request"]["signature_request_id"] = other.id
        payload["signature_request"]["metadata"] = {"order_id": "ord_other"}

    body, headers = fake.callback(signed.id, "signature_request_all_signed", mutate=retarget)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "unconfirmed"

    def relabel(payload: dict[str, Any]) -> None:
        payload["signature_request"]["metadata"] = {"order_id": "ord_other"}  # signed request, other order

    body, headers = fake.callback(signed.id, "signature_request_all_signed", mutate=relabel)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "unconfirmed"


def test_a_signed_event_for_a_request_unknown_to_the_provider_is_rejected(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    envelope = _open(signer)
    fake.sign(envelope.id)

    def unknown(payload: dict[str, Any]) -> None:
        payload["signature_request"]["signature_request_id"] = "ab" * 20

    body, headers = fake.callback(envelope.id, "signature_request_all_signed", mutate=unknown)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "unconfirmed"


@pytest.mark.parametrize(
    "offset", [CALLBACK_TOLERANCE + timedelta(seconds=1), -CALLBACK_TOLERANCE - timedelta(seconds=1)]
)
def test_stale_or_future_callbacks_are_rejected(
    signer: DropboxSignSigner, fake: FakeDropboxSign, offset: timedelta
) -> None:
    envelope = _open(signer)
    body, headers = fake.callback(envelope.id, "signature_request_viewed", at=SPEC_NOW - offset)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "stale"


def test_a_replay_is_rejected_once_the_tolerance_has_passed(
    signer: DropboxSignSigner, fake: FakeDropboxSign, clock: FixedClock
) -> None:
    envelope = _open(signer)
    body, headers = fake.callback(envelope.id, "signature_request_viewed")
    clock.advance(CALLBACK_TOLERANCE)
    signer.verify_callback(body, headers)  # exactly at the edge: still accepted
    clock.advance(timedelta(seconds=1))
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "stale"


def test_duplicates_share_a_fingerprint(signer: DropboxSignSigner, fake: FakeDropboxSign, clock: FixedClock) -> None:
    envelope = _open(signer)
    first = signer.verify_event(*fake.callback(envelope.id, "signature_request_viewed"))
    again = signer.verify_event(*fake.callback(envelope.id, "signature_request_viewed"))  # a retry
    clock.advance(timedelta(seconds=30))
    later = signer.verify_event(*fake.callback(envelope.id, "signature_request_viewed"))
    assert first.fingerprint == again.fingerprint == callback_fingerprint(again.callback)
    assert later.fingerprint != first.fingerprint


def test_other_events_are_mapped_not_refused(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    sent = signer.verify_callback(*fake.callback(envelope.id, "signature_request_sent"))
    assert (sent.event, sent.order_id) == ("sent", "ord_abc123")
    test = signer.verify_callback(*fake.callback(None, "callback_test"))  # when the URL is configured
    assert (test.event, test.envelope_id, test.order_id) == ("callback_test", "", "")
    # A type this adapter does not know (a future one) passes through under its own name.
    unknown = signer.verify_callback(*fake.callback(envelope.id, "signature_request_prepared"))
    assert unknown.event == "signature_request_prepared"


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_urlencoded_and_raw_json_callbacks_are_accepted(
    signer: DropboxSignSigner, fake: FakeDropboxSign, encoding: str
) -> None:
    envelope = _open(signer)
    callback = signer.verify_callback(*fake.callback(envelope.id, "signature_request_viewed", encoding=encoding))
    assert callback.event == "viewed"


def test_headers_are_matched_case_insensitively(signer: DropboxSignSigner, fake: FakeDropboxSign) -> None:
    envelope = _open(signer)
    body, headers = fake.callback(envelope.id, "signature_request_viewed")
    lowered = {k.lower(): v for k, v in headers.items()}
    assert signer.verify_callback(body, lowered).event == "viewed"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/json"),
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (b'{"event": "x"}', "application/json"),
        (b'{"event": {"event_time": "1", "event_type": "x"}}', "application/json"),
        (b'{"event": {"event_time": "soon", "event_type": "a", "event_hash": "b"}}', "application/json"),
        (
            b"--b\r\nContent-Disposition: form-data; name=other\r\n\r\n{}\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
        (b"other=1", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),  # nested too deep for the decoder
        (
            b"--b\r\nContent-Disposition: form-data; name=json\r\n\r\n{\xff}\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
)
def test_malformed_callbacks_are_rejected(signer: DropboxSignSigner, body: bytes, content_type: str) -> None:
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, {"Content-Type": content_type})
    assert _reason(error) == "malformed"


# -- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_failures_are_signing_not_available(
    signer: DropboxSignSigner, fake: FakeDropboxSign, status: int
) -> None:
    fake.fail_next(status)
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer)
    assert _reason(error) == "provider_unavailable"
    assert len(fake.received) == 1  # a POST is never repeated by the adapter


def test_failure_reading_back_a_signed_event_is_unavailable_not_forged(
    signer: DropboxSignSigner, fake: FakeDropboxSign
) -> None:
    envelope = _open(signer)
    fake.sign(envelope.id)
    body, headers = fake.callback(envelope.id, "signature_request_all_signed")
    fake.fail_next(502)
    with pytest.raises(SigningNotAvailable) as error:
        signer.verify_callback(body, headers)
    assert _reason(error) == "provider_unavailable"  # the endpoint answers 5xx: Dropbox Sign retries
    assert signer.verify_callback(body, headers).event == "signed"


def test_unreachable_provider_is_signing_not_available(clock: FixedClock) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    signer = DropboxSignSigner(API_KEY, api_base=f"http://127.0.0.1:{port}/v3", client_id=CLIENT_ID, clock=clock)
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer)
    assert _reason(error) == "provider_unavailable"


def test_wrong_api_key_is_refused_and_never_logged(
    fake: FakeDropboxSign, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-key-that-must-not-leak-0123456789"
    signer = DropboxSignSigner(secret, api_base=fake.url, client_id=CLIENT_ID, clock=clock)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer)
    assert _reason(error) == "provider_refused"
    assert error.value.details["status"] == 401
    assert fake.unauthorized == 1
    assert secret not in str(error.value)
    assert secret not in repr(error.value.details)
    assert secret not in caplog.text
    assert API_KEY not in caplog.text
    assert secret not in repr(signer)
    # The SDK's exception (its text quotes response headers and bodies) is not chained.
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


def test_bad_request_is_refused(fake: FakeDropboxSign, clock: FixedClock) -> None:
    signer = DropboxSignSigner(API_KEY, api_base=fake.url, client_id="not-our-app", clock=clock)
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer)
    assert (_reason(error), error.value.details["status"], error.value.details["error_name"]) == (
        "provider_refused",
        400,
        "bad_request",
    )


def test_an_api_key_is_required() -> None:
    with pytest.raises(ValueError, match="API key"):
        DropboxSignSigner("")


def test_a_request_outside_the_apis_limits_is_refused_before_sending(fake: FakeDropboxSign, clock: FixedClock) -> None:
    signer = DropboxSignSigner(API_KEY, api_base=fake.url, client_id=CLIENT_ID, clock=clock, title="T" * 300)
    with pytest.raises(SigningNotAvailable) as error:
        _open(signer)
    assert _reason(error) == "provider_refused"
    assert fake.received == []


def test_envelope_state_reads_the_request(signer: DropboxSignSigner, fake: FakeDropboxSign, clock: FixedClock) -> None:
    envelope = _open(signer)
    state = signer.envelope_state(envelope.id)
    assert state is not None and (state.outcome, state.order_id, state.decided_at) == ("open", "ord_abc123", None)
    clock.advance(timedelta(minutes=3))
    fake.sign(envelope.id)
    signed = signer.envelope_state(envelope.id)
    assert signed is not None
    assert (signed.outcome, signed.signer_email) == ("signed", "john@example.com")
    assert signed.decided_at == clock.now().replace(microsecond=0)
    other = _open(signer)
    fake.decline(other.id)
    declined = signer.envelope_state(other.id)
    assert declined is not None and declined.outcome == "declined"
