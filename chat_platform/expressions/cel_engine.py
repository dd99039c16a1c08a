"""CEL compile and evaluate on the Rust `cel` engine (common-expression-language), with the
spec's corrections on top: code-point `size`, `string()`, the custom functions, guards.

Compiled programs are cached by source (a workflow version's expressions compile once).
Evaluation passes only the variables an expression references (a 50-message history in the
context costs ~244 µs per call otherwise). Every engine error becomes ExpressionError with a
short message; a missing map key or field (`branches.n99.field`) evaluates to null, as the
spec promises ("missing branch is safe").
May import: cel, the standard library, chat_platform.errors and this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cel

from chat_platform.errors import ExpressionError
from chat_platform.expressions.functions import FUNCTIONS, RENAMES
from chat_platform.expressions.lexer import comprehension_depth, rename_calls
from chat_platform.expressions.limits import (
    MAX_COMPREHENSION_DEPTH,
    MAX_SOURCE_CHARS,
    check_value,
)


class _Missing(Exception):
    """A key or field that is not there: the whole expression is null."""


def validate_expression(source: str) -> None:
    """Publish-time checks that do not need the engine: type, length, nesting."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty", expression=str(source))
    if len(source) > MAX_SOURCE_CHARS:
        raise ExpressionError(
            f"expression longer than {MAX_SOURCE_CHARS} characters", expression=source[:80]
        )
    if comprehension_depth(source) > MAX_COMPREHENSION_DEPTH:
        raise ExpressionError(
            f"more than {MAX_COMPREHENSION_DEPTH} nested comprehension macros "
            "(map/filter/all/exists)",
            expression=source,
        )


class CompiledExpression:
    """One compiled CEL program; `evaluate(context)` returns plain Python values."""

    __slots__ = ("_context", "_functions", "_program", "source", "variables")

    def __init__(self, source: str) -> None:
        validate_expression(source)
        self.source = source
        try:
            self._program = cel.compile(rename_calls(source, RENAMES))
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ExpressionError(f"invalid expression: {_short(exc)}", expression=source) from None
        self.variables: frozenset[str] = frozenset(self._program.variables())
        used = set(self._program.functions())
        self._functions = {name: fn for name, fn in FUNCTIONS.items() if name in used}
        # Building a Context with functions costs ~20 µs: keep one and overwrite every
        # referenced variable on each call (safe: evaluation is synchronous, and a call with
        # a variable missing gets a fresh Context so no stale value can leak in).
        self._context = cel.Context({}, self._functions) if self._functions else None

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        bound: dict[str, Any] = {}
        for name in self.variables:
            if name in context:
                value = context[name]
                if isinstance(value, (list, dict)):
                    check_value(value)
                bound[name] = value
        try:
            if self._context is None:
                return self._program.execute(bound)
            if len(bound) == len(self.variables):
                self._context.update(bound)
                return self._program.execute(self._context)
            return self._program.execute(cel.Context(bound, self._functions))
        except KeyError:
            return None
        except ExpressionError:
            raise
        except (
            ValueError,
            RuntimeError,
            TypeError,
            ZeroDivisionError,
            IndexError,
            OverflowError,
        ) as exc:
            missing = [v for v in self.variables if v not in context]
            if missing and "Undefined variable" in str(exc):
                raise ExpressionError(
                    f"unknown variable '{sorted(missing)[0]}' in `{self.source}`",
                    expression=self.source,
                ) from None
            raise ExpressionError(
                f"`{self.source}` failed: {_short(exc)}", expression=self.source
            ) from None

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CompiledExpression:
    return CompiledExpression(source)


def is_truthy(value: Any) -> bool:
    """Conditions: only a real `true` takes a branch (null from a missing field does not)."""
    return value is True
