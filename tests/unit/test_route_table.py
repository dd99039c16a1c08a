"""The /api/v1 route table: the endpoint modules' paths never overlap, so their order (the
chat turn's routes first, for speed) cannot change which endpoint a request reaches."""

from __future__ import annotations

import re

from starlette.routing import Route

from chat_platform.http.endpoints import ENDPOINT_MODULES


def test_no_path_of_one_module_matches_a_route_of_another() -> None:
    routes = [(m.__name__, r) for m in ENDPOINT_MODULES for r in m.routes if isinstance(r, Route)]
    assert len(routes) > 40
    for module, route in routes:
        sample = re.sub(r"\{[^}]+\}", "some_id", route.path)  # a concrete path of the route
        claimed = {m for m, other in routes if other.path_regex.match(sample)}
        assert claimed == {module}, (route.path, claimed)
    # and the turn's own routes come first
    assert [r.path for _, r in routes[:2]] == ["/run", "/run/stream"]
