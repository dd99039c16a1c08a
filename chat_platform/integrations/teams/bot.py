"""Handling a verified activity for one bot: a user message runs a workflow turn in the
conversation's session and streams the answer back; a bot-added conversationUpdate sends the
workflow's greeting; a run that pauses at an approval posts an Adaptive Card, whose button
resumes it and updates the card with who decided. Turns of one conversation run one at a time,
in background tasks the webhook schedules after acknowledging the channel.
May import: services (teams, runs via the `RunPort`), and the sibling modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import httpx

from chat_platform.errors import ApiError
from chat_platform.integrations.teams import activities as acts
from chat_platform.integrations.teams import cards
from chat_platform.integrations.teams.auth import JwksCache
from chat_platform.integrations.teams.connector import (
    BotCredentials,
    ConnectorClient,
    ConnectorError,
    RetryPolicy,
    TokenClient,
)
from chat_platform.integrations.teams.streaming import ReplyWriter
from chat_platform.services import teams as svc
from chat_platform.services.teams import BotConfig, ConversationRef

log = logging.getLogger("chat_platform.teams")


class RunPort(Protocol):
    """What the bot needs from the run service: a turn, and a decision on a paused run."""

    def turn(
        self, *, bot: BotConfig, session_id: str, text: str, user: str
    ) -> AsyncIterator[dict[str, Any]]: ...

    def decide(
        self, *, bot: BotConfig, run_id: str, decision: str, comment: str | None, user: str
    ) -> AsyncIterator[dict[str, Any]]: ...

    async def is_pending(self, *, bot: BotConfig, run_id: str) -> bool: ...


@dataclass
class TeamsRuntime:
    """Per-process state of the integration: key and token caches, background turns, locks."""

    http: httpx.AsyncClient
    runs: RunPort
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stream_interval_s: float = 1.5
    keys: JwksCache = field(init=False)
    tokens: TokenClient = field(init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def __post_init__(self) -> None:
        self.keys = JwksCache(self.http)
        self.tokens = TokenClient(self.http, retry=self.retry)

    def connector(self, bot: BotConfig) -> ConnectorClient:
        creds = BotCredentials(bot.app_id, bot.app_password, bot.token_endpoint)
        return ConnectorClient(self.http, self.tokens, creds, retry=self.retry)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("teams: background work failed: %r", task.exception())

    async def drain(self) -> None:
        """Wait for every background turn (tests, shut-down)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def lock(self, key: str) -> asyncio.Lock:
        """One turn at a time per conversation (in this process)."""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


def _output_text(result: dict[str, Any] | None, streamed: str) -> str:
    output = (result or {}).get("output")
    if isinstance(output, str) and output.strip():
        return output
    if output not in (None, "", {}, []):
        return f"```json\n{json.dumps(output, indent=2, ensure_ascii=False)}\n```"
    return streamed


@dataclass
class Turn:
    """One delivery context: the bot, the conversation and the activity that triggered it."""

    rt: TeamsRuntime
    bot: BotConfig
    activity: dict[str, Any]
    ref: ConversationRef

    @property
    def connector(self) -> ConnectorClient:
        return self.rt.connector(self.bot)

    def writer(self) -> ReplyWriter:
        return ReplyWriter(
            self.connector,
            service_url=self.ref.service_url,
            conversation_id=self.ref.conversation_id,
            reply_to_id=self.activity.get("id"),
            streaming=acts.supports_streaming(self.activity),
            min_interval_s=self.rt.stream_interval_s,
            base=self.base(),
        )

    def base(self) -> dict[str, Any]:
        """Addressing copied from the incoming activity: from the bot, to the user."""
        base: dict[str, Any] = {"conversation": {"id": self.ref.conversation_id}}
        if isinstance(self.activity.get("recipient"), dict):
            base["from"] = self.activity["recipient"]
        if isinstance(self.activity.get("from"), dict):
            base["recipient"] = self.activity["from"]
        return base

    async def send(self, activity: dict[str, Any]) -> str | None:
        return await self.connector.send(
            self.ref.service_url,
            self.ref.conversation_id,
            {**self.base(), **activity},
            reply_to_id=self.activity.get("id"),
        )

    async def deliver(self, start: Callable[[], AsyncIterator[dict[str, Any]]]) -> None:
        """Stream a run's events into the conversation; post the approval card if it pauses."""
        writer = self.writer()
        await writer.start()
        result: dict[str, Any] | None = None
        prompt: str | None = None
        run_id: str | None = None
        try:
            async for event in start():
                kind = event.get("type")
                run_id = event.get("runId") or event.get("id") or run_id
                if kind == "node:text-delta":
                    await writer.push(str(event.get("delta") or ""))
                elif kind == "node:waiting_approval":
                    prompt = event.get("approvalPrompt") or prompt
                elif kind == "run:result":
                    result = event
        except ApiError as exc:
            log.warning("teams: the turn for %s was refused: %s %s", self.bot.id, exc.code, exc)
            await writer.finish(f"Sorry, I can't answer right now ({exc.message}).")
            return
        except Exception:
            log.exception("teams: the turn for %s failed", self.bot.id)
            await writer.finish("Sorry, something went wrong while answering.")
            return
        status = (result or {}).get("status")
        if status == "pending_approval" and run_id:
            prompt = (result or {}).get("approval_prompt") or prompt or ""
            if writer.text.strip():
                await writer.finish()
            elif writer.stream_id:
                await writer.finish("Waiting for approval.")
            await self.post_approval_card(run_id, prompt)
            return
        if status == "failed":
            error = (result or {}).get("error") or "the workflow failed"
            await writer.finish(f"Sorry, something went wrong: {error}")
            return
        await writer.finish(_output_text(result, writer.text))

    async def post_approval_card(self, run_id: str, prompt: str) -> None:
        universal = self.activity.get("channelId") == "msteams"
        card = cards.approval_card(prompt, run_id, universal=universal)
        activity_id = await self.send(cards.card_activity(card))
        await svc.remember_approval(
            self.ref, run_id, {"prompt": prompt, "activity_id": activity_id, "decided_by": None}
        )


