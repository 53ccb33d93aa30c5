"""No money is lost or kept when API processes die mid-request.

Two ``checkout serve`` processes share one fresh PostgreSQL database and one data directory (so
the sandbox gateway's records too). Shoppers, several at once and spread over both processes,
run random journeys — reserve a car (deposit charged), cancel the hold, or place an order, pay
parts of its balance by card (some cards declined) and maybe cancel it — each request with its
own ``Idempotency-Key``. Meanwhile a "chaos monkey" ``kill -9``s one or both processes at random
moments, a bounded number of times, and starts them again on the same port. A request that gets
no answer, a 5xx or 409 ``idempotency_in_progress`` is sent again with the same key and body
(as a browser would), a few answered ones are replayed to check the stored answer, and a shopper
whose payment never got through sometimes pays again with a new key.

A process killed between a ledger write and the gateway call, or between the gateway call and
recording its answer, leaves pending rows (and claims of idempotency keys that answer 409 for ten
minutes). Afterwards, with the servers stopped:

* ``checkout payments recover --json`` (``CHECKOUT_RECOVERY_GRACE_SECONDS=0``: everything
  pending is stale) settles what the kills left;
* ``checkout payments audit --json`` then finds nothing, and exits 0;
* ``checkout payments reconcile`` for the test's days is clean (exit 0);
* and, checked here directly from the ledger tables and the gateway's own records: every
  gateway charge has a ledger row that agrees with it, every refund at the gateway is ours and
  the refunded amounts agree, nothing is left pending, every cancelled or failed reservation and
  every cancelled order keeps no money, and each order's paid/refunded totals are the sum of its
  payments.

It runs twice: on the sandbox gateway, and on the Stripe adapter against a private localstripe
(which ignores ``Idempotency-Key``, so it is the adapter's metadata lookups that keep retries
single). The random choices are seeded (``CHECKOUT_TEST_CRASH_SEED`` picks another seed); thread
and kill timing still differ from run to run, so each run explores different crash points."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from bench.http_load import ADDRESS, JWT_SECRET, Customers, idempotency_key
from bench.seed import SANDBOX_FILE, prepare_database
from bench.servers import ManagedProcess, checkout_env
from sqlalchemy import Engine, select

from adapters.payments.sandbox import SandboxGateway
from adapters.payments.stripe_gateway import StripeGateway
from adapters.sql import tables
from adapters.sql.engine import make_engine
from adapters.system.clock import SystemClock
from checkout_core.ports.payments import GatewayRecord
from tests.multiprocess.chaos import Answer, Servers, Shopper, chaos_monkey, run_checkout, shopper
from tests.payments.localstripe_process import API_KEY, run_localstripe
from tests.postgres import postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

SEED = int(os.environ.get("CHECKOUT_TEST_CRASH_SEED") or 20261127)
CARS = 300
SHOPPERS = 4
#: Rounds of kills (one or both processes each): at most KILL_ROUNDS, none started after
#: KILLS_WITHIN_SECONDS once MIN_KILL_ROUNDS are done.
KILL_ROUNDS = 5
MIN_KILL_ROUNDS = 3
KILLS_WITHIN_SECONDS = 24.0
#: The burst lasts as long as the kills, and at least this many journeys.
MIN_JOURNEYS = 40
#: A safety net: no journey starts after this many seconds, whatever happened.
BURST_SECONDS = 75.0
CARD = "pm_card_visa"  # succeeds on the sandbox and on localstripe
DECLINED = "pm_card_chargeCustomerFail"  # declined by both

RELEASED_RESERVATIONS = ("cancelled", "expired", "failed")
CLOSED_ORDERS = ("cancelled", "returned")


@contextlib.contextmanager
def _gateway_settings(gateway: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The environment that selects ``gateway`` (a private localstripe for ``stripe``)."""
    if gateway == "sandbox":
        yield {"CHECKOUT_PAYMENT_GATEWAY": "sandbox"}
        return
    workdir.mkdir()
    with run_localstripe(workdir) as base:
        yield {"CHECKOUT_PAYMENT_GATEWAY": "stripe", "STRIPE_API_KEY": API_KEY, "CHECKOUT_STRIPE_API_BASE": base}


