"""set_state: assigns variables in order (each assignment sees the previous ones); the output
passes through unchanged."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    for i, a in enumerate(node.data.get("assignments") or []):
        value = ex.workflow.expr(node.id, f"assignment:{i}").evaluate(ex.context(last_output))
        ex.variables[a["variable"]] = value
    return NodeResult(last_output)
