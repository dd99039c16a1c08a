"""Provider credentials for one run: workflow secret > project secret > server environment.
Decrypted only in memory, only the names providers use; never logged or returned.
May import: store, services.runtime.
"""

from __future__ import annotations

from chat_platform.services.runtime import Runtime
from chat_platform.store.models import Secret
from chat_platform.store.sealing import secret_context

PROVIDER_SECRET_NAMES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)


async def resolve_credentials(
    runtime: Runtime, *, project_id: str, workflow_id: str
) -> dict[str, str]:
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
