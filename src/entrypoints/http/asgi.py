"""The ASGI entrypoint for ``uvicorn --factory entrypoints.http.asgi:create_from_env``.

Each uvicorn worker process calls the factory once: it reads the settings, bootstraps its own
:class:`App` (database engine, document store, gateway) and builds the Litestar app. The parent
(``checkout serve``) has migrated the database: a worker's bootstrap finds it at head and never
imports Alembic. With
``CHECKOUT_DEMO=1`` it also loads the demo data (idempotent, so several workers may do it)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from entrypoints.bootstrap import bootstrap
from entrypoints.http.deferred_imports import defer_unused_imports
from entrypoints.http.malloc_arenas import limit_malloc_arenas
from entrypoints.observability.logs import configure_logging
from entrypoints.settings import load_settings, require_production_ready, require_shared_rate_limits

if TYPE_CHECKING:
    from litestar import Litestar


def _configure_logging(level: str, log_format: str) -> None:
    """Our format and level, unless the process already set up logging (``checkout serve`` hands
    uvicorn the same configuration, tests capture records themselves)."""
    if not logging.getLogger().handlers:
        configure_logging(level, log_format)
    logging.getLogger("checkout").setLevel(level)


def create_from_env() -> Litestar:
    """Settings from ``CHECKOUT_*``, the composition root, and the HTTP app."""
    # Before Litestar is first imported (this module does not import it): see deferred_imports.
    defer_unused_imports()
    limit_malloc_arenas()  # before the handler threads exist: see malloc_arenas
    from entrypoints.http.app import create_app

    settings = load_settings()
    require_shared_rate_limits(settings)  # N processes must not allow N times every limit
    require_production_ready(settings)  # every host replaceable: no secret, document or charge kept here
    _configure_logging(settings.log_level, settings.log_format)
    app = bootstrap(settings)
    if os.environ.get("CHECKOUT_DEMO") == "1":
        from checkout_core.demo import load_demo  # only then: the demo catalogue is no request's business

        load_demo(app.ctx.uow)
    asgi = create_app(app)
    asgi.on_shutdown.append(app.close)
    return asgi
