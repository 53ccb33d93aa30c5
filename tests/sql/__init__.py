"""Persistence tests: the repository contract on memory, SQLite and PostgreSQL, migrations,
locking, concurrency and the core's use cases on the SQL adapter."""
