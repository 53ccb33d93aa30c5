"""Settings from the environment (``CHECKOUT_…``), validated once at start.

A bad value stops the program with a message naming the variable. Nothing here runs at import
time: call :func:`load_settings`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import attrs

from checkout_core.money import Money
from checkout_core.pricing.fees import FeeSchedule
from checkout_core.usecases.context import Policy

#: The business defaults are the core's (``Policy``, ``BankDetails``, the dealer); settings only
#: name the variables that override them.
_POLICY = Policy()
_BANK = _POLICY.bank
_DEALER = _POLICY.dealer


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


@attrs.frozen(kw_only=True)
class Settings:
    """Every setting the program reads. Defaults give the embedded, configuration-free setup."""

    data_dir: Path = Path(".checkout")
    database_url: str = ""  # empty: SQLite file in data_dir
    #: ``auto`` (production on PostgreSQL, development on the embedded SQLite), ``development``
    #: or ``production``: a production start refuses host-local state (see
    #: :func:`require_production_ready`).
    environment: str = "auto"
    #: Where document bytes live: ``local`` (``data_dir/documents``) or ``s3`` (a bucket).
    document_store: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = "documents/"
    #: An S3-compatible service (MinIO, Ceph, R2…); empty: AWS, region from ``AWS_*``.
    s3_endpoint_url: str = ""
    #: Seconds a presigned download URL is valid (downloads redirect to the bucket); 0: the
    #: bytes stream through the API.
    s3_presigned_seconds: int = 0
    public_url: str = "http://127.0.0.1:8000"
    payment_gateway: str = "sandbox"  # sandbox | stripe
    stripe_api_key: str = attrs.field(default="", repr=False)
    stripe_webhook_secret: str = attrs.field(default="", repr=False)
    stripe_api_base: str = ""
    signing_provider: str = "builtin"  # builtin | dropbox_sign
    dropbox_sign_api_key: str = attrs.field(default="", repr=False)
    dropbox_sign_api_base: str = ""
    dropbox_sign_client_id: str = ""
    dropbox_sign_test_mode: bool = True  # requests are not legally binding until this is off
    jwt_secret: str = attrs.field(default="", repr=False)  # empty: generated once in data_dir
    #: The longest lifetime (``exp`` − ``iat``) a bearer token may have; longer ones are refused.
    max_token_ttl_hours: int = 24
    hold_hours: int = _POLICY.hold_hours
    max_active_reservations: int = _POLICY.max_active_reservations
    return_window_days: int = _POLICY.return_window.days
    admin_fee_cents: int = _POLICY.fees.admin_fee.cents
    documentation_fee_cents: int = _POLICY.fees.documentation_fee.cents
    licence_fee_cents: int = _POLICY.fees.licence_fee.cents
    card_payment_limit_cents: int = _POLICY.card_payment_limit.cents
    #: Seconds a money intent may stay pending before ``checkout payments recover`` presumes the
    #: process that wrote it died and settles it by asking the gateway.
    recovery_grace_seconds: int = int(_POLICY.recovery_grace.total_seconds())
    max_upload_bytes: int = _POLICY.max_upload_bytes
    max_request_bytes: int = 12 * 1024 * 1024
    max_image_pixels: int = _POLICY.max_image_pixels
    max_insurance_proofs: int = _POLICY.max_insurance_proofs
    #: Where rate limits are counted: ``auto`` (Redis when ``redis_url`` is set, else in
    #: process), ``memory`` or ``redis``. See :func:`require_shared_rate_limits`.
    rate_limit_store: str = "auto"
    redis_url: str = attrs.field(default="", repr=False)  # may carry a password
    redis_key_prefix: str = "checkout:rl:"
    #: ``CHECKOUT_RATE_LIMIT_*`` overrides: (limit name, count, window seconds); the defaults
    #: are ``checkout_core.usecases.rate_limits.RateLimits``'s.
    rate_limits: tuple[tuple[str, int, int], ...] = ()
    agreements: str = "inline"  # inline | worker (``checkout documents generate`` renders them)
    dealer_name: str = _DEALER.name
    dealer_address: str = _DEALER.address
    dealer_registration: str = _DEALER.registration_number
    dealer_phone: str = _DEALER.phone
    dealer_email: str = _DEALER.email
    dealer_gst_number: str = _DEALER.gst_number
    dealer_qst_number: str = _DEALER.qst_number
    #: Print the English version beside a Quebec buyer's French agreement.
    agreement_with_english: bool = _POLICY.agreement_with_english
    bank_beneficiary: str = _BANK.beneficiary
    bank_institution: str = _BANK.institution
    bank_institution_number: str = _BANK.institution_number
    bank_transit_number: str = _BANK.transit_number
    bank_account_number: str = _BANK.account_number
    bank_swift: str = _BANK.swift
    bank_due_days: int = _BANK.due_days
    signing_cert_file: str = ""
    signing_key_file: str = ""
    #: An RFC 3161 time-stamping authority for the seal of signed copies (PAdES B-T); empty: none.
    tsa_url: str = ""
    #: PEM file of the TSA's trust anchors: timestamps are checked against them, and seals embed
    #: their validation data (PAdES B-LT).
    tsa_trust_file: str = ""
    tsa_timeout_seconds: int = 10
    #: The signing page's look: the name shown (empty: the dealer's name), its colour (``#rrggbb``,
    #: readable under white text) and a logo (PNG, JPEG or SVG file; empty: the name only).
    brand_name: str = ""
    brand_color: str = "#1f4e79"
    brand_logo_file: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "INFO"
    #: ``json`` | ``console`` | ``auto`` (console on a terminal, JSON otherwise): see entrypoints.logs.
    log_format: str = "auto"
    #: When set, ``GET /metrics`` requires ``Authorization: Bearer <it>`` (open when empty).
    metrics_token: str = attrs.field(default="", repr=False)
    #: The port a job worker (``… --loop``) serves its metrics on; 0: none.
    worker_metrics_port: int = 0

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'checkout.sqlite3').resolve()}"

    @property
    def is_embedded_sqlite(self) -> bool:
        """True when running on the embedded SQLite default."""
        return self.effective_database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        """True unless this is the embedded default or ``CHECKOUT_ENV=development``."""
        if self.environment != "auto":
            return self.environment == "production"
        return not self.is_embedded_sqlite

    @property
    def effective_rate_limit_store(self) -> str:
        """``redis`` or ``memory``."""
        if self.rate_limit_store != "auto":
            return self.rate_limit_store
        return "redis" if self.redis_url else "memory"


#: Every default, for :func:`load_settings` (each is written once, in :class:`Settings` or the core).
_DEFAULTS = Settings()

#: ``CHECKOUT_RATE_LIMIT_<NAME>`` → the limit it sets (``RateLimits`` field).
RATE_LIMIT_VARIABLES: Mapping[str, str] = {
    f"CHECKOUT_RATE_LIMIT_{name.upper()}": name
    for name in (
        "reservations_per_customer",
        "reservations_per_ip",
        "declines_per_customer",
        "declines_per_ip",
        "insurance_uploads_per_customer",
        "signing_requests_per_customer",
        "bad_tokens_per_ip",
        "bad_webhooks_per_ip",
    )
}
_RATE = re.compile(r"^(\d+)\s*/\s*(\d*)\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _rate(name: str, raw: str) -> tuple[int, int]:
    """``5/1h`` → (5, 3600); ``0`` or ``off`` → no limit."""
    value = raw.strip().lower()
    if value in ("0", "off"):
        return 0, 60
    match = _RATE.match(value)
    if match is None:
        raise SettingsError(f"{name} must be COUNT/WINDOW such as 5/1h, 30/10m or 20/60s (or off), got {raw!r}")
    count, amount, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    window = amount * _UNIT_SECONDS[unit]
    if not 0 <= count <= 1_000_000 or not 1 <= window <= 7 * 86400:
        raise SettingsError(f"{name}: at most 1,000,000 per window of 1 s to 7 days, got {raw!r}")
    return count, window


def require_shared_rate_limits(settings: Settings) -> None:
    """API processes: refuse to serve with per-process rate limits on a shared database unless
    asked for (``CHECKOUT_RATE_LIMIT_STORE=memory``) — N processes would allow N times every
    limit. The embedded SQLite default counts in process with no configuration."""
    if settings.rate_limit_store == "auto" and not settings.redis_url and not settings.is_embedded_sqlite:
        raise SettingsError(
            "CHECKOUT_REDIS_URL is required with a shared database, so that rate limits hold across "
            "API processes (or set CHECKOUT_RATE_LIMIT_STORE=memory to count in each process)"
        )


def require_production_ready(settings: Settings) -> None:
    """API processes and workers: refuse a production start that would keep state on this host
    (every host must be replaceable; they share only the database, the bucket, NATS and Redis).
    The first missing piece is named, with the variable that provides it."""
    if not settings.is_production:
        return
    why = "production (CHECKOUT_ENV=production, or a PostgreSQL database; CHECKOUT_ENV=development to run without)"
    if not settings.jwt_secret:
        raise SettingsError(f"CHECKOUT_JWT_SECRET is required in {why}: a generated one would differ per host")
    if settings.payment_gateway == "sandbox":
        raise SettingsError(
            f"CHECKOUT_PAYMENT_GATEWAY=sandbox is for development only (it takes no money and keeps its "
            f"records on this host): set CHECKOUT_PAYMENT_GATEWAY=stripe in {why}"
        )
    if settings.document_store != "s3":
        raise SettingsError(
            f"CHECKOUT_DOCUMENT_STORE=s3 (with CHECKOUT_S3_BUCKET) is required in {why}: documents in "
            "the data directory are seen by this host only"
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _color(env: Mapping[str, str], name: str, default: str) -> str:
    """A ``#rrggbb`` colour that white text on it can be read against (WCAG AA, 4.5:1): it is the
    signing page's header and button colour, and it goes into the page's CSS, so nothing else passes."""
    raw = (env.get(name) or "").strip()
    if raw == "":
        return default
    if not _HEX_COLOR.match(raw):
        raise SettingsError(f"{name} must be a colour written #rrggbb, got {raw!r}")
    contrast = 1.05 / (_luminance(raw) + 0.05)
    if contrast < 4.5:
        raise SettingsError(f"{name}: white text on {raw} has a contrast of {contrast:.1f}:1; choose a darker colour")
    return raw.lower()


#: A logo is shown small in the page's header: anything larger is a mistake.
MAX_LOGO_BYTES = 256 * 1024


def _logo_file(env: Mapping[str, str]) -> str:
    """``CHECKOUT_BRAND_LOGO_FILE``: a readable PNG, JPEG or SVG file of at most 256 KiB."""
    raw = (env.get("CHECKOUT_BRAND_LOGO_FILE") or "").strip()
    if not raw:
        return ""
    try:
        content = Path(raw).read_bytes()
    except OSError as error:
        raise SettingsError(f"CHECKOUT_BRAND_LOGO_FILE cannot be read: {error.strerror or error}") from None
    if len(content) > MAX_LOGO_BYTES:
        raise SettingsError(f"CHECKOUT_BRAND_LOGO_FILE is larger than {MAX_LOGO_BYTES // 1024} KiB")
    is_svg = b"<svg" in content[:2048] and not content.startswith((b"\x89PNG", b"\xff\xd8\xff"))
    if not (content.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")) or is_svg):
        raise SettingsError("CHECKOUT_BRAND_LOGO_FILE must be a PNG, JPEG or SVG image")
    return str(Path(raw).resolve())


def _tsa_url(env: Mapping[str, str]) -> str:
    raw = (env.get("CHECKOUT_TSA_URL") or "").strip()
    if raw and not raw.startswith(("http://", "https://")):
        raise SettingsError(f"CHECKOUT_TSA_URL must be an http:// or https:// URL, got {raw!r}")
    return raw


def fee_schedule(settings: Settings) -> FeeSchedule:
    """The dealer's fees the settings describe."""
    return FeeSchedule(
        admin_fee=Money(settings.admin_fee_cents),
        documentation_fee=Money(settings.documentation_fee_cents),
        licence_fee=Money(settings.licence_fee_cents),
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    s = env.get
    d = _DEFAULTS
    database_url = s("CHECKOUT_DATABASE_URL", "")
    if database_url and not database_url.startswith(("sqlite", "postgresql")):
        raise SettingsError(
            "CHECKOUT_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, "
            f"got one starting {database_url.split(':', 1)[0]!r}"
        )
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    public_url = s("CHECKOUT_PUBLIC_URL", d.public_url)
    if not public_url.startswith(("http://", "https://")):
        raise SettingsError(f"CHECKOUT_PUBLIC_URL must start with http:// or https://, got {public_url!r}")
    gateway = _choice(env, "CHECKOUT_PAYMENT_GATEWAY", d.payment_gateway, ("sandbox", "stripe"))
    if gateway == "stripe" and not s("STRIPE_API_KEY"):
        raise SettingsError("STRIPE_API_KEY is required when CHECKOUT_PAYMENT_GATEWAY=stripe")
    signing = _choice(env, "CHECKOUT_SIGNING_PROVIDER", d.signing_provider, ("builtin", "dropbox_sign"))
    if signing == "dropbox_sign" and not s("DROPBOX_SIGN_API_KEY"):
        raise SettingsError("DROPBOX_SIGN_API_KEY is required when CHECKOUT_SIGNING_PROVIDER=dropbox_sign")
    if signing == "dropbox_sign" and not (s("DROPBOX_SIGN_TEST_MODE") or "").strip():
        # Test-mode signatures are not legally binding: which one this is must never be a default.
        raise SettingsError(
            "DROPBOX_SIGN_TEST_MODE must be set when CHECKOUT_SIGNING_PROVIDER=dropbox_sign: false for "
            "legally binding signatures, true for Dropbox Sign's test mode (not binding)"
        )
    document_store = _choice(env, "CHECKOUT_DOCUMENT_STORE", d.document_store, ("local", "s3"))
    s3_bucket = (s("CHECKOUT_S3_BUCKET") or "").strip()
    if document_store == "s3" and not s3_bucket:
        raise SettingsError("CHECKOUT_S3_BUCKET is required when CHECKOUT_DOCUMENT_STORE=s3")
    s3_endpoint_url = (s("CHECKOUT_S3_ENDPOINT_URL") or "").strip()
    if s3_endpoint_url and not s3_endpoint_url.startswith(("http://", "https://")):
        raise SettingsError(f"CHECKOUT_S3_ENDPOINT_URL must be an http:// or https:// URL, got {s3_endpoint_url!r}")
    s3_prefix = (s("CHECKOUT_S3_PREFIX") if "CHECKOUT_S3_PREFIX" in env else d.s3_prefix) or ""
    if s3_prefix.startswith("/") or ".." in s3_prefix.split("/"):
        raise SettingsError(f"CHECKOUT_S3_PREFIX must be a relative name such as documents/, got {s3_prefix!r}")
    if s3_prefix and not s3_prefix.endswith("/"):
        s3_prefix += "/"
    jwt_secret = s("CHECKOUT_JWT_SECRET", "")
    if jwt_secret and len(jwt_secret) < 32:
        raise SettingsError("CHECKOUT_JWT_SECRET must be at least 32 characters")
    rate_limit_store = _choice(env, "CHECKOUT_RATE_LIMIT_STORE", d.rate_limit_store, ("auto", "memory", "redis"))
    redis_url = s("CHECKOUT_REDIS_URL", "")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("CHECKOUT_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if rate_limit_store == "redis" and not redis_url:
        raise SettingsError("CHECKOUT_REDIS_URL is required when CHECKOUT_RATE_LIMIT_STORE=redis")
    rate_limits = tuple(
        (limit, *_rate(variable, env[variable]))
        for variable, limit in RATE_LIMIT_VARIABLES.items()
        if env.get(variable)
    )
    log_level = (s("CHECKOUT_LOG_LEVEL") or d.log_level).upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"CHECKOUT_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    return Settings(
        data_dir=Path(s("CHECKOUT_DATA_DIR") or d.data_dir),
        database_url=database_url,
        environment=_choice(env, "CHECKOUT_ENV", d.environment, ("auto", "development", "production")),
        document_store=document_store,
        s3_bucket=s3_bucket,
        s3_prefix=s3_prefix,
        s3_endpoint_url=s3_endpoint_url,
        s3_presigned_seconds=_int(env, "CHECKOUT_S3_PRESIGNED_SECONDS", d.s3_presigned_seconds, 0, 3600),
        public_url=public_url.rstrip("/"),
        payment_gateway=gateway,
        stripe_api_key=s("STRIPE_API_KEY", ""),
        stripe_webhook_secret=s("STRIPE_WEBHOOK_SECRET", ""),
        stripe_api_base=s("CHECKOUT_STRIPE_API_BASE", ""),
        signing_provider=signing,
        dropbox_sign_api_key=s("DROPBOX_SIGN_API_KEY", ""),
        dropbox_sign_api_base=s("CHECKOUT_DROPBOX_SIGN_API_BASE", ""),
        dropbox_sign_client_id=s("DROPBOX_SIGN_CLIENT_ID", ""),
        dropbox_sign_test_mode=_flag(env, "DROPBOX_SIGN_TEST_MODE", d.dropbox_sign_test_mode),
        jwt_secret=jwt_secret,
        max_token_ttl_hours=_int(env, "CHECKOUT_MAX_TOKEN_TTL_HOURS", d.max_token_ttl_hours, 1, 24 * 30),
        hold_hours=_int(env, "CHECKOUT_RESERVATION_HOLD_HOURS", d.hold_hours, 48, 72),
        max_active_reservations=_int(env, "CHECKOUT_MAX_ACTIVE_RESERVATIONS", d.max_active_reservations, 1, 100),
        return_window_days=_int(env, "CHECKOUT_RETURN_WINDOW_DAYS", d.return_window_days, 0, 90),
        admin_fee_cents=_int(env, "CHECKOUT_ADMIN_FEE_CENTS", d.admin_fee_cents, 0, 10_000_000),
        documentation_fee_cents=_int(env, "CHECKOUT_DOCUMENTATION_FEE_CENTS", d.documentation_fee_cents, 0, 10_000_000),
        licence_fee_cents=_int(env, "CHECKOUT_LICENCE_FEE_CENTS", d.licence_fee_cents, 0, 1_000_000),
        card_payment_limit_cents=_int(
            env, "CHECKOUT_CARD_PAYMENT_LIMIT_CENTS", d.card_payment_limit_cents, 100, 1_000_000_000
        ),
        recovery_grace_seconds=_int(env, "CHECKOUT_RECOVERY_GRACE_SECONDS", d.recovery_grace_seconds, 0, 86_400),
        max_upload_bytes=_int(env, "CHECKOUT_MAX_UPLOAD_BYTES", d.max_upload_bytes, 1024, 100 * 1024 * 1024),
        max_request_bytes=_int(env, "CHECKOUT_MAX_REQUEST_BYTES", d.max_request_bytes, 1024, 200 * 1024 * 1024),
        max_image_pixels=_int(env, "CHECKOUT_MAX_IMAGE_PIXELS", d.max_image_pixels, 10_000, 268_435_456),
        max_insurance_proofs=_int(env, "CHECKOUT_MAX_INSURANCE_PROOFS", d.max_insurance_proofs, 1, 100),
        rate_limit_store=rate_limit_store,
        redis_url=redis_url,
        redis_key_prefix=s("CHECKOUT_REDIS_KEY_PREFIX") or d.redis_key_prefix,
        rate_limits=rate_limits,
        agreements=_choice(env, "CHECKOUT_AGREEMENTS", d.agreements, ("inline", "worker")),
        dealer_name=s("CHECKOUT_DEALER_NAME") or d.dealer_name,
        dealer_address=s("CHECKOUT_DEALER_ADDRESS") or d.dealer_address,
        dealer_registration=s("CHECKOUT_DEALER_REGISTRATION") or d.dealer_registration,
        dealer_phone=s("CHECKOUT_DEALER_PHONE") or d.dealer_phone,
        dealer_email=s("CHECKOUT_DEALER_EMAIL") or d.dealer_email,
        dealer_gst_number=s("CHECKOUT_DEALER_GST_NUMBER") or d.dealer_gst_number,
        dealer_qst_number=s("CHECKOUT_DEALER_QST_NUMBER") or d.dealer_qst_number,
        agreement_with_english=_flag(env, "CHECKOUT_AGREEMENT_WITH_ENGLISH", d.agreement_with_english),
        bank_beneficiary=s("CHECKOUT_BANK_BENEFICIARY") or d.bank_beneficiary,
        bank_institution=s("CHECKOUT_BANK_INSTITUTION") or d.bank_institution,
        bank_institution_number=s("CHECKOUT_BANK_INSTITUTION_NUMBER") or d.bank_institution_number,
        bank_transit_number=s("CHECKOUT_BANK_TRANSIT_NUMBER") or d.bank_transit_number,
        bank_account_number=s("CHECKOUT_BANK_ACCOUNT_NUMBER") or d.bank_account_number,
        bank_swift=s("CHECKOUT_BANK_SWIFT") or d.bank_swift,
        bank_due_days=_int(env, "CHECKOUT_BANK_DUE_DAYS", d.bank_due_days, 1, 30),
        signing_cert_file=s("CHECKOUT_SIGNING_CERT_FILE", ""),
        signing_key_file=s("CHECKOUT_SIGNING_KEY_FILE", ""),
        tsa_url=_tsa_url(env),
        tsa_trust_file=s("CHECKOUT_TSA_TRUST_FILE", ""),
        tsa_timeout_seconds=_int(env, "CHECKOUT_TSA_TIMEOUT_SECONDS", d.tsa_timeout_seconds, 1, 120),
        brand_name=(s("CHECKOUT_BRAND_NAME") or "").strip()[:80],
        brand_color=_color(env, "CHECKOUT_BRAND_COLOR", d.brand_color),
        brand_logo_file=_logo_file(env),
        nats_url=s("CHECKOUT_NATS_URL") or d.nats_url,
        log_level=log_level,
        log_format=_choice(env, "CHECKOUT_LOG_FORMAT", d.log_format, ("auto", "json", "console")),
        metrics_token=s("CHECKOUT_METRICS_TOKEN", ""),
        worker_metrics_port=_int(env, "CHECKOUT_WORKER_METRICS_PORT", d.worker_metrics_port, 0, 65535),
    )