async def _guarded(what: str, bot: BotConfig, ref: ConversationRef, coro: Any) -> None:
    try:
        await coro
    except ConnectorError as exc:
        # The run's messages are stored by the run service; only the delivery failed.
        log.error("teams: %s for %s could not be delivered: %s", what, bot.id, exc)
        await svc.record_delivery_failure(ref, what, str(exc))
    except Exception:
        log.exception("teams: %s for %s failed", what, bot.id)


async def _conversation(bot: BotConfig, activity: dict[str, Any]) -> ConversationRef:
    title = acts.user_name(activity)
    conv_name = (activity.get("conversation") or {}).get("name")
    return await svc.map_conversation(
        bot,
        key=acts.conversation_key(bot.id, activity, bot.per_user_sessions),
        conversation_id=acts.conversation_id(activity),
        service_url=str(activity.get("serviceUrl")),
        title=f"Teams: {conv_name or title}",
    )


async def handle_message(rt: TeamsRuntime, bot: BotConfig, activity: dict[str, Any]) -> None:
    ref = await _conversation(bot, activity)
    text = acts.user_text(activity)
    if not text:
        return
    turn = Turn(rt, bot, activity, ref)
    async with rt.lock(ref.key):
        user = acts.user_name(activity)
        events = partial(rt.runs.turn, bot=bot, session_id=ref.session_id, text=text, user=user)
        await _guarded("answer", bot, ref, turn.deliver(events))


async def handle_greeting(rt: TeamsRuntime, bot: BotConfig, activity: dict[str, Any]) -> None:
    ref = await _conversation(bot, activity)
    turn = Turn(rt, bot, {**activity, "id": None}, ref)
    text = await svc.workflow_greeting(bot.workflow_id)
    await _guarded(
        "greeting", bot, ref, turn.send({"type": "message", "text": text, "textFormat": "markdown"})
    )


async def check_approval(
    rt: TeamsRuntime, bot: BotConfig, activity: dict[str, Any], action: acts.ApprovalAction
) -> tuple[ConversationRef | None, str | None]:
    """(the conversation holding the card, None) if the decision may proceed, else (ref, why)."""
    ref = await svc.find_approval(bot, acts.conversation_id(activity), action.run_id)
    if ref is None:
        return None, "This approval does not belong to this conversation."
    if not await rt.runs.is_pending(bot=bot, run_id=action.run_id):
        by = ref.data.get("approvals", {}).get(action.run_id, {}).get("decided_by")
        return ref, f"This request was already decided{f' by {by}' if by else ''}."
    return ref, None


async def handle_decision(
    rt: TeamsRuntime,
    bot: BotConfig,
    activity: dict[str, Any],
    action: acts.ApprovalAction,
    ref: ConversationRef,
) -> None:
    """Resume the run; refresh the card (Action.Submit path) and stream the continuation."""
    who = acts.user_name(activity)
    card_info = ref.data.get("approvals", {}).get(action.run_id, {})
    await svc.mark_decided(ref, action.run_id, who, action.decision)
    turn = Turn(rt, bot, {**activity, "id": None}, ref)
    if not action.via_invoke and card_info.get("activity_id"):
        card = cards.decided_card(card_info.get("prompt", ""), decision=action.decision, by=who)
        await _guarded(
            "card update",
            bot,
            ref,
            turn.connector.update(
                ref.service_url,
                ref.conversation_id,
                card_info["activity_id"],
                cards.card_activity(card),
            ),
        )
    async with rt.lock(ref.key):
        events = partial(
            rt.runs.decide,
            bot=bot,
            run_id=action.run_id,
            decision=action.decision,
            comment=action.comment,
            user=who,
        )
        await _guarded("approval result", bot, ref, turn.deliver(events))


async def send_notice(turn: Turn, text: str) -> None:
    await _guarded("notice", turn.bot, turn.ref, turn.send({"type": "message", "text": text}))


def teams_runtime(runtime: Any) -> TeamsRuntime:
    """The process's TeamsRuntime, created on first use and kept in `runtime.extras`."""
    from chat_platform.integrations.teams.runs import ServiceRunPort

    return runtime.extra(
        "teams", lambda: TeamsRuntime(http=runtime.http, runs=ServiceRunPort(runtime))
    )
