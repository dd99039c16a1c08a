"""Hand-written SQL for the statements every chat turn runs.

Why: building these queries through Tortoise's query builder (pypika copies, filter
resolution) was ~15 % of a turn's CPU in the load bench, and each hop through Tortoise's
SQLite client another ~55 µs (bench/PERF-LOG.md). The SQL here is built once per statement
shape and dialect; values go through the same `Field.to_db_value` conversions as Tortoise's
`update()` (aware UTC datetimes on SQLite straight to the text its adapter would write), so
rows are stored exactly as the ORM stores them. They run on the connection the
model resolves to (a transaction's, inside one) — on SQLite in place when it is free
(`store.sqlite_engine`).
May import: tortoise, the standard library, chat_platform.ids, store.models and
store.sqlite_engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import require_context
from tortoise.fields import DatetimeField, Field
from tortoise.models import Model
from tortoise.transactions import in_transaction

from chat_platform.ids import utc_second
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


def connection(alias: str = "default") -> BaseDBAsyncClient:
    """`connections.get(alias)` (a transaction's connection inside one) without the per-call
    import of Tortoise's `get_connection` and its proxy (an import statement in a function
    costs ~6 µs here: a failed attribute lookup)."""
    return require_context().connections.get(alias)


def _db(model: type[Model]) -> BaseDBAsyncClient:
    """`model._meta.db`, through `connection`."""
    return connection(model._meta.default_connection)


def sqlite_timestamp(value: datetime) -> str:
    """`value.isoformat(" ")` — how Tortoise stores a datetime on SQLite — for an aware UTC
    datetime (isoformat leaves out a zero fraction)."""
    micro = value.microsecond
    second = utc_second(value, " ")
    return f"{second}.{micro:06d}+00:00" if micro else f"{second}+00:00"


def _converter(model: type[Model], field: Field, dialect: str) -> Callable[[Any], Any]:
    """A field's Python value → its column value: `Field.to_db_value`, as Tortoise's own
    statements convert it; but an aware UTC datetime on SQLite goes straight to the text
    Tortoise's sqlite3 adapter would make of it (`to_db_value` returns such a value as it
    is, and the adapter's lookup and call cost more than the rest of a statement's values)."""
    to_db = partial(field.to_db_value, instance=model)
    if not type(field).__module__.startswith("tortoise.fields."):
        return to_db  # a field class of our own: its conversions as they are
    if dialect == "sqlite" and type(field) is DatetimeField and not field.validators:

        def timestamp(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is UTC:
                return sqlite_timestamp(value)
            return None if value is None and field.null else to_db(value)

        return timestamp
    if field.null:
        # Tortoise's own fields store None as NULL, validators skipped (a run row has ~10)

        def nullable(value: Any) -> Any:
            return None if value is None else to_db(value)

        return nullable
    return to_db


def _column(model: type[Model], name: str) -> str:
    return f'"{model._meta.fields_db_projection[name]}"'


def _table(model: type[Model]) -> str:
    return f'"{model._meta.db_table}"'


@dataclass(frozen=True, slots=True)
class _Shape:
    """What the statements of one model on one dialect need, worked out once."""

    insert_sql: str
    columns: list[tuple[str, Any, Callable[[Any], Any]]]  # (name, default, convert), in order
    convert: dict[str, Callable[[Any], Any]]  # field name → its converter


_SHAPES: dict[tuple[type[Model], str], _Shape] = {}


def _shape(model: type[Model], dialect: str) -> _Shape:
    shape = _SHAPES.get((model, dialect))
    if shape is None:
        meta = model._meta
        if meta.generated_db_fields:
            raise TypeError(f"{model.__name__} has generated columns: use Model.create")
        names = list(meta.fields_db_projection)
        convert = {name: _converter(model, meta.fields_map[name], dialect) for name in names}
        columns = ", ".join(_column(model, name) for name in names)
        marks = ", ".join("?" for _ in names)
        shape = _SHAPES[(model, dialect)] = _Shape(
            insert_sql=_dialect_sql(
                f"INSERT INTO {_table(model)} ({columns}) VALUES ({marks})", dialect
            ),
            columns=[(name, meta.fields_map[name].default, convert[name]) for name in names],
            convert=convert,
        )
    return shape


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
    db = _db(model)
    shape = _shape(model, db.capabilities.dialect)
    if not fields.keys() <= shape.convert.keys():
        unknown = sorted(fields.keys() - shape.convert.keys())
        raise TypeError(f"{model.__name__} has no columns {unknown}")
    values = []
    for name, default, convert in shape.columns:
        if name in fields:
            value = fields[name]
        else:
            value = default() if callable(default) else default
        values.append(convert(value))
    return Write(db, shape.insert_sql, values)


def update_write(model: type[Model], pk: str, **fields: Any) -> Write:
    """`Model.filter(pk=pk).update(**fields)` without the query builder."""
    db = _db(model)
    dialect = db.capabilities.dialect
    key = ("update", model, tuple(fields), dialect)
    sql = _SQL.get(key)
    if sql is None:
        sets = ", ".join(f"{_column(model, name)} = ?" for name in fields)
        pk_column = _column(model, model._meta.pk_attr)
        sql = _SQL[key] = _dialect_sql(
            f"UPDATE {_table(model)} SET {sets} WHERE {pk_column} = ?", dialect
        )
    convert = _shape(model, dialect).convert
    values = [convert[name](value) for name, value in fields.items()]
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
    db = _db(Message)
    return await query(db, recent_messages_sql(db.capabilities.dialect), [session_id, limit])


async def session_target(session_id: str) -> dict[str, Any] | None:
    """What a turn needs of a session, its workflow and its project, in one query."""
    db = _db(Session)
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