def _order_body(reservation: str, car: str) -> dict[str, Any]:
    return {
        "reservationId": reservation,
        "vehicleId": car,
        "contactInfo": {
            "firstName": "Crash",
            "lastName": "Tester",
            "email": "crash@example.com",
            "phone": "416-555-0100",
            "address": ADDRESS,
        },
        "payment": {"method": "cash"},
        "delivery": {"method": "pickup"},
    }


class Burst:
    """Shopper threads running journeys until the kills are over and at least MIN_JOURNEYS
    started (or the cars run out, or BURST_SECONDS passed)."""

    def __init__(self, shop: Shopper, customers: Customers, cars: list[str], kills_done: threading.Event) -> None:
        self._shop = shop
        self._customers = customers
        self._cars = iter(cars)
        self._kills_done = kills_done
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + BURST_SECONDS
        self.started = 0
        self.outcomes: Counter[str] = Counter()

    def _next(self) -> tuple[int, str, str] | None:
        with self._lock:
            if time.monotonic() > self._deadline:
                return None
            if self._kills_done.is_set() and self.started >= MIN_JOURNEYS:
                return None
            car = next(self._cars, None)
            if car is None:
                return None
            self.started += 1
            return self.started, self._customers.new(), car

    def shopper_thread(self) -> None:
        """One shopper after another, until :meth:`_next` says stop."""
        while (job := self._next()) is not None:
            number, customer, car = job
            outcome = self._journey(random.Random(f"{SEED}:{number}"), customer, car)
            with self._lock:
                self.outcomes[outcome] += 1

    def _journey(self, rng: random.Random, customer: str, car: str) -> str:
        """Reserve, then cancel the hold or order; pay some of the order by card; maybe cancel it.
        Returns where it ended (for the summary)."""
        auth = self._customers.auth(customer)

        def post(path: str, body: Any) -> Answer:
            """A new request: a new key (its retries inside ``send`` keep it)."""
            time.sleep(rng.uniform(0.0, 0.08))  # a shopper's think time, kept short
            return self._shop.send(rng, "POST", path, {**auth, "Idempotency-Key": idempotency_key()}, body)

        token = DECLINED if rng.random() < 0.1 else CARD
        held = post("/api/v1/reservations", {"vehicleId": car, "paymentMethod": {"type": "card", "token": token}})
        if held.status != 201:
            return f"reserve {held.status} {held.code or ''}".strip()
        reservation = held.body["reservationId"]
        if held.body["status"] != "confirmed":
            return f"reserve 201 {held.body['status']}"
        if rng.random() < 0.25:
            headers = {**auth, "Idempotency-Key": idempotency_key()}
            gone = self._shop.send(rng, "DELETE", f"/api/v1/reservations/{reservation}", headers)
            return f"cancel reservation {gone.status} {gone.code or ''}".strip()
        placed = post("/api/v1/orders", _order_body(reservation, car))
        if placed.status != 201:
            return f"order {placed.status} {placed.code or ''}".strip()
        order = placed.body["orderId"]
        for _ in range(rng.randint(0, 3)):
            body = {"token": DECLINED if rng.random() < 0.15 else CARD, "amount": rng.randrange(5_000, 50_000, 100)}
            paid = post(f"/api/v1/orders/{order}/payments/card", body)
            if paid.status == 0 and rng.random() < 0.5:
                post(f"/api/v1/orders/{order}/payments/card", body)  # gave up on the key: pays again
        if rng.random() < 0.35:
            cancelled = post(f"/api/v1/orders/{order}/cancel", {"reason": "changed my mind"})
            return f"cancel order {cancelled.status} {cancelled.code or ''}".strip()
        return "order kept"


