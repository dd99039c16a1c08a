"""API keys and roles: creating, verifying, listing and revoking keys; the permission table.

Keys look like `nl_sk_<40 random chars>`; only a SHA-256 hash and a visible prefix are stored
(the key is high-entropy, so a fast hash is safe). May import: store, errors, ids.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from chat_platform.errors import BadRequest, Forbidden, NotFound, Unauthorized
from chat_platform.ids import iso, new_id, utcnow
from chat_platform.store.cache import CoherentCache
from chat_platform.store.models import Account, ApiKey, Project

KEY_PREFIX = "nl_sk_"
_KEY_ALPHABET = string.ascii_letters + string.digits
DEFAULT_ACCOUNT_ID = "acct_default"


class Role(StrEnum):
    ADMIN = "admin"
    BUILDER = "builder"
    OPERATOR = "operator"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"
    PROJECTS_WRITE = "projects:write"
    WORKFLOWS_WRITE = "workflows:write"
    SECRETS = "secrets"
    RUNS = "runs"
    SESSIONS_WRITE = "sessions:write"
    ADMIN = "admin"


_ALL = set(Role)
GRANTS: dict[Permission, set[Role]] = {
    Permission.READ: _ALL,
    Permission.PROJECTS_WRITE: {Role.ADMIN},
    Permission.WORKFLOWS_WRITE: {Role.ADMIN, Role.BUILDER},
    Permission.SECRETS: {Role.ADMIN, Role.BUILDER},
    Permission.RUNS: {Role.ADMIN, Role.BUILDER, Role.OPERATOR},
    Permission.SESSIONS_WRITE: {Role.ADMIN, Role.BUILDER, Role.OPERATOR},
    Permission.ADMIN: {Role.ADMIN},
}


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    account_id: str
    project_id: str | None
    role: Role

    def require(self, permission: Permission) -> None:
        if self.role not in GRANTS[permission]:
            raise Forbidden(f"The '{self.role}' role cannot perform this action")

    def can_see_project(self, project_id: str) -> bool:
        return self.project_id is None or self.project_id == project_id

    def can_see(self, account_id: str, project_id: str) -> bool:
        """Whether a resource of this account and project is visible to the key."""
        return account_id == self.account_id and self.can_see_project(project_id)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


_last_used_written: dict[str, float] = {}

# Verified keys, by hash: (principal, revoked). Valid while nobody else wrote to the database
# (SQLite; elsewhere for at most REMOTE_CACHE_TTL_S) and no key was revoked in this process.
# Unknown keys are never cached (the load raises): random guesses must not grow it.
_key_generation = 0
_key_cache: CoherentCache[str, tuple[Principal, bool]] = CoherentCache(
    10_000, lambda: _key_generation
)


def forget_cached_keys() -> None:
    """Drop every cached verification (called after a revocation in this process)."""
    global _key_generation
    _key_generation += 1
    _key_cache.clear()


async def _load_key(digest: str) -> tuple[Principal, bool]:
    key = await ApiKey.get_or_none(key_hash=digest)
    if key is None:
        raise Unauthorized("API key is missing or invalid")
    principal = Principal(key.id, key.account_id, key.project_id, Role(key.role))
    return principal, key.revoked_at is not None


async def verify_api_key(raw: str | None) -> Principal:
    if not raw or not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        raise Unauthorized("API key is missing or invalid")
    digest = hash_key(raw)
    principal, revoked = await _key_cache.get(digest, lambda: _load_key(digest))
    if revoked:
        raise Unauthorized("API key has been revoked", code="API_KEY_REVOKED")
    # last_used_at is written at most once a minute per key: SQLite serializes every write.
    now = utcnow()
    last = _last_used_written.get(principal.key_id, 0.0)
    if now.timestamp() - last > 60:
        _last_used_written[principal.key_id] = now.timestamp()
        await ApiKey.filter(id=principal.key_id).update(last_used_at=now)
    return principal


async def ensure_default_account() -> str:
    await Account.get_or_create(id=DEFAULT_ACCOUNT_ID, defaults={"name": "Default account"})
    return DEFAULT_ACCOUNT_ID


def _key_view(key: ApiKey) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role,
        "project_id": key.project_id,
        "prefix": key.prefix,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at),
        "revoked_at": iso(key.revoked_at),
    }


async def create_api_key(
    *, account_id: str, role: str, project_id: str | None = None, name: str = ""
) -> tuple[str, dict]:
    """Returns (the raw key — shown once, never stored — and its public view)."""
    try:
        role = Role(role)
    except ValueError:
        raise BadRequest(
            f"Invalid field 'role': must be one of {', '.join(r.value for r in Role)}"
        ) from None
    if project_id is not None and not await Project.exists(id=project_id, account_id=account_id):
        raise NotFound("Project does not exist", code="PROJECT_NOT_FOUND")
    raw = KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
    key = await ApiKey.create(
        id=new_id("key"),
        account_id=account_id,
        project_id=project_id,
        name=name,
        role=role.value,
        prefix=raw[:12],
        key_hash=hash_key(raw),
    )
    return raw, _key_view(key)


async def list_api_keys(account_id: str, *, limit: int = 1000, offset: int = 0) -> list[dict]:
    keys = (
        await ApiKey.filter(account_id=account_id)
        .order_by("created_at")
        .offset(offset)
        .limit(limit)
    )
    return [_key_view(k) for k in keys]


async def revoke_api_key(account_id: str, key_id: str) -> dict:
    key = await ApiKey.get_or_none(id=key_id, account_id=account_id)
    if key is None:
        raise NotFound("API key does not exist")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await key.save(update_fields=["revoked_at"])
        forget_cached_keys()
    return _key_view(key)


# Grace for clock skew when comparing; kept here so tests can reason about it.
LAST_USED_GRANULARITY = timedelta(minutes=1)
