"""Shared fixtures: real databases, the in-process app, and real server processes.

- `database_url`: a fresh, migrated database per test: SQLite (a copy of a file migrated once
  per session), or PostgreSQL when CHAT_PLATFORM_TEST_DATABASE_URL is set (one database
  migrated once per session, every table truncated before each test).
- `app` / `client`: the real app with its lifespan entered, driven in-process through httpx.
- `live_server`: a real `uvicorn` process on a free loopback port over a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chat_platform.app import create_app
from chat_platform.config import Settings
from chat_platform.store.db import migrate_database

PG_URL = os.environ.get("CHAT_PLATFORM_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("CHAT_PLATFORM_TEST_REDIS_URL")
TEST_SECRET_KEY = b"k" * 32
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbtemplate") / "template.sqlite3"
    asyncio.run(migrate_database(f"sqlite://{path}"))
    return path


def run_in_thread(coro_fn) -> None:
    """asyncio.run in a worker thread: usable from fixtures running inside the test loop."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn())).result()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of this test session's own (created, migrated, dropped), so two suites
    running at once against one server never truncate each other's tables."""
    assert PG_URL
    import uuid

    import asyncpg

    base, _, _ = PG_URL.rpartition("/")
    name = f"cp_test_{uuid.uuid4().hex[:10]}"
    admin = base.replace("postgres://", "postgresql://", 1) + "/postgres"

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    url = f"{base}/{name}"
    run_in_thread(create)
    try:
        run_in_thread(lambda: migrate_database(url))
        yield url
    finally:
        run_in_thread(drop)


async def _truncate_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename NOT LIKE 'tortoise%'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        if names:
            await conn.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    # One backend per process: tortoise caches dialect-specific SQL on the model classes, so
    # the suite runs once on SQLite and once more on PostgreSQL (scripts/test does both).
    if not PG_URL:
        path = tmp_path / "db.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite://{path}"
        return
    url = request.getfixturevalue("pg_database")
    await _truncate_postgres(url)
    yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        rate_limit_per_minute=10_000,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def make_key(role: str = "admin", project_id: str | None = None) -> str:
    """A key for the app currently open (its database is the initialised Tortoise one)."""
    from chat_platform.services.auth import create_api_key, ensure_default_account

    account = await ensure_default_account()
    raw, _ = await create_api_key(account_id=account, role=role, project_id=project_id)
    return raw


@pytest.fixture
async def admin_key(app) -> str:
    return await make_key("admin")


@pytest.fixture
async def api(client: httpx.AsyncClient, admin_key: str) -> httpx.AsyncClient:
    """The in-process client, authenticated as an account-scoped admin."""
    client.headers["Authorization"] = f"Bearer {admin_key}"
    return client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    admin_key: str
    env: dict[str, str]
    process: subprocess.Popen

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "chat_platform.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout.strip()


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {
        **os.environ,
        "CHAT_PLATFORM_DATA_DIR": str(data_dir),
        "CHAT_PLATFORM_RATE_LIMIT_PER_MINUTE": "100000",
        **(extra_env or {}),
    }
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    key = subprocess.run(
        [sys.executable, "-m", "chat_platform.cli", "keys", "create", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chat_platform.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return LiveServer(base, key, env, proc)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start in 30 s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stderr:
        server.process.stderr.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    stop_server(server)
