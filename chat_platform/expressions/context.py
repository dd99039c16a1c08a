"""Context flattening, in the spec's order: variables, then the previous node's output spread
(when it is an object), then `output` itself. lastOutput wins name conflicts.

May import: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten_context(variables: Mapping[str, Any], last_output: Any) -> dict[str, Any]:
    context = dict(variables)
    if isinstance(last_output, dict):
        context.update(last_output)
    context["output"] = last_output
    return context
