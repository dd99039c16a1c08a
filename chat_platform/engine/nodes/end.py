"""end: renders `data.output` (default "{{output}}", i.e. the previous output as is) and
finishes the run; the first end reached wins."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    output = ex.workflow.render(node.id, "output", ex.context(last_output))
    return NodeResult(output, finished=True)
