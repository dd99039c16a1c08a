"""Session memory: the prior messages prepended to a turn, bounded by the workflow's
`settings.history` ({"max_messages": 50, "max_tokens": 8000} by default; ~4 characters a
token). The default is bounded, never "all messages".
May import: store.
"""

from __future__ import annotations

from typing import Any

from chat_platform.store import statements

DEFAULT_MAX_MESSAGES = 50
DEFAULT_MAX_TOKENS = 8000
HARD_MAX_MESSAGES = 500


def history_budget(settings: dict[str, Any] | None) -> tuple[int, int]:
    h = (settings or {}).get("history") or {}
    if not isinstance(h, dict):
        h = {}
    count = h.get("max_messages", DEFAULT_MAX_MESSAGES)
    tokens = h.get("max_tokens", DEFAULT_MAX_TOKENS)
    count = (
        count if isinstance(count, int) and not isinstance(count, bool) else DEFAULT_MAX_MESSAGES
    )
    tokens = (
        tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else DEFAULT_MAX_TOKENS
    )
    return max(0, min(count, HARD_MAX_MESSAGES)), max(0, tokens)


async def load_history(session_id: str, settings: dict[str, Any] | None) -> list[dict[str, str]]:
    max_messages, max_tokens = history_budget(settings)
    if max_messages == 0:
        return []
    rows = await statements.recent_messages(session_id, max_messages)
    kept: list[dict[str, str]] = []
    budget = max_tokens * 4
    for row in rows:  # newest first: keep the most recent that fit
        budget -= len(row["content"])
        if budget < 0 and kept:
            break
        kept.append(row)  # already {"role": …, "content": …}: no copy per message
    kept.reverse()
    return kept
