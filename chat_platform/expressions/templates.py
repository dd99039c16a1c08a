"""Template interpolation: `${expr}` and `{{expr}}` markers, parsed once into literal and
expression segments. A template that is exactly one marker returns the raw value (number,
object…); otherwise values are stringified into the text (objects as compact JSON, booleans
as true/false, null and missing as ""). Substituted text is never re-rendered.

May import: the standard library, chat_platform.errors and this package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from chat_platform.errors import ExpressionError
from chat_platform.expressions.cel_engine import CompiledExpression, compile_expression

_OPEN = {"${": "}", "{{": "}}"}


def has_template_markers(source: str) -> bool:
    return isinstance(source, str) and ("${" in source or "{{" in source)


def _parse(source: str) -> list[str | CompiledExpression]:
    segments: list[str | CompiledExpression] = []
    i, text = 0, []
    while i < len(source):
        opener = source[i : i + 2]
        if opener in _OPEN:
            close = _OPEN[opener]
            end = source.find(close, i + 2)
            if end == -1:
                raise ExpressionError(f"unclosed '{opener}' in template", expression=source)
            inner = source[i + 2 : end].strip()
            if not inner:
                raise ExpressionError("empty marker in template", expression=source)
            if text:
                segments.append("".join(text))
                text = []
            segments.append(compile_expression(inner))
            i = end + len(close)
        else:
            text.append(source[i])
            i += 1
    if text:
        segments.append("".join(text))
    return segments


def stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


class Template:
    __slots__ = ("_segments", "is_single_block", "source", "variables")

    def __init__(self, source: str) -> None:
        self.source = source
        self._segments = _parse(source)
        self.is_single_block = len(self._segments) == 1 and isinstance(
            self._segments[0], CompiledExpression
        )
        names: set[str] = set()
        for seg in self._segments:
            if isinstance(seg, CompiledExpression):
                names |= seg.variables
        self.variables = frozenset(names)

    @property
    def expressions(self) -> list[CompiledExpression]:
        return [s for s in self._segments if isinstance(s, CompiledExpression)]

    def _value(self, expr: CompiledExpression, context: Mapping[str, Any]) -> Any:
        if not expr.variables <= context.keys():
            return None  # a missing variable renders as ""
        return expr.evaluate(context)

    def render(self, context: Mapping[str, Any]) -> Any:
        if self.is_single_block:
            value = self._value(self._segments[0], context)  # type: ignore[arg-type]
            return "" if value is None else value
        parts = []
        for seg in self._segments:
            if isinstance(seg, str):
                parts.append(seg)
            else:
                parts.append(stringify(self._value(seg, context)))
        return "".join(parts)


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    return Template(source)


def render_text(source: str | None, context: Mapping[str, Any]) -> Any:
    """Render a template field that may have no markers at all (then it is literal text)."""
    if not source:
        return source or ""
    if not has_template_markers(source):
        return source
    return compile_template(source).render(context)
