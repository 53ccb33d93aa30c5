"""The built-in signer: the app itself serves the signing page (review, consent, typed name).

The envelope id is a 192-bit random token and is the only secret in the link, so links are
unguessable; they expire at ``expires_at`` and work once."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

from checkout_core.errors import SigningNotAvailable
from checkout_core.ports.documents import Envelope, EnvelopeState, SigningCallback


class BuiltinSigner:
    """Creates signing links to this app's own ``/sign/{order}/{envelope}`` page."""

    provider = "builtin"

    def __init__(self, public_url: str) -> None:
        self._base = public_url.rstrip("/")

    def create_envelope(
        self,
        *,
        order_id: str,
        document: bytes,
        signer_name: str,
        signer_email: str,
        expires_at: datetime,
    ) -> Envelope:
        """A new link; the page itself completes the signing through the core."""
        envelope_id = "env_" + secrets.token_urlsafe(24)
        return Envelope(
            id=envelope_id,
            signature_url=f"{self._base}/sign/{order_id}/{envelope_id}",
            expires_at=expires_at,
            provider=self.provider,
        )

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> SigningCallback:
        """The built-in signer has no provider callbacks; anything claiming to be one is refused."""
        raise SigningNotAvailable("the built-in signer accepts no callbacks")

    def signed_document(self, envelope_id: str) -> bytes | None:
        """The built-in signer stamps the copy itself (through the SignedCopyMaker)."""
        return None

    def envelope_state(self, envelope_id: str) -> EnvelopeState | None:
        """Nothing to ask: the signing page writes its outcome to our database itself."""
        return None
