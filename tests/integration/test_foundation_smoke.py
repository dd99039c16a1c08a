"""The skeleton: health, request ids, the envelope on unknown routes and bad keys."""

from __future__ import annotations

import httpx


async def test_healthz_without_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}
    assert r.headers["x-request-id"].startswith("req_")


async def test_unknown_route_is_enveloped(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/does-not-exist")
    assert r.status_code == 404
    body = r.json()
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["error"]["request_id"] == r.headers["x-request-id"]
