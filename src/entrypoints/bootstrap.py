"""The composition root: the only place that names concrete adapters.

HTTP, CLI and library users all get their use cases from an :class:`App` built here, so the
three entrypoints cannot drift apart. Nothing is built at import time."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adapters.memory.documents import MemoryDocumentStore, PlainSignedCopyMaker, PlainTextAgreementRenderer
from adapters.memory.gateway_events import MemoryProcessedEvents
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.memory.rate_limits import MemoryRateLimiter
from adapters.memory.unit_of_work import MemoryStore, MemoryUnitOfWork
from adapters.payments.sandbox import SandboxGateway
from adapters.signing.builtin import BuiltinSigner
from adapters.system.clock import SystemClock
from adapters.system.files import create_private_file
from adapters.system.ids import RandomIds
from checkout_core.events import DomainEvent
from checkout_core.money import Money
from checkout_core.ports.backlog import BacklogReader
from checkout_core.ports.clock import Clock, IdGenerator
from checkout_core.ports.documents import (
    AgreementInput,
    AgreementRenderer,
    Dealer,
    DocumentStore,
    PageImages,
    SealReport,
    SignatureEvidence,
    SignedCopyMaker,
    SigningService,
)
from checkout_core.ports.events import EventPublisher
from checkout_core.ports.gateway_events import GatewayEvents, ProcessedEventStore
from checkout_core.ports.idempotency import IdempotencyStore
from checkout_core.ports.migrations import Migrations
from checkout_core.ports.payments import PaymentGateway
from checkout_core.ports.rate_limits import RateLimiter
from checkout_core.ports.tokens import TokenService
from checkout_core.ports.unit_of_work import EventHandler, UnitOfWork, UnitOfWorkFactory
from checkout_core.usecases.context import Actor, BankDetails, Context, Policy, Role
from checkout_core.usecases.rate_limits import Rate, RateLimits
from entrypoints.extras import require_extra
from entrypoints.observability.metrics import count_events
from entrypoints.observability.tracing import instrument_engine, trace_headers, traced_port
from entrypoints.redaction import install_log_redaction
from entrypoints.settings import Settings, fee_schedule, load_settings, require_production_ready

if TYPE_CHECKING:
    from cryptography import x509

    from adapters.documents.migration import MigrationReport
    from adapters.documents.s3_store import S3DocumentStore

log = logging.getLogger("checkout.events")


@attrs.define(kw_only=True)
class App:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    ctx: Context
    idempotency: IdempotencyStore
    jwt_secret: str = attrs.field(repr=False)
    #: Bearer tokens signed with ``jwt_secret`` (the HTTP API verifies, the CLI issues).
    tokens: TokenService
    check_database: Callable[[], None]
    processed_gateway_events: ProcessedEventStore
    #: The payment gateway's webhook deliveries; None when no endpoint secret is configured.
    gateway_events: GatewayEvents | None = None
    #: ``(storage key, file name, content type) → URL``: a short-lived presigned download link
    #: (``CHECKOUT_S3_PRESIGNED_SECONDS``); None: downloads stream through the API.
    document_link: Callable[[str, str, str], str] | None = None
    #: The work waiting for workers (gauges read at scrape time); None in memory.
    backlog: BacklogReader | None = None
    #: (the database's schema revision, the code's head revision); None in memory.
    schema_revisions: Callable[[], tuple[str | None, str]] | None = None
    #: The agreement's pages as images for the signing page; None in memory (plain-text stand-ins).
    page_images: PageImages | None = None
    closers: list[Callable[[], None]] = attrs.field(factory=list)

    def close(self) -> None:
        """Release connections and files."""
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def log_events(events: Sequence[DomainEvent]) -> None:
    """After-commit handler: one log line per event (ids only: no personal data in logs)."""
    for event in events:
        log.info("event %s for %s", event.name, event.aggregate_id)


def policy_from(settings: Settings) -> Policy:
    """The business policy the settings describe."""
    return Policy(
        hold_hours=settings.hold_hours,
        max_active_reservations=settings.max_active_reservations,
        fees=fee_schedule(settings),
        return_window=timedelta(days=settings.return_window_days),
        card_payment_limit=Money(settings.card_payment_limit_cents),
        recovery_grace=timedelta(seconds=settings.recovery_grace_seconds),
        max_upload_bytes=settings.max_upload_bytes,
        max_image_pixels=settings.max_image_pixels,
        max_insurance_proofs=settings.max_insurance_proofs,
        rate_limits=attrs.evolve(
            RateLimits(),
            **{name: Rate(count, timedelta(seconds=window)) for name, count, window in settings.rate_limits},
        ),
        agreements_by_worker=settings.agreements == "worker",
        bank=BankDetails(
            beneficiary=settings.bank_beneficiary,
            institution=settings.bank_institution,
            institution_number=settings.bank_institution_number,
            transit_number=settings.bank_transit_number,
            account_number=settings.bank_account_number,
            swift=settings.bank_swift,
            due_days=settings.bank_due_days,
        ),
        dealer=Dealer(
            name=settings.dealer_name,
            address=settings.dealer_address,
            registration_number=settings.dealer_registration,
            phone=settings.dealer_phone,
            email=settings.dealer_email,
            gst_number=settings.dealer_gst_number,
            qst_number=settings.dealer_qst_number,
        ),
        agreement_with_english=settings.agreement_with_english,
    )


def _local_secret(data_dir: Path, name: str) -> str:
    """A secret generated once and kept in the data directory (embedded default only).

    Several processes may start at once on a fresh data directory (``serve`` and a ``tokens
    issue``, N workers): the first to *link* its file into place wins and everyone reads that
    one, so they can never end up with different secrets."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = data_dir / f".{name}.{secrets.token_hex(8)}.tmp"
        create_private_file(tmp)  # 0600 before the secret is in it
        tmp.write_text(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # atomic, and fails if another process got there first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


# -- one builder per concern ----------------------------------------------------------------


def token_service(settings: Settings, secret: str) -> TokenService:
    """HS256 JWTs, no longer-lived than ``CHECKOUT_MAX_TOKEN_TTL_HOURS``, built on first use."""
    return _LazyTokens(secret, max_ttl=timedelta(hours=settings.max_token_ttl_hours))


class _LazyTokens:
    """PyJWT (the ``server`` and ``cli`` extras) loads when a token is first issued or verified,
    so the in-memory app of a library user needs no extra."""

    def __init__(self, secret: str, *, max_ttl: timedelta) -> None:
        self._secret = secret
        self.max_ttl = max_ttl
        self._tokens: TokenService | None = None

    def _loaded(self) -> TokenService:
        if self._tokens is None:
            from adapters.auth.jwt_tokens import JwtTokens

            self._tokens = JwtTokens(self._secret, max_ttl=self.max_ttl)
        return self._tokens

    def issue(self, subject: str, role: Role, *, now: datetime, ttl: timedelta = timedelta(hours=12)) -> str:
        """See :class:`checkout_core.ports.tokens.TokenService`."""
        return self._loaded().issue(subject, role, now=now, ttl=ttl)

    def verify(self, token: str) -> Actor:
        """See :class:`checkout_core.ports.tokens.TokenService`."""
        return self._loaded().verify(token)


def _gateway_events(settings: Settings) -> GatewayEvents | None:
    """Stripe's signed webhook deliveries, whichever gateway charges (the SDK loads on first use)."""
    if not settings.stripe_webhook_secret:
        return None
    require_extra("stripe", "Stripe webhooks (STRIPE_WEBHOOK_SECRET)")
    from adapters.payments.stripe_webhooks import StripeWebhookEvents

    return StripeWebhookEvents(settings.stripe_webhook_secret)


@contextmanager
def open_migrations(settings: Settings) -> Iterator[Migrations]:
    """The schema migrations of the configured database, on an engine of their own that is
    disposed of on exit (``checkout db upgrade`` must work before an App can be built)."""
    _require_database(settings)
    from adapters.sql.engine import make_engine
    from adapters.sql.migrations import SqlMigrations

    if settings.is_embedded_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        yield SqlMigrations(engine)
    finally:
        engine.dispose()


def event_publisher(
    settings: Settings, *, stream: str, subject_prefix: str
) -> tuple[EventPublisher, Callable[[], None]]:
    """The outbox relay's broker, NATS JetStream at ``CHECKOUT_NATS_URL``: (publisher, closer).
    Built on demand, not in :func:`bootstrap`: only the relay talks to the broker, and nats-py
    is not worth importing in every other process."""
    require_extra("nats", "The outbox relay")
    from adapters.messaging.nats_publisher import NatsJetStreamPublisher

    publisher = NatsJetStreamPublisher(
        settings.nats_url, stream=stream, subject_prefix=subject_prefix, trace_headers=trace_headers
    )
    return traced_port(publisher, "event_publisher"), publisher.close


def _require_database(settings: Settings) -> None:
    require_extra("sql", "The database")
    if not settings.is_embedded_sqlite:
        require_extra("postgres", "PostgreSQL (CHECKOUT_DATABASE_URL)")


def _sql_units_of_work(
    settings: Settings, ids: IdGenerator, handlers: Sequence[EventHandler], migrate: bool
) -> tuple[UnitOfWorkFactory, IdempotencyStore, ProcessedEventStore, Callable[[], None], Callable[[], None], Any]:
    """SQLAlchemy: (unit-of-work factory, idempotency store, gateway events, readiness check, closer,
    the engine for :func:`_sql_operations`)."""
    _require_database(settings)
    from adapters.sql.engine import make_engine
    from adapters.sql.gateway_events import SqlProcessedEvents
    from adapters.sql.idempotency import SqlIdempotencyStore
    from adapters.sql.schema_revision import at_head
    from adapters.sql.unit_of_work import SqlUnitOfWork, check_connection

    engine = make_engine(settings.effective_database_url)
    # Alembic (with mako and pygments, ~10 MB) loads only in a process that finds the schema
    # behind: `db upgrade`, or the parent of `serve` before its workers start, which then skip it.
    if migrate and not at_head(engine):
        from adapters.sql.migrations import upgrade_database

        upgrade_database(engine)

    def factory() -> UnitOfWork:
        return SqlUnitOfWork(engine, ids, handlers)

    return (
        factory,
        SqlIdempotencyStore(engine),
        SqlProcessedEvents(engine),
        lambda: check_connection(engine),
        engine.dispose,
        engine,
    )


def _sql_operations(engine: Any) -> tuple[BacklogReader, Callable[[], tuple[str | None, str]]]:
    """The backlog gauges and the schema revisions (database's, code's head) of ``engine``."""
    from adapters.sql.backlog import SqlBacklog
    from adapters.sql.schema_revision import head_revision, schema_revision

    head = head_revision()
    instrument_engine(engine)  # a span per SQL statement, when tracing is on
    return SqlBacklog(engine), lambda: (schema_revision(engine), head)


def _signing_files(settings: Settings, store: DocumentStore) -> tuple[Path, Path]:
    """The sealing certificate and key: the configured pair, else the self-signed one kept in
    the document bucket (every host the same pair), else the one in the data directory."""
    from adapters.documents.certificates import ensure_self_signed, ensure_self_signed_in
    from entrypoints.settings import SettingsError

    cert, key = settings.signing_cert_file, settings.signing_key_file
    if cert and key:
        return Path(cert), Path(key)
    if cert or key:
        # Half a configuration would silently fall back to a self-signed seal: refuse it.
        raise SettingsError("CHECKOUT_SIGNING_CERT_FILE and CHECKOUT_SIGNING_KEY_FILE must be set together")
    if settings.document_store == "s3":
        from adapters.documents.s3_store import S3DocumentStore  # boto3 itself is already loaded

        if isinstance(store, S3DocumentStore):
            cache = settings.data_dir / "signing-cache"
            return ensure_self_signed_in(store, cache, organization=settings.dealer_name)
    return ensure_self_signed(settings.data_dir, organization=settings.dealer_name)


def migrate_documents(
    settings: Settings, *, verify: bool = True, on_progress: Callable[[int, int], None] = lambda done, total: None
) -> MigrationReport:
    """Copy the data directory's documents into the bucket of ``CHECKOUT_S3_*`` (whatever
    ``CHECKOUT_DOCUMENT_STORE`` says yet: this is how a site moves to it), then verify them."""
    from adapters.documents import migration
    from adapters.documents.local_store import LocalDocumentStore
    from entrypoints.settings import SettingsError

    if not settings.s3_bucket:
        raise SettingsError("CHECKOUT_S3_BUCKET (and the other CHECKOUT_S3_* settings) name the bucket to migrate to")
    source = LocalDocumentStore(settings.data_dir / "documents")
    return migration.migrate_documents(source, _bucket(settings), verify=verify, on_progress=on_progress)


def _bucket(settings: Settings) -> S3DocumentStore:
    """The S3 store of ``CHECKOUT_S3_*`` (boto3 loads now), its bucket checked."""
    require_extra("s3", "CHECKOUT_DOCUMENT_STORE=s3")
    from adapters.documents.s3_store import S3DocumentStore, make_client

    client = make_client(endpoint_url=settings.s3_endpoint_url)
    bucket = S3DocumentStore(client, settings.s3_bucket, prefix=settings.s3_prefix)
    bucket.check_bucket()
    return bucket


def _document_link(settings: Settings, store: DocumentStore) -> Callable[[str, str, str], str] | None:
    """Presigned bucket URLs for downloads, when asked for and the documents are in a bucket."""
    if settings.document_store != "s3" or settings.s3_presigned_seconds <= 0:
        return None
    from adapters.documents.s3_store import S3DocumentStore

    if not isinstance(store, S3DocumentStore):
        return None
    bucket, seconds = store, settings.s3_presigned_seconds

    def link(key: str, filename: str, content_type: str) -> str:
        return bucket.presigned_url(key, filename=filename, content_type=content_type, expires_seconds=seconds)

    return link


def document_store(settings: Settings) -> DocumentStore:
    """The data directory's ``documents/``, or the bucket (``CHECKOUT_DOCUMENT_STORE=s3``: boto3
    loads only then), checked at start so a wrong bucket name stops the program there."""
    if settings.document_store == "s3":
        return _bucket(settings)
    from adapters.documents.local_store import LocalDocumentStore

    return LocalDocumentStore(settings.data_dir / "documents")


def _documents(settings: Settings) -> tuple[DocumentStore, AgreementRenderer, SignedCopyMaker]:
    """Local files, reportlab PDFs and PAdES-sealed signed copies."""
    require_extra("pdf", "Agreement PDFs and sealed signed copies")
    store = document_store(settings)
    cert_file, key_file = _signing_files(settings, store)
    return (
        store,
        _DeferredRenderer(return_window_days=settings.return_window_days),
        _DeferredSignedCopyMaker(cert_file, key_file, tsa=_timestamping(settings)),
    )


class _DeferredRenderer:
    """Loads reportlab (and Pillow, ~5 MB) on the first agreement rendered: an API worker whose
    agreements a document worker renders (``CHECKOUT_AGREEMENTS=worker``) never loads it."""

    def __init__(self, *, return_window_days: int) -> None:
        self._return_window_days = return_window_days
        self._renderer: AgreementRenderer | None = None
        self._lock = threading.Lock()

    def loaded(self) -> AgreementRenderer:
        """The reportlab renderer, built on the first call."""
        with self._lock:
            if self._renderer is None:
                from adapters.documents.agreement_pdf import ReportlabAgreementRenderer

                self._renderer = ReportlabAgreementRenderer(return_window_days=self._return_window_days)
            return self._renderer

    def render(self, agreement: AgreementInput) -> bytes:
        """See :class:`checkout_core.ports.documents.AgreementRenderer`."""
        return self.loaded().render(agreement)


@attrs.frozen(kw_only=True)
class _Timestamping:
    """``CHECKOUT_TSA_*``, read at start (a bad trust file stops the program there)."""

    url: str
    trust_roots: tuple[x509.Certificate, ...]
    timeout: float


def _timestamping(settings: Settings) -> _Timestamping | None:
    """The seal's time-stamping authority, if one is configured."""
    from entrypoints.settings import SettingsError

    if not settings.tsa_url:
        if settings.tsa_trust_file:
            raise SettingsError("CHECKOUT_TSA_TRUST_FILE needs CHECKOUT_TSA_URL")
        return None
    roots: tuple[x509.Certificate, ...] = ()
    if settings.tsa_trust_file:
        from cryptography import x509

        try:
            roots = tuple(x509.load_pem_x509_certificates(Path(settings.tsa_trust_file).read_bytes()))
        except (OSError, ValueError) as error:
            raise SettingsError(f"CHECKOUT_TSA_TRUST_FILE: not a readable PEM certificate file ({error})") from None
    return _Timestamping(url=settings.tsa_url, trust_roots=roots, timeout=float(settings.tsa_timeout_seconds))


def _page_images() -> PageImages:
    """pypdfium2 page images (the ``pdf`` extra, already required for the documents)."""
    return _DeferredPageImages()


class _DeferredPageImages:
    """Loads pypdfium2 (~3 MB) when the signing page first shows a page: most API workers never do."""

    def __init__(self) -> None:
        self._images: PageImages | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> PageImages:
        with self._lock:
            if self._images is None:
                from adapters.documents.page_images import PdfiumPageImages

                self._images = PdfiumPageImages()
            return self._images

    def page_count(self, pdf: bytes) -> int:
        """See :class:`checkout_core.ports.documents.PageImages`."""
        return self._loaded().page_count(pdf)

    def page_png(self, pdf: bytes, page: int) -> bytes:
        """See :class:`checkout_core.ports.documents.PageImages`."""
        return self._loaded().page_png(pdf, page)


class _DeferredSignedCopyMaker:
    """Builds the PAdES signed-copy maker on first use.

    pyHanko and its certificate validator cost 40–60 MB per process; most processes (job
    workers, the CLI, most API workers between signatures) never seal a PDF. The certificate
    files are still resolved at start, so a missing file fails early."""

    def __init__(self, cert_file: Path, key_file: Path, *, tsa: _Timestamping | None = None) -> None:
        self._files = (cert_file, key_file)
        self._tsa = tsa
        self._maker: SignedCopyMaker | None = None
        self._lock = threading.Lock()

    def loaded(self) -> SignedCopyMaker:
        """The real maker, built now if it was not yet."""
        with self._lock:
            if self._maker is None:
                from adapters.documents.signed_copy import StampedSignedCopyMaker, TimestampAuthority

                tsa = self._tsa
                self._maker = StampedSignedCopyMaker(
                    *self._files,
                    tsa=TimestampAuthority(url=tsa.url, trust_roots=tsa.trust_roots, timeout=tsa.timeout)
                    if tsa is not None
                    else None,
                )
            return self._maker

    def make_signed_copy(
        self, agreement_pdf: bytes, evidence: SignatureEvidence, countersignature: SignatureEvidence | None = None
    ) -> bytes:
        """See :class:`checkout_core.ports.documents.SignedCopyMaker`."""
        return self.loaded().make_signed_copy(agreement_pdf, evidence, countersignature)

    def check_seal(self, signed_pdf: bytes) -> SealReport:
        """See :class:`checkout_core.ports.documents.SignedCopyMaker`."""
        return self.loaded().check_seal(signed_pdf)


def _gateway(settings: Settings, clock: Clock) -> PaymentGateway:
    """The sandbox (its records in the data directory) or Stripe."""
    if settings.payment_gateway == "stripe":
        require_extra("stripe", "CHECKOUT_PAYMENT_GATEWAY=stripe")
        from adapters.payments.stripe_gateway import StripeGateway

        return StripeGateway(api_key=settings.stripe_api_key, api_base=settings.stripe_api_base or None)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SandboxGateway(clock, settings.data_dir / "sandbox-gateway.sqlite3")


def _rate_limiter(settings: Settings) -> tuple[RateLimiter, Callable[[], None] | None]:
    """Redis (shared by every process) when configured, else counters in this process (API
    processes refuse that on a shared database unless asked: ``require_shared_rate_limits``)."""
    if settings.effective_rate_limit_store == "redis":
        require_extra("redis", "Shared rate limits (CHECKOUT_REDIS_URL)")
        from adapters.redis.rate_limits import RedisRateLimiter

        limiter = RedisRateLimiter.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
        return limiter, limiter.close
    return MemoryRateLimiter(), None


def _signer(settings: Settings, clock: Clock) -> SigningService:
    """The built-in signing page, or Dropbox Sign (``CHECKOUT_SIGNING_PROVIDER=dropbox_sign``)."""
    if settings.signing_provider == "dropbox_sign":
        require_extra("signing", "CHECKOUT_SIGNING_PROVIDER=dropbox_sign")
        from adapters.signing.dropbox_sign import DropboxSignSigner

        return DropboxSignSigner(
            settings.dropbox_sign_api_key,
            api_base=settings.dropbox_sign_api_base or None,
            client_id=settings.dropbox_sign_client_id,
            test_mode=settings.dropbox_sign_test_mode,
            clock=clock,
        )
    return BuiltinSigner(settings.public_url)


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    gateway: PaymentGateway | None = None,
    signer: SigningService | None = None,
    handlers: Sequence[EventHandler] = (),
    migrate: bool = True,
) -> App:
    """Build the application for ``settings`` (default: from the environment).

    On the embedded default this creates the data directory, brings the SQLite database up to
    date and generates the local JWT secret once. Tests pass their own clock, ids or gateway.
    Every log record of the process is masked from here on (card numbers, secrets: see
    :mod:`entrypoints.redaction`), the migrations' included."""
    install_log_redaction()
    settings = settings or load_settings()
    # Every process of a production install (API, workers, CLI) keeps nothing on its host.
    require_production_ready(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    uow, idempotency, processed, check, close_db, engine = _sql_units_of_work(
        settings, ids, (log_events, count_events, *handlers), migrate
    )
    backlog, schema_revisions = _sql_operations(engine)
    store, renderer, signed_copies = _documents(settings)
    gateway = gateway or _gateway(settings, clock)
    limiter, close_limiter = _rate_limiter(settings)
    ctx = Context(
        uow=uow,
        clock=clock,
        ids=ids,
        gateway=traced_port(gateway, "payment_gateway"),
        documents=store,
        renderer=renderer,
        signer=traced_port(signer or _signer(settings, clock), "signing_provider"),
        signed_copies=signed_copies,
        policy=policy_from(settings),
        rate_limiter=limiter,
    )
    # Generated only outside production (require_production_ready above refuses it there).
    jwt_secret = settings.jwt_secret or _local_secret(settings.data_dir, "jwt-secret")
    app = App(
        settings=settings,
        ctx=ctx,
        idempotency=idempotency,
        jwt_secret=jwt_secret,
        tokens=token_service(settings, jwt_secret),
        check_database=check,
        processed_gateway_events=processed,
        gateway_events=_gateway_events(settings),
        backlog=backlog,
        schema_revisions=schema_revisions,
        page_images=_page_images(),
    )
    app.document_link = _document_link(settings, store)
    app.closers.append(close_db)
    if close_limiter is not None:
        app.closers.append(close_limiter)
    if isinstance(gateway, SandboxGateway):
        app.closers.append(gateway.close)
    return app


def bootstrap_in_memory(
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    policy: Policy | None = None,
    gateway: PaymentGateway | None = None,
    handlers: Sequence[EventHandler] = (),
    settings: Settings | None = None,
    signer: SigningService | None = None,
) -> App:
    """Everything in memory (no database, no files): for library users' tests and our own.
    ``signer`` replaces the built-in signing page (e.g. Dropbox Sign pointed at a local fake)."""
    settings = settings or Settings(jwt_secret="in-memory-test-secret-" + "x" * 16)
    clock = clock or SystemClock()
    ids = ids or RandomIds()
    store = MemoryStore()
    all_handlers = (log_events, count_events, *handlers)

    def factory() -> UnitOfWork:
        return MemoryUnitOfWork(store, ids, all_handlers)

    ctx = Context(
        uow=factory,
        clock=clock,
        ids=ids,
        gateway=traced_port(gateway or SandboxGateway(clock), "payment_gateway"),
        documents=MemoryDocumentStore(),
        renderer=PlainTextAgreementRenderer(),
        signer=traced_port(signer or BuiltinSigner(settings.public_url), "signing_provider"),
        signed_copies=PlainSignedCopyMaker(),
        policy=policy or policy_from(settings),
        rate_limiter=MemoryRateLimiter(),
    )
    return App(
        settings=settings,
        ctx=ctx,
        idempotency=MemoryIdempotencyStore(),
        jwt_secret=settings.jwt_secret,
        tokens=token_service(settings, settings.jwt_secret),
        check_database=lambda: None,
        processed_gateway_events=MemoryProcessedEvents(),
        gateway_events=_gateway_events(settings),
    )
