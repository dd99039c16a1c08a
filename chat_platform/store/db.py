"""Database lifecycle: the Tortoise config for a URL, migrations, start and stop.

The one migration tree lives in the top-level `migrations/` package and applies to SQLite and
PostgreSQL alike. `serve` and `migrate` call `migrate_database`; the app's lifespan calls
`open_database` / `close_database`.
May import: tortoise and the standard library.
"""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import connections

MODELS_MODULE = "chat_platform.store.models"
MIGRATIONS_MODULE = "migrations"


def tortoise_config(database_url: str, *, pool_size: int = 10) -> dict[str, Any]:
    url = database_url
    if url.startswith(("postgres://", "postgresql://")) and "maxsize" not in url:
        # asyncpg's default pool (maxsize 5) is too small for concurrent turns.
        url += ("&" if "?" in url else "?") + f"maxsize={pool_size}"
    if url.startswith("sqlite://") and "synchronous" not in url and ":memory:" not in url:
        # WAL (tortoise's default) + synchronous=NORMAL: no fsync per commit; a process crash
        # loses nothing, a power cut at most the last transactions.
        url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    connection: str | dict[str, Any] = url
    if url.startswith("sqlite://"):
        # Tortoise's SQLite client plus statements run in place (store/sqlite_engine.py).
        connection = {**expand_db_url(url), "engine": "chat_platform.store.sqlite_engine"}
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate_database(database_url: str) -> None:
    """Apply pending migrations (idempotent). Leaves no connection open."""
    from tortoise.migrations.api import migrate

    config = tortoise_config(database_url, pool_size=2)
    try:
        await migrate(config=config)
    finally:
        await connections.close_all(discard=True)


async def open_database(database_url: str, *, pool_size: int = 10) -> None:
    # The global fallback lets request tasks (outside the lifespan's context) use the ORM.
    await Tortoise.init(
        config=tortoise_config(database_url, pool_size=pool_size),
        _enable_global_fallback=True,
    )


async def close_database() -> None:
    await Tortoise.close_connections()


# For tortoise's own CLI (`tortoise -c chat_platform.store.db.TORTOISE_ORM makemigrations`):
# migrations are computed from the migration files, not from a live database.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
