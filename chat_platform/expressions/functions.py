"""The functions CEL expressions may call beyond the native set: the spec's string methods
(`charAt`, `indexOf`, `substring`, `split`, `join`, `replace`, `trim`, case), `string()`,
the Neonloops extensions `wordCount`, `lineCount`, `max`, `min`, and `charSize`, which
replaces `size` so strings are measured in code points (the Rust engine counts bytes).
Nothing here can produce unbounded data (no `lists.range`, no repeat).

May import: the standard library and chat_platform.expressions.limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chat_platform.expressions.limits import MAX_STRING_CHARS, check_string


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _size(value: Any) -> int:
    if isinstance(value, (str, list, dict, bytes)):
        return len(value)
    raise TypeError(f"size() is not defined for {type(value).__name__}")


def _char_at(s: str, i: int) -> str:
    if i < 0 or i > len(s):
        raise IndexError(f"charAt index {i} out of range")
    return s[i : i + 1]


def _index_of(s: str, sub: str, offset: int = 0) -> int:
    return s.find(sub, offset)


def _last_index_of(s: str, sub: str, offset: int | None = None) -> int:
    return s.rfind(sub) if offset is None else s.rfind(sub, 0, offset + len(sub))


def _substring(s: str, start: int, end: int | None = None) -> str:
    end = len(s) if end is None else end
    if not 0 <= start <= end <= len(s):
        raise IndexError(f"substring({start}, {end}) out of range for length {len(s)}")
    return s[start:end]


def _replace(s: str, old: str, new: str, limit: int = -1) -> str:
    # Bound the result before building it: "a".replace("", long) could explode.
    count = s.count(old) if limit < 0 else min(limit, s.count(old))
    check_string(len(s) + count * (len(new) - len(old)))
    return s.replace(old, new, limit)


def _split(s: str, sep: str, limit: int | None = None) -> list[str]:
    if limit is None or limit < 0:
        return s.split(sep) if sep else list(s)
    if limit == 0:
        return []
    return s.split(sep, limit - 1) if sep else [*list(s[: limit - 1]), s[limit - 1 :]]


def _join(items: list[Any], sep: str = "") -> str:
    out = sep.join(_string(x) for x in items)
    check_string(len(out))
    return out


def _word_count(text: Any) -> int:
    return len(_string(text).split()) if text is not None else 0


def _line_count(text: Any) -> int:
    if text is None:
        return 0
    s = _string(text)
    return len(s.splitlines()) if s else 0


def _max(a: Any, b: Any) -> Any:
    return a if a >= b else b


def _min(a: Any, b: Any) -> Any:
    return a if a <= b else b


def _lower(s: str) -> str:
    return re.sub(r"[A-Z]+", lambda m: m.group().lower(), s)


def _upper(s: str) -> str:
    return re.sub(r"[a-z]+", lambda m: m.group().upper(), s)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "string": _string,
    "charSize": _size,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "substring": _substring,
    "replace": _replace,
    "split": _split,
    "join": _join,
    "lowerAscii": _lower,
    "upperAscii": _upper,
    "trim": lambda s: s.strip(),
    "wordCount": _word_count,
    "lineCount": _line_count,
    "max": _max,
    "min": _min,
}

# Source rewrites applied before compiling (see lexer.rename_calls).
RENAMES = {"size": "charSize"}

__all__ = ["FUNCTIONS", "MAX_STRING_CHARS", "RENAMES"]
