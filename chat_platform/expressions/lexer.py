"""A tiny CEL token scanner used before compiling: it finds identifiers outside string
literals, so the source can be checked (comprehension nesting) and rewritten (`size` →
the code-point `charSize`) without touching text inside quotes.

May import: the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_STRING = re.compile(
    r'''[rR]?(?:"""(?:\\.|[^\\])*?"""|\'\'\'(?:\\.|[^\\])*?\'\'\'|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')''',
    re.S,
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "ident" | "string" | "punct"
    text: str
    start: int


def tokens(source: str) -> Iterator[Token]:
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        m = _STRING.match(source, i)
        if m and (ch in "\"'" or (ch in "rR" and i + 1 < n and source[i + 1] in "\"'")):
            yield Token("string", m.group(), i)
            i = m.end()
            continue
        m = _IDENT.match(source, i)
        if m:
            yield Token("ident", m.group(), i)
            i = m.end()
            continue
        yield Token("punct", ch, i)
        i += 1


COMPREHENSIONS = frozenset({"map", "filter", "all", "exists", "exists_one"})


def comprehension_depth(source: str) -> int:
    """How deeply comprehension macros nest (`a.map(x, b.map(y, y))` → 2)."""
    toks = list(tokens(source))
    depth = best = 0
    stack: list[bool] = []  # one entry per open paren: is it a macro's?
    for k, tok in enumerate(toks):
        if tok.kind != "punct":
            continue
        if tok.text == "(":
            prev = toks[k - 1] if k else None
            before = toks[k - 2] if k > 1 else None
            is_macro = bool(
                prev
                and prev.kind == "ident"
                and prev.text in COMPREHENSIONS
                and before is not None
                and before.text == "."
            )
            stack.append(is_macro)
            if is_macro:
                depth += 1
                best = max(best, depth)
        elif tok.text == ")" and stack:
            if stack.pop():
                depth -= 1
    return best


def rename_calls(source: str, renames: dict[str, str]) -> str:
    """Rename function/method identifiers followed by `(` (never inside string literals)."""
    out: list[str] = []
    last = 0
    toks = list(tokens(source))
    for k, tok in enumerate(toks):
        if (
            tok.kind == "ident"
            and tok.text in renames
            and k + 1 < len(toks)
            and toks[k + 1].text == "("
        ):
            out.append(source[last : tok.start])
            out.append(renames[tok.text])
            last = tok.start + len(tok.text)
    out.append(source[last:])
    return "".join(out)
