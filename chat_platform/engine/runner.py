"""The runner: executes a compiled workflow for one turn as an async iterator of events.

    run = start_run(workflow, run_id=…, workflow_id=…, messages=[…], variables={…}, providers=…)
    async for event in run: …        # spec events, in order
    await run.run(sink)              # or: the same events handed to `await sink(event)`
    run.outcome                      # RunOutcome: status, output, error, metadata, trace, state

A node with several plain outgoing edges fans out: its branches run as concurrent tasks and
meet at the join computed at compile time, which runs once with lastOutput =
{"_fanIn": true, "branches": {source node id: output}}. A branch that ends before the join is
left out of `branches`. The first `end` reached finishes the run (other branches are
cancelled); running out of edges completes it with the last output. An approval pauses the
run: `outcome.state` is a JSON-able RunState that `resume_run` continues in any process.
Cancelling the consuming task cancels every branch cleanly.
May import: the standard library, chat_platform.errors/ids/expressions/providers.base, engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chat_platform.engine.definition import CompiledWorkflow, Edge, Node, fan_out_edges
from chat_platform.engine.events import (
    EdgeTraversed,
    Event,
    FanInReady,
    FanInWaiting,
    FanOut,
    NodeComplete,
    NodeError,
    NodeStart,
    NodeWaitingApproval,
    RunComplete,
    RunPaused,
    RunResult,
    RunResumed,
    RunStart,
)
from chat_platform.engine.nodes import EXECUTORS, NodeResult
from chat_platform.engine.state import RunState
from chat_platform.errors import ExpressionError, ProviderError, ProviderTimeout
from chat_platform.expressions import flatten_context, stringify
from chat_platform.ids import now_iso
from chat_platform.providers.base import ChatMessage, ProviderRegistry, TokenUsage

PREVIEW_CHARS = 200


@dataclass(frozen=True)
class EngineLimits:
    max_steps: int = 10_000  # node executions per run, loops included


@dataclass
class RunOutcome:
    status: Literal["completed", "failed", "pending_approval"]
    output: Any = None
    error: str | None = None
    error_code: str | None = None  # PROVIDER_ERROR | TIMEOUT | EXECUTION_FAILED
    metadata: dict[str, Any] = field(default_factory=dict)
    node_trace: list[dict[str, Any]] = field(default_factory=list)
    state: RunState | None = None
    approval_prompt: str | None = None
    paused_at_node_id: str | None = None


class _Finished(Exception):
    def __init__(self, output: Any) -> None:
        self.output = output


class _Failed(Exception):
    def __init__(self, message: str, code: str) -> None:
        self.message = message
        self.code = code


class _Paused(Exception):
    def __init__(self, node: Node, prompt: str, last_output: Any, prev: str | None) -> None:
        self.node, self.prompt, self.last_output, self.prev = node, prompt, last_output, prev


_DONE = object()


def _first_control(group: BaseExceptionGroup) -> BaseException:
    """From a branch group: a finished run wins, then a failure, then a pause."""
    flat: list[BaseException] = []

    def walk(g: BaseException) -> None:
        if isinstance(g, BaseExceptionGroup):
            for e in g.exceptions:
                walk(e)
        else:
            flat.append(g)

    walk(group)
    for kind in (_Finished, _Failed, _Paused):
        for e in flat:
            if isinstance(e, kind):
                return e
    return flat[0]


class WorkflowRun:
    """One execution (a start or a resume). Iterate it once; then read `outcome`."""

    def __init__(
        self,
        workflow: CompiledWorkflow,
        state: RunState,
        providers: ProviderRegistry,
        limits: EngineLimits,
        resume: tuple[str, str | None] | None = None,
    ) -> None:
        self.workflow = workflow
        self.state = state
        self.run_id = state.run_id
        self.providers = providers
        self.limits = limits
        self.variables = state.variables
        self.messages = [ChatMessage(m["role"], m["content"]) for m in state.messages]
        self.loop_counts = state.loop_counts
        self.provider, self.model = state.provider, state.model
        self.partial_text = ""
        self._tokens = TokenUsage(state.tokens.get("input", 0), state.tokens.get("output", 0))
        self._resume = resume
        self._sink: Callable[[Event], Awaitable[None]]
        self._started = 0.0
        self.outcome: RunOutcome | None = None
        self._base_input = next(
            (m.content for m in reversed(self.messages) if m.role == "user"), ""
        )
        self._message_dicts = state.messages  # already role/content dicts; read, never changed

    # -- the surface nodes use -------------------------------------------------------------
    async def emit(self, event: Event) -> None:
        await self._sink(event)

    def context(self, last_output: Any) -> dict[str, Any]:
        ctx = flatten_context(self.variables, last_output)
        ctx.setdefault("input", self._base_input)
        ctx.setdefault("messages", self._message_dicts)
        return ctx

    # -- running -----------------------------------------------------------------------------
    async def run(self, sink: Callable[[Event], Awaitable[None]]) -> None:
        """Execute in this task, handing every event to `sink` as it happens. Iterating the
        run instead costs a queue and a task switch per burst of events (a chat turn's
        events all pass through here: bench/PERF-LOG.md, step 9)."""
        self._sink = sink
        self._started = time.perf_counter()
        await self._execute()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        """Iterating: the run goes on in a task of its own, its events through a queue (made
        only here: `run(sink)`, the turns' way, needs none)."""
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def enqueue(event: Event) -> None:
            queue.put_nowait(event)

        async def drive() -> None:
            try:
                await self.run(enqueue)
            finally:
                queue.put_nowait(_DONE)

        driver = asyncio.create_task(drive())
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                yield item
            await driver
        finally:
            if not driver.done():
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await driver

    def _elapsed_ms(self) -> int:
        return self.state.duration_ms + int((time.perf_counter() - self._started) * 1000)

    def _metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "tokens": self._tokens.as_dict(),
            "durationMs": self._elapsed_ms(),
            "nodesExecuted": list(self.state.executed),
        }
        if self.provider:
            meta["provider"] = self.provider
        if self.model:
            meta["model"] = self.model
        return meta

    async def _execute(self) -> None:
        wf = self.workflow
        try:
            try:
                if self._resume is None:
                    await self.emit(RunStart(self.run_id, len(wf.nodes)))
                    last = await self._walk(wf.start_id, None, None)
                else:
                    await self.emit(RunResumed(self.run_id))
                    last = await self._resume_walk(*self._resume)
            except BaseExceptionGroup as group:
                raise _first_control(group) from None
        except _Finished as done:
            await self._finish("completed", done.output)
        except _Failed as failed:
            await self._finish("failed", None, failed.message, failed.code)
        except _Paused as paused:
            await self._pause(paused)
        else:
            await self._finish("completed", last)

    async def _finish(
        self, status: str, output: Any, error: str | None = None, code: str | None = None
    ) -> None:
        meta = self._metadata()
        await self.emit(RunComplete(self.run_id, status, meta["durationMs"], error))
        await self.emit(RunResult(self.run_id, self.state.workflow_id, status, output, error, meta))
        self.outcome = RunOutcome(
            status=status,  # type: ignore[arg-type]
            output=output,
            error=error,
            error_code=code,
            metadata=meta,
            node_trace=self.state.trace,
        )

    async def _pause(self, paused: _Paused) -> None:
        meta = self._metadata()
        st = self.state
        st.node_id, st.prev_node_id, st.last_output = (
            paused.node.id,
            paused.prev,
            paused.last_output,
        )
        st.duration_ms = meta["durationMs"]
        st.tokens = self._tokens.as_dict()
        st.provider, st.model = self.provider, self.model
        st.resumed = False
        await self.emit(RunPaused(self.run_id, paused.node.id, meta["durationMs"]))
        await self.emit(
            RunResult(
                self.run_id,
                st.workflow_id,
                "pending_approval",
                None,
                None,
                meta,
                paused.prompt,
                paused.node.id,
            )
        )
        self.outcome = RunOutcome(
            status="pending_approval",
            metadata=meta,
            node_trace=st.trace,
            state=st,
            approval_prompt=paused.prompt,
            paused_at_node_id=paused.node.id,
        )

    # -- graph walking ---------------------------------------------------------------------
    async def _walk(
        self,
        node_id: str,
        last_output: Any,
        prev: str | None,
        stop_at: str | None = None,
        preset: NodeResult | None = None,
    ) -> Any:
        """Run from node_id until an end, a dead end, or `stop_at` (a fan-in join).
        Returns the last output; a branch that reaches `stop_at` returns ("arrived", src, out).
        """
        wf = self.workflow
        while True:
            if node_id == stop_at:
                return ("arrived", prev, last_output)
            node = wf.nodes[node_id]
            if preset is not None:
                result, preset = preset, None
            else:
                result = await self._run_node(node, last_output, prev)
            if result.pause_prompt is not None:
                raise _Paused(node, result.pause_prompt, last_output, prev)
            if result.finished:
                raise _Finished(result.output)
            last_output = result.output
            edges = self._next_edges(node, result)
            if not edges:
                return last_output if stop_at is None else ("ended", node_id, last_output)
            if len(edges) == 1:
                edge = edges[0]
                await self.emit(EdgeTraversed(self.run_id, edge.id, edge.source, edge.target))
                prev, node_id = node_id, edge.target
                continue
            join = wf.joins.get((node_id, edges[0].handle))
            fanned = await self._fan_out(node, edges, last_output, join)
            if join is None or join == stop_at:
                if join is not None and join == stop_at:
                    return ("arrived", node_id, fanned)
                return last_output if stop_at is None else ("ended", node_id, last_output)
            last_output, prev, node_id = fanned, node_id, join

    def _next_edges(self, node: Node, result: NodeResult) -> list[Edge]:
        edges = self.workflow.outgoing.get(node.id, ())
        if result.handle is not None:
            return [e for e in edges if e.handle == result.handle]
        return fan_out_edges(node, edges) or [e for e in edges if e.handle is None]

    async def _fan_out(
        self, node: Node, edges: list[Edge], last_output: Any, join: str | None
    ) -> dict[str, Any]:
        await self.emit(FanOut(self.run_id, node.id, len(edges)))
        arrived: dict[str, Any] = {}

        async def branch(edge: Edge) -> None:
            await self.emit(EdgeTraversed(self.run_id, edge.id, edge.source, edge.target))
            result = await self._walk(edge.target, last_output, node.id, stop_at=join)
            if join is not None and isinstance(result, tuple) and result[0] == "arrived":
                arrived[result[1]] = result[2]
                await self.emit(FanInWaiting(self.run_id, join, len(arrived), len(edges)))

        async with asyncio.TaskGroup() as group:
            for edge in edges:
                group.create_task(branch(edge))
        if join is not None:
            await self.emit(FanInReady(self.run_id, join))
        return {"_fanIn": True, "branches": arrived}

    async def _run_node(self, node: Node, last_output: Any, prev: str | None) -> NodeResult:
        st = self.state
        st.steps += 1
        if st.steps > self.limits.max_steps:
            await self._fail(
                node,
                f"step limit of {self.limits.max_steps} node runs exceeded",
                "EXECUTION_FAILED",
                0,
            )
        await self.emit(NodeStart(self.run_id, node.id, node.type, node.label))
        started_at = now_iso()
        t0 = time.perf_counter()
        try:
            result = await EXECUTORS[node.kind](self, node, last_output, prev)
        except ExpressionError as exc:
            await self._fail(node, exc.message, "EXECUTION_FAILED", t0)
        except ProviderTimeout as exc:
            await self._fail(node, exc.message, "TIMEOUT", t0)
        except ProviderError as exc:
            await self._fail(node, exc.message, "PROVIDER_ERROR", t0)
        duration = int((time.perf_counter() - t0) * 1000)
        st.executed.append(node.id)
        usage = result.usage.as_dict() if result.usage is not None else None
        if result.usage is not None:
            self._tokens = self._tokens + result.usage
        preview = stringify(result.output)[:PREVIEW_CHARS]
        entry = {
            "nodeId": node.id,
            "nodeType": node.type,
            "nodeLabel": node.label,
            "status": "completed",
            "startedAt": started_at,
            "durationMs": duration,
            "outputPreview": preview,
            "tokenUsage": usage,
            "error": None,
        }
        if result.pause_prompt is not None:
            entry["status"] = "waiting_approval"
            entry["approvalPrompt"] = result.pause_prompt
            st.trace.append(entry)
            await self.emit(
                NodeWaitingApproval(
                    self.run_id, node.id, node.type, node.label, result.pause_prompt
                )
            )
            return result
        st.trace.append(entry)
        await self.emit(
            NodeComplete(self.run_id, node.id, node.type, node.label, duration, preview, usage)
        )
        return result

    async def _fail(self, node: Node, message: str, code: str, t0: float) -> None:
        duration = int((time.perf_counter() - t0) * 1000) if t0 else 0
        self.state.trace.append(
            {
                "nodeId": node.id,
                "nodeType": node.type,
                "nodeLabel": node.label,
                "status": "failed",
                "startedAt": now_iso(),
                "durationMs": duration,
                "outputPreview": "",
                "tokenUsage": None,
                "error": message,
            }
        )
        await self.emit(NodeError(self.run_id, node.id, node.type, message))
        raise _Failed(f"Node '{node.label}' ({node.id}) failed: {message}", code)

    async def _resume_walk(self, decision: str, comment: str | None) -> Any:
        st = self.state
        node = self.workflow.nodes[st.node_id or ""]
        handle = "approved" if decision == "approved" else "rejected"
        for entry in reversed(st.trace):
            if entry["nodeId"] == node.id and entry["status"] == "waiting_approval":
                entry.update(status=handle, decision=handle, comment=comment)
                break
        preview = stringify(st.last_output)[:PREVIEW_CHARS]
        await self.emit(NodeComplete(self.run_id, node.id, node.type, node.label, 0, preview, None))
        edges = [e for e in self.workflow.outgoing.get(node.id, ()) if e.handle == handle]
        if not edges and handle == "rejected":
            await self.emit(NodeError(self.run_id, node.id, node.type, "Approval rejected"))
            raise _Failed("Approval rejected", "EXECUTION_FAILED")
        result = NodeResult(st.last_output, handle=handle)
        return await self._walk(node.id, st.last_output, st.prev_node_id, preset=result)


def start_run(
    workflow: CompiledWorkflow,
    *,
    run_id: str,
    workflow_id: str,
    messages: Sequence[ChatMessage | dict[str, str]],
    variables: dict[str, Any],
    providers: ProviderRegistry,
    limits: EngineLimits | None = None,
) -> WorkflowRun:
    """A new run of `workflow` over `messages` (ChatMessages, or role/content dicts: those are
    kept as the state's own, not copied)."""
    start = workflow.nodes[workflow.start_id]
    defaults = start.data.get("variables") or {}
    state = RunState(
        run_id=run_id,
        workflow_id=workflow_id,
        variables={**(defaults if isinstance(defaults, dict) else {}), **variables},
        messages=[
            m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages
        ],
    )
    return WorkflowRun(workflow, state, providers, limits or EngineLimits())


def resume_run(
    workflow: CompiledWorkflow,
    state: RunState,
    *,
    decision: Literal["approved", "rejected"],
    comment: str | None,
    providers: ProviderRegistry,
    limits: EngineLimits | None = None,
) -> WorkflowRun:
    state.claim()
    return WorkflowRun(workflow, state, providers, limits or EngineLimits(), (decision, comment))
