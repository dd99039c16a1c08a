"""The `chat-platform` command: serve, migrate, keys create|list|revoke.

`keys create` prints the new key and nothing else on stdout, so `KEY=$(chat-platform keys
create --role admin)` works; messages go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from chat_platform.config import Settings
from chat_platform.errors import ApiError, ConfigurationError
from chat_platform.store.db import close_database, migrate_database, open_database


def _settings() -> Settings:
    return Settings.from_env().resolved()


async def _with_db(settings: Settings, fn: Callable[[], Awaitable[Any]]) -> Any:
    await migrate_database(settings.database_url)
    await open_database(settings.database_url, pool_size=2)
    try:
        return await fn()
    finally:
        await close_database()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    asyncio.run(migrate_database(settings.database_url))
    print("migrations applied", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chat_platform.ws.server_protocol import WebSocketProtocol

    settings = _settings()
    asyncio.run(migrate_database(settings.database_url))
    from chat_platform.services.demo import announce_demo

    asyncio.run(_with_db(settings, lambda: announce_demo(settings, args.host, args.port)))
    uvicorn.run(
        "chat_platform.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws=WebSocketProtocol,  # uvicorn's websockets protocol, frames of a burst in one write
        ws_per_message_deflate=False,
        ws_max_size=1024 * 1024,
        log_level=args.log_level,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from chat_platform.services import auth

    settings = _settings()

    async def run() -> int:
        account_id = await auth.ensure_default_account()
        if args.keys_cmd == "create":
            raw, _ = await auth.create_api_key(
                account_id=account_id, role=args.role, project_id=args.project, name=args.name or ""
            )
            print(raw)
        elif args.keys_cmd == "list":
            for key in await auth.list_api_keys(account_id):
                print(json.dumps(key))
        elif args.keys_cmd == "revoke":
            key = await auth.revoke_api_key(account_id, args.id)
            print(f"revoked {key['id']}", file=sys.stderr)
        return 0

    try:
        return asyncio.run(_with_db(settings, run))
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-platform")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server (migrates first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(fn=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(fn=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it")
    create.add_argument("--role", required=True, choices=["admin", "builder", "operator", "viewer"])
    create.add_argument("--project", default=None, help="scope the key to one project")
    create.add_argument("--name", default=None)
    keys_sub.add_parser("list", help="list keys (never the secret part)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("id")
    keys.set_defaults(fn=cmd_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
