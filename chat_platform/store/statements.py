"""Hand-written SQL for the statements every chat turn runs.

Why: building these queries through Tortoise's query builder (pypika copies, filter
resolution) was ~15 % of a turn's CPU in the load bench, and each hop through Tortoise's
SQLite client another ~55 µs (bench/PERF-LOG.md). The SQL here is built once per statement
shape and dialect; values go through the same `Field.to_db_value` conversions as Tortoise's
`update()`, so rows are stored exactly as the ORM stores them. They run on the connection the
model resolves to (a transaction's, inside one) — on SQLite in place when it is free
(`store.sqlite_engine`).
May import: tortoise, the standard library, store.models and store.sqlite_engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from chat_platform.store.models import Message, Project, Session, Workflow
from chat_platform.store.sqlite_engine import Client as InPlaceClient

_SQL: dict[tuple[Any, ...], str] = {}


async def _execute(db: BaseDBAsyncClient, sql: str, values: list[Any]) -> int:
    """Rows changed by a write: in place when the SQLite client can (`store.sqlite_engine`)."""
    if isinstance(db, InPlaceClient):
        return await db.execute_in_place(sql, values)
    return (await db.execute_query(sql, values))[0]


async def query(db: BaseDBAsyncClient, sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """The rows of a read, as dicts: in place when the SQLite client can."""
    if isinstance(db, InPlaceClient):
        return await db.query_in_place(sql, values)
    return await db.execute_query_dict(sql, values)


def _dialect_sql(sql: str, dialect: str) -> str:
    """`?` placeholders as the dialect wants them (asyncpg numbers them)."""
    if dialect != "postgres":
        return sql
    count = iter(range(1, 1000))
    return re.sub(r"\?", lambda _m: f"${next(count)}", sql)


def _column(model: type[Model], name: str) -> str:
    return f'"{model._meta.fields_db_projection[name]}"'


def _table(model: type[Model]) -> str:
    return f'"{model._meta.db_table}"'


_PLANS: dict[type[Model], list[tuple[str, Any]]] = {}


def _insert_plan(model: type[Model]) -> list[tuple[str, Any]]:
    """(field name, field) of every column, in table order."""
    plan = _PLANS.get(model)
    if plan is None:
        if model._meta.generated_db_fields:
            raise TypeError(f"{model.__name__} has generated columns: use Model.create")
        fields_map = model._meta.fields_map
        plan = _PLANS[model] = [
            (name, fields_map[name]) for name in model._meta.fields_db_projection
        ]
    return plan


@dataclass(frozen=True, slots=True)
class Write:
    """One write statement, built but not run: `write_together` runs several in one
    transaction."""

    db: BaseDBAsyncClient
    sql: str
    values: list[Any]


def insert_write(model: type[Model], **fields: Any) -> Write:
    """`Model.create(**fields)` without building a model instance: a column not given takes
    its field's default (None without one). Timestamps must be given (no auto_now here)."""
    db = model._meta.db
    dialect = db.capabilities.dialect
    key = ("insert", model, dialect)
    sql = _SQL.get(key)
    plan = _insert_plan(model)
    if sql is None:
        columns = ", ".join(_column(model, name) for name, _ in plan)
        marks = ", ".join("?" for _ in plan)
        sql = _SQL[key] = _dialect_sql(
            f"INSERT INTO {_table(model)} ({columns}) VALUES ({marks})", dialect
        )
    unknown = fields.keys() - model._meta.fields_db_projection.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no columns {sorted(unknown)}")
    values = []
    for name, field in plan:
        if name in fields:
            value = fields[name]
        else:
            default = field.default
            value = default() if callable(default) else default
        values.append(field.to_db_value(value, model))
    return Write(db, sql, values)


def update_write(model: type[Model], pk: str, **fields: Any) -> Write:
    """`Model.filter(pk=pk).update(**fields)` without the query builder."""
    db = model._meta.db
    dialect = db.capabilities.dialect
    key = ("update", model, tuple(fields), dialect)
    sql = _SQL.get(key)
    if sql is None:
        sets = ", ".join(f"{_column(model, name)} = ?" for name in fields)
        pk_column = _column(model, model._meta.pk_attr)
        sql = _SQL[key] = _dialect_sql(
            f"UPDATE {_table(model)} SET {sets} WHERE {pk_column} = ?", dialect
        )
    fields_map = model._meta.fields_map
    values = [fields_map[name].to_db_value(value, model) for name, value in fields.items()]
    values.append(pk)
    return Write(db, sql, values)


async def insert(model: type[Model], **fields: Any) -> None:
    write = insert_write(model, **fields)
    await _execute(write.db, write.sql, write.values)


async def update_by_pk(model: type[Model], pk: str, **fields: Any) -> int:
    """Rows changed."""
    write = update_write(model, pk, **fields)
    return await _execute(write.db, write.sql, write.values)


async def write_together(writes: Sequence[Write]) -> None:
    """The writes in one transaction, all or none (on SQLite in place when it can: one commit
    for all of them)."""
    if len(writes) <= 1:  # a statement alone is a transaction of its own
        for write in writes:
            await _execute(write.db, write.sql, write.values)
        return
    db = writes[0].db
    if isinstance(db, InPlaceClient) and await db.execute_together_in_place(
        [(write.sql, write.values) for write in writes]
    ):
        return
    async with in_transaction(db.connection_name) as conn:
        for write in writes:
            await conn.execute_query(write.sql, write.values)


def recent_messages_sql(dialect: str) -> str:
    """The newest messages of a session first: read off `idx_messages_timeline` in order."""
    key = ("recent", dialect)
    sql = _SQL.get(key)
    if sql is None:
        m = Message
        sql = _SQL[key] = _dialect_sql(
            f"SELECT {_column(m, 'role')} AS role, {_column(m, 'content')} AS content "
            f"FROM {_table(m)} WHERE {_column(m, 'session_id')} = ? "
            f"ORDER BY {_column(m, 'created_at')} DESC, {_column(m, 'id')} DESC LIMIT ?",
            dialect,
        )
    return sql


async def recent_messages(session_id: str, limit: int) -> list[dict[str, Any]]:
    """role and content of a session's newest `limit` messages, newest first."""
    db = Message._meta.db
    return await query(db, recent_messages_sql(db.capabilities.dialect), [session_id, limit])


async def session_target(session_id: str) -> dict[str, Any] | None:
    """What a turn needs of a session, its workflow and its project, in one query."""
    db = Session._meta.db
    dialect = db.capabilities.dialect
    key = ("target", dialect)
    sql = _SQL.get(key)
    if sql is None:
        s, w, p = Session, Workflow, Project
        sql = _SQL[key] = _dialect_sql(
            f"SELECT s.{_column(s, 'workflow_id')} AS workflow_id, "
            f"w.{_column(w, 'status')} AS status, w.{_column(w, 'version')} AS version, "
            f"w.{_column(w, 'project_id')} AS project_id, "
            f"p.{_column(p, 'enabled')} AS enabled, p.{_column(p, 'account_id')} AS account_id "
            f"FROM {_table(s)} s "
            f"JOIN {_table(w)} w ON w.{_column(w, 'id')} = s.{_column(s, 'workflow_id')} "
            f"JOIN {_table(p)} p ON p.{_column(p, 'id')} = w.{_column(w, 'project_id')} "
            f"WHERE s.{_column(s, 'id')} = ?",
            dialect,
        )
    rows = await query(db, sql, [session_id])
    return rows[0] if rows else None
