"""Settings, read from the environment in exactly one place (`Settings.from_env`).

Embedded by default (SQLite in the data dir, in-process bus and rate limiter, a secret key
generated once into the data dir); distributed when asked (PostgreSQL and Redis URLs).
May import: the standard library and `chat_platform.errors`.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from chat_platform.errors import ConfigurationError


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".chat-platform")
    database_url: str = ""
    redis_url: str | None = None
    secret_key: bytes = b""
    rate_limit_per_minute: int = 600
    monthly_run_quota: int = 1_000_000
    max_body_bytes: int = 2 * 1024 * 1024
    public_url: str | None = None
    # Provider credentials from the server environment (lowest priority after secrets).
    provider_env: dict[str, str] = field(default_factory=dict)
    provider_timeout_s: float = 60.0
    db_pool_size: int = 10
    # Chat sockets: frames buffered for one slow client before it is cut off (1013).
    ws_queue_limit: int = 1000
    # Public widgets, per minute: connections per IP, messages per visitor and per IP.
    widget_connects_per_ip: int = 60
    widget_messages_per_visitor: int = 20
    widget_messages_per_ip: int = 120

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("CHAT_PLATFORM_DATA_DIR") or ".chat-platform")
        database_url = env.get("CHAT_PLATFORM_DATABASE_URL") or ""
        provider_env = {
            k: v
            for k in (
                "OPENAI_API_KEY",
                "OPENAI_BASE_URL",
                "ANTHROPIC_API_KEY",
                "ANTHROPIC_BASE_URL",
            )
            if (v := env.get(k))
        }
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("CHAT_PLATFORM_REDIS_URL") or None,
            secret_key=_decode_key(env.get("CHAT_PLATFORM_SECRET_KEY"))
            if env.get("CHAT_PLATFORM_SECRET_KEY")
            else b"",
            rate_limit_per_minute=_int_env(env, "CHAT_PLATFORM_RATE_LIMIT_PER_MINUTE", 600),
            monthly_run_quota=_int_env(env, "CHAT_PLATFORM_MONTHLY_RUN_QUOTA", 1_000_000),
            public_url=env.get("CHAT_PLATFORM_PUBLIC_URL") or None,
            provider_env=provider_env,
            db_pool_size=_int_env(env, "CHAT_PLATFORM_DB_POOL_SIZE", 10),
            ws_queue_limit=_int_env(env, "CHAT_PLATFORM_WS_QUEUE_LIMIT", 1000),
            widget_connects_per_ip=_int_env(env, "CHAT_PLATFORM_WIDGET_CONNECTS_PER_IP", 60),
            widget_messages_per_visitor=_int_env(
                env, "CHAT_PLATFORM_WIDGET_MESSAGES_PER_VISITOR", 20
            ),
            widget_messages_per_ip=_int_env(env, "CHAT_PLATFORM_WIDGET_MESSAGES_PER_IP", 120),
        )

    def resolved(self) -> Settings:
        """Fill in the embedded defaults that need the data dir: SQLite file, secret key."""
        out = self
        if not out.database_url or not out.secret_key:
            out.data_dir.mkdir(parents=True, exist_ok=True)
        if not out.database_url:
            out = replace(out, database_url=f"sqlite://{out.data_dir / 'chat-platform.sqlite3'}")
        if not out.secret_key:
            out = replace(out, secret_key=_load_or_create_key(out.data_dir / "secret.key"))
        return out


def _decode_key(raw: str) -> bytes:
    """Accept a urlsafe-base64 32-byte key; any other string is stretched with SHA-256."""
    try:
        key = base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4))
        if len(key) == 32:
            return key
    except ValueError:
        pass
    import hashlib

    return hashlib.sha256(raw.encode()).digest()


def _load_or_create_key(path: Path) -> bytes:
    if path.exists():
        return _decode_key(path.read_text().strip())
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return _decode_key(key)
