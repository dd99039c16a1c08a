"""The embeddable widget in Debian's Chromium (Playwright, never a downloaded browser), on a real
page of another origin embedding it with one <script> tag, against a real server: a message
streams in, history survives a reload, a connection cut mid-answer ends with the full answer
exactly once, a paused run is approved from the widget, hostile model output stays inert, the
host page's CSS cannot break it, it works by keyboard on a phone-sized screen, and the hosted
/chat page works. Screenshots are kept in test-artifacts/widget/.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.e2e.test_ws_live import api, published_workflow
from tests.workflows import echo_graph, gate_then_echo

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHAT_PLATFORM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "widget"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LONG_TEXT = " ".join(f"word{i}" for i in range(60))  # echoed back one word per 40 ms
APPROVAL_GRAPH = gate_then_echo("Book it?")
# A host page that tries hard to restyle everything; none of it may reach the widget.
HOSTILE_CSS = """
* { color: red !important; font-family: "Comic Sans MS", cursive !important; }
button { display: none !important; }
div, section, textarea { visibility: hidden !important; }
"""


class CuttableProxy:
    """A TCP proxy in front of the server whose network can be cut and restored: `cut()` drops
    every open connection and refuses new ones, as a lost Wi-Fi would."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with self.lock:
                self.open.discard(s)
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self) -> None:
        self.down = True
        with self.lock:
            victims = list(self.open)
        for s in victims:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


