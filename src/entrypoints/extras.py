"""The package's optional extras and what each brings: a missing one is an ImportError that
names the extra to install, raised when the composition root first needs it."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

#: Extra → the top-level modules it installs (``pyproject.toml``'s optional dependencies).
EXTRAS: Mapping[str, tuple[str, ...]] = {
    "sql": ("sqlalchemy", "alembic"),
    "postgres": ("psycopg",),
    "stripe": ("stripe",),
    "pdf": ("reportlab", "pypdf", "pyhanko"),
    "signing": ("dropbox_sign",),
    "nats": ("nats",),
    "redis": ("redis",),
    "s3": ("boto3",),
    "server": ("litestar", "uvicorn"),
    "cli": ("click",),
}


_find_spec = importlib.util.find_spec  # replaced by the tests


class MissingExtra(ImportError):
    """A feature needs an extra that is not installed."""


def require_extra(extra: str, feature: str, *, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtra` naming ``extra`` unless its modules (or ``modules``) import."""
    missing = [m for m in (modules or EXTRAS[extra]) if _find_spec(m) is None]
    if missing:
        raise MissingExtra(
            f"{feature} needs the {extra!r} extra (missing: {', '.join(missing)}): "
            f"pip install 'checkout-backend[{extra}]'",
            name=missing[0],
        )
