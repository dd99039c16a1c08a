"""Node behaviours, one module per node type. Each exposes
`async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chat_platform.engine.nodes import (
    agent,
    approval,
    condition,
    end,
    merge,
    set_state,
    start,
    transform,
    while_loop,
)
from chat_platform.engine.nodes.base import NodeResult

NodeFn = Callable[..., Awaitable[NodeResult]]
EXECUTORS: dict[str, NodeFn] = {
    "start": start.execute,
    "end": end.execute,
    "agent": agent.execute,
    "condition": condition.execute,
    "transform": transform.execute,
    "set_state": set_state.execute,
    "while_loop": while_loop.execute,
    "approval": approval.execute,
    "merge": merge.execute,
}

__all__ = ["EXECUTORS", "NodeResult"]
