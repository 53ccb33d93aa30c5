"""The standard-library HS256 codec against PyJWT (the reference it replaced) and hostile tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from adapters.auth import hs256
from checkout_core.ports.tokens import InvalidToken

SECRET = "s" * 40
CLAIMS = {"sub": "cus_1", "role": "customer", "iss": "checkout", "aud": "checkout-api", "iat": 1, "exp": 2}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: Any, payload: Any, secret: str = SECRET) -> str:
    """A token with any header, signed like a real one (so only the header can be at fault)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_our_tokens_are_pyjwt_tokens_and_back() -> None:
    ours = hs256.encode(CLAIMS, SECRET)
    options = {"verify_exp": False, "verify_iat": False}
    assert jwt.decode(ours, SECRET, algorithms=["HS256"], audience="checkout-api", options=options) == CLAIMS
    theirs = jwt.encode(CLAIMS, SECRET, algorithm="HS256")
    assert hs256.decode(theirs, SECRET) == CLAIMS


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "HS512", "typ": "JWT"},
        {"alg": "RS256", "typ": "JWT"},
        {"typ": "JWT"},
        {"alg": "HS256", "crit": ["exp"]},
        ["alg", "HS256"],
    ],
)
def test_any_header_but_hs256_is_refused_even_when_signed(header: Any) -> None:
    with pytest.raises(InvalidToken):
        hs256.decode(_token(header, CLAIMS), SECRET)


def test_unsigned_tampered_and_foreign_tokens_are_refused() -> None:
    token = hs256.encode(CLAIMS, SECRET)
    head, payload, signature = token.split(".")
    forged = _b64(json.dumps({**CLAIMS, "role": "advisor"}).encode())
    unsigned = _b64(json.dumps({"alg": "none"}).encode())
    for bad in (
        f"{unsigned}.{payload}.",
        f"{head}.{forged}.{signature}",
        hs256.encode(CLAIMS, "t" * 40),
        f"{head}.{payload}",
        f"{token}.x",
        "",
    ):
        with pytest.raises(InvalidToken):
            hs256.decode(bad, SECRET)


def test_one_token_has_one_text() -> None:
    token = hs256.encode(CLAIMS, SECRET)
    head, payload, signature = token.split(".")
    for variant in (
        f"{head}.{payload}.{signature}==",  # padding
        f"{head}.{payload}.{signature[:-1]}\n{signature[-1]}",  # characters base64 would skip
        f"{head}.{payload}.{signature.replace('-', '+')}" if "-" in signature else f"{head}=.{payload}.{signature}",
        f"{head}.{payload}.{signature}é",
        token + "A" * hs256.MAX_TOKEN_LENGTH,
    ):
        with pytest.raises(InvalidToken):
            hs256.decode(variant, SECRET)


def test_a_payload_must_be_a_json_object() -> None:
    with pytest.raises(InvalidToken):
        hs256.decode(_token({"alg": "HS256"}, ["sub"]), SECRET)
