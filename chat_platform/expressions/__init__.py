"""Expressions: CEL conditions/mappings and `${}`/`{{}}` templates, as the spec's
"Expressions" section defines them. Free of HTTP and ORM.
"""

from chat_platform.expressions.cel_engine import (
    CompiledExpression,
    compile_expression,
    is_truthy,
    validate_expression,
)
from chat_platform.expressions.context import flatten_context
from chat_platform.expressions.templates import (
    Template,
    compile_template,
    has_template_markers,
    render_text,
    stringify,
)

__all__ = [
    "CompiledExpression",
    "Template",
    "compile_expression",
    "compile_template",
    "flatten_context",
    "has_template_markers",
    "is_truthy",
    "render_text",
    "stringify",
    "validate_expression",
]