class HostSite:
    """Somebody's website on another origin: a page with one <script> tag embedding the widget."""

    def __init__(self, script_base: str) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                widget_id = self.path.split("widget=")[-1].split("&")[0]
                body = site.page(widget_id).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.script_base = script_base
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def page(self, widget_id: str) -> str:
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop</title><style>{HOSTILE_CSS}</style></head>
<body><h1>Our shop</h1><p>Some content of the host page.</p>
<script src="{self.script_base}/widget.js" data-widget-id="{widget_id}" async></script>
</body></html>"""

    def url(self, widget_id: str) -> str:
        return f"{self.origin}/?widget={widget_id}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Env:
    def __init__(self, server: LiveServer, proxy: CuttableProxy, site: HostSite) -> None:
        self.server, self.proxy, self.site = server, proxy, site

    def widget(self, graph: dict[str, Any] | None = None, **fields: Any) -> str:
        wf = published_workflow(self.server, graph)
        body = {
            "workflow_id": wf,
            "allowed_origins": [self.site.origin],
            "title": "Shop help",
            "greeting": "Hi! Ask me **anything**.",
            **fields,
        }
        with api(self.server) as c:
            r = c.post("/widgets", json=body)
            assert r.status_code == 201, r.text
            return r.json()["id"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    server = start_server(tmp_path_factory.mktemp("widget-browser"))
    proxy = CuttableProxy(int(server.base_url.rsplit(":", 1)[1]))
    site = HostSite(f"http://127.0.0.1:{proxy.port}")
    yield Env(server, proxy, site)
    site.close()
    proxy.close()
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    p = context.new_page()
    p.set_default_timeout(20_000)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    context.close()
    assert not errors, errors  # no uncaught exception in the widget


def open_chat(page: Any, url: str) -> None:
    page.goto(url)
    page.locator("chat-platform-widget .launcher").click()
    page.locator("chat-platform-widget textarea").wait_for()


def send(page: Any, text: str) -> None:
    box = page.locator("chat-platform-widget textarea")
    box.fill(text)
    box.press("Enter")


def answers(page: Any) -> Any:
    return page.locator("chat-platform-widget .msg.assistant:not(.greeting)")


def texts(page: Any, selector: str) -> list[str]:
    """The visible text of each matching message, without the screen-reader prefix."""
    return page.evaluate(
        """(selector) => [...document.querySelector('chat-platform-widget').shadowRoot
             .querySelectorAll(selector)].map(m => {
               const c = m.cloneNode(true); c.querySelectorAll('.sr-only').forEach(s => s.remove());
               return c.textContent.trim(); })""",
        selector,
    )


def answer_texts(page: Any) -> list[str]:
    return texts(page, ".msg.assistant:not(.greeting)")


def user_texts(page: Any) -> list[str]:
    return texts(page, ".msg.user")


def wait_for_answer(page: Any, text: str, count: int = 1) -> None:
    page.wait_for_function(
        """([text, count]) => {
             const root = document.querySelector('chat-platform-widget').shadowRoot;
             const done = [...root.querySelectorAll('.msg.assistant:not(.greeting)')]
               .filter(m => m.dataset.id && m.textContent.includes(text));
             return done.length >= count; }""",
        arg=[text, count],
    )


def wait_mid_answer(page: Any, text: str) -> None:
    """Until the answer still streaming (aria-busy) shows `text`."""
    page.wait_for_function(
        """(text) => { const m = document.querySelector('chat-platform-widget').shadowRoot
                     .querySelector('.msg.assistant[aria-busy="true"]');
                   return m && m.textContent.includes(text); }""",
        arg=text,
    )


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_widget_js_is_served_small_and_cacheable(env: Env) -> None:
    base = env.server.base_url
    r = httpx.get(base + "/widget.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert "chat-platform widget" in r.text
    assert len(r.content) < 64_000 and int(r.headers["content-length"]) < 20_000
    again = httpx.get(base + "/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(base + "/chat/wgt_nope").status_code == 404


def test_send_stream_and_history_after_reload(env: Env, page: Any) -> None:
    widget_id = env.widget(
        graph=echo_graph(delay_ms=40), starter_prompts=["Track my order"], show_feedback=True
    )
    open_chat(page, env.site.url(widget_id))
    root = page.locator("chat-platform-widget")
    assert root.locator(".greeting strong").inner_text() == "anything"
    assert root.locator(".starters button").inner_text() == "Track my order"
    send(page, LONG_TEXT)
    assert root.locator(".starters").count() == 0
    # Streaming: a partial answer is on screen before the stored one replaces it.
    partial = root.locator(".msg.assistant.streaming")
    partial.wait_for()
    wait_mid_answer(page, "word3")
    assert root.locator(".stop").is_visible()
    shot(page, "streaming")
    wait_for_answer(page, "word59")
    assert answer_texts(page) == [LONG_TEXT]
    # The stop button and typing indicator go on run:complete, just after the stored answer.
    root.locator(".stop").wait_for(state="hidden")
    root.locator(".typing").wait_for(state="hidden")
    thumbs_up = answers(page).last.get_by_role("button", name="Good answer")
    thumbs_up.click()
    page.wait_for_function(
        """() => document.querySelector('chat-platform-widget').shadowRoot
                   .querySelector('.rate[aria-pressed="true"]')"""
    )
    with api(env.server) as c:
        rated = c.get(f"/widgets/{widget_id}/feedback").json()["data"]
    assert [(r["rating"], r["content"]) for r in rated] == [("up", LONG_TEXT)]
    shot(page, "answered")

    page.reload()  # the same visitor, the same conversation
    page.locator("chat-platform-widget .launcher").click()
    wait_for_answer(page, "word59")
    assert user_texts(page) == [LONG_TEXT]
    assert answer_texts(page) == [LONG_TEXT]

    root.get_by_role("button", name="Start a new conversation").click()
    page.wait_for_function(
        """() => !document.querySelector('chat-platform-widget').shadowRoot
                     .querySelector('.msg.user')"""
    )
    assert root.locator(".starters button").count() == 1


def test_connection_cut_mid_answer_ends_with_the_full_answer_once(env: Env, page: Any) -> None:
    widget_id = env.widget(graph=echo_graph(delay_ms=40))
    open_chat(page, env.site.url(widget_id))
    send(page, LONG_TEXT)
    wait_mid_answer(page, "word5")
    env.proxy.cut()
    try:
        status = page.locator("chat-platform-widget .status")
        status.filter(has_text="Reconnecting").wait_for()
        shot(page, "reconnecting")
        page.wait_for_timeout(800)  # the answer goes on streaming on the server meanwhile
    finally:
        env.proxy.restore()
    wait_for_answer(page, "word59")
    assert answer_texts(page) == [LONG_TEXT]
    assert page.locator("chat-platform-widget .msg.user").count() == 1
    page.locator("chat-platform-widget .status").filter(has_text="Reconnecting").wait_for(
        state="hidden"
    )

    send(page, "after the storm")  # the socket is usable again
    wait_for_answer(page, "after the storm")
    assert answer_texts(page) == [LONG_TEXT, "after the storm"]


def test_reload_mid_answer_ends_with_the_full_answer_once(env: Env, page: Any) -> None:
    widget_id = env.widget(graph=echo_graph(delay_ms=40))
    open_chat(page, env.site.url(widget_id))
    send(page, LONG_TEXT)
    wait_mid_answer(page, "word5")
    page.reload()
    page.locator("chat-platform-widget .launcher").click()
    # The turn is still running: the widget shows it (stop button), then the whole answer.
    page.locator("chat-platform-widget .stop").wait_for()
    wait_for_answer(page, "word59")
    assert answer_texts(page) == [LONG_TEXT]
    assert user_texts(page) == [LONG_TEXT]


def test_message_sent_while_offline_is_delivered_once(env: Env, page: Any) -> None:
    widget_id = env.widget()
    open_chat(page, env.site.url(widget_id))
    wait_ready = """() => !document.querySelector('chat-platform-widget').shadowRoot
                      .querySelector('.status').textContent"""
    page.wait_for_function(wait_ready)
    env.proxy.cut()
    try:
        page.locator("chat-platform-widget .status").filter(has_text="Reconnecting").wait_for()
        send(page, "sent while offline")
        assert page.locator("chat-platform-widget .msg.user.sending").count() == 1
    finally:
        env.proxy.restore()
    wait_for_answer(page, "sent while offline")
    page.reload()
    page.locator("chat-platform-widget .launcher").click()
    wait_for_answer(page, "sent while offline")
    assert user_texts(page) == ["sent while offline"]


def test_approve_a_paused_run_from_the_widget(env: Env, page: Any) -> None:
    widget_id = env.widget(graph=APPROVAL_GRAPH)
    open_chat(page, env.site.url(widget_id))
    send(page, "a table for two")
    card = page.locator("chat-platform-widget .approval")
    card.filter(has_text="Book it?").wait_for()
    shot(page, "approval")
    page.reload()  # the pending approval comes back after a reload
    page.locator("chat-platform-widget .launcher").click()
    card.filter(has_text="Book it?").wait_for()
    card.get_by_role("button", name="Approve").click()
    wait_for_answer(page, "a table for two")
    assert answer_texts(page) == ["a table for two"]
    assert card.get_by_role("button", name="Approve").is_disabled()


def test_hostile_model_output_stays_inert(env: Env, page: Any) -> None:
    widget_id = env.widget()
    open_chat(page, env.site.url(widget_id))
    hostile = (
        '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
        "[click me](javascript:window.__pwned=3) **bold** "
        '<a href="javascript:window.__pwned=4">link</a>'
    )
    send(page, hostile)
    wait_for_answer(page, "click me")
    shot(page, "hostile")
    msg = answers(page).last
    assert msg.locator("img, script, iframe").count() == 0
    assert msg.locator("strong").inner_text() == "bold"
    hrefs = msg.locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert hrefs == []
    text = answer_texts(page)[-1]
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "<script>window.__pwned=2</script>" in text
    msg.get_by_text("click me").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None


def test_keyboard_and_phone_viewport(env: Env, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, has_touch=True)
    page = context.new_page()
    try:
        widget_id = env.widget(theme_color="#0a7d38")
        page.goto(env.site.url(widget_id))
        launcher = page.locator("chat-platform-widget .launcher")
        launcher.wait_for()
        assert launcher.bounding_box()["width"] == 58  # the host page's CSS did not reach it
        assert launcher.get_attribute("aria-expanded") == "false"
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert launcher.get_attribute("aria-expanded") == "true"
        focused = page.evaluate(
            "document.querySelector('chat-platform-widget').shadowRoot.activeElement.tagName"
        )
        assert focused == "TEXTAREA"
        panel = page.get_by_role("dialog", name="Shop help")
        box = panel.bounding_box()
        assert box["width"] == 375 and box["height"] == 667  # full screen on a phone
        page.keyboard.type("from the keyboard")
        page.keyboard.press("Enter")
        wait_for_answer(page, "from the keyboard")
        color = page.locator("chat-platform-widget .msg.user").evaluate(
            "m => getComputedStyle(m).backgroundColor"
        )
        assert color == "rgb(10, 125, 56)"
        assert page.get_by_role("log").count() == 1
        shot(page, "phone")
        page.keyboard.press("Escape")
        assert launcher.get_attribute("aria-expanded") == "false"
        assert (
            page.evaluate(
                "document.querySelector('chat-platform-widget').shadowRoot.activeElement.className"
            )
            == "launcher"
        )
    finally:
        context.close()


def test_hosted_chat_page(env: Env, page: Any) -> None:
    widget_id = env.widget(title="Ask <b>us</b>")
    page.goto(f"http://127.0.0.1:{env.proxy.port}/chat/{widget_id}")
    assert page.title() == "Ask <b>us</b>"  # escaped, not markup
    page.get_by_role("dialog", name="Ask <b>us</b>").wait_for()
    send(page, "hello from the link")
    wait_for_answer(page, "hello from the link")
    shot(page, "hosted-page")
