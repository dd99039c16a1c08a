"""The engine without I/O: every node type, exact event payloads, validation, approvals with
a JSON round trip, fan-out/fan-in, loops, limits, provider failures, cancellation."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_platform.engine import (
    EngineLimits,
    RunState,
    StateAlreadyResumed,
    compile_workflow,
    resume_run,
    start_run,
)
from chat_platform.errors import ProviderError, ProviderTimeout, WorkflowDefinitionError
from chat_platform.providers.base import ChatChunk, ChatMessage, ChatRequest, TokenUsage
from chat_platform.providers.echo import EchoChatModel, EchoTranscriptChatModel

SPEC_KEYS = {
    "run:start": {"runId", "totalNodes"},
    "node:start": {"runId", "nodeId", "nodeType", "nodeLabel"},
    "node:complete": {
        "runId",
        "nodeId",
        "nodeType",
        "nodeLabel",
        "durationMs",
        "outputPreview",
        "tokenUsage",
    },
    "node:error": {"runId", "nodeId", "nodeType", "error"},
    "node:text-delta": {"runId", "nodeId", "nodeType", "nodeLabel", "delta"},
    "node:waiting_approval": {"runId", "nodeId", "nodeType", "nodeLabel", "approvalPrompt"},
    "edge:traversed": {"runId", "edgeId", "source", "target"},
    "fan-out": {"runId", "sourceNodeId", "targetCount"},
    "fan-in:waiting": {"runId", "nodeId", "arrived", "expected"},
    "fan-in:ready": {"runId", "nodeId"},
    "run:paused": {"runId", "pausedAtNodeId", "durationMs"},
    "run:resumed": {"runId"},
    "run:complete": {"runId", "status", "durationMs", "error"},
    "run:result": {"id", "workflow_id", "status", "output", "error", "metadata"},
}


class Failing:
    def __init__(self, exc: Exception, after: int = 0) -> None:
        self.exc, self.after = exc, after

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        for i in range(self.after):
            yield ChatChunk(delta=f"t{i} ")
        raise self.exc


class Registry:
    def __init__(self, **extra: Any) -> None:
        self.models = {
            "echo": EchoChatModel(),
            "echo-transcript": EchoTranscriptChatModel(),
            **extra,
        }

    def get(self, name: str) -> Any:
        if name not in self.models:
            raise ProviderError(f"Unknown provider '{name}'")
        return self.models[name]


def edge(a: str, b: str, handle: str | None = None) -> dict:
    e = {"id": f"{a}-{b}-{handle}", "source": a, "target": b}
    if handle:
        e["sourceHandle"] = handle
    return e


def chain(*nodes: dict) -> tuple[list[dict], list[dict]]:
    ids = [n["id"] for n in nodes]
    return list(nodes), [edge(a, b) for a, b in itertools.pairwise(ids)]


START = {"id": "start", "type": "start", "data": {"variables": {"language": "en"}}}
END = {"id": "end", "type": "end", "data": {}}


async def run(
    nodes: list,
    edges: list,
    text: str = "hello world",
    registry: Any = None,
    variables: dict | None = None,
    history: list | None = None,
    limits: EngineLimits | None = None,
) -> tuple[list[dict], Any]:
    wf = compile_workflow(nodes, edges)
    msgs = [*(history or []), ChatMessage("user", text)]
    r = start_run(
        wf,
        run_id="run_t",
        workflow_id="wf_t",
        messages=msgs,
        variables=variables or {},
        providers=registry or Registry(),
        limits=limits,
    )
    events = [e.payload() async for e in r]
    return events, r


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


async def test_linear_agent_events_and_payload_keys() -> None:
    nodes, edges = chain(
        START,
        {
            "id": "llm_1",
            "type": "llm",
            "data": {"label": "Summarizer", "provider": "echo", "model": "m"},
        },
        END,
    )
    events, r = await run(nodes, edges, "Here is a summary")
    for e in events:
        assert set(e) - {"type"} == SPEC_KEYS[e["type"]], e
    assert types(events)[0] == "run:start" and types(events)[-2:] == ["run:complete", "run:result"]
    assert events[0] == {"type": "run:start", "runId": "run_t", "totalNodes": 3}
    deltas = [e for e in events if e["type"] == "node:text-delta"]
    assert [d["delta"] for d in deltas] == ["Here", " is", " a", " summary"]
    assert deltas[0]["nodeType"] == "llm" and deltas[0]["nodeLabel"] == "Summarizer"
    complete = next(e for e in events if e["type"] == "node:complete" and e["nodeId"] == "llm_1")
    assert complete["tokenUsage"] == {"input": 4, "output": 4}
    assert complete["outputPreview"] == "Here is a summary"
    result = events[-1]
    assert result["output"] == "Here is a summary" and result["status"] == "completed"
    assert result["metadata"]["nodesExecuted"] == ["start", "llm_1", "end"]
    assert result["metadata"]["provider"] == "echo" and result["metadata"]["model"] == "m"
    assert r.outcome.status == "completed" and len(r.outcome.node_trace) == 3


async def test_agent_messages_history_prompt_and_crew_chain() -> None:
    nodes, edges = chain(
        START,
        {
            "id": "a1",
            "type": "agent",
            "data": {"provider": "echo-transcript", "instructions": "Answer in {{language}}."},
        },
        {
            "id": "a2",
            "type": "agent",
            "data": {"provider": "echo-transcript", "include_history": False},
        },
        {
            "id": "a3",
            "type": "agent",
            "data": {
                "provider": "echo-transcript",
                "include_history": False,
                "prompt": "Shorten: {{output}}",
            },
        },
        END,
    )
    history = [ChatMessage("user", "My name is Alice"), ChatMessage("assistant", "Hi Alice")]
    _, r = await run(nodes, edges, "What's my name?", history=history)
    trace = {t["nodeId"]: t["outputPreview"] for t in r.outcome.node_trace}
    assert trace["a1"].splitlines() == [
        "system: Answer in en.",
        "user: My name is Alice",
        "assistant: Hi Alice",
        "user: What's my name?",
    ]
    # a2: no history, the previous agent's output appended as a user message
    assert trace["a2"].splitlines()[0] == "user: What's my name?"
    assert trace["a2"].splitlines()[1] == "user: system: Answer in en."
    # a3: no history; the rendered prompt replaces the appended previous output
    assert r.outcome.output.splitlines()[:2] == [
        "user: What's my name?",
        "user: Shorten: user: What's my name?",
    ]


async def test_condition_transform_set_state_and_end_template() -> None:
    nodes = [
        START,
        {
            "id": "route",
            "type": "condition",
            "data": {
                "branches": [
                    {"id": "refund", "expression": 'output.contains("refund")'},
                    {"id": "other", "expression": "true"},
                ]
            },
        },
        {
            "id": "tf",
            "type": "transform",
            "data": {
                "mappings": [
                    {"key": "words", "expression": "wordCount(output)"},
                    {"key": "shout", "expression": "output.upperAscii()"},
                ]
            },
        },
        {
            "id": "set",
            "type": "set_state",
            "data": {
                "assignments": [
                    {"variable": "count", "expression": "words * 10"},
                    {"variable": "twice", "expression": "count * 2"},
                ]
            },
        },
        {"id": "end", "type": "end", "data": {"output": "{{shout}} {{count}} {{twice}}"}},
        {"id": "else_end", "type": "end", "data": {"output": "no refund"}},
    ]
    edges = [
        edge("start", "route"),
        edge("route", "tf", "refund"),
        edge("route", "else_end", "other"),
        edge("tf", "set"),
        edge("set", "end"),
    ]
    _events, r = await run(nodes, edges, "I want a refund")
    assert r.outcome.output == "I WANT A REFUND 40 80"
    assert "else_end" not in r.outcome.metadata["nodesExecuted"]
    _, r2 = await run(nodes, edges, "just saying hi")
    assert r2.outcome.output == "no refund"


async def test_else_handle_and_dead_end_completes_with_last_output() -> None:
    nodes = [
        START,
        {
            "id": "c",
            "type": "condition",
            "data": {"branches": [{"id": "yes", "expression": "false"}]},
        },
        END,
        {"id": "t", "type": "transform", "data": {"mappings": [{"key": "k", "expression": "1"}]}},
    ]
    edges = [edge("start", "c"), edge("c", "end", "yes"), edge("c", "t", "else")]
    _, r = await run(nodes, edges)
    assert r.outcome.status == "completed" and r.outcome.output == {"k": 1}


async def test_while_loop_counts_and_max_iterations_guard() -> None:
    def graph(limit: int) -> tuple[list, list]:
        nodes = [
            {"id": "start", "type": "start", "data": {"variables": {"i": 0}}},
            {
                "id": "loop",
                "type": "while_loop",
                "data": {"condition": "i < 5", "max_iterations": limit},
            },
            {
                "id": "inc",
                "type": "set_state",
                "data": {"assignments": [{"variable": "i", "expression": "i + 1"}]},
            },
            {"id": "end", "type": "end", "data": {"output": "{{i}}"}},
        ]
        edges = [
            edge("start", "loop"),
            edge("loop", "inc", "body"),
            edge("inc", "loop"),
            edge("loop", "end", "exit"),
        ]
        return nodes, edges

    _, r = await run(*graph(10))
    assert r.outcome.output == 5
    assert r.outcome.metadata["nodesExecuted"].count("inc") == 5
    _, capped = await run(*graph(3))
    assert capped.outcome.output == 3


async def test_step_limit_fails_clearly() -> None:
    nodes = [
        {"id": "start", "type": "start"},
        {"id": "loop", "type": "while_loop", "data": {"condition": "true", "max_iterations": 1000}},
        {"id": "noop", "type": "merge"},
        END,
    ]
    edges = [
        edge("start", "loop"),
        edge("loop", "noop", "body"),
        edge("noop", "loop"),
        edge("loop", "end", "exit"),
    ]
    _, r = await run(nodes, edges, limits=EngineLimits(max_steps=50))
    assert r.outcome.status == "failed" and "step limit" in r.outcome.error


async def test_fan_out_fan_in_vote() -> None:
    nodes = (
        [START]
        + [
            {
                "id": n,
                "type": "transform",
                "data": {
                    "mappings": [
                        {"key": "approve", "expression": v},
                        {"key": "reason", "expression": f'"{n}"'},
                    ]
                },
            }
            for n, v in (("n8", "true"), ("n9", "false"), ("n10", "true"))
        ]
        + [
            {"id": "merge_1", "type": "merge"},
            {
                "id": "vote",
                "type": "condition",
                "data": {
                    "branches": [
                        {
                            "id": "pass",
                            "expression": (
                                "(branches.n8.approve ? 1 : 0) + (branches.n9.approve ? 1 : 0) + "
                                "(branches.n10.approve ? 1 : 0) >= 2"
                            ),
                        }
                    ]
                },
            },
            {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
        ]
    )
    edges = (
        [edge("start", n) for n in ("n8", "n9", "n10")]
        + [edge(n, "merge_1") for n in ("n8", "n9", "n10")]
        + [edge("merge_1", "vote"), edge("vote", "end", "pass")]
    )
    events, r = await run(nodes, edges)
    assert {
        "type": "fan-out",
        "runId": "run_t",
        "sourceNodeId": "start",
        "targetCount": 3,
    } in events
    waiting = [e for e in events if e["type"] == "fan-in:waiting"]
    assert [(e["arrived"], e["expected"]) for e in waiting] == [(1, 3), (2, 3), (3, 3)]
    assert {"type": "fan-in:ready", "runId": "run_t", "nodeId": "merge_1"} in events
    out = r.outcome.output
    assert out["_fanIn"] is True and set(out["branches"]) == {"n8", "n9", "n10"}
    assert out["branches"]["n9"] == {"approve": False, "reason": "n9"}
    assert r.outcome.metadata["nodesExecuted"].count("merge_1") == 1


def approval_graph(reject_edge: bool = True) -> tuple[list, list]:
    nodes = [
        START,
        {"id": "ap", "type": "approval", "data": {"prompt": "Deploy {{output}}?"}},
        {"id": "ok", "type": "end", "data": {"output": "shipped {{output}}"}},
        {"id": "no", "type": "end", "data": {"output": "stopped"}},
    ]
    edges = [edge("start", "ap"), edge("ap", "ok", "approved")]
    if reject_edge:
        edges.append(edge("ap", "no", "rejected"))
    return nodes, edges


async def resume(state: Any, graph: tuple, decision: str) -> tuple[list[dict], Any]:
    restored = RunState.from_json(json.loads(json.dumps(state.to_json())))
    r = resume_run(
        compile_workflow(*graph), restored, decision=decision, comment="c", providers=Registry()
    )
    return [e.payload() async for e in r], r


async def test_approval_pause_round_trip_and_resume() -> None:
    graph = approval_graph()
    events, r = await run(*graph, "v2")
    assert types(events)[-4:] == ["node:waiting_approval", "run:paused", "run:result"][
        -3:
    ] or types(events)[-3:] == ["node:waiting_approval", "run:paused", "run:result"]
    result = events[-1]
    assert result["status"] == "pending_approval" and result["approval_prompt"] == "Deploy v2?"
    assert result["paused_at_node_id"] == "ap"
    assert r.outcome.state is not None
    approved_events, approved = await resume(r.outcome.state, graph, "approved")
    assert approved_events[0] == {"type": "run:resumed", "runId": "run_t"}
    assert approved.outcome.output == "shipped v2"
    trace = approved.outcome.node_trace
    assert any(
        t["nodeId"] == "ap" and t["decision"] == "approved" and t["comment"] == "c" for t in trace
    )
    _, rejected = await resume(r.outcome.state, graph, "rejected")
    assert rejected.outcome.output == "stopped"


async def test_reject_without_edge_and_double_resume_guard() -> None:
    graph = approval_graph(reject_edge=False)
    _, r = await run(*graph)
    events, rejected = await resume(r.outcome.state, graph, "rejected")
    assert rejected.outcome.status == "failed" and rejected.outcome.error == "Approval rejected"
    assert any(e["type"] == "node:error" and e["error"] == "Approval rejected" for e in events)
    state = r.outcome.state
    resume_run(
        compile_workflow(*graph), state, decision="approved", comment=None, providers=Registry()
    )
    with pytest.raises(StateAlreadyResumed):
        resume_run(
            compile_workflow(*graph), state, decision="approved", comment=None, providers=Registry()
        )


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ProviderError("openai: HTTP 500: boom", status=500), "PROVIDER_ERROR"),
        (ProviderTimeout("openai: provider timeout"), "TIMEOUT"),
    ],
)
async def test_provider_failures_become_node_errors(exc: Exception, code: str) -> None:
    nodes, edges = chain(START, {"id": "llm", "type": "agent", "data": {"provider": "bad"}}, END)
    events, r = await run(nodes, edges, registry=Registry(bad=Failing(exc, after=2)))
    err = next(e for e in events if e["type"] == "node:error")
    assert err == {
        "type": "node:error",
        "runId": "run_t",
        "nodeId": "llm",
        "nodeType": "agent",
        "error": exc.message,
    }
    assert r.outcome.status == "failed" and r.outcome.error_code == code
    assert "llm" in r.outcome.error
    assert events[-1]["status"] == "failed"


async def test_expression_runtime_error_fails_the_node() -> None:
    nodes, edges = chain(
        START,
        {
            "id": "tf",
            "type": "transform",
            "data": {"mappings": [{"key": "x", "expression": "1 / zero"}]},
        },
        END,
    )
    events, r = await run(nodes, edges, variables={"zero": 0})
    err = next(e for e in events if e["type"] == "node:error")
    assert err["nodeId"] == "tf" and "1 / zero" in err["error"]
    assert r.outcome.error_code == "EXECUTION_FAILED"


async def test_cancellation_leaves_no_tasks_behind() -> None:
    baseline = len(asyncio.all_tasks())
    nodes, edges = chain(
        START, {"id": "llm", "type": "agent", "data": {"provider": "echo", "delay_ms": 50}}, END
    )
    wf = compile_workflow(nodes, edges)
    r = start_run(
        wf,
        run_id="r",
        workflow_id="w",
        messages=[ChatMessage("user", "a b c d e f")],
        variables={},
        providers=Registry(),
    )
    streaming = asyncio.Event()

    async def consume() -> None:
        async for e in r:
            if e.type == "node:text-delta":
                streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline
    assert r.outcome is None


def _agent_with_history() -> tuple[Any, list[dict[str, str]]]:
    nodes, edges = chain(
        START,
        {"id": "llm", "type": "agent", "data": {"provider": "echo-transcript"}},
        {"id": "t", "type": "transform", "data": {"mappings": [{"key": "n", "expression": "1"}]}},
        END,
    )
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"}]
    return compile_workflow(nodes, edges), [*history, {"role": "user", "content": "second"}]


def _timeless(events: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("durationMs", "metadata")} for e in events]


async def test_run_with_a_sink_gives_the_events_of_iteration_in_the_calling_task() -> None:
    wf, messages = _agent_with_history()

    def fresh() -> Any:
        return start_run(
            wf, run_id="r", workflow_id="w", messages=messages, variables={}, providers=Registry()
        )

    iterated = fresh()
    expected = [e.payload() async for e in iterated]
    tasks: set[asyncio.Task] = set()
    sunk: list[dict] = []

    async def sink(event: Any) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        sunk.append(event.payload())

    direct = fresh()
    await direct.run(sink)
    assert _timeless(sunk) == _timeless(expected) and len(sunk) > 8
    assert tasks == {asyncio.current_task()}  # no driver task: events arrive in ours
    assert direct.outcome.output == iterated.outcome.output == {"n": 1}
    # Role/content dicts are the state's own messages; the agent saw the whole history.
    assert direct.state.messages == messages
    transcript = [e for e in sunk if e["type"] == "node:complete" and e["nodeId"] == "llm"]
    assert "first" in transcript[0]["outputPreview"] and "second" in transcript[0]["outputPreview"]


async def test_a_failing_sink_stops_the_run_with_its_own_error() -> None:
    wf, messages = _agent_with_history()
    r = start_run(
        wf, run_id="r", workflow_id="w", messages=messages, variables={}, providers=Registry()
    )
    seen: list[str] = []

    async def sink(event: Any) -> None:
        seen.append(event.type)
        if event.type == "node:text-delta":
            raise RuntimeError("bus down")

    with pytest.raises(RuntimeError, match="bus down"):  # not turned into a node failure
        await r.run(sink)
    assert seen[-1] == "node:text-delta" and "node:error" not in seen
    assert r.outcome is None


@pytest.mark.parametrize(
    ("nodes", "edges", "node_id", "message"),
    [
        ([], [], None, "no nodes"),
        ([START, {**START, "id": "s2"}, END], [edge("start", "end")], "s2", "exactly one start"),
        ([START, {"id": "x", "type": "webhook"}, END], [], "x", "unknown node type"),
        ([START, END, {**END}], [edge("start", "end")], "end", "duplicate"),
        ([START, END], [edge("start", "ghost")], "start", "unknown node"),
        (
            [
                START,
                {
                    "id": "c",
                    "type": "condition",
                    "data": {"branches": [{"id": "a", "expression": "true"}]},
                },
                END,
            ],
            [edge("start", "c"), edge("c", "end", "zzz")],
            "c",
            "sourceHandle",
        ),
        (
            [START, END, {"id": "t", "type": "merge"}],
            [edge("start", "t")],
            "start",
            "no end node is reachable",
        ),
        (
            [START, {"id": "a", "type": "merge"}, {"id": "b", "type": "merge"}, END],
            [edge("start", "a"), edge("a", "b"), edge("b", "a"), edge("b", "end")],
            "a",
            "cycle",
        ),
        (
            [
                START,
                {
                    "id": "c",
                    "type": "condition",
                    "data": {"branches": [{"id": "a", "expression": "1 +"}]},
                },
                END,
            ],
            [edge("start", "c"), edge("c", "end", "a")],
            "c",
            "invalid expression",
        ),
        (
            [
                START,
                {
                    "id": "w",
                    "type": "while_loop",
                    "data": {"condition": "true", "max_iterations": 0},
                },
                END,
            ],
            [edge("start", "w"), edge("w", "end", "exit")],
            "w",
            "max_iterations",
        ),
        (
            [
                START,
                {"id": "p", "type": "merge"},
                {"id": "ap", "type": "approval"},
                {"id": "q", "type": "merge"},
                {"id": "j", "type": "merge"},
                END,
            ],
            [
                edge("start", "ap"),
                edge("start", "q"),
                edge("ap", "j", "approved"),
                edge("q", "j"),
                edge("j", "end"),
            ],
            "ap",
            "parallel branches",
        ),
        (
            [START, {"id": "a", "type": "agent", "data": {"temperature": "hot"}}, END],
            [edge("start", "a"), edge("a", "end")],
            "a",
            "temperature",
        ),
    ],
)
def test_validation_names_the_node(
    nodes: list, edges: list, node_id: str | None, message: str
) -> None:
    with pytest.raises(WorkflowDefinitionError) as info:
        compile_workflow(nodes, edges)
    assert info.value.node_id == node_id
    assert message in info.value.message


def test_limits_and_valid_loop() -> None:
    many = [START, END] + [{"id": f"n{i}", "type": "merge"} for i in range(499)]
    with pytest.raises(WorkflowDefinitionError, match="more than 500 nodes"):
        compile_workflow(many, [edge("start", "end")])
    nodes = [
        START,
        {"id": "w", "type": "while_loop", "data": {"condition": "true"}},
        {"id": "b", "type": "merge"},
        END,
    ]
    wf = compile_workflow(
        nodes,
        [edge("start", "w"), edge("w", "b", "body"), edge("b", "w"), edge("w", "end", "exit")],
    )
    assert wf.loop_limits["w"] == 10


def test_usage_adds_up() -> None:
    assert TokenUsage(1, 2) + TokenUsage(3, 4) == TokenUsage(4, 6)