def _gateway_records(gateway: str, env: dict[str, str], data_dir: Path, since: datetime) -> list[GatewayRecord]:
    """Every charge and refund the gateway has (its own records, not our ledger's)."""
    until = datetime.now(UTC) + timedelta(minutes=1)
    if gateway == "sandbox":
        sandbox = SandboxGateway(SystemClock(), data_dir / SANDBOX_FILE)
        try:
            return list(sandbox.activity(since, until))
        finally:
            sandbox.close()
    stripe = StripeGateway(env["STRIPE_API_KEY"], env["CHECKOUT_STRIPE_API_BASE"], include_balance_transactions=False)
    return list(stripe.activity(since, until))


@attrs.frozen
class Ledger:
    """Every row of the money tables (and the reservations and orders they belong to)."""

    payments: dict[str, Any]
    refunds: list[Any]
    reservations: list[Any]
    orders: list[Any]

    @classmethod
    def read(cls, engine: Engine) -> Ledger:
        """All of it, in one transaction."""
        t = tables
        with engine.connect() as connection:
            return cls(
                payments={row.id: row for row in connection.execute(select(t.payments))},
                refunds=list(connection.execute(select(t.refunds))),
                reservations=list(connection.execute(select(t.reservations))),
                orders=list(connection.execute(select(t.orders))),
            )

    @property
    def card_payments(self) -> list[Any]:
        """The card payments (bank transfers never reach the gateway)."""
        return [x for x in self.payments.values() if x.method == "card"]


def money_findings(ledger: Ledger, records: list[GatewayRecord]) -> list[str]:
    """What does not add up between the ledger and the gateway's own records, after recovery."""
    return _charge_findings(ledger, records) + _refund_findings(ledger, records) + _holding_findings(ledger)


def _charge_findings(ledger: Ledger, records: list[GatewayRecord]) -> list[str]:
    """Each charge the gateway made is in our ledger, with the same outcome and amount; each
    payment the ledger counts was charged; nothing is left pending."""
    findings: list[str] = []
    by_ref = {x.gateway_ref: x for x in ledger.card_payments if x.gateway_ref}
    by_key = {x.idempotency_key: x for x in ledger.card_payments}
    charges = [x for x in records if x.kind == "charge"]
    for charge in charges:
        row = by_ref.get(charge.ref) or by_key.get(charge.idempotency_key or "")
        row = row or ledger.payments.get(charge.ledger_id or "")
        what = f"gateway charge {charge.ref} ({charge.status}, {charge.amount.cents}¢, key {charge.idempotency_key})"
        if row is None:
            findings.append(f"{what}: no ledger row")
        elif charge.status == "succeeded" and (row.status != "succeeded" or row.amount_cents != charge.amount.cents):
            findings.append(f"{what}: ledger {row.id} is {row.status}, {row.amount_cents}¢")
    charged = {x.ref for x in charges if x.status == "succeeded"}
    for row in ledger.card_payments:
        if row.status == "pending":
            findings.append(f"payment {row.id} ({row.idempotency_key}) still pending after recovery")
        elif row.status == "succeeded" and row.gateway_ref not in charged:
            findings.append(f"payment {row.id} succeeded in the ledger, no succeeded charge {row.gateway_ref}")
    findings += [
        f"reservation {x.id} still pending_deposit after recovery"
        for x in ledger.reservations
        if x.status == "pending_deposit"
    ]
    return findings


