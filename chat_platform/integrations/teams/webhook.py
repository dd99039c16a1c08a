"""The Starlette routes of the Teams integration: the integrations API (CRUD under
/integrations/teams, API-key authenticated) and the bot's messaging endpoint
(/integrations/teams/{id}/messages, Bot Framework JWT authenticated). The messaging endpoint
answers at once — 401 with no side effect for anything not signed for this bot — and runs the
turn in the background; an approval button's invoke is answered with the refreshed card.
May import: starlette, http helpers, services, and the sibling modules.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_platform.errors import Forbidden, Unauthorized
from chat_platform.http.auth import authenticate
from chat_platform.http.requests import pagination, parse_body, read_json
from chat_platform.http.responses import json_response, no_content
from chat_platform.integrations.teams import activities as acts
from chat_platform.integrations.teams import bot, cards
from chat_platform.integrations.teams.auth import TeamsAuthError, verify_request
from chat_platform.services import teams as svc
from chat_platform.services.auth import Permission

log = logging.getLogger("chat_platform.teams")


def _base_url(request: Request) -> str:
    return request.app.state.runtime.settings.public_url or str(request.base_url)


async def create_integration(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, svc.TeamsIntegrationCreate)
    sealer = request.app.state.runtime.sealer
    view = await svc.create_teams_integration(principal, body, sealer, _base_url(request))
    return json_response(view, status=201)


async def list_integrations(request: Request) -> Response:
    principal = await authenticate(request, Permission.READ)
    limit, offset = pagination(request)
    workflow_id = request.query_params.get("workflow_id") or None
    page = await svc.list_teams_integrations(
        principal, _base_url(request), workflow_id=workflow_id, limit=limit, offset=offset
    )
    return json_response(page)


async def get_integration(request: Request) -> Response:
    principal = await authenticate(request, Permission.READ)
    integration_id = request.path_params["integration_id"]
    return json_response(
        await svc.get_teams_integration(principal, integration_id, _base_url(request))
    )


async def update_integration(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    body = await parse_body(request, svc.TeamsIntegrationUpdate)
    view = await svc.update_teams_integration(
        principal,
        request.path_params["integration_id"],
        body,
        request.app.state.runtime.sealer,
        _base_url(request),
    )
    return json_response(view)


async def delete_integration(request: Request) -> Response:
    principal = await authenticate(request, Permission.WORKFLOWS_WRITE)
    await svc.delete_teams_integration(principal, request.path_params["integration_id"])
    return no_content()


async def messages(request: Request) -> Response:
    runtime = request.app.state.runtime
    rt = bot.teams_runtime(runtime)
    activity = await read_json(request)
    config = await svc.load_bot(request.path_params["integration_id"], runtime.sealer)
    if config is None:
        raise Unauthorized("Unknown bot", code="UNAUTHORIZED")
    try:
        await verify_request(
            request.headers.get("authorization"),
            activity,
            app_id=config.app_id,
            tenant_id=config.tenant_id,
            metadata_url=config.openid_metadata_url,
            keys=rt.keys,
        )
    except TeamsAuthError as exc:
        log.info("teams: rejected an activity for %s: %s", config.id, exc)
        raise Unauthorized("Bot Framework authentication failed", code="UNAUTHORIZED") from None
    tenant = acts.tenant_id(activity)
    if config.allowed_tenants and tenant not in config.allowed_tenants:
        raise Forbidden("This tenant may not use this bot")
    activity_id = activity.get("id")
    if isinstance(activity_id, str) and activity_id:
        if not await svc.record_activity(config.id, activity_id):
            return json_response({})  # a redelivery: processed once already
    return await _dispatch(rt, config, activity)


async def _dispatch(rt: bot.TeamsRuntime, config: svc.BotConfig, activity: dict) -> Response:
    action = acts.approval_action(activity)
    if action is not None:
        ref, refusal = await bot.check_approval(rt, config, activity, action)
        if refusal is not None or ref is None:
            if action.via_invoke:
                return json_response(cards.message_invoke_response(refusal or "", 200))
            if ref is not None:
                turn = bot.Turn(rt, config, activity, ref)
                rt.spawn(bot.send_notice(turn, refusal or ""))
            return json_response({})
        rt.spawn(bot.handle_decision(rt, config, activity, action, ref))
        if action.via_invoke:
            prompt = ref.data.get("approvals", {}).get(action.run_id, {}).get("prompt", "")
            card = cards.decided_card(prompt, decision=action.decision, by=acts.user_name(activity))
            return json_response(cards.card_invoke_response(card))
        return json_response({})
    kind = activity.get("type")
    if kind == "message":
        rt.spawn(bot.handle_message(rt, config, activity))
    elif acts.bot_was_added(activity):
        rt.spawn(bot.handle_greeting(rt, config, activity))
    return json_response({})


routes = [
    Route("/integrations/teams", create_integration, methods=["POST"]),
    Route("/integrations/teams", list_integrations, methods=["GET"]),
    Route("/integrations/teams/{integration_id}", get_integration, methods=["GET"]),
    Route("/integrations/teams/{integration_id}", update_integration, methods=["PUT"]),
    Route("/integrations/teams/{integration_id}", delete_integration, methods=["DELETE"]),
    Route("/integrations/teams/{integration_id}/messages", messages, methods=["POST"]),
]
