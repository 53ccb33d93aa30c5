"""The statement budgets of issue 7, held on SQLite and PostgreSQL.

Statement counts are deterministic (unlike timings), so the budgets the benchmark prints
(``python -m bench statements``) are also asserted here, with the same measuring code
(:func:`bench.statements.measure`: the real composition root, SQLAlchemy's
``before_cursor_execute``). A failure prints the statements the use case sent.

A budget not met yet, for reasons in the core's use cases rather than in the SQL adapter (see
``docs/operations.md``, "Statement budgets"), is ``xfail(strict=True)`` with the measured number
in the reason, so that the day it meets the budget the mark has to go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bench.statements import BUDGETS, Measured, measure, summarize

from tests.postgres import postgres_database

#: Budgets the use cases exceed today: use case → (statements measured, why).
OVER_BUDGET: dict[str, tuple[int, str]] = {
    "expire_one": (
        9,
        "the expiry transaction (claim, reservation, car, outbox: 4) is followed by the deposit refund, "
        "which writes the ledger before and after the gateway call in transactions of its own (payment by "
        "key, insert refund, update payment; update refund, outbox: 5) — the core use case's shape, not "
        "the SQL adapter",
    ),
}


def _cases(backend: str) -> list[object]:
    params: list[object] = []
    for name in BUDGETS:
        marks: list[pytest.MarkDecorator] = [pytest.mark.postgres] if backend == "postgres" else []
        if name in OVER_BUDGET:
            measured, why = OVER_BUDGET[name]
            marks.append(pytest.mark.xfail(strict=True, reason=f"measured {measured} > budget {BUDGETS[name]}: {why}"))
        params.append(pytest.param(backend, name, marks=marks, id=f"{backend}-{name}"))
    return params


@pytest.fixture(scope="module")
def sqlite_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Measured]:
    """The four use cases measured once on a fresh SQLite data directory."""
    return measure("", tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="module")
def postgres_counts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Measured]]:
    """The four use cases measured once on a fresh private PostgreSQL database."""
    with postgres_database() as url:
        yield measure(url, tmp_path_factory.mktemp("postgres"))


@pytest.mark.parametrize(("backend", "use_case"), [*_cases("sqlite"), *_cases("postgres")])
def test_statement_budget(backend: str, use_case: str, request: pytest.FixtureRequest) -> None:
    counts: dict[str, Measured] = request.getfixturevalue(f"{backend}_counts")
    measured = counts[use_case]
    listing = "\n".join(f"  {n:2d}. {summarize(s)}" for n, s in enumerate(measured.statements, 1))
    assert measured.count <= BUDGETS[use_case], (
        f"{use_case} on {backend} sent {measured.count} statements (budget {BUDGETS[use_case]}):\n{listing}"
    )


@pytest.mark.postgres
def test_counts_agree_between_databases(
    sqlite_counts: dict[str, Measured], postgres_counts: dict[str, Measured]
) -> None:
    """The use cases make the same repository calls whatever the database (one statement each)."""
    assert {k: v.count for k, v in sqlite_counts.items()} == {k: v.count for k, v in postgres_counts.items()}