def _refund_findings(ledger: Ledger, records: list[GatewayRecord]) -> list[str]:
    """Each refund at the gateway is one of ours (keys ``<payment id>:<reason>``); per payment,
    the ledger and the gateway refunded the same; no refund is left pending."""
    findings: list[str] = []
    ours = {x.idempotency_key for x in ledger.refunds}
    at_gateway: Counter[str] = Counter()
    for refund in (x for x in records if x.kind == "refund"):
        if refund.idempotency_key not in ours:
            findings.append(f"gateway refund {refund.ref} ({refund.idempotency_key}) has no ledger row")
        if refund.status == "succeeded" and refund.idempotency_key:
            at_gateway[refund.idempotency_key.split(":", 1)[0]] += refund.amount.cents
    findings += [
        f"refund {x.id} ({x.idempotency_key}) still pending after recovery"
        for x in ledger.refunds
        if x.status == "pending"
    ]
    findings += [
        f"payment {x.id}: {x.refunded_cents}¢ refunded in the ledger, {at_gateway[x.id]}¢ at the gateway"
        for x in ledger.card_payments
        if x.refunded_cents != at_gateway[x.id]
    ]
    return findings


def _holding_findings(ledger: Ledger) -> list[str]:
    """Nothing that ended keeps money (a released hold without an order, a cancelled order, a
    duplicate charge); each order's paid and refunded totals are those of its payments."""
    findings: list[str] = []
    for reservation in ledger.reservations:
        if reservation.status in RELEASED_RESERVATIONS:
            findings += [
                f"{reservation.status} reservation {reservation.id} keeps {_held(x)}¢ of payment {x.id}"
                for x in ledger.payments.values()
                if x.reservation_id == reservation.id and x.order_id is None and _held(x)
            ]
    findings += [
        f"duplicate charge {x.gateway_ref} (payment {x.id}) keeps {_held(x)}¢"
        for x in ledger.payments.values()
        if x.purpose == "duplicate" and _held(x)
    ]
    for order in ledger.orders:
        counted = [
            x
            for x in ledger.payments.values()
            if x.order_id == order.id and x.status == "succeeded" and x.purpose != "duplicate"
        ]
        paid, refunded = sum(x.amount_cents for x in counted), sum(x.refunded_cents for x in counted)
        if (order.paid_cents, order.refunded_cents) != (paid, refunded):
            findings.append(
                f"order {order.id} ({order.status}): paid {order.paid_cents}¢ / refunded {order.refunded_cents}¢, "
                f"its payments {paid}¢ / {refunded}¢"
            )
        if order.status in CLOSED_ORDERS:
            findings += [
                f"{order.status} order {order.id} keeps {_held(x)}¢ of payment {x.id}" for x in counted if _held(x)
            ]
    return findings


def _held(payment: Any) -> int:
    """Cents of a payment we still hold (nothing unless it succeeded)."""
    return int(payment.amount_cents - payment.refunded_cents) if payment.status == "succeeded" else 0


def _json_of(output: str) -> Any:
    try:
        return json.loads(output)
    except ValueError:
        return None


def _command_problems(
    recover: subprocess.CompletedProcess[str],
    audit: subprocess.CompletedProcess[str],
    reconcile: subprocess.CompletedProcess[str],
) -> list[str]:
    """What the three commands reported: recovery must succeed, the audit find nothing (exit 0,
    no findings) and the reconciliation be clean (exit 0)."""
    problems: list[str] = []
    if recover.returncode != 0:
        problems.append(
            f"payments recover: exit {recover.returncode}: {recover.stdout[-2000:]} {recover.stderr[-2000:]}"
        )
    audited = _json_of(audit.stdout)
    if audit.returncode != 0 or not isinstance(audited, dict) or audited.get("findings") != []:
        found = audited.get("findings") if isinstance(audited, dict) else None
        if found:
            problems += [f"payments audit: {x}" for x in found]
        else:
            problems.append(f"payments audit: exit {audit.returncode}: {audit.stdout[-2000:]} {audit.stderr[-2000:]}")
    reconciled = _json_of(reconcile.stdout)
    if reconcile.returncode != 0 or not isinstance(reconciled, dict) or reconciled.get("clean") is not True:
        buckets = reconciled.get("buckets", {}) if isinstance(reconciled, dict) else {}
        unmatched = {k: v for k, v in buckets.items() if k != "matched" and isinstance(v, dict) and v.get("count")}
        problems.append(
            f"payments reconcile: exit {reconcile.returncode}: {json.dumps(unmatched)[:4000] if unmatched else ''}"
            f"{'' if unmatched else reconcile.stdout[-2000:] + reconcile.stderr[-2000:]}"
        )
    return problems


