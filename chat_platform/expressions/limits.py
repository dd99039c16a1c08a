"""Guards that keep one workflow from freezing the server (TECH-NOTES: the Rust CEL engine
holds the GIL and caps nothing): source length, comprehension nesting, list sizes placed in
the context, and string sizes built by our functions. While-loop iterations and total steps
are capped by the engine.

May import: the standard library and chat_platform.errors.
"""

from __future__ import annotations

from typing import Any

from chat_platform.errors import ExpressionError

MAX_SOURCE_CHARS = 2048
MAX_COMPREHENSION_DEPTH = 2
MAX_LIST_ITEMS = 10_000
MAX_STRING_CHARS = 1_000_000


def check_string(length: int) -> None:
    if length > MAX_STRING_CHARS:
        raise ValueError(f"string result longer than {MAX_STRING_CHARS} characters")


def check_value(value: Any, depth: int = 0) -> None:
    """Reject lists over MAX_LIST_ITEMS anywhere in a context value (shallow for speed)."""
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise ExpressionError(f"a list in the context has more than {MAX_LIST_ITEMS} items")
        if depth < 2:
            for item in value:
                if isinstance(item, (list, dict)):
                    check_value(item, depth + 1)
    elif isinstance(value, dict) and depth < 2:
        for item in value.values():
            if isinstance(item, (list, dict)):
                check_value(item, depth + 1)
