"""Run use cases: start a turn (sync, streamed, or by a chat socket), approve or reject a
paused run, cancel, list and read runs, follow a run's events. Validation and access happen
here, before anything is stored; execution is `services.turns`.

A sync run is the stream collected: it awaits the same background task a stream follows.
May import: services, store, engine (via turns), bus, errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from chat_platform.bus.events import one_by_one
from chat_platform.engine import CompiledWorkflow
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
from chat_platform.services.turns import (
    TERMINAL,
    Published,
    RunManager,
    TurnJob,
    result_payload,
)
from chat_platform.services.views import run_detail_view, run_view
from chat_platform.store import statements
from chat_platform.store.models import Run, Workflow

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


QUOTA_RESYNC_S = 10.0


class QuotaCounter:
    """Runs per account this month, kept in memory instead of a COUNT(*) per run: counted from
    the database once, then incremented by every run this process creates, and recounted every
    QUOTA_RESYNC_S (and at a month boundary) so runs created by other processes, or deleted
    with their workflow, show up within seconds. Exact for one process; across processes the
    quota may be overshot by what the others started since the last recount."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[datetime, int, float]] = {}  # start, used, synced

    async def used(self, account_id: str, start: datetime) -> int:
        entry = self._entries.get(account_id)
        now = time.monotonic()
        if entry is None or entry[0] != start or now - entry[2] > QUOTA_RESYNC_S:
            count = await Run.filter(account_id=account_id, created_at__gte=start).count()
            entry = self._entries[account_id] = (start, count, now)
        return entry[1]

    def consumed(self, account_id: str, start: datetime) -> None:
        entry = self._entries.get(account_id)
        if entry is not None and entry[0] == start:
            self._entries[account_id] = (start, entry[1] + 1, entry[2])


def _quota(runtime: Runtime) -> QuotaCounter:
    return runtime.extra("quota", QuotaCounter)


def _quota_headers(limit: int, used: int, end: datetime, *, consuming: bool) -> dict[str, str]:
    remaining = max(0, limit - used - (1 if consuming else 0))
    return {
        "X-Quota-Limit": str(limit),
        "X-Quota-Remaining": str(remaining),
        "X-Quota-Reset": iso(end) or "",
    }


def _quota_exceeded(end: datetime) -> RateLimited:
    return RateLimited(
        "Monthly workflow run quota exhausted",
        retry_after=int((end - utcnow()).total_seconds()),
        code="QUOTA_EXCEEDED",
    )


@dataclass(frozen=True)
class Runnable:
    """What starting a run needs of its workflow (and project)."""

    id: str
    project_id: str
    status: str
    version: int
    project_enabled: bool

    @classmethod
    def of(cls, workflow: Workflow) -> Runnable:
        return cls(
            workflow.id,
            workflow.project_id,
            workflow.status,
            workflow.version,
            workflow.project.enabled,
        )


def _check_runnable(workflow: Runnable) -> None:
    if not workflow.project_enabled:
        raise Forbidden("Project is disabled", code="PROJECT_DISABLED")
    if workflow.status == "paused":
        raise Conflict("Workflow is paused", code="WORKFLOW_PAUSED")
    if workflow.version == 0:
        raise NotFound("Workflow exists but is not published", code="WORKFLOW_NOT_PUBLISHED")


async def _target(
    runtime: Runtime, principal: Principal, body: RunRequest
) -> tuple[Runnable, Published, str | None]:
    """The workflow to run (checked runnable), its published version, and the session id.

    With a session, one query reads the few columns needed of the session, its workflow and
    project (no model instances: the workflow's graph JSON is not decoded on every turn); the
    errors and their order are those of the general path (workflow, runnable, version, then
    session), which handles everything but a visible session of this very workflow."""
    if body.session_id is not None:
        row = await statements.session_target(body.session_id)
        if (
            row is not None
            and row["workflow_id"] == body.workflow_id
            and principal.can_see(row["account_id"], row["project_id"])
        ):
            workflow = Runnable(
                row["workflow_id"],
                row["project_id"],
                row["status"],
                row["version"],
                bool(row["enabled"]),
            )
            _check_runnable(workflow)
            snapshot = await _published(runtime, workflow.id, body.version or workflow.version)
            return workflow, snapshot, body.session_id
    workflow = Runnable.of(await get_workflow(principal, body.workflow_id))
    _check_runnable(workflow)
    snapshot = await _published(runtime, workflow.id, body.version or workflow.version)
    if body.session_id is None:
        return workflow, snapshot, None
    session = await get_session(principal, body.session_id)
    if session.workflow_id != workflow.id:
        raise BadRequest(
            "Session belongs to a different workflow", code="SESSION_WORKFLOW_MISMATCH"
        )
    return workflow, snapshot, session.id


def _compile(snapshot: Published) -> CompiledWorkflow:
    try:
        return snapshot.compiled()
    except WorkflowDefinitionError as exc:  # published before validation existed
        raise BadRequest(exc.message, code="INVALID_WORKFLOW") from None


async def _published(runtime: Runtime, workflow_id: str, number: int) -> Published:
    snapshot = await manager(runtime).published(workflow_id, number)
    if snapshot is None:
        raise NotFound(f"Version {number} of this workflow does not exist")
    return snapshot


