"""while_loop: on each arrival, `condition` true and fewer than max_iterations body runs →
`body` (whose edges lead back here); otherwise → `exit`, and the counter resets so a later
re-entry starts afresh. The output passes through unchanged."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult
from chat_platform.expressions import is_truthy


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    counts: dict[str, int] = ex.loop_counts  # type: ignore[attr-defined]
    done = counts.get(node.id, 0)
    limit = ex.workflow.loop_limits[node.id]
    keep_going = is_truthy(ex.workflow.expr(node.id, "condition").evaluate(ex.context(last_output)))
    if keep_going and done < limit:
        counts[node.id] = done + 1
        return NodeResult(last_output, handle="body")
    counts.pop(node.id, None)
    return NodeResult(last_output, handle="exit")