@pytest.mark.parametrize("gateway", ["sandbox", "stripe"])
def test_money_adds_up_after_api_processes_are_killed_mid_burst(
    gateway: str, tmp_path: Path, processes: list[ManagedProcess]
) -> None:
    started_at, clock = datetime.now(UTC), [time.monotonic()]

    def lap() -> str:
        clock.append(time.monotonic())
        return f"{clock[-1] - clock[-2]:.1f}s"

    with postgres_database() as url, _gateway_settings(gateway, tmp_path / "localstripe") as gateway_env:
        cars = prepare_database(url, vehicles=CARS)
        data_dir = tmp_path / "data"
        env = checkout_env(database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET, extra=gateway_env)
        servers = Servers(2, env, tmp_path, processes)
        servers.start_all()
        print(f"\n[{gateway}] database, gateway and servers ready in {lap()}")

        # 1. The burst, with the kills; then the servers stop (SIGTERM), so nothing is in flight.
        kills_done = threading.Event()
        with shopper(servers.bases) as shop, ThreadPoolExecutor(SHOPPERS + 1) as pool:
            burst = Burst(shop, Customers(f"crash{gateway[:2]}"), cars, kills_done)
            monkey = pool.submit(
                chaos_monkey,
                servers,
                random.Random(f"{SEED}:chaos"),
                rounds=KILL_ROUNDS,
                until=time.monotonic() + KILLS_WITHIN_SECONDS,
                at_least=MIN_KILL_ROUNDS,
                done=kills_done,
                busy=shop.busy,
            )
            for future in [pool.submit(burst.shopper_thread) for _ in range(SHOPPERS)]:
                future.result()
            rounds = monkey.result()
        servers.stop_all()
        print(
            f"[{gateway}] burst of {lap()}, seed {SEED}: {burst.started} journeys, "
            f"{servers.kills} kill -9 in {rounds} round(s); journeys ended {dict(sorted(burst.outcomes.items()))}; "
            f"requests {dict(sorted(shop.stats.items()))}"
        )

        # 2. Recovery settles whatever the kills left; the audit and the reconciliation then find
        #    nothing, and neither does a direct look at the ledger and the gateway's records.
        jobs = {**env, "CHECKOUT_RECOVERY_GRACE_SECONDS": "0"}  # every intent left is stale now
        recover = run_checkout(jobs, "payments", "recover", "--json")
        print(f"[{gateway}] payments recover ({lap()}): exit {recover.returncode} {' '.join(recover.stdout.split())}")
        audit = run_checkout(jobs, "payments", "audit", "--json")
        days = ("--since", started_at.date().isoformat(), "--until", datetime.now(UTC).date().isoformat())
        reconcile = run_checkout(env, "payments", "reconcile", *days, "--json")
        engine = make_engine(url, pool_size=1)
        try:
            records = _gateway_records(gateway, env, data_dir, started_at - timedelta(minutes=1))
            findings = money_findings(Ledger.read(engine), records)
        finally:
            engine.dispose()
        print(
            f"[{gateway}] audit, reconcile and {len(records)} gateway records checked in {lap()}: "
            f"{len(findings)} finding(s)"
        )

    problems = _command_problems(recover, audit, reconcile) + findings + shop.replay_mismatches
    assert problems == [], f"{len(problems)} problem(s):\n" + "\n".join(problems[:60]) + "\n\n" + servers.log_tails()
