// The journal panel: every request and callback as it happens, newest first, filterable by API
// family, path, status and correlation id; a row opens to its masked bodies; failures stand out.
"use strict";

(() => {
  const { h, fill, $, state, pretty, time } = SBX;
  /** Rows drawn at most; older matching rows are counted, not drawn. */
  const MAX_ROWS = 400;
  const FAMILIES = [
    ["", "every family"],
    ["gateway", "gateway v0.5/v1.0"],
    ["hiecm", "HIE-CM v3"],
    ["devservice", "devservice (bridges)"],
    ["abha", "ABHA v3"],
    ["phr", "PHR"],
    ["hpr", "HPR"],
    ["carestack", "Carestack"],
    ["push", "data push (to the sandbox HIU)"],
    ["callback", "callbacks (the sandbox calling out)"],
    ["other", "other paths"],
  ];
  const open = new Set();

  /** An entry's API family, by the path prefix the README's table gives each. */
  function family(e) {
    if (e.direction === "outbound") return "callback";
    const p = e.path || "";
    if (p.startsWith("/gateway/")) return "gateway";
    if (p.startsWith("/api/hiecm/")) return "hiecm";
    if (p.startsWith("/devservice/")) return "devservice";
    if (p.startsWith("/abha/api/")) return "abha";
    if (p.startsWith("/phr/")) return "phr";
    if (p.startsWith("/hpr/api/")) return "hpr";
    if (p.startsWith("/carestack/")) return "carestack";
    if (p.startsWith("/_sandbox/data-push/")) return "push";
    return "other";
  }
  const familyName = (k) => (FAMILIES.find(([v]) => v === k) || [k, k])[1].replace(/ \(.*\)$/, "");
  const failed = (e) => e.status === 0 || e.status >= 400;

  function filters() {
    return {
      family: $("f-family").value,
      path: $("f-path").value.trim().toLowerCase(),
      status: $("f-status").value,
      corr: $("f-corr").value.trim().toLowerCase(),
    };
  }
  function matches(e, f) {
    if (f.family && family(e) !== f.family) return false;
    if (f.path && !(e.path || "").toLowerCase().includes(f.path)) return false;
    if (f.corr && !(e.correlationId || "").toLowerCase().includes(f.corr)) return false;
    switch (f.status) {
      case "ok": return e.status >= 200 && e.status < 300;
      case "3": return e.status >= 300 && e.status < 400;
      case "4": return e.status >= 400 && e.status < 500;
      case "5": return e.status >= 500;
      case "fail": return failed(e);
      default: return true;
    }
  }

  function statusText(e) {
    if (e.direction === "outbound" && e.status === 0) return "not delivered";
    return String(e.status);
  }

  function row(e, fresh) {
    const id = "j-" + e.seq;
    const isOpen = open.has(e.seq);
    const button = h("button.expand", {
      type: "button", "aria-expanded": String(isOpen), "aria-controls": id + "-detail",
      "aria-label": (isOpen ? "Close" : "Open") + " entry " + e.seq + ": " + e.method + " " + e.path,
      onclick: () => toggle(e.seq),
    }, isOpen ? "▾" : "▸");
    const cls = "tr" + (failed(e) ? ".fail" : "") + (fresh ? ".fresh" : "");
    const main = h(cls, { id, "data-seq": e.seq, "data-status": e.status, "data-path": e.path },
      h("td", button),
      h("td.mono", e.seq),
      h("td.mono", time(e.at).slice(11)),
      h("td", familyName(family(e)), e.direction === "outbound" ? h("div.dir", "sandbox → out") : null),
      h("td.mono", e.method),
      h("td.path", e.path),
      h("td.st", statusText(e)),
      h("td.corr", e.correlationId || ""));
    if (!isOpen) return [main];
    const detail = h("tr.detail", { id: id + "-detail" }, h("td", { colspan: 8 },
      h("div.bodies",
        h("div", h("h4", "request body"), h("pre", pretty(e.requestBody))),
        h("div", h("h4", e.direction === "outbound" ? "the receiver's answer" : "response body"), h("pre", pretty(e.responseBody))))));
    return [main, detail];
  }

  function toggle(seq) {
    if (open.has(seq)) open.delete(seq); else open.add(seq);
    const e = state.entries.find((x) => x.seq === seq);
    const old = $("j-" + seq);
    if (!e || !old) return;
    const detail = $("j-" + seq + "-detail");
    if (detail) detail.remove();
    const rows = row(e, false);
    old.replaceWith(...rows);
    rows[0].querySelector("button").focus();
  }

  function render() {
    const f = filters();
    const picked = [];
    for (let i = state.entries.length - 1; i >= 0 && picked.length < MAX_ROWS; i--) {
      if (matches(state.entries[i], f)) picked.push(state.entries[i]);
    }
    fill("journal-rows", picked.flatMap((e) => row(e, false)));
    shown();
  }

  function shown() {
    const f = filters();
    const total = state.entries.length;
    const matching = state.entries.filter((e) => matches(e, f)).length;
    const drawn = $("journal-rows").querySelectorAll("tr[data-seq]").length;
    const fails = state.entries.filter(failed).length;
    let text = total ? `${matching} of ${total} entries match` : "Nothing in the journal yet: requests to the sandbox appear here as they happen.";
    if (drawn < matching) text += ` (the newest ${drawn} shown; narrow the filters for older ones)`;
    if (fails) text += ` · ${fails} failed`;
    $("journal-shown").textContent = text;
    $("journal-count").textContent = total ? String(total) : "";
  }

  function add(e) {
    const f = filters();
    if (matches(e, f)) {
      const body = $("journal-rows");
      const rows = row(e, true);
      body.prepend(...rows);
      const drawn = body.querySelectorAll("tr[data-seq]");
      for (let i = MAX_ROWS; i < drawn.length; i++) {
        const seq = Number(drawn[i].dataset.seq);
        const detail = $("j-" + seq + "-detail");
        if (detail) detail.remove();
        drawn[i].remove();
      }
    }
    shown();
  }

  SBX.panel("journal", {
    init() {
      fill("f-family", FAMILIES.map(([v, t]) => h("option", { value: v }, t)));
      const form = $("journal-filters");
      const again = SBX.debounce(render, 120);
      form.addEventListener("input", again);
      form.addEventListener("change", again);
      form.addEventListener("reset", () => setTimeout(render, 0));
      form.addEventListener("submit", (ev) => ev.preventDefault());
      SBX.on("journal", add);
      SBX.on("reset", () => { open.clear(); render(); });
      render();
    },
  });

  SBX.family = family;
})();
