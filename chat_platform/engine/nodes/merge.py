"""merge: explicit fan-in; its input is the FanInInput of the branches, passed through."""

from __future__ import annotations

from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.nodes.base import Execution, NodeResult


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    return NodeResult(last_output)
