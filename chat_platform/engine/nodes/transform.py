"""transform: evaluates each mapping against the same context; the output is {key: value}."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    context = ex.context(last_output)
    out = {
        m["key"]: ex.workflow.expr(node.id, f"mapping:{i}").evaluate(context)
        for i, m in enumerate(node.data.get("mappings") or [])
    }
    return NodeResult(out)
