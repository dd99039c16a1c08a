"""Run use cases: start a turn (sync, streamed, or by a chat socket), approve or reject a
paused run, cancel, list and read runs, follow a run's events. Validation and access happen
here, before anything is stored; execution is `services.turns`.

A sync run is the stream collected: it awaits the same background task a stream follows.
May import: services, store, engine (via turns), bus, errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from chat_platform.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    WorkflowDefinitionError,
)
from chat_platform.ids import has_prefix, iso, new_id, utcnow
from chat_platform.schemas.runs import RunRequest
from chat_platform.services.access import get_run, get_session, get_workflow
from chat_platform.services.auth import Permission, Principal
from chat_platform.services.credentials import resolve_credentials
from chat_platform.services.runtime import Runtime
from chat_platform.services.turns import TERMINAL, RunManager, TurnJob, result_payload
from chat_platform.services.views import run_detail_view, run_view
from chat_platform.store.models import Run, Workflow, WorkflowVersion

ERROR_STATUS = {"PROVIDER_ERROR": 502, "TIMEOUT": 504, "EXECUTION_FAILED": 500}


def manager(runtime: Runtime) -> RunManager:
    return runtime.runs


def _month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


async def quota_headers(runtime: Runtime, account_id: str, *, consuming: bool) -> dict[str, str]:
    limit = runtime.settings.monthly_run_quota
    start, end = _month_bounds(utcnow())
    used = await Run.filter(account_id=account_id, created_at__gte=start).count()
    if consuming and used >= limit:
        raise RateLimited(
            "Monthly workflow run quota exhausted",
            retry_after=int((end - utcnow()).total_seconds()),
            code="QUOTA_EXCEEDED",
        )
    remaining = max(0, limit - used - (1 if consuming else 0))
    return {
        "X-Quota-Limit": str(limit),
        "X-Quota-Remaining": str(remaining),
        "X-Quota-Reset": iso(end) or "",
    }


async def _runnable_version(workflow: Workflow, version: int | None) -> WorkflowVersion:
    if not workflow.project.enabled:
        raise Forbidden("Project is disabled", code="PROJECT_DISABLED")
    if workflow.status == "paused":
        raise Conflict("Workflow is paused", code="WORKFLOW_PAUSED")
    if workflow.version == 0:
        raise NotFound("Workflow exists but is not published", code="WORKFLOW_NOT_PUBLISHED")
    number = version or workflow.version
    snapshot = await WorkflowVersion.get_or_none(workflow_id=workflow.id, version=number)
    if snapshot is None:
        raise NotFound(f"Version {number} of this workflow does not exist")
    return snapshot


def _compile(runtime: Runtime, snapshot: WorkflowVersion) -> Any:
    try:
        return manager(runtime).compiled(
            snapshot.workflow_id, snapshot.version, snapshot.nodes, snapshot.edges
        )
    except WorkflowDefinitionError as exc:  # published before validation existed
        raise BadRequest(exc.message, code="INVALID_WORKFLOW") from None


async def start_run(
    runtime: Runtime,
    principal: Principal,
    body: RunRequest,
    *,
    idempotency_key: str | None = None,
    client_message_id: str | None = None,
) -> tuple[Run, asyncio.Task[dict[str, Any]] | None, dict[str, str]]:
    """Validate, store the run row, launch the turn. Returns (run, task or None when an
    idempotent retry found the original run, quota headers)."""
    principal.require(Permission.RUNS)
    workflow = await get_workflow(principal, body.workflow_id)
    snapshot = await _runnable_version(workflow, body.version)
    session_id = None
    if body.session_id is not None:
        session = await get_session(principal, body.session_id)
        if session.workflow_id != workflow.id:
            raise BadRequest(
                "Session belongs to a different workflow", code="SESSION_WORKFLOW_MISMATCH"
            )
        session_id = session.id
    if idempotency_key:
        existing = await Run.get_or_none(
            api_key_id=principal.key_id, idempotency_key=idempotency_key
        )
        if existing is not None:
            return (
                existing,
                None,
                await quota_headers(runtime, principal.account_id, consuming=False),
            )
    headers = await quota_headers(runtime, principal.account_id, consuming=True)
    compiled = _compile(runtime, snapshot)
    credentials = await resolve_credentials(
        runtime, project_id=workflow.project_id, workflow_id=workflow.id
    )
    inputs = [{"role": m.role, "content": m.content} for m in body.input]
    if client_message_id and inputs:
        inputs[-1]["client_message_id"] = client_message_id
    try:
        run = await Run.create(
            id=new_id("run"),
            workflow_id=workflow.id,
            session_id=session_id,
            account_id=principal.account_id,
            status="running",
            workflow_version=snapshot.version,
            input=[{"role": m.role, "content": m.content} for m in body.input],
            variables=body.variables,
            idempotency_key=idempotency_key,
            api_key_id=principal.key_id,
            metadata={},
        )
    except IntegrityError:  # a concurrent retry with the same Idempotency-Key won
        existing = await Run.get(api_key_id=principal.key_id, idempotency_key=idempotency_key)
        return existing, None, headers
    job = TurnJob(
        run_id=run.id,
        workflow_id=workflow.id,
        session_id=session_id,
        compiled=compiled,
        settings=snapshot.settings or {},
        input=inputs,
        variables=dict(body.variables),
        credentials=credentials,
    )
    return run, manager(runtime).launch(job), headers


async def wait_result(runtime: Runtime, run: Run, task: asyncio.Task | None) -> dict[str, Any]:
    """The run's final (or paused) result; survives the caller being cancelled."""
    if task is not None:
        return await asyncio.shield(task)
    if run.status != "running":
        return result_payload(run)
    async for _seq, event in runtime.bus.subscribe(f"run:{run.id}", 0):
        if event.get("type") == "run:result":
            return event
    raise ApiError("run event stream ended unexpectedly")


