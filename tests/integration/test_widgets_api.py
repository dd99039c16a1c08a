"""The Widgets API: create (signing secret shown once, sealed at rest), list/get/update/delete,
rotate, validation of origins and colours, published-workflow and scope checks; and the visitor
token helpers (anonymous tokens, site-signed HS256 tokens with expiry) and the Origin check."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from chat_platform.errors import Unauthorized
from chat_platform.ids import new_id
from chat_platform.services import visitors
from chat_platform.services.auth import DEFAULT_ACCOUNT_ID
from chat_platform.services.widgets import origin_allowed
from chat_platform.store.models import AuditLog, Project, Widget
from tests.conftest import make_key
from tests.workflows import stored_workflow

WIDGET_KEYS = {
    "id",
    "workflow_id",
    "allowed_origins",
    "title",
    "greeting",
    "starter_prompts",
    "theme_color",
    "show_feedback",
    "created_at",
    "updated_at",
}


async def test_create_get_list_update_delete(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    body = {
        "workflow_id": wf,
        "allowed_origins": ["HTTPS://Shop.Example.com:443/", "http://localhost:3000"],
        "title": "Help",
        "greeting": "Hi!",
        "starter_prompts": ["Where is my order?"],
        "theme_color": "#ff0066",
        "show_feedback": True,
    }
    r = await api.post("/api/v1/widgets", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == WIDGET_KEYS | {"signing_secret"}
    assert created["id"].startswith("wgt_") and created["signing_secret"].startswith("wgs_")
    assert created["allowed_origins"] == ["https://shop.example.com", "http://localhost:3000"]
    assert created["created_at"].endswith("Z")
    secret = created["signing_secret"]
    row = await Widget.get(id=created["id"])
    assert secret not in row.signing_secret  # sealed at rest

    got = (await api.get(f"/api/v1/widgets/{created['id']}")).json()
    assert set(got) == WIDGET_KEYS and "signing_secret" not in got
    assert got == {k: v for k, v in created.items() if k != "signing_secret"}

    page = (await api.get("/api/v1/widgets")).json()
    assert [w["id"] for w in page["data"]] == [created["id"]]
    assert page["pagination"] == {"total": 1, "limit": 50, "offset": 0, "has_more": False}
    assert all("signing_secret" not in w for w in page["data"])
    page = (await api.get("/api/v1/widgets", params={"workflow_id": "wf_other"})).json()
    assert page["data"] == []

    r = await api.put(f"/api/v1/widgets/{created['id']}", json={"title": "Support", "greeting": ""})
    assert r.status_code == 200 and r.json()["title"] == "Support" and r.json()["greeting"] == ""
    assert r.json()["theme_color"] == "#ff0066" and "signing_secret" not in r.json()

    r = await api.post(f"/api/v1/widgets/{created['id']}/rotate-secret")
    assert r.status_code == 200 and r.json()["signing_secret"] not in ("", secret)

    assert (await api.delete(f"/api/v1/widgets/{created['id']}")).status_code == 204
    r = await api.get(f"/api/v1/widgets/{created['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "WIDGET_NOT_FOUND"
    actions = await AuditLog.filter(resource_type="Widget").values_list("action", flat=True)
    assert sorted(actions) == sorted(
        ["widget.create", "widget.update", "widget.rotate_secret", "widget.delete"]
    )


async def test_defaults(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    w = (await api.post("/api/v1/widgets", json={"workflow_id": wf})).json()
    assert w["allowed_origins"] == [] and w["starter_prompts"] == []
    assert w["title"] == "Chat" and w["greeting"] == "" and w["show_feedback"] is False
    assert w["theme_color"] == "#2563eb"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_origins": ["example.com"]}, "allowed_origins"),
        ({"allowed_origins": ["https://example.com/path"]}, "allowed_origins"),
        ({"allowed_origins": "https://example.com"}, "allowed_origins"),
        ({"allowed_origins": [1]}, "allowed_origins"),
        ({"theme_color": "red; background: url(x)"}, "theme_color"),
        ({"starter_prompts": ["  "]}, "starter_prompts"),
        ({"starter_prompts": ["x"] * 11}, "starter_prompts"),
        ({"show_feedback": "yes"}, "show_feedback"),
        ({"title": "t" * 201}, "title"),
    ],
)
async def test_validation(api: httpx.AsyncClient, body: dict, field: str) -> None:
    wf = await stored_workflow()
    r = await api.post("/api/v1/widgets", json={"workflow_id": wf, **body})
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]


async def test_workflow_must_exist_and_be_published(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/widgets", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MISSING_FIELD"
    r = await api.post("/api/v1/widgets", json={"workflow_id": "wf_missing"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    draft = await stored_workflow(published=False)
    r = await api.post("/api/v1/widgets", json={"workflow_id": draft})
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_PUBLISHED"
    wf = await stored_workflow()
    wid = (await api.post("/api/v1/widgets", json={"workflow_id": wf})).json()["id"]
    r = await api.put(f"/api/v1/widgets/{wid}", json={"workflow_id": draft})
    assert r.status_code == 404 and r.json()["error"]["code"] == "WORKFLOW_NOT_PUBLISHED"


async def test_roles_and_project_scope(api: httpx.AsyncClient) -> None:
    wf = await stored_workflow()
    wid = (await api.post("/api/v1/widgets", json={"workflow_id": wf})).json()["id"]
    viewer = {"Authorization": f"Bearer {await make_key('viewer')}"}
    assert (await api.get(f"/api/v1/widgets/{wid}", headers=viewer)).status_code == 200
    r = await api.post("/api/v1/widgets", json={"workflow_id": wf}, headers=viewer)
    assert r.status_code == 403
    assert (await api.delete(f"/api/v1/widgets/{wid}", headers=viewer)).status_code == 403

    other = new_id("proj")
    await Project.create(id=other, account_id=DEFAULT_ACCOUNT_ID, name="Other")
    scoped = {"Authorization": f"Bearer {await make_key('admin', other)}"}
    r = await api.get(f"/api/v1/widgets/{wid}", headers=scoped)
    assert r.status_code == 404 and r.json()["error"]["code"] == "WIDGET_NOT_FOUND"
    assert (await api.get("/api/v1/widgets", headers=scoped)).json()["data"] == []
    r = await api.post("/api/v1/widgets", json={"workflow_id": wf}, headers=scoped)
    assert r.status_code == 404
    mine = await stored_workflow(project_id=other)
    r = await api.post("/api/v1/widgets", json={"workflow_id": mine}, headers=scoped)
    assert r.status_code == 201
    r = await api.get("/api/v1/widgets", headers=scoped)
    assert [w["workflow_id"] for w in r.json()["data"]] == [mine]


async def test_unauthenticated(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/widgets")
    assert r.status_code == 401


# --- visitor tokens and origins (pure) --------------------------------------------------------

SERVER_KEY = b"s" * 32


def test_anonymous_token_round_trip_and_tamper() -> None:
    visitor, token = visitors.issue_anonymous(SERVER_KEY, "wgt_a")
    assert visitor.visitor_id.startswith("vis_") and visitor.kind == "anonymous"
    assert visitor.owner_key == f"visitor:wgt_a:{visitor.visitor_id}"
    kw: dict[str, Any] = {"server_key": SERVER_KEY, "signing_secret": "wgs_x"}
    assert visitors.verify_visitor_token(token, widget_id="wgt_a", **kw) == visitor
    with pytest.raises(Unauthorized):  # another widget
        visitors.verify_visitor_token(token, widget_id="wgt_b", **kw)
    with pytest.raises(Unauthorized):  # another server key
        visitors.verify_visitor_token(
            token, widget_id="wgt_a", server_key=b"t" * 32, signing_secret="wgs_x"
        )
    forged = token.replace(visitor.visitor_id, "vis_" + "a" * 20)
    with pytest.raises(Unauthorized):
        visitors.verify_visitor_token(forged, widget_id="wgt_a", **kw)
    for junk in ("", "v1.", "v1.vis_x", "garbage", "a.b.c", "x" * 5000):
        with pytest.raises(Unauthorized):
            visitors.verify_visitor_token(junk, widget_id="wgt_a", **kw)


def test_signed_token() -> None:
    secret = visitors.new_signing_secret()
    kw: dict[str, Any] = {"widget_id": "wgt_a", "server_key": SERVER_KEY, "signing_secret": secret}
    token = visitors.sign_visitor_token(secret, "user-42", ttl_s=600)
    v = visitors.verify_visitor_token(token, **kw)
    assert v.visitor_id == "user:user-42" and v.kind == "identified"
    assert v.owner_key == "visitor:wgt_a:user:user-42"
    # the same user from another device gets the same visitor
    assert visitors.verify_visitor_token(visitors.sign_visitor_token(secret, "user-42"), **kw) == v
    # audience bound to this widget
    assert (
        visitors.verify_visitor_token(
            visitors.sign_visitor_token(secret, "u", widget_id="wgt_a"), **kw
        ).visitor_id
        == "user:u"
    )
    bad = [
        visitors.sign_visitor_token(visitors.new_signing_secret(), "user-42"),
        visitors.sign_visitor_token(secret, "u", widget_id="wgt_b"),
        visitors.sign_visitor_token(secret, "u", ttl_s=-3600),  # expired
        visitors.sign_visitor_token(secret, "u", ttl_s=30 * 24 * 3600),  # not short-lived
        jwt.encode({"sub": "u"}, secret, algorithm="HS256"),  # no exp
        jwt.encode({"exp": int(time.time()) + 60}, secret, algorithm="HS256"),  # no sub
        jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, secret * 2, algorithm="HS512"),
        jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, None, algorithm="none"),
    ]
    for token in bad:
        with pytest.raises(Unauthorized) as info:
            visitors.verify_visitor_token(token, **kw)
        assert info.value.code == "INVALID_VISITOR_TOKEN"


def test_origin_allowed() -> None:
    own = {"http://127.0.0.1:8000"}
    allowed = ["https://shop.example.com", "https://*.example.org"]
    assert origin_allowed(allowed, "https://shop.example.com", own)
    assert origin_allowed(allowed, "HTTPS://Shop.Example.com/", own)
    assert origin_allowed(allowed, "https://a.b.example.org", own)
    assert origin_allowed(allowed, "http://127.0.0.1:8000", own)  # our hosted /chat page
    assert not origin_allowed(allowed, "https://example.org", own)
    assert not origin_allowed(allowed, "http://a.example.org", own)
    assert not origin_allowed(allowed, "https://evil-example.org", own)
    assert not origin_allowed(allowed, "https://shop.example.com.evil.com", own)
    assert not origin_allowed(allowed, None, own)
    assert not origin_allowed(allowed, "null", own)
    assert not origin_allowed([], "https://shop.example.com", own)
    assert origin_allowed(["*"], None, own) and origin_allowed(["*"], "https://x.io", own)
