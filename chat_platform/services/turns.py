"""Executing one turn (or one approval resume) in the background, independent of any HTTP
request: take the session's turn lock, load the bounded history, persist the user messages
before execution, run the engine, publish every event to `run:{id}` (and `session:{id}`),
persist the outcome and the assistant message, and only then publish run:complete and
run:result — so whoever sees the result can already read it back. A cancelled or failed turn
keeps the text streamed so far as a `partial` assistant message, never a blank row.

`RunManager` owns this process's running turns: launch, cancel (also from other processes
through the `control:{run_id}` channel), and the cache of published versions (each compiled
once, on first use).
May import: engine, expressions, providers, store, bus, services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from chat_platform.engine import (
    CompiledWorkflow,
    Event,
    RunState,
    compile_workflow,
    resume_run,
    start_run,
)
from chat_platform.expressions import stringify
from chat_platform.ids import new_id, utcnow
from chat_platform.providers import build_registry
from chat_platform.services.history import load_history
from chat_platform.services.runtime import Runtime
from chat_platform.services.views import MessageRow, message_view
from chat_platform.store import statements
from chat_platform.store.cache import LRU
from chat_platform.store.models import Message, Run, Session, WorkflowVersion

log = logging.getLogger("chat_platform.turns")
TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class TurnJob:
    run_id: str
    workflow_id: str
    session_id: str | None
    compiled: CompiledWorkflow
    settings: dict[str, Any]
    input: list[dict[str, str]]
    variables: dict[str, Any]
    credentials: dict[str, str]
    resume: tuple[str, str | None] | None = None
    state: dict[str, Any] | None = None

    @property
    def channels(self) -> list[str]:
        return [f"run:{self.run_id}"] + ([f"session:{self.session_id}"] if self.session_id else [])


@dataclass
class Published:
    """A published version's snapshot (rows are insert-only: cached without invalidation),
    compiled on first use."""

    workflow_id: str
    version: int
    nodes: Any
    edges: Any
    settings: dict[str, Any]
    _compiled: CompiledWorkflow | None = field(default=None, repr=False, compare=False)

    def compiled(self) -> CompiledWorkflow:
        """Raises WorkflowDefinitionError for a version published before validation existed."""
        if self._compiled is None:
            self._compiled = compile_workflow(self.nodes, self.edges)
        return self._compiled


def json_value(value: Any) -> Any:
    """Tortoise's JSONField takes a `str` as JSON text already: encode plain strings."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value


def result_payload(run: Run) -> dict[str, Any]:
    """The RunResult of a stored run (also the body of /run and of run:result)."""
    out: dict[str, Any] = {
        "type": "run:result",
        "id": run.id,
        "workflow_id": run.workflow_id,
        "status": run.status,
        "output": run.output,
        "error": run.error,
        "metadata": run.metadata or {},
    }
    if run.status == "pending_approval":
        out["approval_prompt"] = run.approval_prompt
        out["paused_at_node_id"] = run.paused_at_node_id
    if run.error_code:
        out["error_code"] = run.error_code
    return out


