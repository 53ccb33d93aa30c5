"""The ASGI entrypoint for ``uvicorn --factory entrypoints.http.asgi:create_from_env``.

Each uvicorn worker process calls the factory once: it reads the settings, bootstraps its own
:class:`App` (database engine, document store, gateway) and builds the Litestar app. With
``CHECKOUT_DEMO=1`` it also loads the demo data (idempotent, so several workers may do it)."""

from __future__ import annotations

import logging
import os

from litestar import Litestar

from checkout_core.demo import load_demo
from entrypoints.bootstrap import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings, require_shared_rate_limits


def _configure_logging(level: str) -> None:
    """Our loggers print at the configured level, unless the process already set up logging."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("checkout").setLevel(level)


def create_from_env() -> Litestar:
    """Settings from ``CHECKOUT_*``, the composition root, and the HTTP app."""
    settings = load_settings()
    require_shared_rate_limits(settings)  # N processes must not allow N times every limit
    _configure_logging(settings.log_level)
    app = bootstrap(settings)
    if os.environ.get("CHECKOUT_DEMO") == "1":
        load_demo(app.ctx.uow)
    asgi = create_app(app)
    asgi.on_shutdown.append(app.close)
    return asgi
