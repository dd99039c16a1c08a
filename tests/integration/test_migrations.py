"""The one migration tree produces exactly the models' schema, on SQLite and on PostgreSQL.

Catches the tortoise traps in TECH-NOTES (NOT NULL without db_default, AlterField dropping
indexes): `migrations/` applied to an empty database must equal `generate_schemas()`.
Each side is built in its own process so tortoise's global state cannot leak between them.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

PG_URL = os.environ.get("CHAT_PLATFORM_TEST_DATABASE_URL")

_BUILD = r"""
import asyncio, sys
from tortoise import Tortoise
from chat_platform.store.db import migrate_database, tortoise_config
mode, url = sys.argv[1], sys.argv[2]
async def main():
    if mode == "migrate":
        await migrate_database(url)
    else:
        await Tortoise.init(config=tortoise_config(url))
        await Tortoise.generate_schemas()
        await Tortoise.close_connections()
asyncio.run(main())
"""


def _build(mode: str, url: str) -> None:
    subprocess.run([sys.executable, "-c", _BUILD, mode, url], check=True, timeout=120)


def _sqlite_schema(path: Path) -> dict[str, object]:
    db = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'tortoise%'"
            )
        ]
        schema: dict[str, object] = {}
        for table in sorted(tables):
            cols = sorted(
                (r[1], r[2].upper(), r[3], r[5])
                for r in db.execute(f"PRAGMA table_info('{table}')")
            )
            indexes = set()
            for idx in db.execute(f"PRAGMA index_list('{table}')"):
                columns = tuple(r[2] for r in db.execute(f"PRAGMA index_info('{idx[1]}')"))
                indexes.add((bool(idx[2]), columns))
            fks = sorted(
                (r[2], r[3], r[4], r[6]) for r in db.execute(f"PRAGMA foreign_key_list('{table}')")
            )
            schema[table] = {"columns": cols, "indexes": sorted(indexes), "fks": fks}
        return schema
    finally:
        db.close()


def test_sqlite_migrations_equal_models(tmp_path: Path) -> None:
    migrated, generated = tmp_path / "migrated.sqlite3", tmp_path / "generated.sqlite3"
    _build("migrate", f"sqlite://{migrated}")
    _build("generate", f"sqlite://{generated}")
    a, b = _sqlite_schema(migrated), _sqlite_schema(generated)
    assert "runs" in a and "messages" in a
    assert a == b


async def _pg_schema(url: str) -> dict[str, object]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        cols = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name NOT LIKE 'tortoise%'"
        )
        idx = await conn.fetch(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename NOT LIKE 'tortoise%'"
        )
        fks = await conn.fetch(
            "SELECT tc.table_name, kcu.column_name, rc.delete_rule FROM "
            "information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu "
            "ON tc.constraint_name = kcu.constraint_name JOIN "
            "information_schema.referential_constraints rc "
            "ON rc.constraint_name = tc.constraint_name "
            "WHERE tc.constraint_type = 'FOREIGN KEY'"
        )
    finally:
        await conn.close()
    # Index names may differ between the two paths; what they cover may not.
    index_shapes = sorted(
        (r["tablename"], re.sub(r"INDEX \S+ ON", "INDEX ON", r["indexdef"])) for r in idx
    )
    return {
        "columns": sorted(tuple(r) for r in cols),
        "indexes": index_shapes,
        "fks": sorted(tuple(r) for r in fks),
    }


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="CHAT_PLATFORM_TEST_DATABASE_URL not set")
async def test_postgres_migrations_equal_models() -> None:
    import asyncpg

    assert PG_URL
    admin_url = PG_URL.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres"
    names = [f"cp_schema_{uuid.uuid4().hex[:8]}_{side}" for side in ("mig", "gen")]
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_URL.rsplit("/", 1)[0]
        _build("migrate", f"{base}/{names[0]}")
        _build("generate", f"{base}/{names[1]}")
        a = await _pg_schema(f"{base}/{names[0]}")
        b = await _pg_schema(f"{base}/{names[1]}")
        assert any(c[0] == "runs" for c in a["columns"])  # type: ignore[index,union-attr]
        assert a == b
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
