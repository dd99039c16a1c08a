"""condition: the first branch whose expression is exactly `true` chooses its handle, else
`else`; the output passes through unchanged."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult
from chat_platform.expressions import is_truthy


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    context = ex.context(last_output)
    for branch in node.data.get("branches") or []:
        if is_truthy(ex.workflow.expr(node.id, f"branch:{branch['id']}").evaluate(context)):
            return NodeResult(last_output, handle=branch["id"])
    return NodeResult(last_output, handle="else")