class RunManager:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._published: LRU[tuple[str, int], Published] = LRU(512)

    async def published(self, workflow_id: str, version: int) -> Published | None:
        """Version `version` of a workflow (None if it does not exist). A version row never
        changes once published (rollback publishes a copy as a new version), so it is cached
        for good; the workflow's own state (paused, disabled, deleted) is checked by the caller
        on every run."""
        key = (workflow_id, version)
        snapshot = self._published.get(key)
        if snapshot is None:
            row = await WorkflowVersion.get_or_none(workflow_id=workflow_id, version=version)
            if row is None:
                return None
            snapshot = Published(workflow_id, row.version, row.nodes, row.edges, row.settings or {})
            self._published.put(key, snapshot)
        return snapshot

    def launch(self, job: TurnJob) -> asyncio.Task[dict[str, Any]]:
        task = asyncio.create_task(self._run(job), name=f"turn {job.run_id}")
        self.tasks[job.run_id] = task

        def on_control(_seq: int, event: dict[str, Any]) -> None:
            if event.get("type") == "cancel":  # from a process that does not run this turn
                task.cancel()

        # In place on the bus: no watcher task per turn (nor its cancellation at the end).
        stop = self.runtime.bus.listen(f"control:{job.run_id}", on_control)
        task.add_done_callback(lambda _t: (self.tasks.pop(job.run_id, None), stop()))
        return task

    async def cancel(self, run_id: str) -> None:
        task = self.tasks.get(run_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 10)
            return
        await self.runtime.bus.publish(f"control:{run_id}", {"type": "cancel"})

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=10)

    async def _run(self, job: TurnJob) -> dict[str, Any]:
        lock = (
            self.runtime.locks.hold(f"session:{job.session_id}")
            if job.session_id
            else contextlib.nullcontext()
        )
        async with lock:
            return await self._execute(job)

    async def _publish(self, job: TurnJob, payload: dict[str, Any]) -> None:
        await self.runtime.bus.publish_to(job.channels, payload)

    async def _execute(self, job: TurnJob) -> dict[str, Any]:
        providers = build_registry(
            self.runtime.provider_http,
            job.credentials,
            timeout_s=self.runtime.settings.provider_timeout_s,
        )
        if job.resume is None:
            history = await load_history(job.session_id, job.settings) if job.session_id else []
            if job.session_id:
                await self._store_inputs(job)
            # role/content dicts as the engine's state keeps them (history rows are already)
            history += [{"role": m["role"], "content": m["content"]} for m in job.input]
            engine_run = start_run(
                job.compiled,
                run_id=job.run_id,
                workflow_id=job.workflow_id,
                messages=history,
                variables=dict(job.variables),
                providers=providers,
            )
        else:
            # Paused for longer than the bus keeps a channel: go on above the seqs seen so far.
            await self.runtime.bus.revive(f"run:{job.run_id}")
            state = RunState.from_json(job.state or {})
            decision, comment = job.resume
            engine_run = resume_run(
                job.compiled,
                state,
                decision=decision,  # type: ignore[arg-type]
                comment=comment,
                providers=providers,
            )
        held: list[dict[str, Any]] = []
        partial: dict[str, list[str]] = {}  # pieces per agent node: joined once, if needed
        last_agent: str | None = None

        def streamed() -> str:
            """The text the last agent node streamed so far (kept if the turn fails)."""
            return "".join(partial.get(last_agent or "", ()))

        async def publish(event: Event) -> None:
            nonlocal last_agent
            payload = event.payload()
            kind = payload["type"]
            if kind in ("run:complete", "run:result"):
                held.append(payload)
                return
            if kind == "node:text-delta":
                last_agent = payload["nodeId"]
                partial.setdefault(last_agent, []).append(payload["delta"])
            await self._publish(job, payload)

        try:
            await engine_run.run(publish)
        except asyncio.CancelledError:
            cancelled = self._finish_interrupted(job, "cancelled", "Run cancelled", streamed())
            await asyncio.shield(cancelled)
            raise
        except Exception:
            log.exception("turn %s crashed", job.run_id)
            return await self._finish_interrupted(job, "failed", "Internal error", streamed())
        outcome = engine_run.outcome
        assert outcome is not None
        now = utcnow()
        answer: tuple[str, str] | None = None  # (text, status) of the assistant's message
        if job.session_id:
            if outcome.status == "completed":
                text = stringify(outcome.output)
                answer = (text, "complete") if text else None
            elif outcome.status == "failed" and (text := streamed()):
                answer = (text, "partial")
        run_write = statements.update_write(
            Run,
            job.run_id,
            status=outcome.status,
            output=json_value(outcome.output),
            error=outcome.error,
            error_code=outcome.error_code,
            metadata=outcome.metadata,
            node_trace=outcome.node_trace,
            state=outcome.state.to_json() if outcome.state else None,
            approval_prompt=outcome.approval_prompt,
            paused_at_node_id=outcome.paused_at_node_id,
            completed_at=None if outcome.status == "pending_approval" else now,
            updated_at=now,
        )
        await self._finish(job, run_write, answer)
        for payload in held:
            if payload["type"] == "run:result" and outcome.error_code:
                payload["error_code"] = outcome.error_code
            await self._publish(job, payload)
        return held[-1] if held else {}

    async def _finish(
        self, job: TurnJob, run_write: statements.Write, answer: tuple[str, str] | None
    ) -> None:
        """The run's outcome, the assistant's message and the session's activity in one
        transaction (one commit; never an outcome without its answer), then the message
        announced."""
        writes = [run_write]
        row = None
        if job.session_id:
            if answer is not None:
                row = self._message_row(job, "assistant", answer[0], answer[1])
                writes.append(self._message_write(row, None))
            writes.append(statements.update_write(Session, job.session_id, updated_at=utcnow()))
        await statements.write_together(writes)
        if row is not None:
            await self._announce(row, None)

    async def _finish_interrupted(
        self, job: TurnJob, status: str, error: str, text: str
    ) -> dict[str, Any]:
        now = utcnow()
        run_write = statements.update_write(
            Run,
            job.run_id,
            status=status,
            error=error,
            error_code="EXECUTION_FAILED" if status == "failed" else None,
            completed_at=now,
            updated_at=now,
            state=None,
        )
        await self._finish(job, run_write, (text, "partial") if text else None)
        run = await Run.get(id=job.run_id)
        await self._publish(
            job,
            {
                "type": "run:complete",
                "runId": job.run_id,
                "status": status,
                "durationMs": (run.metadata or {}).get("durationMs", 0),
                "error": error,
            },
        )
        result = result_payload(run)
        await self._publish(job, result)
        return result

    async def _store_inputs(self, job: TurnJob) -> None:
        """The user's messages, stored before the turn runs, each announced once stored."""
        for item in job.input:
            client_id = item.get("client_message_id")
            row = self._message_row(job, item["role"], item["content"], "complete")
            write = self._message_write(row, client_id)
            await statements.write_together([write])
            await self._announce(row, client_id)

    def _message_row(self, job: TurnJob, role: str, content: str, status: str) -> MessageRow:
        assert job.session_id is not None
        session_id, run_id = job.session_id, job.run_id
        return MessageRow(new_id("msg"), session_id, role, content, run_id, status, utcnow())

    @staticmethod
    def _message_write(row: MessageRow, client_id: str | None) -> statements.Write:
        return statements.insert_write(
            Message,
            id=row.id,
            session_id=row.session_id,
            role=row.role,
            content=row.content,
            run_id=row.run_id,
            status=row.status,
            created_at=row.created_at,
            client_message_id=client_id,
        )

    async def _announce(self, row: MessageRow, client_id: str | None) -> None:
        event: dict[str, Any] = {"type": "message.created", "message": message_view(row)}
        if client_id:
            event["client_message_id"] = client_id
        await self.runtime.bus.publish(f"session:{row.session_id}", event)
