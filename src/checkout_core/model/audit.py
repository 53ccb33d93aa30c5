"""The signing audit trail: every signing event of an order, hash-chained.

Each entry's hash covers its own fields and the previous entry's hash, so editing, removing or
reordering any entry breaks every hash after it. Verification recomputes the chain."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

import attrs

GENESIS_HASH = "0" * 64


class AuditAction(enum.StrEnum):
    """What happened in the signing process."""

    CREATED = "created"
    SENT = "sent"
    VIEWED = "viewed"
    CONSENTED = "consented"
    SIGNED = "signed"
    DECLINED = "declined"
    #: The dealer's representative countersigned the agreement the buyer signed.
    COUNTERSIGNED = "countersigned"


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One signing event with who, when, from where, and the document's SHA-256."""

    order_id: str
    sequence: int
    action: AuditAction
    occurred_at: datetime
    envelope_id: str
    signer_name: str
    signer_email: str
    ip_address: str
    user_agent: str
    document_sha256: str
    prev_hash: str
    entry_hash: str

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field but the hash, as sorted compact JSON."""
        fields = {
            "order_id": self.order_id,
            "sequence": self.sequence,
            "action": self.action.value,
            "occurred_at": self.occurred_at.isoformat(),
            "envelope_id": self.envelope_id,
            "signer_name": self.signer_name,
            "signer_email": self.signer_email,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "document_sha256": self.document_sha256,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def computed_hash(self) -> str:
        """SHA-256 of :meth:`canonical`."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def after(
        cls,
        previous: AuditEntry | None,
        *,
        order_id: str,
        action: AuditAction,
        occurred_at: datetime,
        envelope_id: str,
        signer_name: str,
        signer_email: str,
        ip_address: str,
        user_agent: str,
        document_sha256: str,
    ) -> AuditEntry:
        """The next entry of an order's chain (``previous`` None starts the chain)."""
        draft = cls(
            order_id=order_id,
            sequence=0 if previous is None else previous.sequence + 1,
            action=action,
            occurred_at=occurred_at,
            envelope_id=envelope_id,
            signer_name=signer_name[:200],
            signer_email=signer_email[:254],
            ip_address=ip_address[:64],
            user_agent=user_agent[:512],
            document_sha256=document_sha256,
            prev_hash=GENESIS_HASH if previous is None else previous.entry_hash,
            entry_hash="",
        )
        return attrs.evolve(draft, entry_hash=draft.computed_hash())


def chain_problems(entries: Sequence[AuditEntry]) -> list[str]:
    """Everything wrong with an order's chain, in order; empty when it is intact."""
    problems: list[str] = []
    previous_hash = GENESIS_HASH
    for expected_sequence, entry in enumerate(entries):
        where = f"entry {entry.sequence} ({entry.action.value})"
        if entry.sequence != expected_sequence:
            problems.append(f"{where}: sequence {entry.sequence}, expected {expected_sequence} (missing entry?)")
        if entry.prev_hash != previous_hash:
            problems.append(f"{where}: does not follow the previous entry (removed or reordered?)")
        if entry.computed_hash() != entry.entry_hash:
            problems.append(f"{where}: content does not match its hash (edited?)")
        previous_hash = entry.entry_hash
    return problems
