"""The run API: POST /run (sync), POST /run/stream (SSE), approve/reject, cancel, a run's
events (replay with Last-Event-ID or ?after=), and the runs of a workflow.

May import: starlette, http helpers, schemas, services.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.errors import ApiError, BadRequest
from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body
from chat_platform.http.responses import json_response
from chat_platform.http.sse import event_stream
from chat_platform.schemas.runs import ApprovalDecision, RunRequest
from chat_platform.services import runs
from chat_platform.services.auth import Permission


def _run_headers(run_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Run-Id": run_id, **(extra or {})}


def _respond(run_id: str, result: dict, headers: dict[str, str] | None = None) -> Response:
    try:
        runs.raise_for_result(result)
    except ApiError as exc:
        exc.headers = {**exc.headers, **_run_headers(run_id, headers)}
        raise
    return json_response(
        runs.public_result(result), runs.result_status(result), _run_headers(run_id, headers)
    )


async def run_sync(request: Request) -> Response:
    principal = await authenticate(request, Permission.RUNS)
    body = await parse_body(request, RunRequest)
    runtime = request.app.state.runtime
    key = runs.idempotency_key(request.headers.get("idempotency-key"))
    run, task, quota = await runs.start_run(runtime, principal, body, idempotency_key=key)
    result = await runs.wait_result(runtime, run, task)
    return _respond(run.id, result, quota)


async def run_stream(request: Request) -> Response:
    principal = await authenticate(request, Permission.RUNS)
    body = await parse_body(request, RunRequest)
    runtime = request.app.state.runtime
    key = runs.idempotency_key(request.headers.get("idempotency-key"))
    run, task, quota = await runs.start_run(runtime, principal, body, idempotency_key=key)
    if task is not None:  # just launched: follow it from its first event, no re-read
        events = runs.stream_event_batches(runtime, run.id)
    else:  # an idempotent retry: the original run, live or finished
        events = runs.follow_event_batches(runtime, principal, run.id, 0)
    return event_stream(events, _run_headers(run.id, quota))


async def _decide(request: Request, decision: str) -> Response:
    principal = await authenticate(request, Permission.RUNS)
    body = await parse_body(request, ApprovalDecision)
    runtime = request.app.state.runtime
    run, task = await runs.decide(
        runtime, principal, request.path_params["run_id"], decision, body.comment
    )
    return _respond(run.id, await runs.wait_result(runtime, run, task))


async def approve(request: Request) -> Response:
    return await _decide(request, "approved")


async def reject(request: Request) -> Response:
    return await _decide(request, "rejected")


async def cancel(request: Request) -> Response:
    principal = await authenticate(request, Permission.RUNS)
    runtime = request.app.state.runtime
    return json_response(await runs.cancel_run(runtime, principal, request.path_params["run_id"]))


async def events(request: Request) -> Response:
    principal = await authenticate(request)
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        after = int(raw)
    except ValueError:
        raise BadRequest("Last-Event-ID / after must be an integer event id") from None
    if after < 0:
        raise BadRequest("Last-Event-ID / after must be >= 0")
    runtime = request.app.state.runtime
    run_id = request.path_params["run_id"]
    stream = runs.follow_event_batches(runtime, principal, run_id, after)
    first = await anext(stream)  # access errors surface as JSON, not inside the stream

    async def chained():
        yield first
        async for item in stream:
            yield item

    return event_stream(chained(), _run_headers(run_id))


async def get_run(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(await runs.get_run_detail(principal, request.path_params["run_id"]))


async def list_workflow_runs(request: Request) -> Response:
    principal = await authenticate(request)
    limit, offset = pagination(request)
    rows = await runs.list_runs(
        principal, request.path_params["workflow_id"], limit=limit, offset=offset
    )
    return json_response(rows)


async def get_workflow_run(request: Request) -> Response:
    principal = await authenticate(request)
    return json_response(
        await runs.get_run_detail(
            principal,
            request.path_params["run_id"],
            workflow_id=request.path_params["workflow_id"],
        )
    )


routes = [
    Route("/run", run_sync, methods=["POST"]),
    Route("/run/stream", run_stream, methods=["POST"]),
    Route("/run/{run_id}/approve", approve, methods=["POST"]),
    Route("/run/{run_id}/reject", reject, methods=["POST"]),
    Route("/runs/{run_id}/approve", approve, methods=["POST"]),
    Route("/runs/{run_id}/reject", reject, methods=["POST"]),
    Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route("/runs/{run_id}/events", events, methods=["GET"]),
    Route("/runs/{run_id}", get_run, methods=["GET"]),
    Route("/workflows/{workflow_id}/runs", list_workflow_runs, methods=["GET"]),
    Route("/workflows/{workflow_id}/runs/{run_id}", get_workflow_run, methods=["GET"]),
]
