"""Adaptive Cards for approvals: the pending card (prompt, Approve / Reject buttons carrying the
run id) and the decided card that replaces it (who decided, and how). Teams gets Universal
Actions (Action.Execute, answered by an `adaptiveCard/action` invoke); other Bot Framework
channels get Action.Submit, which comes back as a message with a `value`.
May import: the standard library and `activities` (for the data marker).
"""

from __future__ import annotations

from typing import Any

from chat_platform.integrations.teams.activities import APPROVAL_KIND

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": _SCHEMA, "version": "1.4"}
    card["body"] = body
    if actions:
        card["actions"] = actions
    return card


def _header(prompt: str) -> list[dict[str, Any]]:
    return [
        {"type": "TextBlock", "text": "Approval needed", "weight": "Bolder", "size": "Medium"},
        {"type": "TextBlock", "text": prompt or "Approve this step?", "wrap": True},
    ]


def approval_card(prompt: str, run_id: str, *, universal: bool) -> dict[str, Any]:
    actions = []
    for decision, title, style in (
        ("approve", "Approve", "positive"),
        ("reject", "Reject", "destructive"),
    ):
        data = {"kind": APPROVAL_KIND, "run_id": run_id, "decision": decision}
        action: dict[str, Any] = {"title": title, "style": style, "data": data}
        if universal:
            action.update(type="Action.Execute", verb=decision)
        else:
            action["type"] = "Action.Submit"
        actions.append(action)
    return _card(_header(prompt), actions)


def decided_card(prompt: str, *, decision: str, by: str) -> dict[str, Any]:
    verb = "Approved" if decision == "approve" else "Rejected"
    colour = "Good" if decision == "approve" else "Attention"
    body = [
        *_header(prompt)[1:],
        {"type": "TextBlock", "text": f"{verb} by {by}", "weight": "Bolder", "color": colour},
    ]
    return _card(body, [])


def card_activity(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}],
    }


def card_invoke_response(card: dict[str, Any]) -> dict[str, Any]:
    """The body of the invokeResponse that refreshes the card in place (Universal Actions)."""
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}


def message_invoke_response(text: str, status: int = 200) -> dict[str, Any]:
    return {
        "statusCode": status,
        "type": "application/vnd.microsoft.activity.message",
        "value": text,
    }
