"""Bearer tokens: HS256 JWTs (PyJWT) carrying the caller's id (``sub``) and ``role``."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from checkout_core.usecases.context import Actor, Role

ISSUER = "checkout"
AUDIENCE = "checkout-api"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by us."""


class JwtTokens:
    """Issues and verifies tokens with one shared secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret

    def issue(self, subject: str, role: Role, *, now: datetime, ttl: timedelta = timedelta(hours=12)) -> str:
        """A token for ``subject`` with ``role``, valid for ``ttl``."""
        if role is Role.SYSTEM:
            raise ValueError("system tokens are not issued")
        claims = {
            "sub": subject,
            "role": role.value,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Actor:
        """The caller the token names; InvalidToken if it is not valid now."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["sub", "role", "exp", "iat"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        subject = claims.get("sub")
        role = claims.get("role")
        if not isinstance(subject, str) or not subject or len(subject) > 100:
            raise InvalidToken("bad subject")
        if role not in (Role.CUSTOMER.value, Role.ADVISOR.value):
            raise InvalidToken("bad role")
        return Actor(subject, Role(role))
