"""SQLAlchemy adapter (SQLite for the embedded default, PostgreSQL with psycopg 3 in production).

The domain is not ORM-mapped: :mod:`.tables` holds SQLAlchemy Core tables and :mod:`.mapping`
turns rows into domain objects and back, explicitly. See ``docs/persistence.md``."""
