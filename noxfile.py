"""Developer sessions: ``uvx nox -s tests lint typecheck imports bench``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typecheck", "imports"]


def _sync(session: nox.Session) -> None:
    session.run_install("uv", "sync", "--locked", env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location})


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (PostgreSQL tests need CHECKOUT_TEST_DATABASE_URL or a local server)."""
    _sync(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    _sync(session)
    session.run("ruff", "check", "src", "tests")
    session.run("ruff", "format", "--check", "src", "tests")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src."""
    _sync(session)
    session.run("mypy", "src")


@nox.session
def imports(session: nox.Session) -> None:
    """The import-linter contracts (checkout_core stays pure)."""
    _sync(session)
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print tables and write bench/results/*.json."""
    _sync(session)
    session.run("python", "-m", "bench", *session.posargs)