@dataclass(frozen=True)
class Launched:
    """A run just stored and launched: its id (a Tortoise model of the row cost ~50 µs)."""

    id: str


async def start_run(
    runtime: Runtime,
    principal: Principal,
    body: RunRequest,
    *,
    idempotency_key: str | None = None,
    client_message_id: str | None = None,
) -> tuple[Run | Launched, asyncio.Task[dict[str, Any]] | None, dict[str, str]]:
    """Validate, store the run row, launch the turn. Returns (Launched and the turn's task,
    or the original Run and None when an idempotent retry found it; quota headers)."""
    principal.require(Permission.RUNS)
    workflow, snapshot, session_id = await _target(runtime, principal, body)
    limit = runtime.settings.monthly_run_quota
    start, end = _month_bounds(utcnow())
    quota = _quota(runtime)
    used = await quota.used(principal.account_id, start)
    if used >= limit:
        existing = None
        if idempotency_key:
            existing = await Run.get_or_none(
                api_key_id=principal.key_id, idempotency_key=idempotency_key
            )
        if existing is None:
            raise _quota_exceeded(end)
        return existing, None, _quota_headers(limit, used, end, consuming=False)
    compiled = _compile(snapshot)
    credentials = await resolve_credentials(
        runtime, project_id=workflow.project_id, workflow_id=workflow.id
    )
    inputs = [{"role": m.role, "content": m.content} for m in body.input]
    if client_message_id and inputs:
        inputs[-1]["client_message_id"] = client_message_id
    # An idempotent retry is found by the unique (api_key_id, idempotency_key) index — no
    # lookup before the insert.
    now = utcnow()
    row = {
        "id": new_id("run"),
        "workflow_id": workflow.id,
        "session_id": session_id,
        "account_id": principal.account_id,
        "status": "running",
        "workflow_version": snapshot.version,
        "input": [{"role": m.role, "content": m.content} for m in body.input],
        "variables": body.variables,
        "idempotency_key": idempotency_key,
        "api_key_id": principal.key_id,
        "metadata": {},
        "started_at": now,
        "created_at": now,
        "updated_at": now,
    }
    try:
        await statements.insert(Run, **row)
    except IntegrityError:
        if not idempotency_key:
            raise
        existing = await Run.get_or_none(
            api_key_id=principal.key_id, idempotency_key=idempotency_key
        )
        if existing is None:
            raise
        return existing, None, _quota_headers(limit, used, end, consuming=False)
    quota.consumed(principal.account_id, start)
    job = TurnJob(
        run_id=row["id"],
        workflow_id=workflow.id,
        session_id=session_id,
        compiled=compiled,
        settings=snapshot.settings,
        input=inputs,
        variables=dict(body.variables),
        credentials=credentials,
    )
    launched = Launched(row["id"])
    return launched, manager(runtime).launch(job), _quota_headers(limit, used, end, consuming=True)


async def wait_result(
    runtime: Runtime, run: Run | Launched, task: asyncio.Task | None
) -> dict[str, Any]:
    """The run's final (or paused) result; survives the caller being cancelled."""
    if task is not None:
        return await asyncio.shield(task)
    assert isinstance(run, Run)  # no task: an idempotent retry found the stored run
    if run.status != "running":
        return result_payload(run)
    async for _seq, event in run_events(runtime, run.id):
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
        snapshot = await _published(runtime, run.workflow_id, run.workflow_version)
        compiled = _compile(snapshot)
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
        settings=snapshot.settings,
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


EventBatch = list[tuple[int, dict[str, Any]]]


def _cut_at_result(batch: EventBatch) -> tuple[EventBatch, bool]:
    """The batch cut after run:result (if it holds one), and whether it did."""
    for i, (_seq, event) in enumerate(batch):
        if event.get("type") == "run:result":
            return batch[: i + 1], True
    return batch, False


async def stream_event_batches(
    runtime: Runtime, run_id: str, after: int = 0
) -> AsyncIterator[EventBatch]:
    """A run's events after `after` (replayed from the log, then live) up to its run:result;
    each step brings every event already published (a burst of text deltas goes out in one
    write). From 0: a just-launched run's events from the first."""
    async with contextlib.aclosing(runtime.bus.subscribe_batches(f"run:{run_id}", after)) as bus:
        async for batch in bus:
            batch, done = _cut_at_result(batch)
            yield batch
            if done:
                return


async def follow_event_batches(
    runtime: Runtime, principal: Principal, run_id: str, after: int
) -> AsyncIterator[EventBatch]:
    """`stream_event_batches` of a run the principal can see; a run that is over (or paused)
    with nothing logged after `after` answers with its stored result."""
    run = await get_run(principal, run_id)
    if run.status in TERMINAL or run.status == "pending_approval":
        last = await runtime.bus.last_seq(f"run:{run.id}")
        if last <= after:
            yield [(max(after, last) + 1, result_payload(run))]
            return
    async with contextlib.aclosing(stream_event_batches(runtime, run.id, after)) as batches:
        async for batch in batches:
            yield batch


def run_events(
    runtime: Runtime, run_id: str, after: int = 0
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """`stream_event_batches`, one event at a time."""
    return one_by_one(stream_event_batches(runtime, run_id, after))


def idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not raw or len(raw) > 255:
        raise BadRequest("Invalid Idempotency-Key header (1–255 characters)")
    return raw
