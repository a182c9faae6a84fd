// The tester's controls: the virtual clock, scripted faults, reset, and the conformance runner.
"use strict";

(() => {
  const { h, fill, $, api, act, badge, facts, time, state } = SBX;

  // ---- clock, faults, reset ---------------------------------------------------------------
  const STEPS = [["+1 min", 60], ["+10 min", 600], ["+1 hour", 3600], ["+1 day", 86400], ["+31 days", 31 * 86400]];
  const EXAMPLE = '{"faults": [{"path": "/v0.5/patients/profile/share", "delaySeconds": 31}]}';

  function skeleton() {
    fill("tools-view",
      h("div.card",
        h("h3", "Virtual clock"),
        h("p.muted", "OTP expiry, resend limits, consent expiry and callback deadlines follow this clock; moving it on tests them without waiting."),
        h("p", "Now: ", h("b#tools-now.mono", "…")),
        h("div.row", STEPS.map(([label, s]) => h("button.quiet", { type: "button", "data-advance": s, onclick: () => advance(s) }, label)),
          h("label", "Seconds", h("input#advance-seconds", { type: "number", min: 0, step: 1, value: "90", size: 8 })),
          h("button#advance", { type: "button", onclick: () => advance(Number($("advance-seconds").value)) }, "Advance"))),
      h("div.card",
        h("h3", "Scripted faults"),
        h("p.muted", "Each fault names a path: callbacks the sandbox sends to it are delayed (delaySeconds), dropped or duplicated; calls to it are answered with a status; pushes to an HIU's dataPushUrl path have one entry corrupted. Example: ", h("code", EXAMPLE)),
        h("div#faults-now"),
        h("label", "Faults (JSON)", h("textarea#faults-text", { spellcheck: "false", rows: 8 })),
        h("div.row",
          h("button#faults-save", { type: "button", onclick: saveFaults }, "Save faults"),
          h("button.quiet", { type: "button", onclick: () => { $("faults-text").value = '{"faults": []}'; saveFaults(); } }, "Clear faults")),
        h("p#faults-error.error", { role: "alert" })),
      h("div.card",
        h("h3", "Reset"),
        h("p.muted", "Forgets transactions, created accounts, bridges, links, consents, the journal and the outbox; virtual time back to real time. The fixtures stay."),
        h("div#health"),
        h("div.row#reset-row", h("button.danger#reset", { type: "button", onclick: askReset }, "Reset the sandbox…"))));
  }

  async function advance(seconds) {
    if (!(seconds >= 0)) { SBX.toast("Seconds must be a number, 0 or more.", true); return; }
    const out = await act("POST", "/_sandbox/clock/advance", { seconds }, "Clock moved on " + seconds + " s");
    if (out) { await SBX.syncClock(); showClock(); }
  }

  async function showClock() {
    const r = await api("GET", "/_sandbox/clock");
    if (r.ok && $("tools-now")) $("tools-now").textContent = time(r.body.now) + " UTC (" + r.body.offsetSeconds + " s ahead of real time)";
  }

  async function loadFaults() {
    const r = await api("GET", "/_sandbox/faults");
    if (!r.ok) return;
    showFaults(r.body.faults || []);
    $("faults-text").value = JSON.stringify({ faults: r.body.faults || [] }, null, 2);
  }

  function showFaults(list) {
    fill("faults-now", list.length ? h("div.scroll", h("table", h("thead", h("tr", ["path", "delay (s)", "drop", "duplicate", "status", "corrupt"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", list.map((f) => h("tr", h("td.mono", f.path), h("td", f.delaySeconds ?? "—"), h("td", f.drop ? "yes" : "—"), h("td", f.duplicate ? "yes" : "—"), h("td", f.status ?? "—"), h("td", f.corrupt ? "yes" : "—")))))) :
      h("p", badge("no fault in force", "ok")));
  }

  async function saveFaults() {
    $("faults-error").textContent = "";
    let body;
    try { body = JSON.parse($("faults-text").value); } catch (e) { $("faults-error").textContent = "Not JSON: " + e.message; return; }
    if (Array.isArray(body)) body = { faults: body };
    const r = await api("PUT", "/_sandbox/faults", body);
    if (!r.ok) { $("faults-error").textContent = SBX.why(r); return; }
    SBX.toast("Faults saved");
    showFaults(r.body.faults || []);
  }

  async function showHealth() {
    const r = await api("GET", "/_sandbox/health");
    if (r.ok) fill("health", facts([["live transactions", r.body.liveTransactions], ["journal entries", r.body.journalEntries]]));
  }

  function askReset() {
    fill("reset-row",
      h("span", "Forget everything the sandbox holds?"),
      h("button.danger#reset-yes", { type: "button", onclick: doReset }, "Yes, reset"),
      h("button.quiet#reset-no", { type: "button", onclick: () => { restoreReset(); $("reset").focus(); } }, "Cancel"));
    $("reset-no").focus();
  }
  function restoreReset() { fill("reset-row", h("button.danger#reset", { type: "button", onclick: askReset }, "Reset the sandbox…")); }

  async function doReset() {
    const out = await act("POST", "/_sandbox/reset", undefined, "The sandbox was reset");
    restoreReset();
    if (out) { SBX.forget(); showClock(); loadFaults(); showHealth(); }
  }

  SBX.panel("tools", {
    init() { skeleton(); },
    show() { showClock(); loadFaults(); showHealth(); },
  });

  // ---- runner -----------------------------------------------------------------------------
  let polling = false;

  async function loadRunner() {
    const r = await api("GET", "/_sandbox/ui/runner");
    if (!r.ok) { fill("runner-view", h("p.error", SBX.why(r))); return; }
    drawRunner(r.body);
    if (r.body.running && !polling) poll();
  }

  function drawRunner(s) {
    const last = s.last;
    const lastView = last ? h("div.card#run-last", { tabindex: "-1" },
      h("h3", "Last run ", last.error ? badge("could not run", "bad") : badge(last.passed ? "every mandatory step passed" : "a mandatory step failed", last.passed ? "ok" : "bad")),
      facts([["scenarios", last.scenarios.join(", ")], ["finished", time(last.finishedAt)], ["result", last.summary || last.error]]),
      last.report ? [h("p", h("a", { href: SBX.url(last.report), target: "_blank" }, "Open the report on its own page")),
        h("iframe.report", { src: SBX.url(last.report) + "?t=" + encodeURIComponent(last.finishedAt), title: "Conformance report of the last run" })] : null) : null;
    if (!s.available) {
      fill("runner-view",
        h("p.lead", "This server was started without the conformance runner (the runner crate sits on top of the server). Run the documented test cases from a shell:"),
        h("pre", s.byHand + "\nabdm-sandbox check --hip http://127.0.0.1:9000 --html report.html"),
        h("p.muted", "The console of ", h("code", "abdm-sandbox serve"), " runs them here, against a fresh embedded sandbox."),
        lastView);
      return;
    }
    const list = s.scenarios || [];
    fill("runner-view",
      h("p.lead", "Each scenario runs against a fresh embedded sandbox of its own, as ", h("code", "abdm-sandbox check"), " does, so what this console shows is left alone. Scenarios that judge a HIP or a client need ", h("code", "abdm-sandbox check --hip URL"), " or ", h("code", "--client CMD"), " in a shell."),
      s.error ? h("p.error", s.error) : null,
      lastView,
      h("fieldset", h("legend", list.length + " scenarios"),
        h("div.row",
          h("button.quiet", { type: "button", onclick: () => tick(true) }, "Choose all"),
          h("button.quiet", { type: "button", onclick: () => tick(false) }, "Choose none")),
        h("div.scenario-list", list.map((x) => h("label",
          h("input", { type: "checkbox", value: x.id, "data-scenario": x.id }),
          h("span", h("span.mono", x.id), " — ", x.title, " ", h("span.muted", "(" + x.steps + " steps; " + x.tags.join(", ") + ")")))))),
      h("div.row",
        h("button#run", { type: "button", onclick: run, disabled: !!s.running }, s.running ? "Running…" : "Run the chosen scenarios"),
        s.running ? h("span", { role: "status" }, "Running " + s.running.join(", ") + "…") : null));
  }

  function tick(on) { for (const c of document.querySelectorAll("#runner-view input[data-scenario]")) c.checked = on; }

  async function run() {
    const ids = [...document.querySelectorAll("#runner-view input[data-scenario]:checked")].map((c) => c.value);
    if (!ids.length) { SBX.toast("Choose at least one scenario.", true); return; }
    if (await act("POST", "/_sandbox/ui/runner/run", { scenarios: ids })) { $("run").disabled = true; $("run").textContent = "Running…"; poll(); }
  }

  async function poll() {
    polling = true;
    for (let i = 0; i < 600; i++) {
      await new Promise((res) => setTimeout(res, 700));
      const r = await api("GET", "/_sandbox/ui/runner");
      if (r.ok && !r.body.running) {
        const chosen = new Set([...document.querySelectorAll("#runner-view input[data-scenario]:checked")].map((c) => c.value));
        drawRunner(r.body);
        for (const c of document.querySelectorAll("#runner-view input[data-scenario]")) c.checked = chosen.has(c.value);
        const last = $("run-last");
        if (last) { last.scrollIntoView({ block: "start" }); last.focus({ preventScroll: true }); }
        break;
      }
    }
    polling = false;
  }

  SBX.panel("runner", { show() { if (!polling) loadRunner(); } });
  SBX.state.runnerPolling = () => polling;
  void state;
})();
