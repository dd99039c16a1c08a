"""approval: renders the prompt and pauses the run; the runner resumes it on `approved` or
`rejected` (rejected without such an edge fails the run with "Approval rejected")."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult
from chat_platform.expressions import stringify


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    prompt = ex.workflow.render(node.id, "prompt", ex.context(last_output))
    return NodeResult(last_output, pause_prompt=stringify(prompt) or "Approve?")
