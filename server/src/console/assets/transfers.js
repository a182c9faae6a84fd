// The transfers panel: each health-information request the page has seen (in the journal, or
// made here), with its entries and problems, and a reader for the FHIR document bundles.
"use strict";

(() => {
  const { h, fill, $, api, badge, yesNo, facts, problems, short, time, state } = SBX;

  function statusBadge(s) {
    const good = /TRANSFERRED|DELIVERED|OK|ACKNOWLEDGED/i.test(s || "");
    const bad = /FAILED|ERROR/i.test(s || "");
    return badge(s || "pending", good ? "ok" : bad ? "bad" : "warn");
  }

  /** The problems of a transfer, each a sentence. */
  function sentences(t) {
    const out = [...(t.problems || [])];
    for (const e of t.entries || []) if (e.problem) out.push("Entry " + e.careContextReference + ": " + e.problem);
    if (t.onRequest && t.onRequest.problems) out.push(...t.onRequest.problems);
    if (t.notify && t.notify.problems) out.push(...t.notify.problems);
    const said = (((t.notify || {}).body || {}).notification || {}).statusNotification;
    for (const s of (said && said.statusResponses) || []) {
      if (!/DELIVERED|OK/i.test(s.hiStatus || "")) out.push("The HIP reported " + s.careContextReference + " " + s.hiStatus + (s.description ? ": " + s.description : "") + ".");
    }
    if (t.withinDeadline === false) out.push("The HIP's transfer notify did not come within 20 minutes.");
    return [...new Set(out.map(String))];
  }

  function hipSide(t) {
    const entries = t.entries || [];
    return [
      h("h3", "HI request " + short(t.transactionId) + " ", statusBadge(t.status)),
      h("p.muted", "The sandbox as HIU asked HIP " + t.hipId + " for the data of consent " + short(t.consentId) + "; the HIP pushed, and the sandbox decrypted and checked each entry."),
      facts([
        ["transaction", h("span.mono", t.transactionId)],
        ["consent", h("span.mono", t.consentId)],
        ["HIP", t.hipId], ["version", t.version], ["asked", time(t.requestedAt)],
        ["HIP acknowledged", t.onRequest ? yesNo(t.onRequest.matched, "yes", "answer did not match") : badge("waiting", "warn")],
        ["pages", (t.pages || []).length ? (t.pages || []).map((p) => "page " + p.pageNumber + "/" + p.pageCount + ": " + p.entries + " entries").join("; ") : "none yet"],
        ["transfer notify", t.notify ? statusBadge(((t.notify.body || {}).notification || {}).statusNotification?.sessionStatus || "received") : badge("waiting", "warn")],
      ]),
      entries.length ? h("div.scroll", h("table",
        h("thead", h("tr", ["#", "care context", "HI type", "decrypted", "checksum", "document", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", entries.map((e, i) => h("tr",
          h("td", i), h("td.mono", e.careContextReference), h("td", e.hiType || "—"),
          h("td", yesNo(e.decrypted, "decrypted", "not decrypted")),
          h("td", e.checksumMatches === null || e.checksumMatches === undefined ? "—" : yesNo(e.checksumMatches, "MD5 matches", "MD5 differs")),
          h("td", e.decrypted ? (e.resourceType || "?") + " " + (e.bundleType || "") : "—"),
          h("td", e.decrypted ? h("button", { type: "button", "data-read": t.transactionId + "/" + i, "data-care-context": e.careContextReference,
            onclick: () => read("/_sandbox/health-information/requests/" + t.transactionId + "/entries/" + i, e.careContextReference + " (" + (e.hiType || "") + ")") }, "Read") : null)))))) :
        h("p.muted", "No entry has arrived yet."),
    ];
  }

  function hiuSide(t) {
    const report = t.hiuReport || {};
    return [
      h("h3", "HIU " + t.hiuId + "'s HI request " + short(t.transactionId) + " ", statusBadge(t.status)),
      h("p.muted", "HIU " + t.hiuId + " asked for the data of artefact " + short(t.consentId) + "; the sandbox, as HIP " + t.hipId + ", encrypted and pushed the records to " + (t.dataPushUrl || "its dataPushUrl") + "."),
      facts([
        ["transaction", h("span.mono", t.transactionId)],
        ["consent artefact", h("span.mono", t.consentId)],
        ["version", t.version], ["key format", t.keyFormat], ["asked", time(t.requestedAt)],
        ["the HIU's notify", t.hiuNotify ? "received" : badge("waiting", "warn")],
        ["the HIU's report agrees", report.matches === undefined ? "—" : yesNo(report.matches)],
      ]),
      (t.pushed || []).length ? h("div.scroll", h("table",
        h("thead", h("tr", ["care context", "HI type", "page", "MD5 (hex)", "corrupted by a fault", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", (t.pushed || []).map((p) => h("tr",
          h("td.mono", p.careContextReference), h("td", p.hiType), h("td", p.page), h("td.mono", p.checksum),
          h("td", p.corrupted ? badge("corrupted", "bad") : "no"),
          h("td", h("button", { type: "button", "data-read": t.transactionId + "/" + p.careContextReference, "data-care-context": p.careContextReference,
            onclick: () => read("/_sandbox/ui/records/" + encodeURIComponent(p.careContextReference), p.careContextReference + " (" + p.hiType + ", as pushed)") }, "Read"))))))) :
        h("p.muted", "Nothing pushed yet."),
    ];
  }

  function render() {
    const list = [...state.transfers.values()].sort((a, b) => String(b.requestedAt).localeCompare(String(a.requestedAt)));
    SBX.redraw("transfers-view", list, () => list.length ? list.map((t) => h("article.card", { "data-transfer": t.transactionId },
      t.role === "HIU" ? hiuSide(t) : hipSide(t), problems(sentences(t)))) :
      h("p.muted", "No health-information request seen yet. Grant a consent in the Patient app and request its data, or let an HIU ask for an artefact's data."));
  }

  // ---- the reader -------------------------------------------------------------------------
  let raw = false;

  async function read(path, label) {
    const r = await api("GET", path);
    const box = $("reader");
    box.hidden = false;
    if (!r.ok || !r.body || typeof r.body !== "object") {
      fill(box, h("p.error", "The bundle cannot be read: " + SBX.why(r)));
      return;
    }
    raw = false;
    draw(box, r.body, label);
    box.focus({ preventScroll: true });
    box.scrollIntoView({ block: "start" });
  }

  function draw(box, bundle, label) {
    fill(box,
      h("div.row",
        h("h3", "Reading " + label),
        h("button.quiet", { type: "button", "aria-pressed": String(raw), id: "raw-toggle", onclick: () => { raw = !raw; draw(box, bundle, label); } }, raw ? "Show as a document" : "Show raw JSON"),
        h("button.quiet", { type: "button", onclick: () => { box.hidden = true; } }, "Close")),
      raw ? h("pre.raw-json", JSON.stringify(bundle, null, 2)) : documentView(bundle));
  }

  const text = (cc) => cc ? cc.text || (cc.coding || []).map((c) => c.display || c.code).filter(Boolean).join(", ") : "";
  const who = (refs) => (Array.isArray(refs) ? refs : refs ? [refs] : []).map((r) => r.display || r.reference).filter(Boolean).join(", ");
  function when(r) {
    return r.effectiveDateTime || r.issued || r.occurrenceDateTime || r.authoredOn || r.recordedDate || r.onsetDateTime ||
      r.date || (r.period && r.period.start) || (r.effectivePeriod && r.effectivePeriod.start) || r.performedDateTime || "";
  }
  function value(r) {
    if (r.valueQuantity) return r.valueQuantity.value + " " + (r.valueQuantity.unit || r.valueQuantity.code || "");
    if (r.valueString) return r.valueString;
    if (r.valueCodeableConcept) return text(r.valueCodeableConcept);
    if (r.component) return r.component.map((c) => text(c.code) + " " + (c.valueQuantity ? c.valueQuantity.value + " " + (c.valueQuantity.unit || "") : "")).join("; ");
    return "";
  }
  /** One line saying what a resource is, for people. */
  function summary(r) {
    switch (r.resourceType) {
      case "Patient": return who(r.name && r.name.map((n) => ({ display: n.text || [n.given, n.family].flat().filter(Boolean).join(" ") }))) + (r.gender ? ", " + r.gender : "") + (r.birthDate ? ", born " + r.birthDate : "");
      case "Practitioner": return who(r.name && r.name.map((n) => ({ display: n.text || [n.prefix, n.given, n.family].flat().filter(Boolean).join(" ") })));
      case "Organization": return r.name || "";
      case "Observation": return [text(r.code), value(r)].filter(Boolean).join(": ");
      case "MedicationRequest": return [text(r.medicationCodeableConcept) || who(r.medicationReference), (r.dosageInstruction || []).map((d) => d.text).filter(Boolean).join("; ")].filter(Boolean).join(" — ");
      case "MedicationStatement": return text(r.medicationCodeableConcept);
      case "Immunization": return [text(r.vaccineCode), r.lotNumber ? "lot " + r.lotNumber : "", (r.protocolApplied || []).map((p) => p.doseNumberPositiveInt ? "dose " + p.doseNumberPositiveInt : "").join(" ")].filter(Boolean).join(", ");
      case "DiagnosticReport": return [text(r.code), r.conclusion].filter(Boolean).join(": ");
      case "Condition": return [text(r.code), text(r.clinicalStatus)].filter(Boolean).join(" — ");
      case "AllergyIntolerance": return text(r.code);
      case "Procedure": return text(r.code);
      case "Encounter": return [text((r.type || [])[0]), r.class && (r.class.display || r.class.code)].filter(Boolean).join(", ");
      case "DocumentReference": return [text(r.type), r.description].filter(Boolean).join(": ");
      case "Appointment": return [r.description, r.start].filter(Boolean).join(" at ");
      case "CarePlan": return [r.title, r.description].filter(Boolean).join(": ");
      default: return text(r.code) || text(r.type) || r.title || r.name || r.description || "";
    }
  }

  function documentView(bundle) {
    const entries = (bundle.entry || []).map((e) => ({ url: e.fullUrl, r: e.resource || {} }));
    const byRef = new Map();
    for (const e of entries) {
      if (e.url) byRef.set(e.url, e.r);
      if (e.r.resourceType && e.r.id) byRef.set(e.r.resourceType + "/" + e.r.id, e.r);
    }
    const comp = (entries[0] || {}).r || {};
    const isDoc = bundle.resourceType === "Bundle" && comp.resourceType === "Composition";
    const subject = comp.subject ? byRef.get(comp.subject.reference) : null;
    const line = (r) => h("li", h("span.res-type", r.resourceType), " ", summary(r) || h("span.muted", "(no text)"), when(r) ? h("span.muted", " · " + time(when(r))) : null);
    const sections = (comp.section || []).map((s) => h("div.section",
      h("h4", s.title || text(s.code) || "Section"),
      s.text && s.text.div ? h("p.muted", s.text.div.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim()) : null,
      h("ul.res-list", (s.entry || []).map((ref) => { const r = byRef.get(ref.reference); return r ? line(r) : h("li.muted", "missing: " + ref.reference); }))));
    const types = new Map();
    for (const e of entries) types.set(e.r.resourceType, (types.get(e.r.resourceType) || []).concat([e.r]));
    return h("div.document",
      isDoc ? null : h("p.error", "This is not a FHIR document bundle led by a Composition (resourceType " + bundle.resourceType + ", first entry " + comp.resourceType + ")."),
      h("p.doc-title", comp.title || text(comp.type) || "Untitled document"),
      facts([
        ["document type", text(comp.type)],
        ["date", time(comp.date)],
        ["status", comp.status],
        ["patient", subject ? summary(subject) : who(comp.subject)],
        ["author", who(comp.author)],
        ["custodian", who(comp.custodian)],
        ["bundle", (bundle.type || "?") + ", " + entries.length + " resources" + (bundle.timestamp ? ", " + time(bundle.timestamp) : "")],
      ]),
      sections,
      h("div.section", h("h4", "Resources by type"),
        h("ul.res-list", [...types.entries()].map(([type, list]) => h("li", h("span.res-type", type + " × " + list.length),
          h("ul", list.map((r) => h("li", summary(r) || h("span.muted", r.id || "(no text)"), when(r) ? h("span.muted", " · " + time(when(r))) : null))))))));
  }

  SBX.panel("transfers", {
    init() {
      SBX.on("known", render);
      SBX.on("reset", () => { $("reader").hidden = true; render(); });
      render();
    },
    show() { SBX.lookup(); render(); },
  });
})();
