"""Bearer tokens: HS256 JWTs (:mod:`adapters.auth.hs256`) carrying the caller's id (``sub``) and ``role``.

Checked: the signature, ``iss``, ``aud``, ``exp``, ``iat``, ``nbf`` (PyJWT's rules, which these
replaced), and beyond them a token is refused when a time claim is not a JSON number (PyJWT
would take ``"exp": "99999999999"``, a string, as an integer) or when its lifetime, ``exp`` −
``iat``, is above ``max_ttl``: a token leaked from a log or a browser must not stay usable for
years because whoever minted it chose so."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from adapters.auth import hs256
from checkout_core.ports.tokens import InvalidToken as InvalidToken  # re-exported: callers catch it from here too
from checkout_core.usecases.context import Actor, Role

ISSUER = "checkout"
AUDIENCE = "checkout-api"

#: Verified tokens remembered per :class:`JwtTokens`; a client sends the same token with every
#: request for hours, so a few thousand cover the active callers of one process.
DEFAULT_CACHE_SIZE = 4096

#: The longest lifetime a token may have unless the caller says otherwise
#: (``CHECKOUT_MAX_TOKEN_TTL_HOURS`` in the app).
DEFAULT_MAX_TTL = timedelta(hours=24)

_TIME_CLAIMS = ("exp", "iat", "nbf")


@attrs.frozen
class _Verified:
    """What a verified token grants, and the window of time in which it grants it."""

    actor: Actor
    #: The latest of ``iat`` and ``nbf``: a token is refused before either.
    not_before: int
    expires: int


class JwtTokens:
    """Issues and verifies tokens with one shared secret (:class:`~checkout_core.ports.tokens.TokenService`).

    Verification is remembered: a token that passed the signature and claim checks once is
    found again by its exact text in a bounded, thread-safe LRU cache, so the same caller's
    next requests skip the base64 decoding and HMAC. Only the time window is checked again,
    on every use and against ``now`` (wall-clock seconds), so
    a remembered token stops working the moment it expires. Tokens that fail verification
    are never remembered."""

    def __init__(
        self,
        secret: str,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        now: Callable[[], float] = time.time,
        max_ttl: timedelta = DEFAULT_MAX_TTL,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        if cache_size < 0:
            raise ValueError("the token cache size cannot be negative")
        if max_ttl <= timedelta(0):
            raise ValueError("the maximum token lifetime must be positive")
        self._secret = secret
        self.max_ttl = max_ttl
        self._max_lifetime = int(max_ttl.total_seconds())
        self._now = now
        self._cache_size = cache_size
        # The key is the whole token, signature included: another signature is another key,
        # so a tampered token can only ever reach the full verification.
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        # Handlers and middleware call verify from the event loop and from worker threads.
        self._lock = threading.Lock()

    def issue(self, subject: str, role: Role, *, now: datetime, ttl: timedelta = timedelta(hours=12)) -> str:
        """A token for ``subject`` with ``role``, valid for ``ttl`` (at most ``max_ttl``)."""
        if role is Role.SYSTEM:
            raise ValueError("system tokens are not issued")
        if ttl > self.max_ttl:
            raise ValueError(f"a token may be valid for at most {self.max_ttl}, not {ttl}")
        claims = {
            "sub": subject,
            "role": role.value,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return hs256.encode(claims, self._secret)

    def verify(self, token: str) -> Actor:
        """The caller the token names; InvalidToken if it is not valid now."""
        with self._lock:
            verified = self._cache.get(token)
            if verified is not None:
                self._cache.move_to_end(token)
        if verified is None:
            verified = self._decode(token)
            _check_window(verified, self._now())
            self._remember(token, verified)
            return verified.actor
        try:
            _check_window(verified, self._now())
        except InvalidToken:
            # Mostly expired, and an expired token never becomes valid again: make room now
            # rather than at eviction (one not yet valid is simply verified afresh next time).
            with self._lock:
                self._cache.pop(token, None)
            raise
        return verified.actor

    def _decode(self, token: str) -> _Verified:
        claims: dict[str, Any] = hs256.decode(token, self._secret)
        missing = [name for name in ("sub", "role", "exp", "iat") if name not in claims]
        if missing:
            raise InvalidToken(f'Token is missing the "{missing[0]}" claim')
        if claims.get("iss") != ISSUER:
            raise InvalidToken("Invalid issuer")
        audience = claims.get("aud")
        if audience != AUDIENCE and not (isinstance(audience, list) and AUDIENCE in audience):
            raise InvalidToken("Invalid audience")
        for name in _TIME_CLAIMS:
            if name in claims and not _is_number(claims[name]):
                raise InvalidToken(f"the {name} claim is not a number")
        subject = claims.get("sub")
        role = claims.get("role")
        if not isinstance(subject, str) or not subject or len(subject) > 100:
            raise InvalidToken("bad subject")
        if role not in (Role.CUSTOMER.value, Role.ADVISOR.value):
            raise InvalidToken("bad role")
        # Numbers, checked above; truncated as PyJWT truncated them.
        issued, expires = int(claims["iat"]), int(claims["exp"])
        # ``iat`` is required and one in the future is refused (the window below), so ``exp``
        # is at most ``max_ttl`` away from now.
        if expires - issued > self._max_lifetime:
            raise InvalidToken("the token's lifetime is above the maximum")
        not_before = issued
        if "nbf" in claims:
            not_before = max(not_before, int(claims["nbf"]))
        return _Verified(Actor(subject, Role(role)), not_before=not_before, expires=expires)

    def _remember(self, token: str, verified: _Verified) -> None:
        if self._cache_size == 0:
            return
        with self._lock:
            self._cache[token] = verified
            self._cache.move_to_end(token)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def _is_number(value: object) -> bool:
    # A JSON number (RFC 7519's NumericDate), not a string of digits, not true/false.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_window(verified: _Verified, now: float) -> None:
    # PyJWT's rules, without leeway: expired at ``exp`` itself, valid from ``iat``/``nbf``.
    if verified.expires <= now:
        raise InvalidToken("Signature has expired")
    if verified.not_before > now:
        raise InvalidToken("The token is not yet valid")