def result_status(result: dict[str, Any]) -> int:
    if result.get("status") == "pending_approval":
        return 202
    return 200


def raise_for_result(result: dict[str, Any]) -> None:
    if result.get("status") == "failed":
        code = result.get("error_code") or "EXECUTION_FAILED"
        raise ApiError(
            result.get("error") or "Workflow execution failed",
            code=code,
            status=ERROR_STATUS.get(code, 500),
        )


def public_result(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("type", "error_code")}


async def decide(
    runtime: Runtime, principal: Principal, run_id: str, decision: str, comment: str | None
) -> tuple[Run, asyncio.Task[dict[str, Any]]]:
    if not has_prefix(run_id, "run"):
        raise BadRequest("Invalid run ID format", code="INVALID_INPUT")
    principal.require(Permission.RUNS)
    run = await get_run(principal, run_id)
    claimed = await Run.filter(id=run.id, status="pending_approval").update(
        status="running",
        approval_decision=decision,
        approval_comment=comment,
        updated_at=utcnow(),
    )
    if not claimed:
        fresh = await Run.get(id=run.id)
        raise Conflict(f"Run is not pending approval (status: {fresh.status})")
    try:
        snapshot = await WorkflowVersion.get(
            workflow_id=run.workflow_id, version=run.workflow_version
        )
        compiled = _compile(runtime, snapshot)
        credentials = await resolve_credentials(
            runtime, project_id=run.workflow.project_id, workflow_id=run.workflow_id
        )
    except Exception:
        await Run.filter(id=run.id).update(status="pending_approval")
        raise
    job = TurnJob(
        run_id=run.id,
        workflow_id=run.workflow_id,
        session_id=run.session_id,
        compiled=compiled,
        settings=snapshot.settings or {},
        input=[],
        variables={},
        credentials=credentials,
        resume=(decision, comment),
        state=run.state,
    )
    return run, manager(runtime).launch(job)


async def cancel_run(runtime: Runtime, principal: Principal, run_id: str) -> dict[str, Any]:
    principal.require(Permission.RUNS)
    run = await get_run(principal, run_id)
    if run.status == "pending_approval":
        done = await Run.filter(id=run.id, status="pending_approval").update(
            status="cancelled", error="Run cancelled", state=None, completed_at=utcnow()
        )
        if done:
            return run_detail_view(await Run.get(id=run.id))
    if run.status != "running":
        raise Conflict(f"Run is not running (status: {run.status})")
    await manager(runtime).cancel(run.id)
    for _ in range(100):
        fresh = await Run.get(id=run.id)
        if fresh.status != "running":
            return run_detail_view(fresh)
        await asyncio.sleep(0.05)
    return run_detail_view(await Run.get(id=run.id))


async def list_runs(
    principal: Principal, workflow_id: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    workflow = await get_workflow(principal, workflow_id)
    rows = (
        await Run.filter(workflow_id=workflow.id)
        .order_by("-created_at", "-id")
        .offset(offset)
        .limit(limit)
    )
    return [run_view(r) for r in rows]


async def get_run_detail(
    principal: Principal, run_id: str, *, workflow_id: str | None = None
) -> dict[str, Any]:
    run = await get_run(principal, run_id)
    if workflow_id is not None and run.workflow_id != workflow_id:
        raise NotFound("Run not found")
    return run_detail_view(run)


async def follow_events(
    runtime: Runtime, principal: Principal, run_id: str, after: int
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Replay a run's events after `after`, then follow live until run:result."""
    run = await get_run(principal, run_id)
    channel = f"run:{run.id}"
    last = await runtime.bus.last_seq(channel)
    if run.status in TERMINAL or run.status == "pending_approval":
        if last <= after:
            yield max(after, last) + 1, result_payload(run)
            return
    async for seq, event in runtime.bus.subscribe(channel, after):
        yield seq, event
        if event.get("type") == "run:result":
            return


async def stream_events(runtime: Runtime, run_id: str) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """A just-launched run's events from the first one (replayed from the log)."""
    async for seq, event in runtime.bus.subscribe(f"run:{run_id}", 0):
        yield seq, event
        if event.get("type") == "run:result":
            return


def idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or len(raw) > 255:
        raise BadRequest("Invalid Idempotency-Key header (1–255 characters)")
    return raw
