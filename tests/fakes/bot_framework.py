"""A fake Bot Framework on loopback, speaking the real wire formats: the OpenID metadata
document and its JWKS (a test RSA key with channel endorsements; keys can be rotated), the
Entra token endpoint (client-credentials grant), and the connector REST API recording every
activity posted or updated, with configurable failures (a queue of HTTP statuses to answer
before succeeding). `sign()` issues real RS256 JWTs as the channel would.

It runs a uvicorn server in a thread, so both the in-process app and a real server process
reach it over HTTP; tests poll `activities` with `wait_for`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port

ISSUER = "https://api.botframework.com"
APP_ID = "00000000-1111-2222-3333-444444444444"
APP_PASSWORD = "test-app-password-s3cret"
TENANT_ID = "tenant-0001"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Recorded:
    method: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any]
    authorization: str
    id: str = ""


@dataclass
class FakeBotFramework:
    app_id: str = APP_ID
    app_password: str = APP_PASSWORD
    endorsements: list[str] = field(default_factory=lambda: ["msteams", "webchat", "emulator"])
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    activities: list[Recorded] = field(default_factory=list)
    connector_failures: list[int] = field(default_factory=list)
    token_failures: list[int] = field(default_factory=list)
    token_requests: int = 0
    jwks_requests: int = 0
    issued_tokens: list[str] = field(default_factory=list)
    port: int = 0
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys["kid-1"] = new_key()
        self.port = self.port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- URLs --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/{TENANT_ID}/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.base_url}/teams/"

    # --- JWTs --------------------------------------------------------------------------
    def sign(
        self,
        *,
        service_url: str | None = None,
        audience: str | None = None,
        issuer: str = ISSUER,
        expires_in: int = 3600,
        kid: str = "kid-1",
        key: rsa.RSAPrivateKey | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience or self.app_id,
            "iat": now - 10,
            "nbf": now - 10,
            "exp": now + expires_in,
            "serviceurl": service_url or self.service_url,
            **(extra or {}),
        }
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def rotate(self, kid: str) -> None:
        self.keys[kid] = new_key()

    # --- recorded traffic --------------------------------------------------------------
    def posted(self, conversation_id: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                a
                for a in self.activities
                if conversation_id is None or a.conversation_id == conversation_id
            ]

    async def wait_for(
        self, predicate: Callable[[list[Recorded]], bool], within: float = 15.0
    ) -> list[Recorded]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            snapshot = self.posted()
            if predicate(snapshot):
                return snapshot
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out; recorded: {[(a.method, a.body) for a in self.posted()]}")

    # --- the HTTP server ---------------------------------------------------------------
    def _app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": ISSUER,
                    "authorization_endpoint": "https://invalid.example/auth",
                    "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        async def jwks(request: Request) -> Response:
            self.jwks_requests += 1
            keys = []
            for kid, key in self.keys.items():
                jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
                keys.append({**jwk, "kid": kid, "use": "sig", "endorsements": self.endorsements})
            return JSONResponse({"keys": keys})

        async def token(request: Request) -> Response:
            self.token_requests += 1
            form = parse_qs((await request.body()).decode())
            if self.token_failures:
                return JSONResponse(
                    {"error": "temporarily_unavailable"}, self.token_failures.pop(0)
                )
            if (
                form.get("grant_type") != ["client_credentials"]
                or form.get("client_id") != [self.app_id]
                or form.get("client_secret") != [self.app_password]
                or form.get("scope") != ["https://api.botframework.com/.default"]
            ):
                return JSONResponse({"error": "invalid_client"}, 401)
            issued = f"bot-token-{self.token_requests}"
            self.issued_tokens.append(issued)
            return JSONResponse(
                {"token_type": "Bearer", "expires_in": 3599, "access_token": issued}
            )

        async def connector(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            if auth.removeprefix("Bearer ") not in self.issued_tokens:
                return JSONResponse({"error": {"code": "Unauthorized"}}, 401)
            body = await request.json()
            with self._lock:
                if self.connector_failures:
                    status = self.connector_failures.pop(0)
                    return JSONResponse({"error": {"code": "ServiceError"}}, status)
                self._counter += 1
                new_id = f"act-{self._counter}"
                self.activities.append(
                    Recorded(
                        request.method,
                        request.path_params["conversation_id"],
                        request.path_params.get("activity_id"),
                        body,
                        auth,
                        new_id,
                    )
                )
            return JSONResponse({"id": new_id}, 200 if request.method == "PUT" else 201)

        return Starlette(
            routes=[
                Route("/v1/.well-known/openidconfiguration", metadata),
                Route("/v1/.well-known/keys", jwks),
                Route(f"/{TENANT_ID}/oauth2/v2.0/token", token, methods=["POST"]),
                Route(
                    "/teams/v3/conversations/{conversation_id}/activities",
                    connector,
                    methods=["POST"],
                ),
                Route(
                    "/teams/v3/conversations/{conversation_id}/activities/{activity_id}",
                    connector,
                    methods=["POST", "PUT"],
                ),
            ]
        )

    def start(self) -> FakeBotFramework:
        config = uvicorn.Config(
            self._app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Bot Framework did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def message_activity(
    text: str,
    *,
    service_url: str,
    conversation_id: str = "a:1personalChatId==",
    conversation_type: str = "personal",
    activity_id: str | None = None,
    user_id: str = "29:user-1",
    user_name: str = "Ada Lovelace",
    aad_object_id: str = "aad-user-1",
    bot_id: str = f"28:{APP_ID}",
    channel_id: str = "msteams",
    tenant_id: str = TENANT_ID,
    entities: list[dict[str, Any]] | None = None,
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": "message",
        "id": activity_id or f"msg-{time.monotonic_ns()}",
        "timestamp": "2026-01-15T10:30:00.000Z",
        "serviceUrl": service_url,
        "channelId": channel_id,
        "from": {"id": user_id, "name": user_name, "aadObjectId": aad_object_id},
        "conversation": {
            "id": conversation_id,
            "conversationType": conversation_type,
            "isGroup": conversation_type != "personal",
            "tenantId": tenant_id,
        },
        "recipient": {"id": bot_id, "name": "Helper Bot"},
        "text": text,
        "textFormat": "plain",
        "entities": entities or [],
        "channelData": {"tenant": {"id": tenant_id}},
    }
    if value is not None:
        activity["value"] = value
    return activity


def mention(bot_id: str = f"28:{APP_ID}", name: str = "Helper Bot") -> dict[str, Any]:
    return {
        "type": "mention",
        "text": f"<at>{name}</at>",
        "mentioned": {"id": bot_id, "name": name},
    }
