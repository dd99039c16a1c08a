"""Public pages at the root, next to the API: `GET /widget.js`, the embeddable chat script
(served as written in `widgets/`, no build step, gzip + ETag), and `GET /chat/{widget_id}`, the
hosted full-page chat (jinja2 with autoescape) for sharing a link.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from chat_platform.errors import NotFound
from chat_platform.services import widgets

WIDGETS_DIR = Path(__file__).resolve().parents[2] / "widgets"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
)
HOSTED_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; base-uri 'none'; form-action 'none'"
)


@dataclass
class Asset:
    """A file served from memory, re-read when it changes on disk (edit, reload, done)."""

    path: Path
    mtime: float = -1.0
    body: bytes = b""
    gzipped: bytes = b""
    etag: str = ""

    def load(self) -> Asset:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            raise NotFound(f"{self.path.name} is not installed on this server") from None
        if mtime != self.mtime:
            body = self.path.read_bytes()
            self.body, self.gzipped, self.mtime = body, gzip.compress(body, 9, mtime=0), mtime
            self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        return self


WIDGET_JS = Asset(WIDGETS_DIR / "widget.js")


async def widget_js(request: Request) -> Response:
    asset = WIDGET_JS.load()
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "public, max-age=300",  # short: a new release reaches sites quickly
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = asset.gzipped, "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


async def hosted_chat(request: Request) -> Response:
    headers = {
        "Content-Security-Policy": HOSTED_PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    widget = await widgets.find_public_widget(request.path_params["widget_id"])
    if widget is None:
        page = TEMPLATES.get_template("not_found.html").render()
        return HTMLResponse(page, status_code=404, headers=headers)
    page = TEMPLATES.get_template("chat.html").render(
        title=widget["title"] or "Chat",
        theme_color=widget["theme_color"],
        widget_id=widget["id"],
        script_url=request.url_for("widget_js").path,
    )
    return HTMLResponse(page, headers={**headers, "Cache-Control": "no-store"})


routes = [
    Route("/widget.js", widget_js, methods=["GET"], name="widget_js"),
    Route("/chat/{widget_id}", hosted_chat, methods=["GET"], name="hosted_chat"),
]
