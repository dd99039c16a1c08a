"""Provider credentials for one run: workflow secret > project secret > server environment.
Decrypted only in memory, only the names providers use; never logged or returned.

Resolved credentials are cached per (project, workflow) in the runtime, so a chat turn does not
read and decrypt the secrets table every time. An entry is valid while nobody else wrote to the
database (`store.cache.CoherentCache`) and no secret changed in this process
(`forget_credentials`, called by services.secrets).
May import: store, services.runtime.
"""

from __future__ import annotations

from chat_platform.services.runtime import Runtime
from chat_platform.store.cache import CoherentCache
from chat_platform.store.models import Secret
from chat_platform.store.sealing import secret_context

PROVIDER_SECRET_NAMES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)
_generation = 0  # moved by every secret created or deleted in this process


def forget_credentials() -> None:
    """Invalidate every cached resolution (a secret was created or deleted)."""
    global _generation
    _generation += 1


def _cache(runtime: Runtime) -> CoherentCache[tuple[str, str], dict[str, str]]:
    return runtime.extra("credentials_cache", lambda: CoherentCache(1024, lambda: _generation))


async def resolve_credentials(
    runtime: Runtime, *, project_id: str, workflow_id: str
) -> dict[str, str]:
    creds = await _cache(runtime).get(
        (project_id, workflow_id),
        lambda: _load(runtime, project_id=project_id, workflow_id=workflow_id),
    )
    return dict(creds)  # the caller's own copy


async def _load(runtime: Runtime, *, project_id: str, workflow_id: str) -> dict[str, str]:
    creds = dict(runtime.settings.provider_env)
    rows = await Secret.filter(
        scope__in=[f"project:{project_id}", f"workflow:{workflow_id}"],
        name__in=PROVIDER_SECRET_NAMES,
    )
    # project first, then workflow, so the workflow's value wins
    for row in sorted(rows, key=lambda r: r.scope.startswith("workflow:")):
        creds[row.name] = runtime.sealer.open(
            row.ciphertext,
            context=secret_context(
                project_id=row.project_id, workflow_id=row.workflow_id, name=row.name
            ),
        )
    return creds
