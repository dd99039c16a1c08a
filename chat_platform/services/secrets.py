"""Secret use cases at project and workflow scope: list (metadata only), create (value sealed
with AES-256-GCM, bound to its scope and name), delete. Every call is audited; values are never
returned, logged or put in error messages.

Choice: a duplicate name in the same scope is 409 CONFLICT (delete, then create, to replace).
May import: store, errors, ids, schemas, services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from chat_platform.errors import BadRequest, Conflict, NotFound
from chat_platform.ids import new_id
from chat_platform.schemas.secrets import SecretCreate
from chat_platform.services import audit
from chat_platform.services.access import get_project, get_workflow
from chat_platform.services.audit import AuditAction
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.credentials import forget_credentials
from chat_platform.services.views import secret_view
from chat_platform.store.models import Secret
from chat_platform.store.sealing import Sealer, secret_context

MAX_SECRETS_PER_SCOPE = 200


@dataclass(frozen=True, slots=True)
class Scope:
    """Exactly one of project_id / workflow_id is set."""

    project_id: str | None = None
    workflow_id: str | None = None

    @property
    def key(self) -> str:
        if self.workflow_id is not None:
            return f"workflow:{self.workflow_id}"
        return f"project:{self.project_id}"

    def filters(self) -> dict[str, str | None]:
        if self.workflow_id is not None:
            return {"workflow_id": self.workflow_id}
        return {"project_id": self.project_id}


async def resolve_scope(principal: Principal, *, kind: str, resource_id: str) -> Scope:
    """The scope as the principal sees it (404 outside it), after the SECRETS role check."""
    principal.require(Permission.SECRETS)
    if kind == "workflow":
        return Scope(workflow_id=(await get_workflow(principal, resource_id)).id)
    return Scope(project_id=(await get_project(principal, resource_id)).id)


async def list_secrets(
    principal: Principal, scope: Scope, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await Secret.filter(**scope.filters()).order_by("name").offset(offset).limit(limit)
    resource_id = scope.workflow_id or scope.project_id or ""
    await audit.record(principal, AuditAction.SECRET_READ, resource_id)
    return [secret_view(s) for s in rows]


async def create_secret(
    principal: Principal, scope: Scope, body: SecretCreate, sealer: Sealer
) -> dict[str, Any]:
    sealed = sealer.seal(
        body.value,
        context=secret_context(
            project_id=scope.project_id, workflow_id=scope.workflow_id, name=body.name
        ),
    )
    async with in_transaction() as conn:
        existing = Secret.filter(**scope.filters()).using_db(conn)
        if await existing.filter(name=body.name).exists():
            raise Conflict(f"A secret named '{body.name}' already exists in this scope")
        if await existing.count() >= MAX_SECRETS_PER_SCOPE:
            raise BadRequest(f"At most {MAX_SECRETS_PER_SCOPE} secrets per project or workflow")
        try:
            secret = await Secret.create(
                id=new_id("sec"),
                project_id=scope.project_id,
                workflow_id=scope.workflow_id,
                scope=scope.key,
                name=body.name,
                ciphertext=sealed,
                using_db=conn,
            )
        except IntegrityError:  # a concurrent create of the same name won the race
            raise Conflict(f"A secret named '{body.name}' already exists in this scope") from None
        await audit.record(principal, AuditAction.SECRET_CREATE, secret.id, using=conn)
    forget_credentials()
    return {"id": secret.id, "name": secret.name}


async def delete_secret(principal: Principal, scope: Scope, secret_id: str) -> None:
    async with in_transaction() as conn:
        deleted = await Secret.filter(id=secret_id, **scope.filters()).using_db(conn).delete()
        if not deleted:
            raise NotFound("Secret does not exist")
        await audit.record(principal, AuditAction.SECRET_DELETE, secret_id, using=conn)
    forget_credentials()
