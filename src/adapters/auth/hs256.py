"""Compact JWS with HMAC-SHA256 (RFC 7515/7519), the one algorithm our tokens use, on the
standard library alone.

PyJWT imports the ``cryptography`` package for its RSA, EC and EdDSA algorithms: about 9 MB and
50 modules in every API worker, for an algorithm we never accept. This module does what PyJWT
did for us — strict base64url, the ``alg`` header pinned to HS256 (``none`` and every other
algorithm refused before any key is used), a constant-time signature comparison, a JSON object
as payload — and nothing else. Claim rules (issuer, audience, times, lifetime) stay in
:mod:`adapters.auth.jwt_tokens`. The tests check both directions against PyJWT itself."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
from typing import Any

from checkout_core.ports.tokens import InvalidToken

_HEADER = b'{"alg":"HS256","typ":"JWT"}'
#: Unpadded base64url only: a token whose segments hold anything else is refused, so one token
#: has exactly one text (no ignored characters, no padding variants).
_SEGMENT = re.compile(rb"^[A-Za-z0-9_-]*$")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
#: Far above any token we issue; bounds the work an anonymous caller can ask for.
MAX_TOKEN_LENGTH = 8192


def _b64encode(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(bytes.maketrans(b"+/", b"-_")).rstrip(b"=")


def _b64decode(segment: bytes) -> bytes:
    if not _SEGMENT.match(segment) or len(segment) % 4 == 1:
        raise InvalidToken("Invalid token encoding")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + b"=" * (-len(segment) % 4), strict_mode=True)
    except binascii.Error:
        raise InvalidToken("Invalid token encoding") from None


def _signature(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def encode(claims: dict[str, Any], secret: str) -> str:
    """The compact serialisation of ``claims`` signed with ``secret``."""
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=True).encode()
    signing_input = _b64encode(_HEADER) + b"." + _b64encode(payload)
    return (signing_input + b"." + _b64encode(_signature(secret.encode(), signing_input))).decode("ascii")


def decode(token: str, secret: str) -> dict[str, Any]:
    """The claims of ``token`` if its header says HS256 and its signature is ``secret``'s;
    :class:`InvalidToken` otherwise. Claims are not checked here."""
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("Invalid token")
    parts = token.encode("ascii").split(b".")
    if len(parts) != 3:
        raise InvalidToken("Not enough segments" if len(parts) < 3 else "Too many segments")
    header_segment, payload_segment, signature_segment = parts
    try:
        header = json.loads(_b64decode(header_segment))
    except (ValueError, RecursionError):
        raise InvalidToken("Invalid header") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("The specified alg value is not allowed")
    if "crit" in header:  # RFC 7515 4.1.11: extensions we do not understand must be refused
        raise InvalidToken("Unsupported critical header")
    expected = _signature(secret.encode(), header_segment + b"." + payload_segment)
    if not hmac.compare_digest(expected, _b64decode(signature_segment)):
        raise InvalidToken("Signature verification failed")
    try:
        claims = json.loads(_b64decode(payload_segment))
    except (ValueError, RecursionError):
        raise InvalidToken("Invalid payload") from None
    if not isinstance(claims, dict):
        raise InvalidToken("Invalid payload")
    return claims
