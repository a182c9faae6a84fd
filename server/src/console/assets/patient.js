// The patient's phone: scanning a HIP counter's QR code (a profile share), and the PHR app
// (discover and link records, what is linked, HIUs' consent requests, consents).
"use strict";

(() => {
  const { h, fill, $, api, act, badge, yesNo, facts, problems, short, time, state } = SBX;

  // ---- Scan a QR --------------------------------------------------------------------------
  /** What a HIP prints at a counter: v0.5's JSON, and v3's share-profile URL. */
  function payloads(hipId, counter) {
    return [
      ["v0.5", JSON.stringify({ hipId, code: counter })],
      ["v3", "https://phrsbx.abdm.gov.in/share-profile?hip-id=" + encodeURIComponent(hipId) + "&counter-id=" + encodeURIComponent(counter)],
    ];
  }
  /** What the PHR app reads from a scanned code: {hipId, code}. */
  function read(payload) {
    if (payload.startsWith("{")) {
      const v = JSON.parse(payload);
      return { hipId: v.hipId, code: v.code };
    }
    const url = new URL(payload);
    return { hipId: url.searchParams.get("hip-id"), code: url.searchParams.get("counter-id") };
  }

  const scans = [];   // newest first: {requestId, hipId, code, address, form, outcome, error}

  function renderCounters() {
    const cards = SBX.hips().flatMap((f) => (f.counters || []).map((counter) =>
      h("article.card", { "data-counter": f.hipId + "/" + counter },
        h("h3", f.name + " · counter " + counter),
        h("p.muted", "HIP " + f.hipId),
        payloads(f.hipId, counter).map(([form, text]) => h("figure.qr", { "data-form": form, "data-payload": text },
          h("img", { src: SBX.url("/_sandbox/ui/qr.svg?text=") + encodeURIComponent(text), width: 180, height: 180,
            alt: "QR code (" + form + ") holding " + text }),
          h("figcaption", h("b", form === "v3" ? "v3 share-profile URL" : "v0.5 JSON"), h("code", text),
            h("button", { type: "button", "data-scan": f.hipId + "/" + counter + "/" + form,
              onclick: () => scan(text, form) }, "Scan as the patient")))))));
    fill("counters", cards.length ? cards : h("p.muted", "No facility with the HIP role has a counter in the fixtures."));
  }

  async function scan(payload, form) {
    const who = SBX.patient();
    if (!who) { SBX.toast("Choose a patient first (top right).", true); return; }
    let qr;
    try { qr = read(payload); } catch (e) { SBX.toast("The QR code does not read: " + e.message, true); return; }
    const body = { hipId: qr.hipId, code: qr.code, abhaAddress: who.address };
    const version = $("scan-version").value;
    if (version) body.version = version;
    const item = { hipId: qr.hipId, code: qr.code, address: who.address, form, outcome: null, error: null, started: Date.now() };
    scans.unshift(item);
    const r = await api("POST", "/_sandbox/share-profile", body);
    if (!r.ok) item.error = SBX.why(r);
    else item.requestId = r.body.requestId;
    renderScans();
    if (item.requestId) follow(item);
  }

  async function follow(item) {
    for (let i = 0; i < 80; i++) {
      const r = await api("GET", "/_sandbox/share-profile/" + item.requestId);
      if (r.ok) { item.outcome = r.body; renderScans(); }
      const o = item.outcome;
      const settled = o && (o.onShare || (o.delivered === false && o.attempts >= 3) || o.deliveryError);
      if (settled || Date.now() - item.started > 40000) break;
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  function renderScans() {
    const shown = scans.slice(0, 6);
    SBX.redraw("scans", shown.map((s) => [s.requestId, s.error, s.outcome]), () => shown.map((s) => {
      const o = s.outcome || {};
      const on = o.onShare;
      return h("article.card.scan", { "data-request": s.requestId || "" },
        h("h4", "Scan of " + s.hipId + " / " + s.code + " (" + s.form + " code) as " + s.address),
        s.error ? h("p.error", s.error) : facts([
          ["request id", h("span.mono", s.requestId)],
          ["delivered to the HIP", o.delivered === undefined || o.delivered === null ? badge("sending", "warn") :
            h("span", yesNo(o.delivered, "delivered", "not delivered"), " ", o.hipStatus ? "HTTP " + o.hipStatus : o.deliveryError || "")],
          ["version", o.version],
          ["the HIP's answer (on-share)", on ? h("span", badge(on.status || "?", on.status === "SUCCESS" ? "ok" : "bad"), on.error ? " " + JSON.stringify(on.error) : "") : badge("waiting", "warn")],
          ["on-share matched", on ? yesNo(on.matched, "matched", "did not match") : "—"],
          ["token number", on && on.tokenNumber ? h("b.mono.token", on.tokenNumber) : "—"],
          ["within 30 s", on ? yesNo(on.withinDeadline) : "—"],
        ]),
        problems(on && on.problems));
    }));
  }

  // ---- Patient app ------------------------------------------------------------------------
  let discovery = null;      // the discovery under way: {transactionId, outcome}
  let requestsOf = null;

  function skeleton() {
    const hipOptions = () => SBX.hips().map((f) => h("option", { value: f.hipId }, f.name + " (" + f.hipId + ")"));
    fill("patient-view",
      h("div.card",
        h("h3", "Find and link records at a HIP"),
        h("div.row",
          h("label", "HIP", h("select#pa-hip", hipOptions())),
          h("label", "Speaks", h("select#pa-version", h("option", { value: "" }, "as registered"), h("option", { value: "v0.5" }, "v0.5"), h("option", { value: "v3" }, "v3"))),
          h("button#pa-discover", { type: "button", onclick: discover }, "Discover my records")),
        h("div#pa-discovery")),
      h("div.card", h("h3", "Linked records"), h("div#pa-links")),
      h("div.card", h("h3", "Consent requests from HIUs"), h("div#pa-requests")),
      h("div.card",
        h("h3", "Consents"),
        h("div#pa-consents"),
        h("h4", "Grant a consent to the sandbox HIU"),
        h("p.muted", "Over every record linked at the HIP; the HIP gets the GRANTED notify, and the sandbox HIU can then ask it for the data."),
        h("div.row",
          h("label", "HIP", h("select#pa-grant-hip", hipOptions())),
          h("button#pa-grant", { type: "button", onclick: grantToSandbox }, "Grant"))));
  }

  async function discover() {
    const who = SBX.patient();
    if (!who) return;
    const body = { hipId: $("pa-hip").value, abhaAddress: who.address };
    if ($("pa-version").value) body.version = $("pa-version").value;
    const out = await act("POST", "/_sandbox/discover", body);
    if (!out) return;
    discovery = { transactionId: out.transactionId, outcome: null, address: who.address };
    renderDiscovery();
    followDiscovery();
  }

  async function followDiscovery() {
    const d = discovery;
    for (let i = 0; d && d === discovery && i < 40; i++) {
      const r = await api("GET", "/_sandbox/discover/" + d.transactionId);
      if (r.ok) { d.outcome = r.body; renderDiscovery(); }
      const st = (d.outcome && d.outcome.status) || "";
      if (!/waiting|sent/i.test(st)) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    refreshLinks();
  }

  function renderDiscovery() {
    const d = discovery;
    if (!d) { SBX.redraw("pa-discovery", null, () => []); return; }
    const o = d.outcome || {};
    const linked = new Set(o.linked || []);
    const contexts = (o.patients || []).flatMap((p) => (p.careContexts || []).map((c) => ({ patient: p, c })));
    const steps = (o.steps || []).map((s) => h("li", h("b", s.step), " — ",
      yesNo(s.delivery ? s.delivery.delivered : null, "delivered", "not delivered"),
      s.delivery && s.delivery.hipStatus ? " HTTP " + s.delivery.hipStatus : "", " · ",
      s.answered ? yesNo(s.matched, "answer matched", "answer did not match") : badge("no answer yet", "warn"),
      problems(s.problems)));
    const otpHint = o.linkReferenceNumber ? "The HIP sent an OTP to the patient (" +
      (((o.steps || []).find((s) => s.step === "link-init") || {}).answer || {}).link?.meta?.communicationHint + "); type it here." : "";
    // What the patient chose and typed so far stays when the outcome is drawn anew.
    const was = new Map([...document.querySelectorAll("#pa-discovery input[data-context]")].map((i) => [i.value, i.checked]));
    const typed = $("pa-otp") ? $("pa-otp").value : "";
    SBX.redraw("pa-discovery", [d.transactionId, o], () => [
      facts([["transaction", h("span.mono", d.transactionId)], ["status", h("b#pa-status", o.status || "sending")]]),
      h("ol.steps", steps),
      problems(o.problems),
      contexts.length ? h("fieldset", h("legend", "Care contexts the HIP found"),
        h("ul.contexts", contexts.map(({ patient, c }) => h("li", h("label.inline",
          h("input", { type: "checkbox", value: c.referenceNumber, checked: was.has(c.referenceNumber) ? was.get(c.referenceNumber) && !linked.has(c.referenceNumber) : !linked.has(c.referenceNumber), disabled: linked.has(c.referenceNumber), "data-context": c.referenceNumber }),
          " ", h("span.mono", c.referenceNumber), " ", c.display || "", " ", h("span.muted", "(" + (patient.display || patient.referenceNumber || "") + ")"),
          linked.has(c.referenceNumber) ? badge("linked", "ok") : null))))) : null,
      contexts.length && !o.linkReferenceNumber ? h("button#pa-link", { type: "button", onclick: link }, "Link the chosen records") : null,
      o.linkReferenceNumber && !(o.linked || []).length ? h("div.row",
        h("label", "OTP the HIP sent", h("input#pa-otp", { inputmode: "numeric", autocomplete: "one-time-code", size: 8, value: typed })),
        h("button#pa-confirm", { type: "button", onclick: confirm }, "Confirm"),
        h("span.muted", otpHint)) : null]);
  }

  async function link() {
    const d = discovery;
    const chosen = [...document.querySelectorAll("#pa-discovery input[data-context]:checked")].map((i) => i.value);
    if (!chosen.length) { SBX.toast("Choose a care context to link.", true); return; }
    if (await act("POST", "/_sandbox/discover/" + d.transactionId + "/link", { careContexts: chosen })) followDiscovery();
  }

  async function confirm() {
    const d = discovery;
    const token = $("pa-otp").value.trim();
    if (!token) { SBX.toast("Type the OTP the HIP sent.", true); return; }
    if (await act("POST", "/_sandbox/discover/" + d.transactionId + "/confirm", { token })) followDiscovery();
  }

  async function refreshLinks() {
    const who = SBX.patient();
    if (!who || !$("pa-links")) return;
    const r = await api("GET", "/_sandbox/links?abhaAddress=" + encodeURIComponent(who.address));
    if (!r.ok) return;
    const links = r.body.links || [];
    SBX.redraw("pa-links", links, () => links.length ? links.map((l) => h("div",
      h("b", (SBX.facility(l.hipId) || {}).name || l.hipId), " ", h("span.muted", l.hipId),
      h("ul.contexts", l.careContexts.map((c) => h("li.mono", c))))) :
      h("p.muted", "Nothing linked yet: discover records at a HIP, or scan a HIP's QR code at its counter."));
  }

  async function refreshRequests() {
    const who = SBX.patient();
    if (!who || !$("pa-requests")) return;
    const r = await api("GET", "/_sandbox/consent-requests?patient=" + encodeURIComponent(who.address));
    if (!r.ok) return;
    requestsOf = r.body.consentRequests || [];
    const list = requestsOf.slice().sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
    SBX.redraw("pa-requests", list, () => list.length ? list.map((c) => h("article.card", { "data-consent-request": c.consentRequestId },
      h("h4", "From HIU " + c.hiuId + " ", badge(c.status, c.status === "GRANTED" ? "ok" : c.status === "REQUESTED" ? "warn" : "bad")),
      facts([
        ["request", h("span.mono", c.consentRequestId)],
        ["asked", time(c.createdAt)],
        ["health information", (c.hiTypes || []).join(", ")],
        ["dates", c.dateRange ? time(c.dateRange.from) + " to " + time(c.dateRange.to) : "—"],
        ["scripted decision", c.decision],
        ["artefacts", (c.artefacts || []).map((a) => h("div", h("span.mono", short(a.consentId)), " at ", a.hipId, " ", badge(a.status)))],
      ]),
      problems(c.problems),
      c.status === "REQUESTED" ? h("div.row",
        h("button", { type: "button", "data-approve": c.consentRequestId, onclick: () => decide(c.consentRequestId, "grant") }, "Approve"),
        h("button.danger", { type: "button", "data-deny": c.consentRequestId, onclick: () => decide(c.consentRequestId, "deny") }, "Deny")) : null)) :
      h("p.muted", "No HIU has asked for this patient's records."));
    // Artefacts the HIUs got are the patient's consents too.
    const fresh = requestsOf.flatMap((c) => (c.artefacts || []).map((a) => a.consentId)).filter((id) => !state.consentIds.has(id));
    for (const id of fresh) state.consentIds.add(id);
    if (fresh.length) SBX.lookup();
    renderConsents();
  }

  async function decide(id, how) {
    const out = await act("POST", "/_sandbox/consent-requests/" + id + "/" + how, undefined, how === "grant" ? "Approved" : "Denied");
    if (out) { for (const a of out.consentArtefacts || []) SBX.know("consent", a); refreshRequests(); }
  }

  function renderConsents() {
    const who = SBX.patient();
    if (!who || !$("pa-consents")) return;
    const mine = [...state.consents.values()].filter((c) =>
      c.abhaAddress === who.address || (c.consentDetail && c.consentDetail.patient && c.consentDetail.patient.id === who.address));
    mine.sort((a, b) => String((b.consentDetail || {}).createdAt).localeCompare(String((a.consentDetail || {}).createdAt)));
    SBX.redraw("pa-consents", [who.address, mine], () => mine.length ? mine.map((c) => {
      const d = c.consentDetail || {};
      const toHiu = c.hiuId || (d.hiu && d.hiu.id);
      return h("article.card", { "data-consent": c.consentId },
        h("h4", (toHiu ? "To HIU " + toHiu : "To the sandbox HIU") + ", from " + (c.hipId || (d.hip && d.hip.id)) + " ",
          badge(c.status, c.status === "GRANTED" ? "ok" : "bad")),
        facts([
          ["consent", h("span.mono", c.consentId)],
          ["health information", (d.hiTypes || c.hiTypes || []).join(", ")],
          ["care contexts", (d.careContexts || []).map((x) => x.careContextReference).join(", ")],
          ["dates", d.permission ? time(d.permission.dateRange.from) + " to " + time(d.permission.dateRange.to) : "—"],
          ["erased at", d.permission ? time(d.permission.dataEraseAt) : time(c.dataEraseAt)],
        ]),
        c.status === "GRANTED" ? h("div.row",
          h("button.danger", { type: "button", "data-revoke": c.consentId, onclick: () => end(c.consentId, "revoke") }, "Revoke"),
          h("button.quiet", { type: "button", "data-expire": c.consentId, onclick: () => end(c.consentId, "expire") }, "Let it expire"),
          toHiu ? null : h("button.quiet", { type: "button", "data-fetch": c.consentId, onclick: () => requestData(c.consentId) }, "Request the data (sandbox HIU)")) : null);
    }) : h("p.muted", "No consent seen for this patient yet."));
  }

  async function end(id, how) {
    if (await act("POST", "/_sandbox/consents/" + id + "/" + how, undefined, how === "revoke" ? "Revoked" : "Expired")) {
      SBX.know("consent", id);
      setTimeout(refreshRequests, 400);
    }
  }

  async function grantToSandbox() {
    const who = SBX.patient();
    if (!who) return;
    const out = await act("POST", "/_sandbox/consents", { hipId: $("pa-grant-hip").value, abhaAddress: who.address }, "Consent granted");
    if (out) SBX.know("consent", out.consentId);
  }

  async function requestData(consentId) {
    const out = await act("POST", "/_sandbox/health-information/requests", { consentId }, "Health information requested: see Transfers");
    if (out) SBX.know("transfer", out.transactionId);
  }

  function refreshAll() { refreshLinks(); refreshRequests(); renderConsents(); }
  const soon = SBX.debounce(() => { if (state.current === "patient-app") { refreshAll(); if (discovery) followDiscovery(); } }, 400);

  SBX.panel("scan", { init() { renderCounters(); }, show() { renderScans(); } });
  SBX.panel("patient-app", {
    init() {
      skeleton();
      SBX.on("patient", () => { discovery = null; renderDiscovery(); refreshAll(); });
      SBX.on("known", renderConsents);
      SBX.on("journal", soon);
      SBX.on("reset", () => { discovery = null; scans.length = 0; renderScans(); renderDiscovery(); refreshAll(); });
    },
    show() { refreshAll(); },
  });
  SBX.qrPayloads = payloads;
})();
