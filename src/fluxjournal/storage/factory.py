"""The choice of a store by its URL: a PostgreSQL database, or else an SQLite file.

Apart from the contract (:mod:`fluxjournal.storage.contract`) so that the backends, which
import the contract, are imported only by the factory: the PostgreSQL one needs psycopg.
"""

from __future__ import annotations

from typing import Any

#: The URL schemes of PostgreSQL, as libpq takes them.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url: str) -> bool:
    """True when ``url`` names a PostgreSQL database rather than an SQLite file: a
    ``postgresql://`` URL, or a libpq key/value string (``dbname=... host=...``)."""
    if url.startswith(POSTGRES_SCHEMES):
        return True
    words = url.split()
    return bool(words) and all("=" in word for word in words)


def open_store(url: str) -> Any:
    """The store ``url`` names: a PostgreSQL database, or else an SQLite file path."""
    if is_postgres(url):
        from fluxjournal.storage.postgres import PostgresStore

        return PostgresStore(url)
    from fluxjournal.storage.sqlite import SQLiteStore

    return SQLiteStore(url)


def open_archive(url: str) -> Any:
    """The database ``url`` names, opened to read only: it must exist and hold a schema."""
    if is_postgres(url):
        from fluxjournal.storage.postgres import PostgresArchive

        return PostgresArchive(url)
    from fluxjournal.storage.sqlite import SQLiteArchive

    return SQLiteArchive(url)
