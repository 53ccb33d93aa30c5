"""Benchmarks: scripts that print numbers (never timed assertions in tests).

``uv run python -m bench [--quick] [section …]`` runs the sections, prints one table each and
writes the results with the machine they ran on to ``bench/results/<timestamp>.json`` and
``bench/results/latest.json``. Sections:

* ``statements`` — SQL statements per use case on SQLite and PostgreSQL (:mod:`bench.statements`)
* ``http`` — the real server process against a bare Litestar baseline (:mod:`bench.http_load`)
* ``pdf`` — agreement rendering and signing (:mod:`bench.pdf`)
* ``expiry`` — the expiry sweep with 1 and 3 worker processes (:mod:`bench.expiry`)
* ``memory`` — peak RSS per server process under load (:mod:`bench.memory`)

Everything runs against 127.0.0.1 only, with bounded request counts, on private PostgreSQL
databases (``bench_<uuid>``) created and dropped by :mod:`bench.pg`."""
