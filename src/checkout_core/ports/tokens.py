"""Bearer tokens: who a request comes from (the HTTP API verifies, ``checkout tokens issue`` issues)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from checkout_core.usecases.context import Actor, Role


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by us."""


class TokenService(Protocol):
    """Issues tokens naming a caller and a role, and verifies them (adapter: signed JWTs)."""

    #: The longest lifetime a token may have; longer ones are neither issued nor accepted.
    max_ttl: timedelta

    def issue(self, subject: str, role: Role, *, now: datetime, ttl: timedelta = timedelta(hours=12)) -> str:
        """A token for ``subject`` with ``role``, valid from ``now`` for ``ttl`` (at most ``max_ttl``).
        ``now`` must be the wall clock: verifiers check the token's times against real time."""
        ...

    def verify(self, token: str) -> Actor:
        """The caller the token names; :class:`InvalidToken` if it is not valid now."""
        ...
