"""An offline payment gateway that behaves like Stripe in test mode.

It understands Stripe's documented test tokens and PaymentMethod ids, declines the decline
cards with Stripe's decline codes, and honours idempotency keys as Stripe does (same key, same
result; same key with other parameters, an error). Nothing leaves the machine.

Its "gateway side" records live in a SQLite database of its own (standard library ``sqlite3``):
in memory by default, or a file in the data directory so that the server, the CLI and job
workers of one embedded installation see the same charges, as they would with Stripe."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from adapters.system.files import create_private_file
from checkout_core.errors import PaymentGatewayUnavailable, RefundNotAllowed, ValidationFailed
from checkout_core.money import Money
from checkout_core.ports.clock import Clock
from checkout_core.ports.payments import (
    ChargeResult,
    ChargeStatus,
    GatewayRecord,
    RefundOutcome,
    RefundResult,
)

#: token → (brand, last4) for cards that succeed.
SUCCEEDING: Mapping[str, tuple[str, str]] = {
    "tok_visa": ("visa", "4242"),
    "pm_card_visa": ("visa", "4242"),
    "tok_visa_debit": ("visa", "5556"),
    "pm_card_visa_debit": ("visa", "5556"),
    "tok_mastercard": ("mastercard", "4444"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "tok_amex": ("amex", "8431"),
    "pm_card_amex": ("amex", "8431"),
    "tok_ca": ("visa", "0000"),
    "pm_card_ca": ("visa", "0000"),
}

#: token → (decline code, message, last4) for cards that decline.
DECLINING: Mapping[str, tuple[str, str, str]] = {
    "tok_chargeDeclined": ("generic_decline", "Your card was declined.", "0002"),
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined.", "0002"),
    "tok_chargeDeclinedInsufficientFunds": ("insufficient_funds", "Your card has insufficient funds.", "9995"),
    "pm_card_chargeDeclinedInsufficientFunds": ("insufficient_funds", "Your card has insufficient funds.", "9995"),
    "tok_chargeDeclinedLostCard": ("lost_card", "Your card was declined.", "9987"),
    "pm_card_chargeDeclinedLostCard": ("lost_card", "Your card was declined.", "9987"),
    "tok_chargeDeclinedStolenCard": ("stolen_card", "Your card was declined.", "9979"),
    "pm_card_chargeDeclinedStolenCard": ("stolen_card", "Your card was declined.", "9979"),
    "tok_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired.", "0069"),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired.", "0069"),
    "tok_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "Your card's security code is incorrect.", "0127"),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "Your card's security code is incorrect.", "0127"),
    "tok_chargeDeclinedProcessingError": ("processing_error", "An error occurred while processing your card.", "0119"),
    "pm_card_chargeDeclinedProcessingError": (
        "processing_error",
        "An error occurred while processing your card.",
        "0119",
    ),
    "pm_card_chargeCustomerFail": ("generic_decline", "Your card was declined.", "0341"),
}


_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    ref TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE NOT NULL, fingerprint TEXT NOT NULL,
    ledger_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
    decline_code TEXT, message TEXT, brand TEXT, last4 TEXT, refunded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    ref TEXT PRIMARY KEY, idempotency_key TEXT UNIQUE NOT NULL, fingerprint TEXT NOT NULL,
    charge_ref TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


class SandboxGateway:
    """Stripe-like test gateway, offline. ``fail_next`` / ``fail_after_charge`` simulate outages."""

    name = "sandbox"

    def __init__(self, clock: Clock, path: Path | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        if path is not None:
            create_private_file(path)  # 0600, and its -wal/-shm with it: the charges of every customer
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        if path is not None:
            # WAL lets readers run beside the one writer, and commits without a full fsync dance
            # (measured: docs/payments.md, "Sandbox and Stripe").
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.fail_next = 0  # that many calls raise PaymentGatewayUnavailable (tests)
        self.fail_after_charge = 0  # that many charges are made but their answer is "lost" (tests)
        self.calls = 0

    def close(self) -> None:
        """Release the database connection."""
        self._db.close()

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PaymentGatewayUnavailable("sandbox gateway unavailable (simulated)")

    @staticmethod
    def _charge_result(row: sqlite3.Row | tuple[object, ...]) -> ChargeResult:
        ref, amount, currency, status, decline_code, message, brand, last4 = row
        charge_status = ChargeStatus(str(status))
        return ChargeResult(
            ref=str(ref),
            status=charge_status,
            amount=Money(int(str(amount)), str(currency)),
            decline_code=None if decline_code is None else str(decline_code),
            message=None if message is None else str(message),
            card_brand=None if brand is None else str(brand),
            card_last4=None if last4 is None else str(last4),
            charge_id=str(ref).replace("pi_", "ch_", 1) if charge_status is ChargeStatus.SUCCEEDED else None,
        )

    _CHARGE_COLUMNS = "ref, amount, currency, status, decline_code, message, brand, last4"

    def charge(
        self,
        *,
        amount: Money,
        source: str,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """Charge a test token; see the module docstring."""
        fingerprint = f"{amount.cents}:{amount.currency}:{source}"
        ref = "pi_sbx" + secrets.token_hex(12)
        brand, last4 = SUCCEEDING.get(source, (None, None))
        decline_code = message = None
        status = ChargeStatus.SUCCEEDED
        if brand is None:
            if source in DECLINING:
                decline_code, message, last4 = DECLINING[source]
                brand, status = "visa", ChargeStatus.FAILED
            else:
                # Stripe answers an unknown token with "No such token": a decline to the buyer.
                decline_code, message, status = "invalid_token", "The payment token is not valid.", ChargeStatus.FAILED
        with self._lock:
            self._maybe_fail()
            # One statement, atomic on its own (autocommit): the key's UNIQUE index decides
            # between a new charge and an earlier one, also across processes sharing the file.
            # A first charge, the usual call, costs one statement instead of four.
            made = amount.cents > 0 and (
                self._db.execute(
                    "INSERT INTO charges (ref, idempotency_key, fingerprint, ledger_id, amount, currency, status,"
                    " decline_code, message, brand, last4, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (idempotency_key) DO NOTHING",
                    (
                        ref,
                        idempotency_key,
                        fingerprint,
                        metadata.get("ledger_id", ""),
                        amount.cents,
                        amount.currency,
                        status.value,
                        decline_code,
                        message,
                        brand,
                        last4,
                        self._clock.now().isoformat(),
                    ),
                ).rowcount
                == 1
            )
            if not made:
                row = self._db.execute(
                    f"SELECT fingerprint, {self._CHARGE_COLUMNS} FROM charges WHERE idempotency_key = ?",  # noqa: S608 - a constant column list; values are bound
                    (idempotency_key,),
                ).fetchone()
                if row is None:  # only an amount that is not positive gets here without a charge
                    raise ValidationFailed("amount must be positive", field="amount")
                if row[0] != fingerprint:
                    raise ValidationFailed("idempotency key reused with different parameters")
                return self._charge_result(row[1:])
            if self.fail_after_charge > 0:
                self.fail_after_charge -= 1
                raise PaymentGatewayUnavailable("connection lost after the charge (simulated)")
            return self._charge_result(
                (ref, amount.cents, amount.currency, status.value, decline_code, message, brand, last4)
            )

    def find_charge(self, *, idempotency_key: str, ledger_id: str) -> ChargeResult | None:
        """The charge made with this key, or None if no charge was ever made."""
        with self._lock:
            self._maybe_fail()
            row = self._db.execute(
                f"SELECT {self._CHARGE_COLUMNS} FROM charges WHERE idempotency_key = ?",  # noqa: S608 - a constant column list
                (idempotency_key,),
            ).fetchone()
        return None if row is None else self._charge_result(row)

    def refund(self, *, charge_ref: str, amount: Money, idempotency_key: str, reason: str) -> RefundResult:
        """Refund (part of) a succeeded charge; never more than what is left."""
        fingerprint = f"{charge_ref}:{amount.cents}"
        with self._lock:
            self._maybe_fail()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT fingerprint, ref, amount, currency, status FROM refunds WHERE idempotency_key = ?",
                    (idempotency_key,),
                ).fetchone()
                if row is not None:
                    self._db.execute("COMMIT")
                    if row[0] != fingerprint:
                        raise ValidationFailed("idempotency key reused with different parameters")
                    return RefundResult(ref=row[1], status=RefundOutcome(row[4]), amount=Money(row[2], row[3]))
                charge = self._db.execute(
                    "SELECT amount, refunded, status FROM charges WHERE ref = ?", (charge_ref,)
                ).fetchone()
                if charge is None or charge[2] != ChargeStatus.SUCCEEDED.value:
                    raise RefundNotAllowed(f"no succeeded charge {charge_ref} to refund")
                if amount.cents <= 0 or charge[1] + amount.cents > charge[0]:
                    raise RefundNotAllowed("refund exceeds the charge's remaining amount")
                ref = "re_sbx" + secrets.token_hex(12)
                self._db.execute("UPDATE charges SET refunded = refunded + ? WHERE ref = ?", (amount.cents, charge_ref))
                self._db.execute(
                    "INSERT INTO refunds (ref, idempotency_key, fingerprint, charge_ref, amount, currency, status,"
                    " created_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        ref,
                        idempotency_key,
                        fingerprint,
                        charge_ref,
                        amount.cents,
                        amount.currency,
                        RefundOutcome.SUCCEEDED.value,
                        self._clock.now().isoformat(),
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return RefundResult(ref=ref, status=RefundOutcome.SUCCEEDED, amount=amount)

    def get_refund(self, refund_ref: str) -> RefundResult:
        """A refund's status."""
        with self._lock:
            self._maybe_fail()
            row = self._db.execute(
                "SELECT ref, amount, currency, status FROM refunds WHERE ref = ?", (refund_ref,)
            ).fetchone()
        if row is None:
            raise RefundNotAllowed(f"no refund {refund_ref}")
        return RefundResult(ref=row[0], status=RefundOutcome(row[3]), amount=Money(row[1], row[2]))

    def activity(self, since: datetime, until: datetime) -> Iterable[GatewayRecord]:
        """Charges and refunds created in [since, until)."""
        with self._lock:
            charges = self._db.execute(
                "SELECT ref, amount, currency, status, created_at, idempotency_key, ledger_id FROM charges"
                " WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
                (since.isoformat(), until.isoformat()),
            ).fetchall()
            refunds = self._db.execute(
                "SELECT ref, amount, currency, status, created_at, idempotency_key FROM refunds"
                " WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
                (since.isoformat(), until.isoformat()),
            ).fetchall()
        records = [
            GatewayRecord(
                kind="charge",
                ref=r[0],
                amount=Money(r[1], r[2]),
                status=r[3],
                created_at=datetime.fromisoformat(r[4]),
                idempotency_key=r[5],
                ledger_id=r[6] or None,
            )
            for r in charges
        ]
        records += [
            GatewayRecord(
                kind="refund",
                ref=r[0],
                amount=Money(r[1], r[2]),
                status=r[3],
                created_at=datetime.fromisoformat(r[4]),
                idempotency_key=r[5],
            )
            for r in refunds
        ]
        return records
