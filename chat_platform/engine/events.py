"""One frozen dataclass per stream event of the spec; `payload()` is the exact JSON object
(camelCase keys, every listed field present, null when absent, "type" first).

May import: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = ""
    # dataclass field name -> wire key
    _keys: ClassVar[dict[str, str]] = {}

    def payload(self) -> dict[str, Any]:
        plan = _PLANS.get(type(self))
        if plan is None:  # (attribute, wire key) pairs, worked out once per event class
            plan = _PLANS[type(self)] = tuple(
                (f.name, self._keys.get(f.name, f.name)) for f in fields(self)
            )
        out: dict[str, Any] = {"type": self.type}
        for name, key in plan:
            out[key] = getattr(self, name)
        return out


_PLANS: dict[type[Event], tuple[tuple[str, str], ...]] = {}


_CAMEL = {
    "run_id": "runId",
    "node_id": "nodeId",
    "node_type": "nodeType",
    "node_label": "nodeLabel",
    "duration_ms": "durationMs",
    "output_preview": "outputPreview",
    "token_usage": "tokenUsage",
    "approval_prompt": "approvalPrompt",
    "edge_id": "edgeId",
    "source_node_id": "sourceNodeId",
    "target_count": "targetCount",
    "paused_at_node_id": "pausedAtNodeId",
    "total_nodes": "totalNodes",
}


@dataclass(frozen=True, slots=True)
class RunStart(Event):
    type: ClassVar[str] = "run:start"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    total_nodes: int


@dataclass(frozen=True, slots=True)
class NodeStart(Event):
    type: ClassVar[str] = "node:start"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    node_type: str
    node_label: str


@dataclass(frozen=True, slots=True)
class NodeTextDelta(Event):
    type: ClassVar[str] = "node:text-delta"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    node_type: str
    node_label: str
    delta: str


@dataclass(frozen=True, slots=True)
class NodeComplete(Event):
    type: ClassVar[str] = "node:complete"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    node_type: str
    node_label: str
    duration_ms: int
    output_preview: str
    token_usage: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class NodeError(Event):
    type: ClassVar[str] = "node:error"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    node_type: str
    error: str


@dataclass(frozen=True, slots=True)
class NodeWaitingApproval(Event):
    type: ClassVar[str] = "node:waiting_approval"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    node_type: str
    node_label: str
    approval_prompt: str


@dataclass(frozen=True, slots=True)
class EdgeTraversed(Event):
    type: ClassVar[str] = "edge:traversed"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    edge_id: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class FanOut(Event):
    type: ClassVar[str] = "fan-out"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    source_node_id: str
    target_count: int


@dataclass(frozen=True, slots=True)
class FanInWaiting(Event):
    type: ClassVar[str] = "fan-in:waiting"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str
    arrived: int
    expected: int


@dataclass(frozen=True, slots=True)
class FanInReady(Event):
    type: ClassVar[str] = "fan-in:ready"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    node_id: str


@dataclass(frozen=True, slots=True)
class RunPaused(Event):
    type: ClassVar[str] = "run:paused"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    paused_at_node_id: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RunResumed(Event):
    type: ClassVar[str] = "run:resumed"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str


@dataclass(frozen=True, slots=True)
class RunComplete(Event):
    type: ClassVar[str] = "run:complete"
    _keys: ClassVar[dict[str, str]] = _CAMEL
    run_id: str
    status: str
    duration_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class RunResult(Event):
    """The final result; its payload is the RunResult resource (snake_case, as the spec)."""

    type: ClassVar[str] = "run:result"
    id: str
    workflow_id: str
    status: str
    output: Any
    error: str | None
    metadata: dict[str, Any]
    approval_prompt: str | None = None
    paused_at_node_id: str | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "workflow_id": self.workflow_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "metadata": self.metadata,
        }
        if self.status == "pending_approval":
            out["approval_prompt"] = self.approval_prompt
            out["paused_at_node_id"] = self.paused_at_node_id
        return out
