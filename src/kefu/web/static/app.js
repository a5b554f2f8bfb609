/* kefu web chat page: plain JS over GET /v1/ws (DESIGN.md §3 "Chat").
 *
 * Every piece of server or customer text goes through textContent; nothing here uses
 * innerHTML. Sections: helpers, rendering (bubbles, options, cards), the connection
 * (reconnect with backoff, queue, ping), the session (localStorage + history), boot.
 */
(function () {
  "use strict";

  const MAX_CHARS = 2000;
  const STORE_KEY = "kefu.session_id";
  const PING_MS = 25000;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const FORGET_CODES = ["session_not_found", "session_forbidden", "invalid_session_id"];
  const ERROR_TEXTS = {
    rate_limited: "发送太频繁，请稍后再试 / Too many messages, please slow down",
    text_too_long: "消息太长了，请精简到 2000 字以内 / The message is too long (2000 max)",
    empty_text: "不能发送空消息 / Empty messages are not sent",
    frame_too_large: "消息太大了 / The message is too large",
    store_unavailable: "系统繁忙，请稍后再试 / The service is busy, please try again",
  };
  const STATUS_TEXTS = {
    queued: "待发送 / Queued",
    sending: "发送中 / Sending",
    unconfirmed: "可能未送达 / May not have arrived",
    failed: "发送失败 / Not sent",
  };
  const CARD_NAMES = { order: "订单卡片 / Order card", logistics: "物流卡片 / Shipment card" };

  const params = new URLSearchParams(window.location.search);
  const state = {
    ws: null,
    sessionId: loadSessionId(),
    queue: [],
    attempt: 0,
    reconnectTimer: null,
    pingTimer: null,
    awaitingPong: false,
    streaming: null,
    seq: 0,
    stopped: false,
  };
  const ui = {};

  /* ---- helpers ------------------------------------------------------------------------ */

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pad2(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function formatTime(ms) {
    const d = new Date(ms);
    const hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    if (d.toDateString() === new Date().toDateString()) return hm;
    return pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + hm;
  }

  function money(amount, currency) {
    const n = Number(amount);
    if (amount === null || amount === undefined || isNaN(n)) return display(amount);
    const sign = !currency || currency === "CNY" ? "¥" : currency + " ";
    return sign + n.toFixed(2);
  }

  function asObject(value) {
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  }

  function display(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function nextMsgId() {
    state.seq += 1;
    return "web-" + Date.now().toString(36) + "-" + state.seq;
  }

  /* ---- message list ------------------------------------------------------------------- */

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function append(node) {
    ui.messages.appendChild(node);
    scrollToEnd();
    return node;
  }

  function makeRow(role, content, timeMs) {
    const row = el("div", "row row-" + role);
    if (role === "agent") row.appendChild(el("div", "who", "人工客服 / Agent"));
    row.appendChild(content);
    row.appendChild(el("time", "stamp", formatTime(timeMs || Date.now())));
    return row;
  }

  function bubble(role, text, timeMs) {
    return makeRow(role, el("div", "bubble", text), timeMs);
  }

  function addBubble(role, text) {
    return append(bubble(role, text));
  }

  function addNotice(text, kind) {
    const note = el("div", "notice" + (kind ? " notice-" + kind : ""), text);
    note.setAttribute("role", kind === "error" ? "alert" : "note");
    return append(note);
  }

  function addUserMessage(text, cmid) {
    const row = addBubble("user", text);
    row.dataset.cmid = cmid;
    row.appendChild(el("span", "status"));
    setStatus(cmid, isOpen() ? "sending" : "queued");
    return row;
  }

  function setStatus(cmid, status) {
    if (!cmid) return;
    const rows = ui.messages.querySelectorAll(".row-user[data-cmid]");
    rows.forEach(function (row) {
      if (row.dataset.cmid !== cmid) return;
      row.dataset.status = status || "";
      row.querySelector(".status").textContent = status ? STATUS_TEXTS[status] : "";
    });
  }

  function markAll(from, to) {
    ui.messages.querySelectorAll('.row-user[data-status="' + from + '"]').forEach(function (row) {
      setStatus(row.dataset.cmid, to);
    });
  }

  /* ---- options (buttons and multi-choice) --------------------------------------------- */

  function disableGroup(group) {
    group.classList.add("done");
    group.querySelectorAll("button, input").forEach(function (c) {
      c.disabled = true;
    });
  }

  function disableOldControls() {
    ui.messages.querySelectorAll(".options:not(.done)").forEach(disableGroup);
  }

  function renderOptions(reply) {
    if (reply.text) addBubble("bot", reply.text);
    const options = Array.isArray(reply.options) ? reply.options : [];
    if (!options.length) return;
    const group = el("div", "options");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", reply.text || "可选项 / Choices");
    if (reply.multi) fillMulti(group, reply, options);
    else fillButtons(group, options);
    append(group);
  }

  function fillButtons(group, options) {
    options.forEach(function (opt) {
      const button = el("button", "option", opt.label);
      button.type = "button";
      button.addEventListener("click", function () {
        disableGroup(group);
        button.classList.add("chosen");
        sendAction(opt.id, asObject(opt.payload), opt.label);
      });
      group.appendChild(button);
    });
  }

  function fillMulti(group, reply, options) {
    const chosen = [];
    const confirm = el("button", "confirm", "确认 / Confirm");
    confirm.type = "button";
    confirm.disabled = true;
    options.forEach(function (opt) {
      const label = el("label", "check");
      const box = el("input");
      box.type = "checkbox";
      box.addEventListener("change", function () {
        const at = chosen.indexOf(opt);
        if (box.checked && at < 0) chosen.push(opt);
        if (!box.checked && at >= 0) chosen.splice(at, 1);
        confirm.disabled = chosen.length === 0;
      });
      label.append(box, el("span", null, opt.label));
      group.appendChild(label);
    });
    confirm.addEventListener("click", function () {
      if (!chosen.length) return;
      disableGroup(group);
      const selected = chosen.map(function (o) { return asObject(o.payload); });
      const labels = chosen.map(function (o) { return o.label; }).join("、");
      sendAction(reply.id || "multi", { selected: selected }, labels);
    });
    group.appendChild(confirm);
  }

  /* ---- cards -------------------------------------------------------------------------- */

  function cardHead(title, id, badge) {
    const head = el("div", "card-head");
    const name = el("div", "card-title", title);
    if (id) name.appendChild(el("span", "card-id", id));
    head.appendChild(name);
    if (badge) head.appendChild(el("span", "badge", badge));
    return head;
  }

  function itemOptions(options) {
    return Object.keys(asObject(options)).map(function (k) {
      return k + "：" + display(options[k]);
    }).join(" · ");
  }

  function orderCard(data) {
    const card = el("div", "card card-order");
    card.appendChild(cardHead("订单 / Order", data.order_id, data.status_label));
    const list = el("ul", "items");
    (Array.isArray(data.items) ? data.items : []).forEach(function (raw) {
      const item = asObject(raw);
      const li = el("li", "item");
      const main = el("div", "item-main");
      main.appendChild(el("div", "item-name", item.name));
      const opts = itemOptions(item.options);
      if (opts) main.appendChild(el("div", "item-opts", opts));
      li.appendChild(main);
      const qty = item.quantity === undefined ? 1 : item.quantity;
      li.appendChild(el("div", "item-price", money(item.price, data.currency) + " × " + qty));
      list.appendChild(li);
    });
    card.appendChild(list);
    if (data.total !== undefined) {
      const total = el("div", "card-total");
      total.append(el("span", null, "合计 / Total"), el("strong", null, money(data.total, data.currency)));
      card.appendChild(total);
    }
    return card;
  }

  function logisticsCard(data) {
    const card = el("div", "card card-logistics");
    card.appendChild(cardHead("物流 / Shipment", data.courier_name || data.courier, data.status_label));
    if (data.tracking_number) {
      card.appendChild(el("div", "card-line", "运单号 / Tracking no. " + data.tracking_number));
    }
    const list = el("ol", "timeline");
    (Array.isArray(data.events) ? data.events : []).forEach(function (raw) {
      const ev = asObject(raw);
      const li = el("li", "event");
      if (typeof ev.ts === "number") li.appendChild(el("time", "event-time", formatTime(ev.ts * 1000)));
      li.appendChild(el("div", "event-desc", ev.description));
      if (ev.location) li.appendChild(el("div", "event-loc", ev.location));
      list.appendChild(li);
    });
    card.appendChild(list);
    return card;
  }

  function tableCard(title, data) {
    const card = el("div", "card card-table");
    card.appendChild(cardHead(title));
    const table = el("table", "kv");
    Object.keys(data).forEach(function (key) {
      const tr = el("tr");
      tr.append(el("th", null, key), el("td", null, display(data[key])));
      table.appendChild(tr);
    });
    card.appendChild(table);
    return card;
  }

  function renderCard(kind, rawData) {
    const data = asObject(rawData);
    let card;
    if (kind === "order") card = orderCard(data);
    else if (kind === "logistics") card = logisticsCard(data);
    else card = tableCard(display(kind || "信息 / Info"), data);
    append(makeRow("bot", card));
  }

  /* ---- turns and other server frames -------------------------------------------------- */

  function renderReply(reply) {
    reply = asObject(reply);
    if (reply.type === "text") addBubble("bot", reply.text);
    else if (reply.type === "options") renderOptions(reply);
    else if (reply.type === "card") renderCard(reply.kind, reply.data);
  }

  function renderHandoff(handoff) {
    let text = "已为您转接人工客服，请稍候 / Connecting you to a human agent";
    const ticket = asObject(handoff).ticket_id;
    if (ticket) text += " · 工单 / Ticket " + ticket;
    addNotice(text, "handoff");
  }

  function endStreaming(keep) {
    if (!state.streaming) return;
    if (keep) state.streaming.classList.remove("streaming");
    else state.streaming.remove();
    state.streaming = null;
  }

  function onReply(frame) {
    if (typeof frame.session_id === "string" && frame.session_id) rememberSession(frame.session_id);
    setStatus(frame.client_msg_id, null);
    endStreaming(false);
    disableOldControls();
    (Array.isArray(frame.replies) ? frame.replies : []).forEach(renderReply);
    if (frame.handoff) renderHandoff(frame.handoff);
  }

  function onDelta(frame) {
    if (typeof frame.text !== "string") return;
    if (!state.streaming) {
      state.streaming = addBubble("bot", "");
      state.streaming.classList.add("streaming");
    }
    state.streaming.querySelector(".bubble").textContent += frame.text;
    scrollToEnd();
  }

  function onPush(frame) {
    let shown = false;
    if (frame.text) { addBubble("bot", frame.text); shown = true; }
    if (Array.isArray(frame.replies)) { frame.replies.forEach(renderReply); shown = true; }
    if (frame.kind && frame.data) { renderCard(frame.kind, frame.data); shown = true; }
    else if (frame.data && typeof frame.data === "object") {
      renderCard("通知 / Update", frame.data);
      shown = true;
    }
    if (!shown) addNotice("您有一条新通知 / You have a new update");
  }

  function onError(frame) {
    endStreaming(true);
    setStatus(frame.client_msg_id, "failed");
    if (FORGET_CODES.indexOf(frame.code) >= 0) {
      forgetSession();
      disableOldControls();
      addNotice("之前的会话已失效，将为您开始新的会话 / Starting a new conversation");
      return;
    }
    addNotice(ERROR_TEXTS[frame.code] || display(frame.message || frame.code), "error");
  }

  const HANDLERS = {
    reply: onReply,
    reply_delta: onDelta,
    agent_message: function (frame) { addBubble("agent", frame.text); },
    push: onPush,
    error: onError,
    pong: function () {},
  };

  function onMessage(event) {
    state.awaitingPong = false;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (err) {
      console.warn("kefu: a frame that is not JSON", err);
      return;
    }
    const handler = HANDLERS[asObject(frame).type];
    if (!handler) return;
    try {
      handler(frame);
    } catch (err) {
      console.error("kefu: could not show a frame", err);
      addNotice("有一条消息无法显示 / A message could not be shown", "error");
    }
  }

  /* ---- the connection ----------------------------------------------------------------- */

  function isOpen() {
    return !!state.ws && state.ws.readyState === WebSocket.OPEN;
  }

  function wsUrl() {
    const q = new URLSearchParams({ channel: "web" });
    if (state.sessionId) q.set("session_id", state.sessionId);
    if (params.get("user_id")) q.set("user_id", params.get("user_id"));
    if (params.get("key")) q.set("key", params.get("key"));
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/v1/ws?" + q.toString();
  }

  function setConn(kind, text) {
    const texts = {
      connecting: "连接中… / Connecting…",
      online: "在线 / Online",
      reconnecting: "已断开，正在重连… / Reconnecting…",
      offline: "已断开 / Offline",
    };
    ui.conn.dataset.state = kind;
    ui.connText.textContent = text || texts[kind];
  }

  function sendFrame(frame) {
    if (isOpen()) {
      state.ws.send(JSON.stringify(frame));
      return;
    }
    state.queue.push(frame);
    reconnectNow(); // a customer is waiting: skip the rest of the backoff
  }

  function flushQueue() {
    while (state.queue.length && isOpen()) {
      const frame = state.queue.shift();
      state.ws.send(JSON.stringify(frame));
      setStatus(frame.client_msg_id, "sending");
    }
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    setConn("connecting");
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (err) {
      console.error("kefu: cannot open the WebSocket", err);
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.addEventListener("open", function () { if (ws === state.ws) onOpen(); });
    ws.addEventListener("message", function (e) { if (ws === state.ws) onMessage(e); });
    ws.addEventListener("close", function (e) { if (ws === state.ws) onDrop(e.code); });
  }

  function onOpen() {
    state.attempt = 0;
    state.awaitingPong = false;
    setConn("online");
    startPing();
    flushQueue();
  }

  function onDrop(code) {
    const ws = state.ws;
    state.ws = null;
    stopPing();
    endStreaming(true);
    markAll("sending", "unconfirmed");
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close();
    if (code === 4401) {
      state.stopped = true;
      setConn("offline", "需要有效的渠道密钥 / A valid channel key is required");
      return;
    }
    scheduleReconnect();
  }

  function backoffDelay(attempt) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempt));
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }

  function scheduleReconnect() {
    const delay = backoffDelay(state.attempt);
    state.attempt += 1;
    const secs = Math.max(1, Math.round(delay / 1000));
    setConn("reconnecting", "已断开，" + secs + " 秒后重连 / Reconnecting in " + secs + "s");
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (state.ws || state.stopped || !state.reconnectTimer) return;
    connect();
  }

  function startPing() {
    stopPing();
    state.pingTimer = setInterval(function () {
      if (!isOpen()) return;
      if (state.awaitingPong) {
        onDrop(1006); // nothing came back since the last ping: the link is dead
        return;
      }
      state.awaitingPong = true;
      state.ws.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
  }

  function stopPing() {
    clearInterval(state.pingTimer);
    state.pingTimer = null;
  }

  /* ---- sending ------------------------------------------------------------------------ */

  function sendText(text) {
    const cmid = nextMsgId();
    addUserMessage(text, cmid);
    sendFrame({ type: "message", text: text, client_msg_id: cmid });
  }

  function sendAction(id, payload, label) {
    const cmid = nextMsgId();
    addUserMessage(label, cmid);
    sendFrame({ type: "action", id: id, payload: payload, client_msg_id: cmid });
  }

  function submitInput() {
    const text = ui.input.value.trim();
    if (!text) return;
    sendText(text.slice(0, MAX_CHARS));
    ui.input.value = "";
    onInput();
    ui.input.focus();
  }

  function onInput() {
    const len = ui.input.value.length;
    ui.counter.hidden = len < MAX_CHARS * 0.9;
    ui.counter.textContent = len + "/" + MAX_CHARS;
    ui.input.style.height = "";
    if (len) ui.input.style.height = Math.min(ui.input.scrollHeight, 140) + "px";
  }

  function onKeyDown(event) {
    if (event.key !== "Enter" || event.shiftKey) return;
    if (event.isComposing || event.keyCode === 229) return; // an IME is choosing characters
    event.preventDefault();
    submitInput();
  }

  /* ---- the session (localStorage + history) ------------------------------------------- */

  function loadSessionId() {
    try {
      return window.localStorage.getItem(STORE_KEY);
    } catch (err) {
      return null;
    }
  }

  function rememberSession(id) {
    state.sessionId = id;
    try {
      window.localStorage.setItem(STORE_KEY, id);
    } catch (err) {
      /* private mode: the session lives as long as the page */
    }
  }

  function forgetSession() {
    state.sessionId = null;
    try {
      window.localStorage.removeItem(STORE_KEY);
    } catch (err) {
      /* nothing stored */
    }
  }

  function historyRow(entry) {
    entry = asObject(entry);
    const role = entry.role === "user" ? "user" : entry.role === "agent" ? "agent" : "bot";
    const lines = display(entry.text).split("\n");
    const cards = [];
    const text = lines.filter(function (line) {
      const m = /^\[([A-Za-z0-9_-]+)\]$/.exec(line.trim());
      if (m) cards.push(m[1]);
      return !m;
    }).join("\n").trim();
    const time = typeof entry.time === "number" ? entry.time * 1000 : undefined;
    const content = el("div", "bubble", text);
    cards.forEach(function (kind) {
      content.appendChild(el("span", "card-ref", CARD_NAMES[kind] || "卡片 / Card: " + kind));
    });
    return makeRow(role, content, time);
  }

  function renderHistory(history) {
    if (!Array.isArray(history) || !history.length) return;
    const frag = document.createDocumentFragment();
    history.forEach(function (entry) { frag.appendChild(historyRow(entry)); });
    const divider = el("div", "notice notice-divider", "以上为历史消息 / Earlier messages");
    frag.appendChild(divider);
    ui.messages.insertBefore(frag, ui.messages.firstChild);
    scrollToEnd();
  }

  function sessionUrl(id) {
    const url = "/v1/sessions/" + encodeURIComponent(id);
    if (params.get("user_id")) url += "?user_id=" + encodeURIComponent(params.get("user_id"));
    return url;
  }

  async function restoreHistory() {
    const headers = { Accept: "application/json" };
    if (params.get("key")) headers["X-Kefu-Key"] = params.get("key");
    let res;
    try {
      res = await fetch(sessionUrl(state.sessionId), { headers: headers, cache: "no-store" });
    } catch (err) {
      addNotice("暂时无法加载历史消息 / Could not load earlier messages");
      return;
    }
    if (res.status === 404 || res.status === 403 || res.status === 422) {
      forgetSession();
      addNotice("之前的会话已结束，将为您开始新的会话 / Starting a new conversation");
      return;
    }
    if (!res.ok) {
      addNotice("暂时无法加载历史消息 / Could not load earlier messages");
      return;
    }
    const body = await res.json().catch(function () { return null; });
    renderHistory(asObject(body).history);
  }

  /* ---- boot --------------------------------------------------------------------------- */

  function bindUi() {
    ui.messages = document.getElementById("messages");
    ui.input = document.getElementById("input");
    ui.form = document.getElementById("composer");
    ui.conn = document.getElementById("conn");
    ui.connText = document.getElementById("conn-text");
    ui.counter = document.getElementById("counter");
    ui.input.maxLength = MAX_CHARS;
    ui.form.addEventListener("submit", function (e) { e.preventDefault(); submitInput(); });
    ui.input.addEventListener("keydown", onKeyDown);
    ui.input.addEventListener("input", onInput);
    window.addEventListener("online", reconnectNow);
  }

  function welcome() {
    if (state.sessionId || ui.messages.children.length) return;
    addNotice("您好！请直接输入您的问题，例如「查订单」。 / Hi! Ask us anything, e.g. “order status”.");
  }

  async function boot() {
    bindUi();
    if (state.sessionId) await restoreHistory();
    welcome();
    connect();
  }

  boot();
})();
