"""start: the output is the last user message's content (so `output.contains(…)` right after
the start tests what the user said). Variables were seeded from `data.variables` already."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    last_user = next((m.content for m in reversed(ex.messages) if m.role == "user"), "")
    return NodeResult(last_user)
