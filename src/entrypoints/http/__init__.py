"""The Litestar HTTP entrypoint: ``create_app(app)`` builds the API around a bootstrapped
:class:`~entrypoints.bootstrap.App`; ``asgi.create_from_env`` is the uvicorn factory.

Importing this package builds nothing: the app, its middleware and the logging redaction are
all created by ``create_app``."""
