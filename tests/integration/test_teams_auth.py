"""Inbound Bot Framework JWT verification against a local OpenID/JWKS server: real RS256
tokens signed with a test key, and each way a token must be refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from chat_platform.integrations.teams.auth import JwksCache, TeamsAuthError, verify_request
from tests.fakes.bot_framework import APP_ID, FakeBotFramework, message_activity, new_key


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotFramework]:
    server = FakeBotFramework().start()
    yield server
    server.stop()


async def _verify(fake: FakeBotFramework, token: str, activity: dict | None = None, **kw) -> dict:
    activity = activity or message_activity("hi", service_url=fake.service_url)
    async with httpx.AsyncClient() as http:
        cache = kw.pop("cache", None) or JwksCache(http)
        return await verify_request(
            f"Bearer {token}",
            activity,
            app_id=kw.pop("app_id", APP_ID),
            tenant_id=None,
            metadata_url=fake.openid_metadata_url,
            keys=cache,
        )


async def test_valid_token_is_accepted(fake: FakeBotFramework) -> None:
    claims = await _verify(fake, fake.sign())
    assert claims["aud"] == APP_ID
    assert claims["serviceurl"] == fake.service_url


async def test_forged_signature_is_refused(fake: FakeBotFramework) -> None:
    forged = fake.sign(key=new_key())  # same kid, another key
    with pytest.raises(TeamsAuthError, match="invalid token"):
        await _verify(fake, forged)


async def test_wrong_audience_is_refused(fake: FakeBotFramework) -> None:
    with pytest.raises(TeamsAuthError, match="audience"):
        await _verify(fake, fake.sign(audience="another-bot"))


async def test_expired_token_is_refused_beyond_clock_skew(fake: FakeBotFramework) -> None:
    with pytest.raises(TeamsAuthError, match="expired"):
        await _verify(fake, fake.sign(expires_in=-400))
    # Within the 5-minute leeway a slightly late token still passes.
    await _verify(fake, fake.sign(expires_in=-60))


async def test_service_url_must_match_the_claim(fake: FakeBotFramework) -> None:
    token = fake.sign(service_url="https://smba.trafficmanager.net/emea/")
    with pytest.raises(TeamsAuthError, match="serviceUrl"):
        await _verify(fake, token)


async def test_untrusted_issuer_is_refused(fake: FakeBotFramework) -> None:
    with pytest.raises(TeamsAuthError, match="issuer"):
        await _verify(fake, fake.sign(issuer="https://evil.example"))


async def test_channel_must_be_endorsed_by_the_key(fake: FakeBotFramework) -> None:
    activity = message_activity("hi", service_url=fake.service_url, channel_id="slack")
    with pytest.raises(TeamsAuthError, match="endorsed"):
        await _verify(fake, fake.sign(), activity)


async def test_other_algorithms_and_missing_tokens_are_refused(fake: FakeBotFramework) -> None:
    hs = jwt.encode({"aud": APP_ID}, "secret-secret-secret-secret-32by", algorithm="HS256")
    with pytest.raises(TeamsAuthError, match="algorithm"):
        await _verify(fake, hs)
    with pytest.raises(TeamsAuthError, match="malformed"):
        await _verify(fake, "not-a-jwt")
    async with httpx.AsyncClient() as http:
        with pytest.raises(TeamsAuthError, match="missing"):
            await verify_request(
                None,
                {},
                app_id=APP_ID,
                tenant_id=None,
                metadata_url=fake.openid_metadata_url,
                keys=JwksCache(http),
            )


async def test_keys_are_cached_and_refetched_on_unknown_kid(fake: FakeBotFramework) -> None:
    async with httpx.AsyncClient() as http:
        cache = JwksCache(http, min_refresh_s=0)
        before = fake.jwks_requests
        for _ in range(3):
            await _verify(fake, fake.sign(), cache=cache)
        assert fake.jwks_requests == before + 1
        fake.rotate("kid-2")
        try:
            await _verify(fake, fake.sign(kid="kid-2"), cache=cache)
            assert fake.jwks_requests == before + 2
            with pytest.raises(TeamsAuthError, match="unknown signing key"):
                await _verify(fake, fake.sign(kid="kid-9", key=new_key()), cache=cache)
        finally:
            fake.keys.pop("kid-2")
