"""The bridge from the bot to the run service: `ServiceRunPort` implements `bot.RunPort` with
`chat_platform.services.runs` — a turn is `start_run` on the conversation's session followed by
its events from the bus, a decision is `decide` followed likewise — acting as a synthetic
operator principal of the bot's account (key id = the integration id, so runs show who started
them). May import: services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from chat_platform.schemas.runs import RunRequest
from chat_platform.services import runs
from chat_platform.services.auth import Principal, Role
from chat_platform.services.runtime import Runtime
from chat_platform.services.teams import BotConfig
from chat_platform.store.models import Run


def _principal(bot: BotConfig) -> Principal:
    return Principal(key_id=bot.id, account_id=bot.account_id, project_id=None, role=Role.OPERATOR)


class ServiceRunPort:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def turn(
        self, *, bot: BotConfig, session_id: str, text: str, user: str
    ) -> AsyncIterator[dict[str, Any]]:
        body = RunRequest(
            workflow_id=bot.workflow_id,
            session_id=session_id,
            input=[{"role": "user", "content": text}],  # type: ignore[list-item]
            variables={"channel": "teams", "user_name": user},
        )
        run, _task, _headers = await runs.start_run(self.runtime, _principal(bot), body)
        async for _seq, event in runs.run_events(self.runtime, run.id):
            yield event

    async def decide(
        self, *, bot: BotConfig, run_id: str, decision: str, comment: str | None, user: str
    ) -> AsyncIterator[dict[str, Any]]:
        # The run's channel already holds the events up to the pause: follow only what's new.
        after = await self.runtime.bus.last_seq(f"run:{run_id}")
        stored = "approved" if decision == "approve" else "rejected"  # the run service's words
        await runs.decide(self.runtime, _principal(bot), run_id, stored, comment)
        async for _seq, event in runs.run_events(self.runtime, run_id, after):
            yield event

    async def is_pending(self, *, bot: BotConfig, run_id: str) -> bool:
        run = await Run.get_or_none(id=run_id, workflow_id=bot.workflow_id)
        return run is not None and run.status == "pending_approval"
