/*! chat-platform widget — one tag on any page:
 *   <script src="https://your-server/widget.js" data-widget-id="wgt_…" async></script>
 * Optional attributes: data-visitor-token (an HS256 token your backend signed, so the same user
 * gets the same history on any device), data-open="true" (start open), data-mode="page" with
 * data-container="#selector" (fill an element instead of a launcher bubble: the hosted page).
 *
 * Plain ES2020, no build step, no dependencies. Everything renders inside a shadow root, so the
 * host page's CSS cannot reach in and ours cannot leak out; model output is turned into DOM
 * nodes by a small Markdown reader (textContent only, never innerHTML), so it cannot inject
 * markup or script. The chat protocol is the server's WebSocket (README, "Real-time chat").
 */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.widgetId) {
    console.error("chat-platform widget: the script tag needs data-widget-id");
    return;
  }
  const cfg = {
    widgetId: script.dataset.widgetId,
    server: script.dataset.server || new URL(script.src, location.href).origin,
    siteToken: script.dataset.visitorToken || null,
    page: script.dataset.mode === "page",
    container: script.dataset.container || null,
    open: script.dataset.open === "true",
  };
  const wsUrl =
    cfg.server.replace(/^http/, "ws") + "/api/v1/ws?widget_id=" + encodeURIComponent(cfg.widgetId);

  // --- small helpers ------------------------------------------------------------------------

  const store = {
    // localStorage can throw (sandboxed iframes, storage disabled): the chat still works.
    get(key) {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value == null) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
      } catch {
        /* not persisted */
      }
    },
  };
  const prefix = "chat-platform:" + cfg.widgetId + ":";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function svgIcon(path) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    svg.append(p);
    return svg;
  }
  const ICON_CHAT = "M4 4h16v12H7l-3 3V4zm3 5h10v2H7V9z";
  const ICON_CLOSE = "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z";
  const ICON_SEND = "M3 20.5v-7l9-1.5-9-1.5v-7L22 12z";
  const ICON_STOP = "M7 7h10v10H7z";
  const ICON_NEW = "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z";
  const ICON_UP = "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3c0-.4-.2-.8-.4-1.1L13.2 1 6.6 7.6C6.2 8 6 8.5 6 9v10a2 2 0 0 0 2 2h9c.8 0 1.5-.5 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
  const ICON_DOWN = "M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.4 1.1l1.1 1L17.4 16.4c.4-.4.6-.9.6-1.4V5a2 2 0 0 0-2-2H7c-.8 0-1.5.5-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2z";

  function randomId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes); // available outside secure contexts, unlike randomUUID
    return "c_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- safe Markdown: text in, DOM nodes out (no HTML is ever parsed) --------------------------

  function safeHref(url) {
    try {
      const u = new URL(url, location.href);
      return ["http:", "https:", "mailto:"].includes(u.protocol) ? u.href : null;
    } catch {
      return null;
    }
  }

  // code | **strong** | __strong__ | *em* | _em_ | [text](url) | bare URL. Underscores only
  // outside words, so snake_case and "window.__x" stay text, as in CommonMark.
  const INLINE = new RegExp(
    [
      "(`+)([\\s\\S]*?[^`])\\1(?!`)",
      "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*",
      "(?<!\\w)__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)",
      "\\*(?=[^*\\s])([^*]*?[^*\\s])\\*",
      "(?<!\\w)_(?=[^_\\s])([^_]*?[^_\\s])_(?!\\w)",
      "\\[([^\\]\\n]+)\\]\\(([^)\\s]+)\\)",
      "(https?:\\/\\/[^\\s<>\"]*[^\\s<>\".,:;!?')\\]])",
    ].join("|"),
    "g",
  );

  function inline(text, parent, depth = 0) {
    let last = 0;
    INLINE.lastIndex = 0;
    const matches = depth > 4 ? [] : [...text.matchAll(INLINE)];
    for (const m of matches) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[2] !== undefined) parent.append(el("code", { text: m[2] }));
      else if (m[3] !== undefined || m[4] !== undefined)
        inline(m[3] ?? m[4], parent.appendChild(el("strong")), depth + 1);
      else if (m[5] !== undefined || m[6] !== undefined)
        inline(m[5] ?? m[6], parent.appendChild(el("em")), depth + 1);
      else if (m[7] !== undefined) {
        const href = safeHref(m[8]);
        if (!href) {
          parent.append(m[0]); // a javascript: or otherwise odd link stays visible text
          continue;
        }
        const a = el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" });
        inline(m[7], a, depth + 1);
        parent.append(a);
      } else if (m[9] !== undefined) {
        const href = safeHref(m[9]);
        parent.append(
          href ? el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: m[9] }) : m[9],
        );
      }
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)\s*$/;
  const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
  const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

  function markdown(src, target) {
    const out = document.createDocumentFragment();
    const lines = String(src).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    const isBlockStart = (line) =>
      FENCE.test(line) || BULLET.test(line) || ORDERED.test(line) || HEADING.test(line) ||
      QUOTE.test(line) || RULE.test(line);
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (!line.trim()) {
        i++;
      } else if ((m = line.match(FENCE))) {
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(m[1])) body.push(lines[i++]);
        i++; // the closing fence (or the end of a still-streaming block)
        const code = el("code", { text: body.join("\n") });
        if (m[2]) code.dataset.lang = m[2];
        out.append(el("pre", null, code));
      } else if ((m = line.match(HEADING))) {
        const level = Math.min(6, m[1].length + 2); // h3.. inside a chat bubble
        const h = el("h" + level);
        inline(m[2], h);
        out.append(h);
        i++;
      } else if (RULE.test(line)) {
        out.append(el("hr"));
        i++;
      } else if (BULLET.test(line) || ORDERED.test(line)) {
        const ordered = ORDERED.test(line);
        const pattern = ordered ? ORDERED : BULLET;
        const list = el(ordered ? "ol" : "ul");
        if (ordered) {
          const start = parseInt(line.match(ORDERED)[1], 10);
          if (start !== 1) list.setAttribute("start", String(start));
        }
        while (i < lines.length && (m = lines[i].match(pattern))) {
          const li = el("li");
          inline(ordered ? m[2] : m[1], li);
          list.append(li);
          i++;
        }
        out.append(list);
      } else if (QUOTE.test(line)) {
        const body = [];
        while (i < lines.length && (m = lines[i].match(QUOTE))) {
          body.push(m[1]);
          i++;
        }
        const q = el("blockquote");
        markdown(body.join("\n"), q);
        out.append(q);
      } else {
        const p = el("p");
        let first = true;
        while (i < lines.length && lines[i].trim() && (first || !isBlockStart(lines[i]))) {
          if (!first) p.append(el("br"));
          inline(lines[i].trim(), p);
          first = false;
          i++;
        }
        out.append(p);
      }
    }
    target.replaceChildren(out);
  }

  // --- styles (scoped by the shadow root) -------------------------------------------------------

  const CSS = `
:host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;
bottom:20px!important;z-index:2147483000!important;--cp-accent:#2d6cdf;--cp-on-accent:#fff}
:host(.page){position:relative!important;right:auto!important;bottom:auto!important;
width:100%!important;height:100%!important}
.panel,.launcher{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2027}
*{box-sizing:border-box}
button{font:inherit;cursor:pointer}
:focus-visible{outline:3px solid var(--cp-accent);outline-offset:2px}
.sr-only{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{width:58px;height:58px;border-radius:50%;border:0;background:var(--cp-accent);
color:var(--cp-on-accent);box-shadow:0 6px 20px rgba(0,0,0,.25);display:grid;place-items:center}
.launcher svg{width:28px;height:28px;fill:currentColor}
.panel{position:absolute;right:0;bottom:72px;width:380px;height:min(620px,calc(100vh - 110px));
background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;
flex-direction:column;overflow:hidden}
.panel[hidden]{display:none}
:host(.page) .panel{position:static;width:100%;height:100%;border-radius:0;box-shadow:none}
header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--cp-accent);
color:var(--cp-on-accent)}
header h2{flex:1;margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.icon{border:0;background:transparent;color:inherit;width:34px;height:34px;border-radius:8px;
display:grid;place-items:center;padding:0}
.icon:hover{background:rgba(255,255,255,.18)}
.icon svg{width:20px;height:20px;fill:currentColor}
.status{font-size:13px;padding:6px 14px;background:#fff4d6;color:#5c4400}
.status:empty{display:none}
.log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px;background:#f6f7f9}
.msg{max-width:85%;padding:9px 12px;border-radius:14px;overflow-wrap:anywhere;white-space:normal}
.msg.user{align-self:flex-end;background:var(--cp-accent);color:var(--cp-on-accent);
border-bottom-right-radius:4px;white-space:pre-wrap}
.msg.assistant{align-self:flex-start;background:#fff;border:1px solid #e3e6eb;border-bottom-left-radius:4px}
.msg.sending{opacity:.7}
.msg.failed{outline:2px solid #c62828}
.msg p,.msg ul,.msg ol,.msg pre,.msg blockquote,.msg h3,.msg h4,.msg h5,.msg h6{margin:0 0 .5em}
.msg>:last-child{margin-bottom:0}
.msg ul,.msg ol{padding-left:1.3em}
.msg pre{background:#f0f2f5;padding:8px;border-radius:6px;overflow-x:auto;white-space:pre}
.msg code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f0f2f5;
padding:0 3px;border-radius:3px}
.msg pre code{padding:0;background:none}
.msg blockquote{border-left:3px solid #cfd4dc;padding-left:8px;color:#4a5060}
.msg a{color:var(--cp-accent)}
.msg.user a{color:inherit}
.note{font-size:12px;color:#6b7280;margin-top:4px}
.feedback{display:flex;gap:2px;margin-top:4px}
.rate{border:0;background:transparent;color:#9aa1ad;width:28px;height:28px;border-radius:6px;
display:grid;place-items:center;padding:0}
.rate svg{width:16px;height:16px;fill:currentColor}
.rate:hover,.rate[aria-pressed=true]{color:var(--cp-accent);background:#eef2f8}
.typing{align-self:flex-start;display:flex;gap:4px;padding:12px 14px;background:#fff;
border:1px solid #e3e6eb;border-radius:14px}
.typing[hidden]{display:none}
.typing i{width:7px;height:7px;border-radius:50%;background:#9aa1ad;animation:cp-dot 1.2s infinite}
.typing i:nth-child(2){animation-delay:.2s}.typing i:nth-child(3){animation-delay:.4s}
@keyframes cp-dot{0%,60%,100%{opacity:.3}30%{opacity:1}}
@media (prefers-reduced-motion:reduce){.typing i{animation:none}}
.approval{align-self:stretch;background:#fff;border:1px solid #e3e6eb;border-left:4px solid var(--cp-accent);
border-radius:10px;padding:10px 12px}
.approval p{margin:0 0 8px}
.approval .actions{display:flex;gap:8px}
.btn{border:1px solid var(--cp-accent);background:#fff;color:var(--cp-accent);border-radius:8px;padding:6px 14px}
.btn.primary{background:var(--cp-accent);color:var(--cp-on-accent)}
.btn:disabled{opacity:.5;cursor:default}
.starters{display:flex;flex-wrap:wrap;gap:6px}
.starters .btn{font-size:14px;border-radius:16px}
form{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #e3e6eb;background:#fff}
textarea{flex:1;resize:none;border:1px solid #cfd4dc;border-radius:10px;padding:9px 10px;
font-size:16px;line-height:1.35;font-family:inherit;max-height:140px;min-height:42px;color:inherit;background:#fff}
form .icon{background:var(--cp-accent);color:var(--cp-on-accent);width:42px;height:42px;border-radius:10px}
form .icon[hidden]{display:none}
form .icon.stop{background:#4a5060}
@media (max-width:480px){:host(:not(.page)){right:12px!important;bottom:12px!important}
:host(.open:not(.page)){right:0!important;bottom:0!important;left:0!important;top:0!important}
:host(.open:not(.page)) .launcher{display:none}
:host(:not(.page)) .panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}}
`;

  // --- the view ---------------------------------------------------------------------------------

  class View {
    constructor(chat) {
      this.chat = chat;
      this.host = document.createElement("chat-platform-widget");
      if (cfg.page) this.host.classList.add("page");
      const root = this.host.attachShadow({ mode: "open" });
      root.append(el("style", { text: CSS }));
      this.title = el("h2", { id: "cp-title", text: "Chat" });
      this.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
      this.log = el("div", {
        class: "log",
        role: "log",
        "aria-live": "polite",
        "aria-relevant": "additions",
        "aria-labelledby": "cp-title",
        tabindex: "0",
      });
      this.typing = el(
        "div",
        { class: "typing", hidden: true },
        el("span", { class: "sr-only", text: "The assistant is typing" }),
        el("i", { "aria-hidden": "true" }),
        el("i", { "aria-hidden": "true" }),
        el("i", { "aria-hidden": "true" }),
      );
      this.input = el("textarea", {
        id: "cp-input",
        rows: "1",
        placeholder: "Type a message…",
        maxlength: "32000",
        "aria-label": "Message",
        onkeydown: (e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            this.submit();
          }
        },
        oninput: () => this.autosize(),
      });
      this.sendButton = el("button", { type: "submit", class: "icon send", "aria-label": "Send message" }, svgIcon(ICON_SEND));
      this.stopButton = el(
        "button",
        { type: "button", class: "icon stop", "aria-label": "Stop the answer", hidden: true, onclick: () => chat.stop() },
        svgIcon(ICON_STOP),
      );
      const form = el(
        "form",
        { onsubmit: (e) => (e.preventDefault(), this.submit()) },
        this.input,
        this.stopButton,
        this.sendButton,
      );
      const header = el(
        "header",
        null,
        this.title,
        el("button", { type: "button", class: "icon", "aria-label": "Start a new conversation", title: "New conversation", onclick: () => chat.newConversation() }, svgIcon(ICON_NEW)),
        cfg.page
          ? null
          : el("button", { type: "button", class: "icon", "aria-label": "Close chat", onclick: () => this.setOpen(false) }, svgIcon(ICON_CLOSE)),
      );
      this.panel = el(
        "section",
        { class: "panel", role: "dialog", "aria-labelledby": "cp-title", hidden: !cfg.page, id: "cp-panel" },
        header,
        this.status,
        this.log,
        form,
      );
      this.panel.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !cfg.page) this.setOpen(false);
      });
      if (!cfg.page) {
        this.launcher = el(
          "button",
          { type: "button", class: "launcher", "aria-label": "Open chat", "aria-expanded": "false", "aria-controls": "cp-panel", onclick: () => this.setOpen(this.panel.hidden) },
          svgIcon(ICON_CHAT),
        );
        root.append(this.panel, this.launcher);
      } else {
        root.append(this.panel);
      }
      this.byId = new Map(); // message id -> element (history, live and replayed, never twice)
      this.streams = new Map(); // run id -> {el, parts: Map(nodeId -> text)}
      this.approvals = new Map(); // run id -> card
      this.feedbackBars = new Map(); // message id -> rating buttons
      this.answered = new Set(); // run ids whose stored answer is shown
      this.greeting = null;
      this.starters = [];
    }

    mount() {
      const container = cfg.container && document.querySelector(cfg.container);
      (container || document.body).append(this.host);
      if (cfg.open) this.setOpen(true);
    }

    setOpen(open) {
      if (cfg.page) return;
      this.panel.hidden = !open;
      this.host.classList.toggle("open", open);
      this.launcher.setAttribute("aria-expanded", String(open));
      this.launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
      if (open) {
        this.chat.ensureConnected();
        this.input.focus();
        this.scrollDown(true);
      } else {
        this.launcher.focus();
      }
    }

    applyWidget(widget) {
      if (!widget) return;
      this.title.textContent = widget.title || "Chat";
      if (this.launcher) this.launcher.setAttribute("aria-label", "Open chat: " + (widget.title || "Chat"));
      if (widget.theme_color) this.host.style.setProperty("--cp-accent", widget.theme_color);
      this.greeting = widget.greeting || null;
      this.starters = Array.isArray(widget.starter_prompts) ? widget.starter_prompts : [];
      this.showFeedback = !!widget.show_feedback;
    }

    autosize() {
      this.input.style.height = "auto";
      this.input.style.height = Math.min(this.input.scrollHeight, 140) + "px";
    }

    submit() {
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      this.autosize();
      this.chat.send(text);
    }

    nearBottom() {
      return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 80;
    }

    scrollDown(force) {
      if (force || this.stick) this.log.scrollTop = this.log.scrollHeight;
    }

    append(node) {
      this.stick = this.nearBottom();
      this.log.insertBefore(node, this.typing.isConnected ? this.typing : null);
      this.scrollDown();
    }

    reset(messages, pending) {
      this.log.replaceChildren();
      this.byId.clear();
      this.feedbackBars.clear();
      this.answered.clear();
      this.streams.clear();
      this.approvals.clear();
      if (this.greeting) {
        const g = el("div", { class: "msg assistant greeting" });
        markdown(this.greeting, g);
        this.log.append(g);
      }
      for (const m of messages) this.message(m);
      for (const p of pending) this.append(p.el);
      if (!messages.length && !pending.length && this.starters.length) {
        this.starterBox = el(
          "div",
          { class: "starters", role: "group", "aria-label": "Suggested questions" },
          ...this.starters.map((s) => el("button", { type: "button", class: "btn", text: s, onclick: () => this.chat.send(s) })),
        );
        this.log.append(this.starterBox);
      }
      this.log.append(this.typing);
      this.scrollDown(true);
    }

    userBubble(text) {
      return el("div", { class: "msg user sending" }, el("span", { class: "sr-only", text: "You: " }), text);
    }

    message(m) {
      if (this.byId.has(m.id)) {
        // Already shown (history and a replayed event can overlap): drop any second stream.
        const s = m.role === "assistant" && this.streams.get(m.run_id);
        if (s) s.el.remove();
        this.streams.delete(m.run_id);
        return this.byId.get(m.id);
      }
      if (m.role === "assistant" && m.run_id) this.answered.add(m.run_id);
      this.starterBox?.remove();
      let node = m.role === "assistant" ? this.streams.get(m.run_id)?.el : null;
      if (m.role === "assistant") {
        node = node || el("div", { class: "msg assistant" });
        node.removeAttribute("aria-busy");
        this.streams.delete(m.run_id);
        markdown(m.content, node);
        node.prepend(el("span", { class: "sr-only", text: "Assistant: " }));
        if (m.status === "partial") node.append(el("div", { class: "note", text: "(stopped before the end)" }));
        if (this.showFeedback) node.append(this.feedbackBar(m.id));
      } else {
        node = this.userBubble(m.content);
        node.classList.remove("sending");
      }
      node.dataset.id = m.id;
      this.byId.set(m.id, node);
      if (!node.isConnected) this.append(node);
      return node;
    }

    feedbackBar(messageId) {
      const buttons = {};
      const rate = (rating) => {
        const next = buttons[rating].getAttribute("aria-pressed") === "true" ? null : rating;
        this.chat.sendFrame({ type: "feedback", message_id: messageId, rating: next });
      };
      for (const [rating, label, path] of [
        ["up", "Good answer", ICON_UP],
        ["down", "Bad answer", ICON_DOWN],
      ])
        buttons[rating] = el("button", { type: "button", class: "rate", "aria-label": label, "aria-pressed": "false", onclick: () => rate(rating) }, svgIcon(path));
      const bar = el("div", { class: "feedback", role: "group", "aria-label": "Rate this answer" }, buttons.up, buttons.down);
      bar.show = (rating) => {
        for (const [r, b] of Object.entries(buttons)) b.setAttribute("aria-pressed", String(r === rating));
      };
      this.feedbackBars.set(messageId, bar);
      return bar;
    }

    delta(runId, nodeId, text) {
      if (this.answered.has(runId)) return; // its stored answer is on screen already
      let s = this.streams.get(runId);
      if (!s) {
        s = { el: el("div", { class: "msg assistant streaming", "aria-busy": "true" }), parts: new Map() };
        this.streams.set(runId, s);
        this.append(s.el);
      }
      s.parts.set(nodeId, (s.parts.get(nodeId) || "") + text);
      this.showTyping(false);
      if (!s.queued) {
        // Coalesce bursts of deltas into one re-render per frame (or 60 ms in a hidden tab).
        s.queued = true;
        const flush = () => {
          if (!s.queued) return;
          s.queued = false;
          if (!s.el.isConnected || !this.streams.has(runId)) return;
          this.stick = this.nearBottom();
          markdown([...s.parts.values()].join("\n\n"), s.el);
          this.scrollDown();
        };
        requestAnimationFrame(flush);
        setTimeout(flush, 60);
      }
    }

    showTyping(on) {
      this.typing.hidden = !on;
      if (on) this.scrollDown();
    }

    showStop(on) {
      this.stopButton.hidden = !on;
    }

    approval(runId, prompt) {
      if (this.approvals.has(runId)) return;
      const approve = el("button", { type: "button", class: "btn primary", text: "Approve", onclick: () => decide("approve") });
      const reject = el("button", { type: "button", class: "btn", text: "Reject", onclick: () => decide("reject") });
      const note = el("div", { class: "note", role: "status" });
      const card = el(
        "div",
        { class: "approval", role: "group", "aria-label": "Approval needed" },
        el("p", { text: prompt || "Approval needed to continue." }),
        el("div", { class: "actions" }, approve, reject),
        note,
      );
      const decide = (decision) => {
        approve.disabled = reject.disabled = true;
        note.textContent = decision === "approve" ? "Approved — continuing…" : "Rejected.";
        this.chat.respond(runId, decision);
      };
      card.settle = (text) => {
        approve.disabled = reject.disabled = true;
        if (text) note.textContent = text;
      };
      card.reopen = () => {
        approve.disabled = reject.disabled = false;
        note.textContent = "";
      };
      this.approvals.set(runId, card);
      this.append(card);
      approve.focus({ preventScroll: true });
    }

    settleApproval(runId, text) {
      this.approvals.get(runId)?.settle(text);
    }

    notice(text) {
      this.status.textContent = text || "";
    }
  }

  // --- the connection: auth, session, resume, outbox ------------------------------------------

  const FATAL = new Set(["ORIGIN_NOT_ALLOWED", "WIDGET_NOT_FOUND", "FORBIDDEN"]);
  const EVENT = /^(message\.created|run:|node:|edge:|fan-)/;

  class Chat {
    constructor() {
      this.view = new View(this);
      this.ws = null;
      this.ready = false; // authenticated and a session is open
      this.visitorId = null;
      this.sessionId = null;
      this.lastSeq = null; // seq of the last event processed on the open session
      this.activeRun = null;
      this.outbox = new Map(); // client_message_id -> {content, el, sent}
      this.attempt = 0;
      this.stopped = false; // a fatal refusal: do not reconnect
      this.wantNew = false;
      addEventListener("online", () => this.reconnectNow());
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") this.reconnectNow();
      });
    }

    start() {
      this.view.mount();
      // A returning visitor connects at once (their history is ready when the panel opens, and
      // an unsent message goes out); a first-time visitor only when they open the chat.
      if (cfg.page || cfg.open || cfg.siteToken || store.get(prefix + "visitor")) this.connect();
    }

    ensureConnected() {
      if (!this.ws) this.reconnectNow();
    }

    reconnectNow() {
      if (this.stopped || (this.ws && this.ws.readyState <= WebSocket.OPEN)) return;
      clearTimeout(this.retryTimer);
      this.connect();
    }

    connect() {
      this.ready = false;
      let ws;
      try {
        ws = new WebSocket(wsUrl);
      } catch (err) {
        this.view.notice("Chat unavailable: " + err.message);
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        const token = cfg.siteToken || store.get(prefix + "visitor");
        this.sendFrame({ type: "auth", widget_id: cfg.widgetId, visitor_token: token || undefined });
        this.heartbeat();
      };
      ws.onmessage = (e) => {
        this.lastHeard = Date.now();
        let frame;
        try {
          frame = JSON.parse(e.data);
        } catch {
          return;
        }
        this.onFrame(frame);
      };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.ready = false;
        clearInterval(this.pinger);
        if (this.stopped) return;
        this.view.notice(navigator.onLine === false ? "Offline — waiting for the network…" : "Reconnecting…");
        const delay = this.retryAfter ?? Math.min(15000, 400 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
        this.retryAfter = null;
        this.attempt = Math.min(this.attempt + 1, 8);
        this.retryTimer = setTimeout(() => this.connect(), e.code === 4000 ? 0 : delay);
      };
    }

    heartbeat() {
      // A dead network does not always close a socket: ping, and give up on silence.
      this.lastHeard = Date.now();
      clearInterval(this.pinger);
      this.pinger = setInterval(() => {
        if (!this.ws) return;
        if (Date.now() - this.lastHeard > 45000) this.ws.close(4000, "no answer");
        else this.sendFrame({ type: "ping" });
      }, 20000);
    }

    sendFrame(frame) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }

    openSession() {
      const frame = { type: "session.open" };
      if (this.wantNew) frame.new = true;
      else {
        const id = this.sessionId || store.get(this.key("session"));
        if (id) frame.session_id = id;
        if (id && id === this.sessionId && this.lastSeq != null) frame.resume_after_seq = this.lastSeq;
      }
      this.sendFrame(frame);
    }

    key(name) {
      return prefix + (this.visitorId || "anonymous") + ":" + name;
    }

    saveOutbox() {
      const items = [...this.outbox].map(([id, m]) => [id, m.content]);
      store.set(this.key("outbox"), items.length ? JSON.stringify(items) : null);
    }

    loadOutbox() {
      let items = [];
      try {
        items = JSON.parse(store.get(this.key("outbox")) || "[]");
      } catch {
        /* ignore a damaged entry */
      }
      for (const [id, content] of Array.isArray(items) ? items : []) {
        if (typeof id === "string" && typeof content === "string" && !this.outbox.has(id))
          this.outbox.set(id, { content, el: this.view.userBubble(content) });
      }
    }

    onFrame(f) {
      if (typeof f.seq === "number" && EVENT.test(f.type || "") && !f.duplicate) {
        if (this.lastSeq != null && f.seq <= this.lastSeq) return; // already processed
        this.lastSeq = f.seq;
      }
      const v = this.view;
      switch (f.type) {
        case "auth.ok":
          this.attempt = 0;
          if (f.visitor_token && !cfg.siteToken) store.set(prefix + "visitor", f.visitor_token);
          if (f.visitor_id !== this.visitorId) {
            this.visitorId = f.visitor_id;
            this.sessionId = null;
            this.lastSeq = null;
          }
          this.loadOutbox();
          v.applyWidget(f.widget);
          this.openSession();
          break;
        case "session.ready": {
          const resumed = f.resumed && f.session.id === this.sessionId;
          this.wantNew = false;
          this.sessionId = f.session.id;
          store.set(this.key("session"), this.sessionId);
          if (!resumed) {
            this.lastSeq = f.seq;
            v.reset(f.messages || [], [...this.outbox.values()]);
            this.activeRun = null;
            v.showTyping(false);
            v.showStop(false);
          }
          for (const run of f.active_runs || []) {
            if (run.status === "pending_approval") v.approval(run.run_id, run.approval_prompt);
            else this.running(run.run_id);
          }
          this.ready = true;
          v.notice("");
          for (const [id, m] of this.outbox) this.transmit(id, m); // resend: never stored twice
          break;
        }
        case "message.created":
          this.onMessage(f);
          break;
        case "run:start":
          this.running(f.runId);
          break;
        case "node:text-delta":
          if (this.activeRun == null) this.running(f.runId);
          v.delta(f.runId, f.nodeId, f.delta || "");
          break;
        case "node:waiting_approval":
          v.approval(f.runId, f.approvalPrompt);
          break;
        case "run:paused":
          this.finished(f.runId);
          break;
        case "run:resumed":
          v.settleApproval(f.runId, "Approved — continuing…");
          this.running(f.runId);
          break;
        case "run:complete":
          if (f.status === "failed") v.notice("The assistant could not answer. Please try again.");
          this.finished(f.runId);
          break;
        case "run:result":
          if (f.status !== "pending_approval") v.settleApproval(f.id);
          if (f.status !== "pending_approval" && f.status !== "running") this.finished(f.id);
          break;
        case "feedback.ok":
          v.feedbackBars.get(f.message_id)?.show(f.rating);
          break;
        case "error":
          this.onError(f);
          break;
        default:
          break; // pong, node:start, edge:traversed …: nothing to show
      }
    }

    onMessage(f) {
      const m = f.message || {};
      const v = this.view;
      if (m.role === "user") {
        const pending = f.client_message_id && this.outbox.get(f.client_message_id);
        if (pending) {
          this.outbox.delete(f.client_message_id);
          this.saveOutbox();
          if (v.byId.has(m.id)) pending.el.remove(); // already shown from history
          else {
            pending.el.classList.remove("sending", "failed");
            pending.el.dataset.id = m.id;
            v.byId.set(m.id, pending.el);
          }
        } else {
          v.message(m); // from another tab or device
        }
        if (m.run_id && !f.duplicate) this.running(m.run_id);
      } else {
        v.message(m);
        if (m.run_id === this.activeRun) v.showTyping(false);
      }
    }

    onError(f) {
      const v = this.view;
      if (f.code === "INVALID_VISITOR_TOKEN" && !cfg.siteToken) {
        store.set(prefix + "visitor", null); // expired or from another server: start afresh
        this.retryAfter = 0;
        return;
      }
      if (f.code === "SESSION_NOT_FOUND" && f.frame === "session.open") {
        store.set(this.key("session"), null);
        this.sessionId = null;
        this.lastSeq = null;
        this.wantNew = true;
        this.openSession();
        return;
      }
      if (FATAL.has(f.code) && f.frame === "auth") {
        this.stopped = true;
        v.notice("This chat is not available here (" + f.code + ").");
        return;
      }
      if (f.code === "INVALID_VISITOR_TOKEN") {
        this.stopped = true;
        v.notice("Your chat sign-in has expired. Reload the page to continue.");
        return;
      }
      if (f.code === "RATE_LIMITED") {
        const wait = Math.max(1, Math.ceil(f.retry_after || 5));
        if (f.frame === "auth") this.retryAfter = wait * 1000;
        else {
          v.notice("Too many messages — please wait " + wait + " s.");
          setTimeout(() => this.ready && this.flushOutbox(), wait * 1000);
        }
        return;
      }
      if (f.frame === "message.send") {
        v.notice("Your message could not be sent (" + (f.message || f.code) + ").");
        return;
      }
      if (f.frame === "approval.respond") {
        const card = [...v.approvals.values()].find((c) => c.querySelector("button:disabled"));
        if (f.code === "CONFLICT") card?.settle("Already decided.");
        else card?.reopen();
        return;
      }
      if (f.frame === "run.cancel" || f.frame === "feedback") return; // nothing to undo
      v.notice(f.message || f.code);
    }

    flushOutbox() {
      for (const [id, m] of this.outbox) this.transmit(id, m);
    }

    transmit(id, m) {
      this.sendFrame({ type: "message.send", content: m.content, client_message_id: id });
    }

    running(runId) {
      this.activeRun = runId;
      this.view.showStop(true);
      if (!this.view.streams.has(runId)) this.view.showTyping(true);
    }

    finished(runId) {
      if (runId && this.activeRun && runId !== this.activeRun) return;
      this.activeRun = null;
      this.view.showTyping(false);
      this.view.showStop(false);
    }

    send(content) {
      const id = randomId();
      const m = { content, el: this.view.userBubble(content) };
      this.outbox.set(id, m);
      this.saveOutbox(); // survives a reload before the server has it
      this.view.starterBox?.remove();
      this.view.append(m.el);
      this.view.showTyping(true);
      if (this.ready) this.transmit(id, m);
      else this.ensureConnected();
    }

    stop() {
      if (this.activeRun) this.sendFrame({ type: "run.cancel", run_id: this.activeRun });
    }

    respond(runId, decision) {
      if (!this.sendFrame({ type: "approval.respond", run_id: runId, decision }))
        this.view.approvals.get(runId)?.reopen();
    }

    newConversation() {
      this.wantNew = true;
      this.sessionId = null;
      this.lastSeq = null;
      if (this.ready) this.openSession();
      else this.ensureConnected();
    }
  }

  const chat = new Chat();
  if (document.body) chat.start();
  else document.addEventListener("DOMContentLoaded", () => chat.start(), { once: true });
  window.chatPlatformWidget = {
    open: () => chat.view.setOpen(true),
    close: () => chat.view.setOpen(false),
  };
})();
