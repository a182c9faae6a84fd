// abdm-sandbox console: what every panel shares. The page is a client of the sandbox's control
// API (/_sandbox/...) and follows its journal through the events stream (/_sandbox/events).
// Panels (journal.js, patient.js, transfers.js, tools.js) register themselves with SBX.panel().
"use strict";

const SBX = (() => {
  // Inside a workspace (/w/{name}/_sandbox/ui) every call goes to that workspace.
  const BASE = (/^\/w\/[A-Za-z0-9_-]{1,64}(?=\/)/.exec(location.pathname) || [""])[0];
  /** A sandbox path as this page reaches it. */
  const url = (path) => BASE + path;
  const panels = {};
  const listeners = { journal: [], known: [], patient: [], reset: [] };
  const state = {
    fixtures: null,
    entries: [],           // journal entries, oldest first
    maxEntries: 5000,
    transactionIds: new Set(),
    consentIds: new Set(),
    transfers: new Map(),  // transactionId -> outcome
    consents: new Map(),   // consentId -> outcome
    clockOffset: 0,        // virtual time minus this browser's time, in ms
    current: null,
    said: [],              // the messages shown, newest last (for a tester reading the page's state)
  };

  // ---- DOM --------------------------------------------------------------------------------
  /** h("tag.class#id", {attr: value, onclick: fn}, child, ...): an element. */
  function h(spec, attrs, ...children) {
    const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
    const el = document.createElement(m[1] || "div");
    (m[2] || "").replace(/([.#])([\w-]+)/g, (_, kind, name) => {
      if (kind === ".") el.classList.add(name); else el.id = name;
      return "";
    });
    if (attrs !== null && attrs !== undefined && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
      children.unshift(attrs);
      attrs = null;
    }
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function fill(el, ...children) {
    if (typeof el === "string") el = document.getElementById(el);
    el.replaceChildren();
    return append(el, children);
  }
  const $ = (id) => document.getElementById(id);

  /** How to find an element again after its container is drawn anew. */
  function selector(el) {
    if (!el || el === document.body) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    for (const a of el.attributes) if (a.name.startsWith("data-")) return el.tagName.toLowerCase() + "[" + a.name + '="' + CSS.escape(a.value) + '"]';
    return null;
  }
  const drawn = new Map();
  /** Draws `build()` into the container `id` only when `data` changed since it was last drawn
   * there, keeping the focus on the same control, so live updates neither flicker nor move a
   * keyboard user. */
  function redraw(id, data, build) {
    const key = JSON.stringify(data);
    if (drawn.get(id) === key) return false;
    drawn.set(id, key);
    const box = $(id);
    if (!box) return false;
    const active = box.contains(document.activeElement) ? selector(document.activeElement) : null;
    fill(box, build());
    if (active) { const again = box.querySelector(active); if (again) again.focus({ preventScroll: true }); }
    return true;
  }

  function badge(text, kind) { return h("span.badge" + (kind ? "." + kind : ""), text); }
  function yesNo(v, yes, no) {
    if (v === true) return badge(yes || "yes", "ok");
    if (v === false) return badge(no || "no", "bad");
    return badge("pending", "warn");
  }
  function facts(pairs) {
    const none = (v) => v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length);
    return h("dl.facts", pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", k), h("dd", none(v) ? "—" : v)]));
  }
  function problems(list) {
    return h("ul.problems", (list || []).filter(Boolean).map((p) => h("li", typeof p === "string" ? p : JSON.stringify(p))));
  }
  function pretty(v) { return v === null || v === undefined ? "(no body)" : typeof v === "string" ? v : JSON.stringify(v, null, 2); }
  function short(id) { return id ? String(id).slice(0, 8) : "—"; }
  function time(iso) { return iso ? String(iso).replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "—"; }

  // ---- messages ---------------------------------------------------------------------------
  function toast(text, bad) {
    state.said.push((bad ? "error: " : "") + text);
    if (state.said.length > 50) state.said.shift();
    const t = h("div.toast" + (bad ? ".bad" : ""), { role: bad ? "alert" : null }, text);
    $("toasts").append(t);
    setTimeout(() => t.remove(), bad ? 7000 : 2500);
  }

  // ---- the control API --------------------------------------------------------------------
  /** A call to the sandbox: resolves to {ok, status, body}; never rejects. */
  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const res = await fetch(url(path), init);
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = text; }
      return { ok: res.ok, status: res.status, body: json };
    } catch (e) {
      return { ok: false, status: 0, body: { message: "the sandbox did not answer (" + e.message + ")" } };
    }
  }
  /** The error message of a refused call, for people. */
  function why(r) {
    const b = r.body || {};
    return (b.message || (typeof b === "string" ? b : "")) + (r.status ? " (HTTP " + r.status + ")" : "");
  }
  /** Calls and says the refusal in a toast; resolves to the body, or null when refused. */
  async function act(method, path, body, done) {
    const r = await api(method, path, body);
    if (!r.ok) { toast(why(r), true); return null; }
    if (done) toast(done);
    return r.body === null ? {} : r.body;
  }

  // ---- clipboard --------------------------------------------------------------------------
  function copyText(text) {
    const fallback = () => {
      const area = h("textarea", { readonly: true, "aria-hidden": "true" }, text);
      area.style.position = "fixed"; area.style.opacity = "0";
      document.body.append(area);
      area.select();
      let done = false;
      try { done = document.execCommand("copy"); } catch (_) { done = false; }
      area.remove();
      toast(done ? "Copied " + text : "Select and copy: " + text);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => toast("Copied " + text), fallback);
    } else fallback();
  }
  function copy(text, label) {
    if (text === null || text === undefined || text === "") return null;
    return h("button.copy", { type: "button", "aria-label": "Copy " + (label || text), "data-copy": text, onclick: () => copyText(String(text)) }, "copy");
  }
  function withCopy(text, label) {
    if (text === null || text === undefined || text === "") return "—";
    return h("span", h("span.mono", text), copy(text, label));
  }

  // ---- events -----------------------------------------------------------------------------
  function on(kind, fn) { listeners[kind].push(fn); }
  function emit(kind, arg) { for (const fn of listeners[kind]) { try { fn(arg); } catch (e) { toast("console: " + e.message, true); } } }
  function debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  }

  // ---- ids seen in the journal: consents and transfers ------------------------------------
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  function collect(value, keys, into) {
    if (Array.isArray(value)) { value.forEach((v) => collect(v, keys, into)); return; }
    if (!value || typeof value !== "object") return;
    for (const [k, v] of Object.entries(value)) {
      if (keys.includes(k) && typeof v === "string" && UUID.test(v)) into.add(v.toLowerCase());
      if (k === "consentArtefacts" && Array.isArray(v)) {
        v.forEach((a) => { const id = typeof a === "string" ? a : a && a.id; if (id && UUID.test(id)) into.add(id.toLowerCase()); });
      }
      collect(v, keys, into);
    }
  }
  function noteIds(entry) {
    const path = entry.path || "";
    let grew = false;
    const before = state.transactionIds.size + state.consentIds.size;
    if (/health-information|data-flow|data-push/i.test(path)) {
      const push = /\/data-push\/([0-9a-f-]{36})/i.exec(path);
      if (push) state.transactionIds.add(push[1].toLowerCase());
      collect(entry.requestBody, ["transactionId"], state.transactionIds);
      collect(entry.responseBody, ["transactionId"], state.transactionIds);
    }
    if (/consent|health-information|data-flow/i.test(path)) {
      collect(entry.requestBody, ["consentId"], state.consentIds);
      collect(entry.responseBody, ["consentId"], state.consentIds);
    }
    grew = state.transactionIds.size + state.consentIds.size > before;
    return grew;
  }
  /** Remembers an id the page itself created. */
  function know(kind, id) {
    if (!id) return;
    (kind === "transfer" ? state.transactionIds : state.consentIds).add(String(id).toLowerCase());
    lookup();
  }
  let looking = false, lookAgain = false;
  async function lookupNow() {
    if (looking) { lookAgain = true; return; }
    looking = true;
    const r = await api("POST", "/_sandbox/ui/lookup", {
      transactionIds: [...state.transactionIds], consentIds: [...state.consentIds],
    });
    looking = false;
    if (r.ok && r.body) {
      state.transfers = new Map((r.body.transfers || []).map((t) => [t.transactionId, t]));
      state.consents = new Map((r.body.consents || []).map((c) => [c.consentId, c]));
      const n = state.transfers.size;
      fill("transfers-count", n ? String(n) : "");
      emit("known");
    }
    if (lookAgain) { lookAgain = false; lookupNow(); }
  }
  const lookup = debounce(lookupNow, 300);

  // ---- the events stream ------------------------------------------------------------------
  function connect() {
    const live = $("live");
    const source = new EventSource(url("/_sandbox/events"));
    source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
    source.addEventListener("journal", (ev) => {
      let entry;
      try { entry = JSON.parse(ev.data); } catch (_) { return; }
      state.entries.push(entry);
      if (state.entries.length > state.maxEntries) state.entries.splice(0, state.entries.length - state.maxEntries);
      if (noteIds(entry)) lookup();
      else if (/health-information|data-flow|data-push|consent/i.test(entry.path || "")) lookup();
      emit("journal", entry);
    });
  }

  // ---- the virtual clock ------------------------------------------------------------------
  async function syncClock() {
    const r = await api("GET", "/_sandbox/clock");
    if (r.ok && r.body && r.body.now) {
      state.clockOffset = Date.parse(r.body.now) - Date.now();
      state.offsetSeconds = r.body.offsetSeconds;
      tick();
    }
  }
  function virtualNow() { return new Date(Date.now() + state.clockOffset); }
  function tick() {
    const now = virtualNow().toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    const ahead = state.offsetSeconds ? " (+" + Math.round(state.offsetSeconds) + " s)" : "";
    $("clock-now").textContent = now + ahead;
  }

  // ---- panels and navigation --------------------------------------------------------------
  function panel(name, def) { panels[name] = def; }
  function show(name, focus) {
    if (!panels[name] && !$("panel-" + name)) name = "journal";
    for (const sec of document.querySelectorAll("main > section.panel")) sec.hidden = sec.id !== "panel-" + name;
    for (const a of document.querySelectorAll(".tabs a")) {
      if (a.dataset.panel === name) {
        a.setAttribute("aria-current", "page");
        // On a phone the tabs scroll sideways: keep the current one in sight.
        a.scrollIntoView({ block: "nearest", inline: "nearest" });
      } else a.removeAttribute("aria-current");
    }
    state.current = name;
    const def = panels[name];
    if (def && def.show) def.show();
    if (focus) { window.scrollTo(0, 0); $("main").focus({ preventScroll: true }); }
    document.title = (document.querySelector("#panel-" + name + " h2") || {}).textContent + " · abdm-sandbox";
  }
  function route(focus) { show((location.hash || "#journal").slice(1), focus); }

  // ---- the patient ------------------------------------------------------------------------
  function people() { return (state.fixtures && state.fixtures.people) || []; }
  function patient() {
    const v = $("patient").value;
    return people().flatMap((p) => p.abhaAddresses.map((a) => ({ person: p, address: a }))).find((x) => x.address === v) || null;
  }
  function hips() { return ((state.fixtures && state.fixtures.facilities) || []).filter((f) => (f.roles || []).includes("HIP")); }
  function facility(id) { return ((state.fixtures && state.fixtures.facilities) || []).find((f) => f.hipId === id); }

  // ---- identities -------------------------------------------------------------------------
  function renderIdentities() {
    const f = state.fixtures;
    if (!f) return;
    const people = h("div.scroll", h("table", h("thead", h("tr", ["name", "Aadhaar", "mobile", "OTP", "ABHA number", "ABHA addresses", "consent decision", "records"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", f.people.map((p) => h("tr",
        h("td", p.name, h("div.muted", p.gender + ", born " + [p.dayOfBirth, p.monthOfBirth, p.yearOfBirth].filter(Boolean).join("-"))),
        h("td", withCopy(p.aadhaar, p.name + "'s Aadhaar")),
        h("td", withCopy(p.mobile, p.name + "'s mobile")),
        h("td", withCopy(p.otp, p.name + "'s OTP")),
        h("td", p.abhaNumber ? withCopy(p.abhaNumber, p.name + "'s ABHA number") : h("span.muted", "none yet")),
        h("td", p.abhaAddresses.length ? p.abhaAddresses.map((a) => h("div", withCopy(a, a))) : h("span.muted", "none yet")),
        h("td", p.consentDecision || "—"),
        h("td", (p.records || []).length ? (p.records || []).map((r) => h("div.nowrap", h("span.mono", r.careContextReference), " ", h("span.muted", r.hiType + " at " + r.hipId))) : "—"))))));
    const pros = h("div.scroll", h("table", h("thead", h("tr", ["name", "Aadhaar", "Aadhaar-linked mobile", "mobile given", "OTP", "HPR account"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", f.professionals.map((p) => h("tr",
        h("td", p.name),
        h("td", withCopy(p.aadhaar, p.name + "'s Aadhaar")),
        h("td", withCopy(p.aadhaarMobile, "Aadhaar-linked mobile")),
        h("td", withCopy(p.mobile, "mobile")),
        h("td", withCopy(p.otp, p.name + "'s OTP")),
        h("td", p.hprId ? h("span", withCopy(p.hprId, p.hprId), h("div.muted", p.hprIdNumber || "")) : h("span.muted", "none yet")))))));
    const facs = h("div.scroll", h("table", h("thead", h("tr", ["facility", "HIP/HIU id", "roles", "counters", "gateway client id", "client secret"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", f.facilities.map((x) => h("tr",
        h("td", x.name),
        h("td", withCopy(x.hipId, x.hipId)),
        h("td", (x.roles || []).join(", ")),
        h("td", (x.counters || []).join(", ") || "—"),
        h("td", withCopy(x.clientId, x.clientId)),
        h("td", withCopy(x.clientSecret, x.name + "'s client secret")))))));
    const keys = (f.carestack && f.carestack.apiKeys) || [];
    fill("identities-view",
      h("h3", "People (ABHA)"), people,
      h("h3", "Healthcare professionals (HPR)"), pros,
      h("h3", "Facilities"), facs,
      h("h3", "Carestack API"),
      h("p", "API keys (Authorization: Bearer <key>): ", keys.map((k) => withCopy(k, "API key"))));
  }

  // ---- OTP inbox --------------------------------------------------------------------------
  let outboxSeen = 0;
  async function refreshOutbox() {
    const r = await api("GET", "/_sandbox/outbox");
    if (!r.ok || !Array.isArray(r.body)) return;
    const sent = r.body.slice().reverse();
    fill("otp-count", sent.length ? String(sent.length) : "");
    const fresh = sent.length - outboxSeen;
    outboxSeen = sent.length;
    redraw("otp-list", sent, () => sent.length ? sent.map((m, i) => h("div.card.otp" + (i < fresh ? ".fresh" : ""), { "data-txn": m.txnId },
      h("span.code", { "aria-label": "OTP " + m.otp.split("").join(" ") }, m.otp), copy(m.otp, "OTP " + m.otp),
      facts([["to", m.to], ["purpose", m.purpose], ["sent", time(m.at)], ["transaction", h("span.mono", m.txnId)]]))) :
      h("p.muted", "No OTP sent yet. Start an HPR registration, an ABHA enrolment or a PHR address flow, and its OTPs appear here."));
  }
  const outboxSoon = debounce(refreshOutbox, 250);

  // ---- start ------------------------------------------------------------------------------
  async function start() {
    if (BASE) $("live").title = "workspace " + BASE.slice(3);
    const r = await api("GET", "/_sandbox/fixtures");
    state.fixtures = r.ok ? r.body : { people: [], professionals: [], facilities: [], carestack: {} };
    const select = $("patient");
    fill(select, people().filter((p) => p.abhaAddresses.length).flatMap((p) =>
      p.abhaAddresses.map((a) => h("option", { value: a }, p.name + " (" + a + ")"))));
    const saved = localStorage.getItem("sbx.patient");
    if (saved && [...select.options].some((o) => o.value === saved)) select.value = saved;
    select.addEventListener("change", () => { localStorage.setItem("sbx.patient", select.value); emit("patient", patient()); });
    renderIdentities();
    for (const def of Object.values(panels)) if (def.init) def.init();
    on("journal", () => outboxSoon());
    window.addEventListener("hashchange", () => route(true));
    route(false);
    connect();
    refreshOutbox();
    syncClock();
    setInterval(tick, 1000);
    setInterval(syncClock, 30000);
    setInterval(refreshOutbox, 5000);
    emit("patient", patient());
    document.body.dataset.ready = "true";
  }

  /** After a reset: forget what the page had seen. */
  function forget() {
    state.entries = [];
    state.transactionIds.clear();
    state.consentIds.clear();
    state.transfers.clear();
    state.consents.clear();
    outboxSeen = 0;
    fill("transfers-count", "");
    emit("reset");
    emit("known");
    refreshOutbox();
    syncClock();
  }

  document.addEventListener("DOMContentLoaded", start);

  return {
    state, url, h, fill, redraw, append, $, badge, yesNo, facts, problems, pretty, short, time, toast, api, act, why,
    copy, withCopy, on, emit, debounce, panel, show, patient, hips, facility, people, know, lookup,
    syncClock, virtualNow, refreshOutbox, renderIdentities, forget,
  };
})();
