"""Reading incoming Bot Framework activities: who and where (conversation, tenant, user), the
user's text with the bot's @mention removed, whether the bot was just added to a conversation,
and an approval decision carried by an Adaptive Card button (an `adaptiveCard/action` invoke
from Action.Execute, or a message whose `value` came from Action.Submit).
Pure functions over plain dicts. May import: the standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

APPROVAL_KIND = "chat_platform.approval"
_AT_TAG = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def conversation_id(activity: dict[str, Any]) -> str:
    return str(_dict(activity.get("conversation")).get("id") or "")


def conversation_type(activity: dict[str, Any]) -> str:
    conv = _dict(activity.get("conversation"))
    kind = conv.get("conversationType")
    if kind:
        return str(kind)
    return "groupChat" if conv.get("isGroup") else "personal"


def is_group(activity: dict[str, Any]) -> bool:
    return conversation_type(activity) != "personal"


def tenant_id(activity: dict[str, Any]) -> str | None:
    tenant = _dict(_dict(activity.get("channelData")).get("tenant")).get("id")
    return tenant or _dict(activity.get("conversation")).get("tenantId") or None


def user_id(activity: dict[str, Any]) -> str:
    sender = _dict(activity.get("from"))
    return str(sender.get("aadObjectId") or sender.get("id") or "")


def user_name(activity: dict[str, Any]) -> str:
    sender = _dict(activity.get("from"))
    return str(sender.get("name") or sender.get("id") or "someone")


def supports_streaming(activity: dict[str, Any]) -> bool:
    """Teams streams bot messages in one-on-one chats only."""
    return activity.get("channelId") == "msteams" and conversation_type(activity) == "personal"


def conversation_key(integration_id: str, activity: dict[str, Any], per_user: bool) -> str:
    """One session per conversation, or per conversation and user in group chats."""
    key = f"{integration_id}|{conversation_id(activity)}"
    if per_user and is_group(activity):
        key += f"|{user_id(activity)}"
    return key


def user_text(activity: dict[str, Any]) -> str:
    """The message text without the bot's @mention; other mentions keep the person's name."""
    text = str(activity.get("text") or "")
    bot_id = _dict(activity.get("recipient")).get("id")
    for entity in activity.get("entities") or []:
        entity = _dict(entity)
        if entity.get("type") != "mention":
            continue
        mentioned = _dict(entity.get("mentioned"))
        if bot_id and mentioned.get("id") == bot_id and entity.get("text"):
            text = text.replace(str(entity["text"]), " ")
    text = _AT_TAG.sub(lambda m: m.group(1), text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def bot_was_added(activity: dict[str, Any]) -> bool:
    if activity.get("type") != "conversationUpdate":
        return False
    bot_id = _dict(activity.get("recipient")).get("id")
    return any(_dict(m).get("id") == bot_id for m in activity.get("membersAdded") or [])


@dataclass(frozen=True)
class ApprovalAction:
    run_id: str
    decision: str  # "approve" | "reject"
    comment: str | None
    via_invoke: bool


def approval_action(activity: dict[str, Any]) -> ApprovalAction | None:
    """The approval decision a card button sent, if this activity is one."""
    kind = activity.get("type")
    if kind == "invoke" and activity.get("name") == "adaptiveCard/action":
        action = _dict(_dict(activity.get("value")).get("action"))
        data = _dict(action.get("data"))
        data.setdefault("decision", action.get("verb"))
        via_invoke = True
    elif kind == "message" and isinstance(activity.get("value"), dict):
        data = _dict(activity.get("value"))
        via_invoke = False
    else:
        return None
    if data.get("kind") != APPROVAL_KIND:
        return None
    decision = data.get("decision")
    run_id = data.get("run_id")
    if decision not in ("approve", "reject") or not isinstance(run_id, str):
        return None
    comment = data.get("comment")
    return ApprovalAction(
        run_id, decision, comment if isinstance(comment, str) else None, via_invoke
    )
